"""The tracer: free when unused, ordered under threads, robust to broken hooks."""
import threading

from conftest import WAIT, send_message, wait_for
from sockdemo.trace.tracer import Tracer


def counting_clock():
    calls = []

    def clock():
        calls.append(1)
        return len(calls)
    return clock, calls


def test_emit_without_hooks_does_nothing():
    clock, calls = counting_clock()
    tracer = Tracer(clock)
    tracer.emit("chunk", 1, 10, data="x")
    assert calls == []  # not even the clock is read


def test_emit_without_hooks_uses_no_sequence_number():
    tracer = Tracer(lambda: 0)
    tracer.emit("chunk", 1, 10)
    seen = []
    tracer.subscribe(seen.append)
    tracer.emit("eof", 1, 0)
    assert [e.seq for e in seen] == [1]


def test_event_carries_fields_and_payload():
    tracer = Tracer(lambda: 42)
    seen = []
    tracer.subscribe(seen.append)
    tracer.emit("chunk", 3, 7, data="abc")
    [event] = seen
    assert (event.seq, event.t, event.kind, event.thread, event.conn, event.nbytes) == \
        (1, 42, "chunk", threading.current_thread().name, 3, 7)
    assert event["data"] == "abc" and event.get("missing", "d") == "d"


def test_hooks_see_events_in_seq_order_from_several_threads():
    tracer = Tracer(lambda: 0)
    seen_a, seen_b = [], []
    tracer.subscribe(seen_a.append)
    tracer.subscribe(seen_b.append)
    start = threading.Barrier(4)

    def work(n):
        start.wait(WAIT)
        for i in range(500):
            tracer.emit("chunk", n, i)

    threads = [threading.Thread(target=work, args=(n,), name=f"emitter-{n}") for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    assert [e.seq for e in seen_a] == list(range(1, 2001))
    assert seen_a == seen_b
    for n in range(4):  # each thread's own events keep its program order, under its own name
        mine = [e for e in seen_a if e.conn == n]
        assert [e.nbytes for e in mine] == list(range(500))
        assert {e.thread for e in mine} == {f"emitter-{n}"}


def test_unsubscribed_hook_sees_nothing_more():
    tracer = Tracer(lambda: 0)
    seen = []
    hook = tracer.subscribe(seen.append)
    tracer.emit("a")
    tracer.unsubscribe(hook)
    tracer.emit("b")
    assert [e.kind for e in seen] == ["a"]


def test_raising_hook_is_unsubscribed_and_others_hear_of_it():
    tracer = Tracer(lambda: 0)
    seen = []

    def broken(event):
        raise KeyError("boom")

    tracer.subscribe(seen.append)
    tracer.subscribe(broken)
    tracer.emit("chunk", 1, 5)
    tracer.emit("eof", 1, 0)
    assert broken not in tracer.hooks
    assert [e.kind for e in seen] == ["chunk", "hook_error", "eof"]
    error = seen[1]
    assert "KeyError" in error["error"] and "boom" in error["error"]
    assert "broken" in error["hook"]
    assert [e.seq for e in seen] == [1, 2, 3]


def test_raising_hook_does_not_stop_the_server(server):
    handle = server("seed", pool=2)
    counter = {"n": 0}

    def fifth_raises(event):
        counter["n"] += 1
        if counter["n"] == 5:
            raise RuntimeError("hook broke on the 5th event")

    handle.runtime.tracer.subscribe(fifth_raises)
    texts = [f"message number {i}".encode() for i in range(4)]
    for text in texts:
        assert send_message(handle.address, text) == b""
    wait_for(handle, lambda e: e.kind == "message", "4 messages", count=4)
    [hook_error] = handle.trace.of_kind("hook_error")
    assert "hook broke on the 5th event" in hook_error["error"]
    assert fifth_raises not in handle.runtime.tracer.hooks
    assert counter["n"] == 5
    assert sorted(e["text"] for e in handle.trace.of_kind("message")) == sorted(t.decode() for t in texts)
    assert handle.runtime.unhandled_errors == []

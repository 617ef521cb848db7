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


def test_hooks_see_every_event_once_and_each_thread_in_its_own_order():
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
    for seen in (seen_a, seen_b):
        assert sorted(e.seq for e in seen) == list(range(1, 2001))
        for n in range(4):  # each thread's own events keep its program order, under its own name
            mine = [e for e in seen if e.conn == n]
            assert [e.nbytes for e in mine] == list(range(500))
            assert [e.seq for e in mine] == sorted(e.seq for e in mine)
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


# -- reentrancy: hooks run outside every lock ----------------------------------

def test_a_hook_may_emit_and_its_event_comes_after_the_one_it_saw():
    tracer = Tracer(lambda: 0)
    seen = []

    def echoing(event):
        if event.kind == "chunk":
            tracer.emit("note", about=event.seq)   # would deadlock under a non-reentrant lock

    tracer.subscribe(echoing)
    tracer.subscribe(seen.append)
    tracer.emit("chunk", 1, 5)
    tracer.emit("eof", 1, 0)
    assert [(e.kind, e.seq) for e in seen] == [("chunk", 1), ("note", 2), ("eof", 3)]
    assert seen[1]["about"] == 1


def test_nested_emits_are_queued_not_recursed():
    tracer = Tracer(lambda: 0)
    depth = {"now": 0, "max": 0}
    seen = []

    def chain(event):
        depth["now"] += 1
        depth["max"] = max(depth["max"], depth["now"])
        if event.kind == "link" and event["n"] < 2000:  # far past Python's recursion limit
            tracer.emit("link", n=event["n"] + 1)
        depth["now"] -= 1

    tracer.subscribe(chain)
    tracer.subscribe(seen.append)
    tracer.emit("link", n=0)
    assert depth["max"] == 1
    assert [e["n"] for e in seen] == list(range(2001))


def test_a_hook_may_write_to_a_console_that_emits():
    from sockdemo.apm.console import Console
    tracer = Tracer(lambda: 0)
    console = Console(tracer)
    seen = []

    def narrator(event):
        if event.kind == "chunk":
            console.write_line(f"saw {event.nbytes} bytes")

    tracer.subscribe(narrator)
    tracer.subscribe(seen.append)
    tracer.emit("chunk", 1, 7)
    assert console.lines == ["saw 7 bytes"]
    assert [e.kind for e in seen] == ["chunk", "console"]


def test_a_hook_that_raises_on_the_report_of_another_is_dropped_once_each():
    tracer = Tracer(lambda: 0)
    seen = []

    def first(event):
        raise ValueError("first")

    def second(event):
        if event.kind == "hook_error":
            raise ValueError("second")

    tracer.subscribe(first)
    tracer.subscribe(second)
    tracer.subscribe(seen.append)
    tracer.emit("chunk", 1, 1)
    tracer.emit("chunk", 1, 2)
    assert tracer.hooks == (seen.append,)
    errors = [e for e in seen if e.kind == "hook_error"]
    assert [e["error"] for e in errors] == ["ValueError: first", "ValueError: second"]
    assert [e.kind for e in seen] == ["chunk", "hook_error", "hook_error", "chunk"]


def test_a_hook_may_unsubscribe_itself():
    tracer = Tracer(lambda: 0)
    seen = []

    def once(event):
        seen.append(event.kind)
        tracer.unsubscribe(once)

    tracer.subscribe(once)
    tracer.emit("a")
    tracer.emit("b")
    assert seen == ["a"] and tracer.hooks == ()


def test_a_closed_tracer_records_nothing_more():
    tracer = Tracer(lambda: 0)
    seen = []
    tracer.subscribe(seen.append)
    tracer.emit("a")
    tracer.close()
    tracer.emit("b")
    assert [e.kind for e in seen] == ["a"] and tracer.hooks == ()


def test_emit_as_names_the_thread_it_is_told():
    tracer = Tracer(lambda: 0)
    seen = []
    tracer.subscribe(seen.append)
    tracer.emit_as("pool-3", "callback_end", 2, None, {"cut": True})
    [event] = seen
    assert (event.thread, event.conn, event["cut"]) == ("pool-3", 2, True)


def test_a_hook_and_a_trace_number_the_same_events_alike_across_hand_overs():
    # A hook gets its event's seq at once; a trace learns it from the log when it is
    # handed over. Subscribed midway, under two threads and many hand-overs, they agree.
    from sockdemo.trace.recording import Trace
    from sockdemo.trace.tracer import HAND_OVER
    tracer = Tracer()
    trace = tracer.subscribe(Trace())
    seen = []
    subscribed = threading.Event()

    def work(n):
        for i in range(3 * HAND_OVER):
            if n == 1 and i == HAND_OVER:
                tracer.subscribe(seen.append)
                subscribed.set()
            tracer.emit("chunk", n, i, data="x")

    threads = [threading.Thread(target=work, args=(n,), name=f"pool-{n}") for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert subscribed.is_set() and not any(t.is_alive() for t in threads)
    events = trace.events
    assert [e.seq for e in events] == list(range(1, 6 * HAND_OVER + 1))
    by_seq = {e.seq: e for e in events}
    assert seen and all(by_seq[e.seq] == e for e in seen)


def test_logged_counts_every_event_numbered_across_hand_overs():
    from sockdemo.trace.recording import Trace
    from sockdemo.trace.tracer import HAND_OVER
    tracer = Tracer(lambda: 0)
    tracer.emit("chunk", 1, 1)   # nobody listens: not logged, not numbered
    assert tracer.logged == 0
    seen = tracer.subscribe(Trace())
    for i in range(HAND_OVER + 3):
        tracer.emit("chunk", 1, i)
    assert tracer.logged == HAND_OVER + 3 == len(seen)   # one hand-over behind it, three not yet
    hooked = []
    tracer.subscribe(hooked.append)
    tracer.emit("eof", 1, 0)
    assert tracer.logged == HAND_OVER + 4 == hooked[0].seq == seen.events[-1].seq

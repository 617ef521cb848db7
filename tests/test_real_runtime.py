"""RealRuntime: who runs callbacks, pool growth and injection, errors at end_*, timers."""
import queue
import re
import socket
import threading

import pytest

from conftest import WAIT, send_message, wait_for
from sockdemo.apm.errors import ObjectDisposedError

POOL = re.compile(r"pool-\d+")


def run_clients(address, n, text=b"hello there"):
    """n clients at once, each sends, half-closes and reads until closed."""
    errors = []

    def one(i):
        try:
            send_message(address, text + b" %d" % i)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not errors, errors


def test_callbacks_run_on_pool_threads_but_an_accept_done_at_once_on_main(server):
    # The page's .NET Framework: a receive's callback always comes through the
    # completion port to the pool; BeginAccept on main (not a pool thread) with
    # a connection queued runs AcceptCallback inline there (DoBeginAccept).
    handle = server("seed", pool=2)
    run_clients(handle.address, 6)
    wait_for(handle, lambda e: e.kind == "message", "6 messages", count=6)
    starts = handle.trace.of_kind("callback_start")
    reads = {e.thread for e in starts if e["name"] == "ReadCallback"}
    accepts = {e.thread for e in starts if e["name"] == "AcceptCallback"}
    assert reads and reads <= {"pool-1", "pool-2"}
    assert accepts and accepts <= {"pool-1", "pool-2", "main"}
    assert not (reads | accepts) & {"engine", threading.current_thread().name}


def test_seed_accepts_are_begun_on_main(server):
    handle = server("seed", pool=2)
    send_message(handle.address, b"one message")
    wait_for(handle, lambda e: e.kind == "message", "the message")
    assert {e.thread for e in handle.trace.events if e.kind == "begin" and e["op"] == "accept"} == {"main"}


def test_no_pool_thread_exists_before_any_callback(server):
    handle = server("seed", pool=4)
    assert handle.runtime.pool.threads == []


def test_pool_never_grows_past_its_minimum_without_injection(server):
    handle = server("seed", pool=2, backlog=32)
    run_clients(handle.address, 20)
    wait_for(handle, lambda e: e.kind == "message", "20 messages", count=20)
    assert set(handle.runtime.pool.threads) <= {"pool-1", "pool-2"}
    assert {e.thread for e in handle.trace.of_kind("callback_start")} <= {"pool-1", "pool-2", "main"}


def blocking_timers(lb, n, seconds):
    """n timers due now whose callbacks each block a pool thread for ``seconds``."""
    ran = []

    def block(state):
        ran.append((state, threading.current_thread().name))
        lb.runtime.sleep(seconds)

    for i in range(n):
        lb.runtime.start_timer(0, block, i)
    return ran


def test_injection_adds_a_worker_when_callbacks_starve_the_pool(lab):
    lb = lab(pool=2, inject=True)
    blocking_timers(lb, 3, 1.2)  # two block pool-1 and pool-2, the third waits
    [start] = wait_for(lb, lambda e: e.kind == "callback_start" and e.thread == "pool-3",
                       "a callback on an injected pool-3")
    assert "pool-3" in lb.runtime.pool.threads
    # injection answers starvation (~0.5 s), it is not a pool growing on demand
    firsts = [e for e in lb.trace.of_kind("callback_start") if e.thread in ("pool-1", "pool-2")]
    assert len(firsts) == 2 and start.t - max(e.t for e in firsts) >= 400_000


def test_without_injection_a_starved_pool_waits_for_a_free_worker(lab):
    lb = lab(pool=2, inject=False)
    ran = blocking_timers(lb, 3, 0.8)
    wait_for(lb, lambda e: e.kind == "callback_start", "all three callbacks", count=3, timeout=WAIT)
    # the third callback had to wait for pool-1 or pool-2: no worker was ever added
    assert lb.runtime.pool.threads == ["pool-1", "pool-2"]
    assert {name for _, name in ran} == {"pool-1", "pool-2"}
    starts = lb.trace.of_kind("callback_start")
    assert starts[2].t - starts[0].t >= 700_000


def test_reset_peer_makes_end_receive_raise_connection_reset(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    client.reset()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    assert ar.async_wait_handle.wait_one(WAIT)
    with pytest.raises(ConnectionResetError):
        handler.end_receive(ar)


def test_reset_is_traced_as_op_error(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    client.reset()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    assert ar.async_wait_handle.wait_one(WAIT)
    [op_error] = lb.trace.of_kind("op_error")
    assert op_error.conn == handler.conn and op_error["op"] == "receive"
    assert op_error["error"].startswith("ConnectionResetError")


@pytest.mark.parametrize("op", ["accept", "receive", "send"])
def test_begin_on_a_closed_socket_raises_object_disposed(lab, op):
    lb = lab(pool=2)
    listener, handler, _ = lb.accept_pair()
    sock = listener if op == "accept" else handler
    sock.close()
    with pytest.raises(ObjectDisposedError):
        if op == "accept":
            sock.begin_accept(None)
        elif op == "receive":
            sock.begin_receive(bytearray(4), 0, 4, 0, None)
        else:
            sock.begin_send(b"x", 0, 1, 0, None)


def test_pending_receive_on_a_closed_socket_completes_with_object_disposed(lab):
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    done = threading.Event()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, lambda ar: done.set())
    handler.close()
    assert done.wait(WAIT), "the pending receive's callback never ran"
    with pytest.raises(ObjectDisposedError):
        handler.end_receive(ar)


def test_pending_accept_on_a_closed_listener_completes_with_object_disposed(lab):
    lb = lab(pool=2)
    listener = lb.listener()
    ar = listener.begin_accept(None, listener)
    listener.close()
    assert ar.async_wait_handle.wait_one(WAIT)
    with pytest.raises(ObjectDisposedError):
        listener.end_accept(ar)


def test_a_default_socket_timeout_never_makes_begin_receive_wait(lab):
    # Accepted sockets inherit socket.setdefaulttimeout, and Python waits for
    # data before each receive on a socket with a timeout: that would hold
    # the calling thread, where begin_receive must return at once.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3600)
    try:
        _, sock, client = lab(pool=1).accept_pair()
    finally:
        socket.setdefaulttimeout(previous)
    done = threading.Event()
    begun = threading.Thread(target=sock.begin_receive, daemon=True,
                             args=(bytearray(16), 0, 16, 0, lambda ar: done.set()))
    begun.start()
    begun.join(WAIT)
    assert not begun.is_alive(), "begin_receive waited for data"
    client.send(b"late")
    assert done.wait(WAIT), "the receive never completed"


def test_a_second_pending_receive_is_refused(lab):
    from sockdemo.apm.errors import InvalidOperationError
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    handler.begin_receive(bytearray(4), 0, 4, 0, None)
    with pytest.raises(InvalidOperationError):
        handler.begin_receive(bytearray(4), 0, 4, 0, None)


def test_receive_range_outside_the_buffer_is_refused(lab):
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    with pytest.raises(ValueError):
        handler.begin_receive(bytearray(4), 2, 4, 0, None)


def test_connect_and_send_and_receive_between_two_runtime_sockets(lab):
    lb = lab(pool=2)
    listener = lb.listener()
    accepted = listener.begin_accept(None, listener)
    client = lb.runtime.socket()
    connected = client.begin_connect(listener.local_endpoint, None)
    assert connected.async_wait_handle.wait_one(WAIT)
    client.end_connect(connected)
    assert accepted.async_wait_handle.wait_one(WAIT)
    handler = listener.end_accept(accepted)
    sent = client.begin_send(b"ping", 0, 4, 0, None)
    assert sent.async_wait_handle.wait_one(WAIT) and client.end_send(sent) == 4
    buffer = bytearray(8)
    got = handler.begin_receive(buffer, 2, 6, 0, None)
    assert got.async_wait_handle.wait_one(WAIT)
    assert handler.end_receive(got) == 4 and bytes(buffer[2:6]) == b"ping"


def test_connect_to_a_closed_port_ends_with_an_error(lab):
    import socket
    lb = lab(pool=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        client = lb.runtime.socket()
        ar = client.begin_connect(("127.0.0.1", port), None)
        assert ar.async_wait_handle.wait_one(WAIT)
        with pytest.raises(ConnectionRefusedError):
            client.end_connect(ar)


def test_timer_fires_on_a_pool_thread_with_its_state(lab):
    lb = lab(pool=2)
    fired = []
    done = threading.Event()

    def on_timer(state):
        fired.append((state, threading.current_thread().name))
        done.set()

    lb.runtime.start_timer(0.01, on_timer, "the state", conn=7)
    assert done.wait(WAIT), "the timer never fired"
    [(state, thread)] = fired
    assert state == "the state" and POOL.fullmatch(thread)
    [start] = lb.trace.of_kind("callback_start")
    assert start.conn == 7 and start["name"] == "OnTimer"


def test_disposed_timer_never_fires(lab):
    lb = lab(pool=1)  # one worker: timers run in due order
    fired = []
    later = threading.Event()
    early = lb.runtime.start_timer(0.05, lambda s: fired.append("early"))
    early.dispose()
    lb.runtime.start_timer(0.1, lambda s: later.set())
    assert later.wait(WAIT), "the later timer never fired"
    assert fired == []


def test_stop_interrupts_a_sleeping_callback(lab):
    from sockdemo.apm.errors import ThreadInterrupted
    lb = lab(pool=1)
    outcome = []

    def sleeper(state):
        try:
            lb.runtime.sleep(WAIT * 10)
            outcome.append("slept")
        except ThreadInterrupted:
            outcome.append("interrupted")
            raise

    lb.runtime.start_timer(0, sleeper)
    wait_for(lb, lambda e: e.kind == "callback_start", "the sleeper's start")
    lb.runtime.stop()
    assert outcome == ["interrupted"]


def test_socket_after_stop_is_refused(lab):
    lb = lab(pool=1)
    lb.runtime.stop()
    with pytest.raises(RuntimeError):
        lb.runtime.socket()


def test_stop_is_idempotent(lab):
    lb = lab(pool=1)
    lb.runtime.stop()
    lb.runtime.stop()
    assert not any(t.name == "engine" and t.is_alive() for t in threading.enumerate()
                   if t is lb.runtime._engine)


def test_unhandled_callback_error_is_recorded_and_traced(lab):
    lb = lab(pool=1)

    def broken(state):
        raise ZeroDivisionError("in a timer")

    lb.runtime.start_timer(0, broken)
    [error] = wait_for(lb, lambda e: e.kind == "error", "the unhandled error event")
    assert error["where"] == "Broken" and "ZeroDivisionError" in error["error"]
    wait_for(lb, lambda e: e.kind == "callback_end", "the callback's end")
    assert [type(e) for e in lb.runtime.unhandled_errors] == [ZeroDivisionError]
    assert not lb.runtime.stopping


def test_unhandled_stop_policy_stops_the_runtime(lab):
    lb = lab(pool=1, unhandled="stop")
    lb.runtime.start_timer(0, lambda s: 1 / 0)
    wait_for(lb, lambda e: e.kind == "error", "the unhandled error event")
    wait_for(lb, lambda e: e.kind == "callback_end", "the callback's end")
    assert lb.runtime.stopping


def test_unknown_unhandled_policy_is_refused():
    from sockdemo.real.runtime import RealRuntime
    with pytest.raises(ValueError):
        RealRuntime(unhandled="ignore")


# -- stop() from any thread ------------------------------------------------------------------

def runtime_threads(rt) -> list[threading.Thread]:
    return [rt._engine] + [w.thread for w in rt.pool._workers]


def assert_all_end(rt, what: str) -> None:
    for thread in runtime_threads(rt):
        thread.join(WAIT)
    alive = [t.name for t in runtime_threads(rt) if t.is_alive()]
    assert not alive, f"{what}: still running: {alive}"


def test_stop_from_a_callback_returns_and_every_thread_ends(lab):
    lb = lab(pool=2)
    rt = lb.runtime
    returned = threading.Event()
    joined = []

    def stopper(state):
        rt.stop()
        # every thread but this one was joined before stop returned
        joined.extend(t.name for t in runtime_threads(rt) if t is not threading.current_thread() and t.is_alive())
        returned.set()

    def other(state):
        wait_for(lb, lambda e: e.kind == "callback_start" and e.get("name") == "Stopper", "the stopper's start")

    rt.start_timer(0, other)
    wait_for(lb, lambda e: e.kind == "callback_start", "the other callback's start")
    rt.start_timer(0, stopper)
    assert returned.wait(WAIT), "stop() on a pool thread never returned"
    assert joined == []
    assert_all_end(rt, "after stop() on a pool thread")


def test_stop_from_a_trace_hook_on_the_engine_returns_and_every_thread_ends(lab):
    lb = lab(pool=2)
    rt = lb.runtime
    returned = threading.Event()
    on_thread = []

    def stop_on_ready(event):
        if event.kind == "ready" and not returned.is_set():
            on_thread.append(threading.current_thread().name)
            rt.stop()
            returned.set()

    rt.tracer.subscribe(stop_on_ready)
    listener = lb.listener()
    listener.begin_accept(None)  # pending: the engine sees the accept event, and emits ready
    with socket.socket() as client:
        client.settimeout(WAIT)
        try:
            client.connect(listener.local_endpoint)
        except ConnectionResetError:
            pass  # the stop closed the listener, this connection in its queue, before connect() returned
        assert returned.wait(WAIT), "stop() on the engine never returned"
    assert on_thread == ["engine"]
    assert_all_end(rt, "after stop() on the engine")
    assert listener._sock.fileno() == -1


def test_two_callbacks_stopping_at_once_both_return(lab):
    lb = lab(pool=2)
    rt = lb.runtime
    both_in = threading.Barrier(2, timeout=WAIT)
    outcomes = queue.SimpleQueue()

    def stopper(state):
        both_in.wait()
        try:
            rt.stop(timeout=WAIT)
            outcomes.put("returned")
        except Exception as exc:
            outcomes.put(exc)

    rt.start_timer(0, stopper)
    rt.start_timer(0, stopper)
    assert [outcomes.get(timeout=WAIT * 2) for _ in range(2)] == ["returned", "returned"]
    assert_all_end(rt, "after two stops at once")


def test_disposed_timers_leave_the_heap_long_before_they_are_due(lab):
    lb = lab(pool=1)
    rt = lb.runtime
    keep = rt.start_timer(3600, lambda state: None)
    for _ in range(1000):
        rt.start_timer(3600, lambda state: None).dispose()   # a connection's idle timer, closed early
    with rt._timer_lock:
        left = len(rt._timers)
    assert left < 200, f"{left} timers in the heap for 1 live one"
    assert any(entry[2] is keep for entry in rt._timers)

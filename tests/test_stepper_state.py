import dataclasses
import random
import socket
import time

import pytest

from sockdemo.lab.handle import start_server
from sockdemo.trace.events import Event
from sockdemo.trace.recording import Trace
from sockdemo.views.stepper_state import StepperModel, model_for, state_at


def ev(seq, kind, thread="main", conn=None, nbytes=None, **info):
    return Event(seq, seq * 10, kind, thread, conn, nbytes, info)


def seed_run():
    """One client of the seed server: 'hello' then ' world', then it half-closes."""
    return [
        ev(1, "console", text="Local address and port : 127.0.0.1:11000"),
        ev(2, "listen", endpoint=["127.0.0.1", 11000], backlog=10),
        ev(3, "reset", event="allDone"),
        ev(4, "console", text="Waiting for a connection..."),
        ev(5, "begin", op="accept", id=1, callback="accept_callback"),
        ev(6, "wait", event="allDone", timeout=None),
        ev(7, "accept", "engine", 1, id=1, peer=["127.0.0.1", 50001]),
        ev(8, "callback_start", "pool-1", name="AcceptCallback", id=1),
        ev(9, "end", "pool-1", op="accept", id=1),
        ev(10, "set", "pool-1", event="allDone"),
        ev(11, "begin", "pool-1", 1, 1024, op="receive", id=2, callback="read_callback"),
        ev(12, "wake", event="allDone", signaled=True),
        ev(13, "reset", event="allDone"),
        ev(14, "console", text="Waiting for a connection..."),
        ev(15, "begin", op="accept", id=3, callback="accept_callback"),
        ev(16, "wait", event="allDone", timeout=None),
        ev(17, "callback_end", "pool-1", name="AcceptCallback", id=1),
        ev(18, "chunk", "engine", 1, 5, id=2, data="hello"),
        ev(19, "callback_start", "pool-2", 1, name="ReadCallback", id=2),
        ev(20, "end", "pool-2", 1, op="receive", id=2),
        ev(21, "begin", "pool-2", 1, 1024, op="receive", id=4, callback="read_callback"),
        ev(22, "callback_end", "pool-2", 1, name="ReadCallback", id=2),
        ev(23, "chunk", "engine", 1, 6, id=4, data=" world"),
        ev(24, "callback_start", "pool-1", 1, name="ReadCallback", id=4),
        ev(25, "end", "pool-1", 1, op="receive", id=4),
        ev(26, "begin", "pool-1", 1, 1024, op="receive", id=5, callback="read_callback"),
        ev(27, "callback_end", "pool-1", 1, name="ReadCallback", id=4),
        ev(28, "eof", "engine", 1, 0, id=5),
        ev(29, "callback_start", "pool-2", 1, name="ReadCallback", id=5),
        ev(30, "end", "pool-2", 1, op="receive", id=5),
        ev(31, "console", "pool-2", text="Read 11 bytes from socket.\n Data : hello world"),
        ev(32, "message", "pool-2", 1, 11, text="hello world"),
        ev(33, "close", "pool-2", 1),
        ev(34, "callback_end", "pool-2", 1, name="ReadCallback", id=5),
    ]


@pytest.fixture
def events():
    return seed_run()


# -- hand-built trace ----------------------------------------------------------------

def test_k0_is_the_empty_start(events):
    st = state_at(events, 0)
    assert (st.k, st.event, st.threads, st.pending, st.conns, st.console) == (0, None, (), (), (), ())
    assert st.all_done is False
    assert st.source.python is None and st.source.csharp is None


def test_after_accept_the_callback_waits_for_a_pool_thread(events):
    st = state_at(events, 7)
    (accept,) = st.pending
    assert (accept.op, accept.id, accept.conn, accept.new_conn) == ("accept", 1, None, 1)
    assert accept.status == "completed, waiting for a pool thread"
    assert st.thread("main").describe == "waiting on allDone (WaitOne)"
    assert st.conn(1).peer == ("127.0.0.1", 50001)
    assert st.conns[0].received == 0


def test_accept_callback_runs_for_the_new_conn_and_sets_all_done(events):
    st = state_at(events, 10)
    pool1 = st.thread("pool-1")
    assert pool1.activity == "running" and pool1.callback == "AcceptCallback" and pool1.conn == 1
    assert pool1.describe == "running AcceptCallback for conn 1"
    assert st.all_done is True
    assert st.pending == ()          # the accept's callback took it


def test_mid_receive(events):
    st = state_at(events, 21)
    c = st.conn(1)
    assert (c.received, c.chunks, c.text, c.printed, c.closed) == (5, 1, "hello", False, False)
    (recv,) = [p for p in st.pending if p.op == "receive"]
    assert (recv.id, recv.conn, recv.thread, recv.origin, recv.status) == (4, 1, "pool-2", "ReadCallback", "pending")
    assert [p.id for p in st.pending if p.op == "accept"] == [3]
    assert st.thread("pool-2").describe == "running ReadCallback for conn 1"
    assert st.thread("pool-1").describe == "idle in the pool"
    assert st.all_done is False
    assert st.thread("engine").describe.startswith("polling")


def test_after_message(events):
    st = state_at(events, 32)
    c = st.conn(1)
    assert (c.received, c.chunks, c.text, c.eof, c.printed, c.message, c.closed) == \
        (11, 2, "hello world", True, True, "hello world", False)
    assert st.console[-1] == "Read 11 bytes from socket.\n Data : hello world"
    assert st.console.count("Waiting for a connection...") == 2


def test_after_close(events):
    st = state_at(events, len(events))
    assert st.conn(1).closed and st.conn(1).status == "closed"
    assert st.thread("pool-2").describe == "idle in the pool"
    assert [p.id for p in st.pending] == [3]
    assert st.listening == "127.0.0.1:11000"


def test_source_line_of_the_last_event_side_by_side(events):
    st = state_at(events, 21)          # begin_receive inside ReadCallback
    assert st.source.python.file == "seed.py"
    assert "handler.begin_receive(" in st.source.python.text
    assert "handler.BeginReceive(" in st.source.csharp.text
    in_accept = state_at(events, 11).source      # the one in AcceptCallback
    assert in_accept.python.line < st.source.python.line
    assert in_accept.csharp.line < st.source.csharp.line
    assert state_at(events, 18).source == state_at(events, 11).source  # chunk: its begin


def test_blocked_in_end_receive():
    evs = [
        ev(1, "begin", "pool-1", 7, 1024, op="receive", id=9, callback="read_callback"),
        ev(2, "callback_start", "pool-3", 7, name="ReadCallback", id=8),
        ev(3, "wait", "pool-3", event="receive#9", timeout=None),
    ]
    st = state_at(evs, 3)
    assert st.thread("pool-3").activity == "blocked"
    assert st.thread("pool-3").describe == "blocked in end_receive (#9) in ReadCallback"
    assert "end_receive(" in st.source.python.text
    st = state_at(evs + [ev(4, "set", "engine", event="receive#9"),
                         ev(5, "wake", "pool-3", event="receive#9", signaled=True)], 5)
    assert st.thread("pool-3").describe == "running ReadCallback for conn 7"


def test_nested_inline_callbacks_pop_in_order():
    evs = [
        ev(1, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
        ev(2, "callback_start", "pool-1", 1, name="ReadCallback", id=3),
    ]
    assert state_at(evs, 2).thread("pool-1").describe == "running ReadCallback for conn 1 (nested in ReadCallback)"
    evs.append(ev(3, "callback_end", "pool-1", 1, name="ReadCallback", id=3))
    assert [f.id for f in state_at(evs, 3).thread("pool-1").frames] == [2]


# -- purity ----------------------------------------------------------------------

def test_same_output_twice(events):
    trace = Trace(events)
    for k in range(len(events) + 1):
        assert state_at(trace, k) == state_at(trace, k)
        assert state_at(events, k) == state_at(events, k)


def test_depends_only_on_the_first_k_events(events):
    trace = Trace(events)
    for k in range(len(events) + 1):
        expected = state_at(events[:k], k)
        assert state_at(events, k) == expected
        assert state_at(trace, k) == expected


def test_model_checkpoints_give_what_a_full_replay_gives(events):
    model = StepperModel(Trace(events), every=4)
    for k in [0, 3, 4, 5, 17, 16, 33, 2, len(events)]:
        assert model.state_at(k) == state_at(events, k)


def test_out_of_range_k(events):
    with pytest.raises(IndexError):
        state_at(events, len(events) + 1)
    with pytest.raises(IndexError):
        state_at(Trace(events), -1)


def test_a_growing_trace_is_taken_in(events):
    trace = Trace(events[:10])
    assert state_at(trace, 10) == state_at(events, 10)
    for e in events[10:]:
        trace(e)
    assert state_at(trace, len(events)) == state_at(events, len(events))


def test_a_client_s_bytes_before_its_accept_count_once_the_accept_is_seen():
    # a client of the real fleet knows only its port; the trace never rewrites its event
    trace = Trace([ev(1, "client_send", "client-1", None, 4, port=50001)])
    assert state_at(trace, 1).conns == ()
    assert state_at(trace, 1).summary == "a client send (4 bytes) from port 50001"
    trace(ev(2, "accept", "engine", 1, id=1, peer=["127.0.0.1", 50001]))
    trace(ev(3, "client_send", "client-1", None, 2, port=50001))
    assert trace.events[0].conn is None
    assert state_at(trace, 2).conn(1).client_sent == 4
    assert state_at(trace, 3).conn(1).client_sent == 6
    assert state_at(trace, 3).summary == "a client send (2 bytes) on conn 1"
    for k in range(4):
        assert state_at(trace, k) == state_at(trace.events[:k], k)


def test_a_cut_callback_leaves_its_thread_stopped():
    evs = [ev(1, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
           ev(2, "callback_end", "pool-1", 1, name="ReadCallback", id=2, cut=True)]
    st = state_at(evs, 2)
    assert st.thread("pool-1").frames == ()
    assert st.thread("pool-1").describe == "stopped (interrupted when the server stopped)"
    assert st.summary == "ReadCallback (#2) was cut short on pool-1: the run stopped"


def test_an_end_that_matches_no_frame_pops_nothing():
    evs = [ev(1, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
           ev(2, "callback_end", "pool-1", 1, name="AcceptCallback", id=1)]
    assert [f.id for f in state_at(evs, 2).thread("pool-1").frames] == [2]


# -- a real run --------------------------------------------------------------------

def send_and_half_close(address, pieces):
    with socket.create_connection(address, timeout=5) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in pieces:
            c.sendall(piece)
            time.sleep(0.005)
        c.shutdown(socket.SHUT_WR)
        assert c.recv(16) == b""   # the seed server closes without a reply


@pytest.fixture(scope="module")
def real_run():
    server = start_server("seed")
    try:
        for i in range(3):
            send_and_half_close(server.address, [b"hello ", b"client %d" % i])
        # Each client read b"" only after the server's close, which is traced first.
        assert len(server.trace.of_kind("close")) == 3
        console = list(server.console)
    finally:
        server.stop()
    return server, console


def test_real_run_stepped_to_the_end(real_run):
    server, console = real_run
    trace = server.trace
    n = len(trace)
    for k in range(n + 1):
        st = state_at(trace, k)
        assert st.k == k
    assert len(st.conns) == 3
    assert all(c.closed and c.printed for c in st.conns)
    assert sorted(c.message for c in st.conns) == [f"hello client {i}" for i in range(3)]
    assert sum(c.received for c in st.conns) == 3 * len("hello client 0")
    assert st.console == tuple(console) == tuple(server.console)
    assert {t.name for t in st.threads} >= {"main", "engine", "pool-1"}
    assert st.thread("main").describe == "waiting on allDone (WaitOne)"


def test_real_run_states_equal_a_replay_of_the_prefix(real_run):
    events = real_run[0].trace.events
    for k in range(0, len(events) + 1, 7):
        assert state_at(real_run[0].trace, k) == state_at(events[:k], k)


# -- a long run ----------------------------------------------------------------------

def repeat_pattern(events, n=10_000):
    """A synthetic long trace: the connections' part of a real run, shifted again and again."""
    start = next(i for i, e in enumerate(events) if e.kind == "reset")
    stop = max(i for i, e in enumerate(events) if e.kind == "close" and e.conn is not None) + 2
    head, body = events[:start], events[start:stop]
    conns = max(e.conn for e in body if e.conn is not None)
    ids = max(e.info.get("id", 0) for e in body)
    span = body[-1].t - body[0].t + 1
    out, block = list(head), 0
    while len(out) < n:
        for e in body[:n - len(out)]:
            info = dict(e.info)
            if "id" in info:
                info["id"] += block * ids
            out.append(dataclasses.replace(
                e, seq=len(out) + 1, t=e.t + block * span, info=info,
                conn=None if e.conn is None else e.conn + block * conns))
        block += 1
    return out


def test_ten_thousand_events_stepped_at_random_k(real_run):
    events = repeat_pattern(real_run[0].trace.events)
    assert len(events) == 10_000
    trace = Trace(events)
    t0 = time.perf_counter()
    model_for(trace)
    built = time.perf_counter() - t0
    rng = random.Random(7)
    ks = [rng.randrange(len(events) + 1) for _ in range(200)]
    t0 = time.perf_counter()
    states = [state_at(trace, k) for k in ks]
    per_step = (time.perf_counter() - t0) / len(ks)
    print(f"\n10,000 events: model built in {built * 1000:.0f} ms, "
          f"state_at {per_step * 1000:.2f} ms per random step")
    for k, st in list(zip(ks, states))[:5]:
        assert st == state_at(events[:k], k)
    last = state_at(trace, len(events))
    assert len(last.conns) > 300


def test_a_sleep_lasts_until_the_thread_s_next_event():
    evs = [
        ev(1, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
        ev(2, "sleep", "pool-1", seconds=2),
        ev(3, "end", "pool-1", 1, op="receive", id=2),
    ]
    assert state_at(evs, 2).thread("pool-1").describe == "sleeping (Thread.Sleep) in ReadCallback"
    assert state_at(evs, 3).thread("pool-1").describe == "running ReadCallback for conn 1"


def test_client_events_without_a_size_say_none_of_bytes():
    from sockdemo.views.stepper_state import describe_event
    connect = describe_event(ev(1, "client_connect", "client-1", 1, port=50001))
    assert "None" not in connect and "bytes" not in connect
    assert connect == "a client connect on conn 1"
    send = describe_event(ev(2, "client_send", "client-1", 1, 5, port=50001))
    assert send == "a client send (5 bytes) on conn 1"
    eof = describe_event(ev(3, "client_eof", "client-1", 1, 0))
    assert eof == "a client eof (0 bytes) on conn 1"


def test_a_completion_says_who_runs_its_callback():
    # The engine queues the callback; a thread that performed the operation, or
    # finished it inside its begin_* (an accept begun on main with a connection
    # waiting), runs it itself.
    from sockdemo.views.stepper_state import describe_event
    queued = describe_event(ev(1, "chunk", "engine", 1, 5, id=2, data="hello"))
    assert queued.endswith("its callback is queued to the pool")
    inline = describe_event(ev(2, "accept", "main", 2, id=3, peer=["127.0.0.1", 50002]))
    assert inline.endswith("main runs its callback itself")
    ready = describe_event(ev(3, "ready", "engine", None, op="accept", id=1))
    assert ready == ("the engine sees the listener ready for accept #1: "
                     "a pool worker will perform it and run its callback")

"""The two rules every view shares: a client's step joined to its connection, and a
callback's end paired with its start (sockdemo.trace.join, sockdemo.trace.callbacks)."""
from collections import namedtuple

from sockdemo.trace.callbacks import Callback, pair_callbacks, pop_callback
from sockdemo.trace.events import Event
from sockdemo.trace.join import accepted_port, client_port, join_conns, joined_conn
from sockdemo.trace.recording import Trace


def ev(seq, kind, thread="main", conn=None, nbytes=None, **info):
    return Event(seq, seq * 10, kind, thread, conn, nbytes, info)


def accept(seq, conn, port):
    return ev(seq, "accept", "engine", conn, id=seq, peer=["127.0.0.1", port])


def send(seq, port, n=3, conn=None):
    return ev(seq, "client_send", "client-1", conn, n, port=port)


# -- the join --------------------------------------------------------------------

def test_a_client_step_before_its_accept_joins_the_accept_after_it():
    events = [send(1, 5000), accept(2, 1, 5000), send(3, 5000)]
    assert join_conns(events) == [1, 1, 1]


def test_a_reused_port_joins_the_latest_accept_from_that_accept_on():
    events = [accept(1, 1, 5000), send(2, 5000), accept(3, 2, 5000), send(4, 5000)]
    assert join_conns(events) == [1, 1, 2, 2]


def test_a_port_never_accepted_joins_nothing_and_server_events_keep_their_conn():
    events = [accept(1, 4, 5000), send(2, 6000), ev(3, "chunk", "engine", 4, 3, id=9)]
    assert join_conns(events) == [4, None, 4]


def test_a_client_step_that_carries_its_conn_keeps_it():
    # the simulator's clients know their conn: the port is not consulted
    events = [accept(1, 1, 5000), send(2, 5000, conn=3)]
    assert join_conns(events) == [1, 3]
    assert client_port(events[1]) is None


def test_the_incremental_rule_knows_only_the_accepts_seen_so_far():
    events = [send(1, 5000), accept(2, 1, 5000), send(3, 5000)]
    ports = {}
    seen = []
    for e in events:
        seen.append(joined_conn(e, ports))
        if (port := accepted_port(e)) is not None:
            ports[port] = e.conn
    assert seen == [None, 1, 1]


def test_accepted_port_reads_only_a_real_peer_port():
    assert accepted_port(accept(1, 1, 5000)) == 5000
    assert accepted_port(ev(1, "accept", "engine", 1, peer=["h", True])) is None
    assert accepted_port(ev(1, "accept", "engine", 1)) is None
    assert accepted_port(ev(1, "accept", "engine", None, peer=["h", 5])) is None
    assert accepted_port(send(1, 5000)) is None


def test_for_conn_of_a_growing_trace_follows_the_join():
    t = Trace([send(1, 5000)])
    assert t.for_conn(1) == []
    t(accept(2, 1, 5000))
    assert [e.seq for e in t.for_conn(1)] == [1, 2]
    t(send(3, 5000))
    assert [e.seq for e in t.for_conn(1)] == [1, 2, 3]


# -- the pairing -------------------------------------------------------------------

Frame = namedtuple("Frame", "id name")


def test_pop_callback_takes_the_innermost_frame_with_the_end_s_id():
    frames = (Frame(1, "outer"), Frame(2, "a"), Frame(2, "b"))
    rest, popped = pop_callback(frames, ev(9, "callback_end", "pool-1", id=2))
    assert popped == Frame(2, "b") and rest == frames[:2]
    rest, popped = pop_callback(frames, ev(9, "callback_end", "pool-1", id=1))
    assert popped == Frame(1, "outer") and rest == frames[1:]


def test_pop_callback_of_an_unknown_id_closes_nothing():
    frames = (Frame(1, "outer"),)
    assert pop_callback(frames, ev(9, "callback_end", "pool-1", id=7)) == (frames, None)
    assert pop_callback((), ev(9, "callback_end", "pool-1", id=7)) == ((), None)


def test_pairs_nest_per_thread_and_keep_their_start_order():
    start = lambda seq, th, i: ev(seq, "callback_start", th, 1, name="ReadCallback", id=i)  # noqa: E731
    end = lambda seq, th, i, **kw: ev(seq, "callback_end", th, 1, name="ReadCallback", id=i, **kw)  # noqa: E731
    events = [start(1, "pool-1", 2), start(2, "pool-2", 2), start(3, "pool-1", 3),
              end(4, "pool-1", 3), end(5, "pool-2", 2), end(6, "pool-1", 9),
              end(7, "pool-1", 2), start(8, "pool-1", 4), start(9, "pool-2", 5),
              end(10, "pool-2", 5, cut=True)]
    runs = pair_callbacks(events)
    assert [(r.start.seq, r.end and r.end.seq, r.depth) for r in runs] == [
        (1, 7, 0), (2, 5, 0), (3, 4, 1), (8, None, 0), (9, 10, 0)]
    assert [r.cut for r in runs] == [False, False, False, False, True]
    assert isinstance(runs[0], Callback) and runs[0].name == "ReadCallback"
    assert (runs[0].thread, runs[0].id) == ("pool-1", 2)

"""The client fleet (sockdemo.lab.clients.send) against real servers on 127.0.0.1."""
import socket
import threading

import pytest

from sockdemo.lab.clients import ClientResult, send
from sockdemo.lab.handle import start_server
from sockdemo.trace.join import join_conns

WAIT = 5.0  # seconds any wait may take before the test fails


@pytest.fixture
def seed():
    with start_server("seed", pool=2) as server:
        yield server


def conn_of(trace, client_event):
    """The server's conn a client's step joins (the trace keeps only the client's port)."""
    events = trace.events
    return join_conns(events)[events.index(client_event)]


def wait_for(server, predicate, what, timeout=WAIT):
    """The first traced event matching ``predicate``, waiting at most ``timeout`` s for it."""
    found = []
    seen = threading.Event()

    def hook(event):
        if not seen.is_set() and predicate(event):
            found.append(event)
            seen.set()

    server.runtime.tracer.subscribe(hook)  # before looking back, so nothing slips between
    try:
        for event in server.trace.events:
            if predicate(event):
                return event
        assert seen.wait(timeout), f"no {what} within {timeout} s"
        return found[0]
    finally:
        server.runtime.tracer.unsubscribe(hook)


def free_port():
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_client_half_closes_and_the_seed_prints_its_message(seed):
    [result] = send(seed.address, message="Hello, server", timeout=WAIT)
    assert result == ClientResult(0, result.port, 13, b"", None, result.started, result.finished)
    assert "Read 13 bytes from socket.\n Data : Hello, server" in seed.console


def test_the_client_returns_only_after_the_server_closed(seed):
    [result] = send(seed.address, tracer=seed.runtime.tracer, timeout=WAIT)
    client_close = wait_for(seed, lambda e: e.kind == "client_close", "client_close")
    conn = conn_of(seed.trace, client_close)
    server_close = [e for e in seed.trace.of_kind("close") if e.conn == conn]
    assert result.error is None
    assert server_close and server_close[0].seq < client_close.seq
    assert any(e.kind == "eof" and e.conn == conn for e in seed.trace.events)


def test_pieces_are_chunk_bytes_apart_by_delay(seed):
    [result] = send(seed.address, message="0123456789", chunk=3, delay=0.05,
                    tracer=seed.runtime.tracer, timeout=WAIT)
    pieces = [e for e in seed.trace.of_kind("client_send")]
    assert [e.nbytes for e in pieces] == [3, 3, 3, 1]
    gaps = [b.t - a.t for a, b in zip(pieces, pieces[1:])]
    assert min(gaps) >= 50_000  # microseconds
    assert result.sent == 10 and result.finished - result.started >= 0.15


def test_client_sends_resolve_to_the_server_conn_and_add_up_to_its_chunks(seed):
    results = send(seed.address, n=4, message=lambda i: "x" * (100 + i), chunk=7,
                   tracer=seed.runtime.tracer, timeout=WAIT)
    assert all(r.error is None for r in results)
    trace = seed.trace
    for r in results:
        sends = [e for e in trace.of_kind("client_send") if e.info["port"] == r.port]
        conns = {conn_of(trace, e) for e in sends}
        assert len(conns) == 1 and None not in conns, conns
        [accept] = [e for e in trace.of_kind("accept") if e.info["peer"][1] == r.port]
        assert conns == {accept.conn}
        chunks = [e for e in trace.of_kind("chunk") if e.conn == accept.conn]
        assert sum(e.nbytes for e in sends) == sum(e.nbytes for e in chunks) == r.sent == 100 + r.index


def test_messages_may_differ_per_client_and_results_keep_client_order(seed):
    texts = [f"client number {i}" for i in range(6)]
    results = send(seed.address, n=6, message=texts, concurrency=3, timeout=WAIT)
    assert [r.index for r in results] == list(range(6))
    assert [r.sent for r in results] == [len(t) for t in texts]
    printed = sorted(line.split(" Data : ")[1] for line in seed.console if " Data : " in line)
    assert printed == sorted(texts)


def test_bytes_messages_are_sent_as_they_are(seed):
    [result] = send(seed.address, message=b"caf\xc3\xa9!", timeout=WAIT)
    assert result.sent == 6
    assert "Read 6 bytes from socket.\n Data : caf??!" in seed.console


def test_at_most_concurrency_clients_are_connected_at_once(seed):
    send(seed.address, n=12, chunk=4, delay=0.02, concurrency=3,
         tracer=seed.runtime.tracer, timeout=WAIT)
    open_now = most = 0
    for e in seed.trace.events:  # server side: accepted and not yet closed
        if e.kind == "accept":
            open_now += 1
            most = max(most, open_now)
        elif e.kind == "close" and e.conn is not None:
            open_now -= 1
    assert len(seed.trace.of_kind("accept")) == 12
    assert 1 <= most <= 3
    threads = {e.thread for e in seed.trace.of_kind("client_connect")}
    assert threads <= {"client-1", "client-2", "client-3"}


def test_eof_against_the_seed_server_ends_in_a_clear_timeout_error(seed):
    [result] = send(seed.address, eof=True, timeout=0.3)
    assert result.sent == len(b"This is a test<EOF>")
    assert result.error is not None and "timed out" in result.error and "half-close" in result.error
    assert result.finished - result.started < WAIT


def test_eof_round_trip_against_the_echo_server():
    # Runs whatever servers/echo.py holds; passes once EchoServer answers <EOF>.
    with start_server("echo", pool=2) as echo:
        [result] = send(echo.address, eof=True, timeout=3.0)
    assert result.error is None, result.error
    assert result.reply == b"This is a test<EOF>"


def test_reset_after_makes_the_server_see_a_reset(seed):
    [result] = send(seed.address, message="abcdefgh", reset_after=3,
                    tracer=seed.runtime.tracer, timeout=WAIT)
    assert result.error is None and result.sent == 3 and result.reply == b""
    # The reset may come before the server accepts: find the conn by the client's port.
    accept = wait_for(seed, lambda e: e.kind == "accept" and e.info["peer"][1] == result.port,
                      "accept of the resetting client")
    conn = accept.conn
    [reset] = seed.trace.of_kind("client_reset")
    assert reset.conn is None and conn_of(seed.trace, reset) == conn
    failure = wait_for(seed, lambda e: e.conn == conn and e.kind in ("op_error", "error"),
                       "server error for the reset connection")
    assert "ConnectionResetError" in failure.info["error"]
    assert not any(e.kind == "message" and e.conn == conn for e in seed.trace.events)


def test_a_refused_connection_is_a_per_client_error_not_an_exception():
    results = send(("127.0.0.1", free_port()), n=2, timeout=WAIT)
    assert [r.port for r in results] == [None, None]
    assert all(r.error.startswith("connect: ConnectionRefusedError") for r in results)


def test_progress_counts_every_finished_client(seed):
    calls = []
    send(seed.address, n=5, concurrency=2, progress=lambda done, total: calls.append((done, total)),
         timeout=WAIT)
    assert calls == [(k, 5) for k in range(1, 6)]


def test_no_clients_is_an_empty_result():
    assert send(("127.0.0.1", 9), n=0) == []


@pytest.mark.parametrize("kwargs, words", [
    ({"n": -1}, "n must be at least 0"),
    ({"chunk": 0}, "chunk must be at least 1"),
    ({"concurrency": 0}, "concurrency must be at least 1"),
    ({"delay": -1}, "delay must be >= 0"),
    ({"timeout": 0}, "timeout must be > 0"),
    ({"reset_after": -2}, "reset_after must be at least 0"),
    ({"n": 2, "message": ["only one"]}, "one per client"),
    ({"message": 42}, "message must be"),
    ({"progress": "yes"}, "progress must be a callable"),
])
def test_bad_arguments_raise_value_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        send(("127.0.0.1", 9), **kwargs)


@pytest.mark.parametrize("address", [("127.0.0.1", 0), ("127.0.0.1", 70000), "127.0.0.1:11000", ("", 5)])
def test_a_bad_address_raises_value_error(address):
    with pytest.raises(ValueError, match="address"):
        send(address)

"""Misbehaving clients, hooks and callbacks, through the seed and the fixed servers."""
import threading
import time

import pytest

from conftest import WAIT, Client, conn_of, open_fds, send_message, wait_for
from sockdemo.lab.handle import ServerHandle
from sockdemo.servers.fixed import FixedServer
from sockdemo.servers.seed import SeedServer

BOTH = pytest.mark.parametrize("mode", ["seed", "fixed"])


def messages(handle, n):
    return wait_for(handle, lambda e: e.kind == "message", f"{n} messages", count=n)


def closed(handle, conn):
    return wait_for(handle, lambda e: e.kind == "close" and e.conn == conn, f"close of conn {conn}")


def reset_mid_message(handle):
    """A client sends half a message and resets; returns its connection number."""
    client = Client(handle.address)
    conn = conn_of(handle, client)
    client.send(b"half a mes")
    wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "the half message")
    client.reset()
    wait_for(handle, lambda e: e.kind == "op_error" and e.conn == conn, "the failed receive")
    return conn


def failed_receive(handle, conn):
    [op_error] = [e for e in handle.trace.of_kind("op_error") if e.conn == conn]
    return op_error


# -- a reset in the middle of a message ------------------------------------------

def test_seed_reset_is_an_unhandled_connection_reset(server):
    handle = server("seed", pool=2)
    conn = reset_mid_message(handle)
    [error] = wait_for(handle, lambda e: e.kind == "error" and e.conn == conn, "the unhandled error")
    assert error["where"] == "ReadCallback" and error["error"].startswith("ConnectionResetError")
    assert [type(e) for e in handle.runtime.unhandled_errors] == [ConnectionResetError]


def test_seed_reset_leaves_the_handler_socket_open(server):
    """The quirk: the sample never closes a connection whose receive failed."""
    handle = server("seed", pool=2)
    conn = reset_mid_message(handle)
    wait_for(handle, lambda e: e.kind == "error" and e.conn == conn, "the unhandled error")
    failed = failed_receive(handle, conn)
    wait_for(handle, lambda e: e.kind == "callback_end" and e["id"] == failed["id"], "the failing callback's end")
    assert [e for e in handle.trace.for_conn(conn) if e.kind == "close"] == []


@BOTH
def test_after_a_reset_the_next_client_is_served(server, mode):
    handle = server(mode, pool=2)
    reset_mid_message(handle)
    send_message(handle.address, b"next one")
    [message] = messages(handle, 1)
    assert message["text"] == "next one"


def test_fixed_reset_is_handled_traced_and_closed(server):
    handle = server("fixed", pool=2)
    conn = reset_mid_message(handle)
    closed(handle, conn)
    [error] = [e for e in handle.trace.of_kind("error") if e.conn == conn]
    assert error["error"].startswith("ConnectionResetError")
    assert handle.runtime.unhandled_errors == []


# -- connect and close without a byte ----------------------------------------------

@BOTH
def test_connect_and_close_without_data_prints_nothing_and_closes(server, mode):
    handle = server(mode, pool=2)
    client = Client(handle.address)
    conn = conn_of(handle, client)
    client.close()
    closed(handle, conn)
    assert handle.trace.of_kind("message") == []
    assert handle.runtime.unhandled_errors == []
    send_message(handle.address, b"after the empty one")
    [message] = messages(handle, 1)
    assert message["text"] == "after the empty one"


# -- bytes that are not ASCII / not UTF-8 --------------------------------------------

@pytest.mark.parametrize("mode, expected", [("seed", "?? caf?? ?"), ("fixed", "\ufffd\ufffd café \ufffd")])
def test_invalid_utf8_and_non_ascii_bytes(server, mode, expected):
    handle = server(mode, pool=2)
    send_message(handle.address, b"\xff\xfe caf\xc3\xa9 \x80")
    [message] = messages(handle, 1)
    assert message["text"] == expected


# -- an over-limit message ------------------------------------------------------------

def test_seed_has_no_limit_and_takes_a_large_message_whole(server):
    handle = server("seed", pool=2)
    big = b"x" * 300_000
    send_message(handle.address, big)
    [message] = messages(handle, 1)
    assert message.nbytes == len(big)


def test_fixed_over_limit_message_is_cut_off_with_an_error_and_the_server_goes_on(server):
    handle = server("fixed", pool=2, max_message=1000)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        try:
            client.send(b"y" * 300_000)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server closed on us mid-send: that is the point
        assert client.closed_by_server()
    [error] = wait_for(handle, lambda e: e.kind == "error" and e.conn == conn, "the limit error")
    assert "exceeds 1000 bytes" in error["error"]
    send_message(handle.address, b"small")
    [message] = messages(handle, 1)
    assert message["text"] == "small"


# -- a raising hook -------------------------------------------------------------------

@BOTH
def test_a_raising_hook_is_dropped_and_the_server_goes_on(server, mode):
    handle = server(mode, pool=2)

    def hook(event):
        if event.kind == "chunk":
            raise ValueError("hook cannot stand chunks")

    handle.runtime.tracer.subscribe(hook)
    send_message(handle.address, b"first")
    send_message(handle.address, b"second")
    assert sorted(m["text"] for m in messages(handle, 2)) == ["first", "second"]
    [hook_error] = handle.trace.of_kind("hook_error")
    assert "hook cannot stand chunks" in hook_error["error"]
    assert hook not in handle.runtime.tracer.hooks
    assert handle.runtime.unhandled_errors == []


# -- a raising callback -----------------------------------------------------------------

class FailingFixed(FixedServer):
    """A fixed server whose accept callback fails once it has set up the connection."""

    def accept_callback(self, ar):
        super().accept_callback(ar)
        raise RuntimeError("accept callback failed late")


def test_fixed_logs_a_raising_callback_and_keeps_serving(server):
    handle = server("fixed", pool=2, server=FailingFixed)
    # The handle starts with main waiting and its first accept pending, so
    # neither accept can complete inside a BeginAccept on main (where the
    # exception would come out of BeginAccept into main, as in .NET, not be
    # unhandled).
    send_message(handle.address, b"one")
    send_message(handle.address, b"two")
    assert sorted(m["text"] for m in messages(handle, 2)) == ["one", "two"]
    errors = wait_for(handle, lambda e: e.kind == "error" and e.get("where") == "AcceptCallback",
                      "two accept callback errors", count=2)
    assert all(e["error"] == "RuntimeError: accept callback failed late" for e in errors)
    assert handle.running


class FailingSeed(SeedServer):
    def read_callback(self, ar):
        if b"boom" in bytes(ar.async_state.buffer):
            raise RuntimeError("boom")
        super().read_callback(ar)


def test_seed_records_a_raising_callback_and_keeps_serving_by_default(server):
    handle = server("seed", pool=2, server=FailingSeed)
    with Client(handle.address) as client:
        client.send(b"boom")
        wait_for(handle, lambda e: e.kind == "error", "the error")
    send_message(handle.address, b"fine")
    [message] = messages(handle, 1)
    assert message["text"] == "fine" and len(handle.runtime.unhandled_errors) == 1


class TwoAtOnce(SeedServer):
    """Two read callbacks fail at the same moment (a barrier makes sure of it)."""
    barrier = None

    def read_callback(self, ar):
        if b"boom" in bytes(ar.async_state.buffer):
            self.barrier.wait(WAIT)
            raise RuntimeError("boom")
        super().read_callback(ar)


def test_two_callbacks_failing_at_once_under_unhandled_stop_stop_cleanly(server):
    TwoAtOnce.barrier = threading.Barrier(2)
    handle = server("seed", pool=2, server=TwoAtOnce, unhandled="stop")
    with Client(handle.address) as a, Client(handle.address) as b:
        a.send(b"boom")
        b.send(b"boom")
        wait_for(handle, lambda e: e.kind == "error", "both errors", count=2)
        started = time.monotonic()
        handle.stop(timeout=WAIT)  # must not raise: both pool threads finished their callbacks
        assert time.monotonic() - started < 2.0, "stopping took too long"
    assert len(handle.runtime.unhandled_errors) == 2


# -- stop while clients are mid-message ---------------------------------------------------

@BOTH
def test_stop_with_several_clients_mid_message_closes_them_all(server, mode):
    fds_before = open_fds()
    handle = server(mode, pool=2)
    clients = [Client(handle.address) for _ in range(5)]
    try:
        conns = [conn_of(handle, c) for c in clients]
        for client in clients:
            client.send(b"half of it")
        for conn in conns:
            wait_for(handle, lambda e, conn=conn: e.kind == "chunk" and e.conn == conn, f"conn {conn}'s half")
        started = time.monotonic()
        handle.stop()
        assert time.monotonic() - started < 2.0, "stop took too long"
        assert all(c.closed_by_server() for c in clients), "a client was left connected"
    finally:
        for client in clients:
            client.close()
    assert handle.trace.of_kind("message") == []
    assert open_fds() - fds_before == set(), "file descriptors left open"


class _ListenerLast:
    """A stand-in for ``runtime._sockets`` that hands out the listener last, so the
    stop below provably closes a connection while the listener is still open."""

    def __init__(self):
        self._items = {}

    def add(self, sock):
        self._items[sock] = None

    def discard(self, sock):
        self._items.pop(sock, None)

    def __iter__(self):
        items = list(self._items)
        return iter([s for s in items if s.conn is not None] + [s for s in items if s.conn is None])

    def __len__(self):
        return len(self._items)

    def __eq__(self, other):
        return set(self._items) == other


def test_a_connection_accepted_while_stopping_is_closed_too():
    handle = ServerHandle("seed", pool=2)
    handle.runtime._sockets = _ListenerLast()
    late = []
    try:
        handle.start()
        idle = Client(handle.address)
        conn_of(handle, idle)
        wait_for(handle, lambda e: e.kind == "console" and e["text"].startswith("Waiting"),
                 "the second accept", count=2)

        def connect_during_stop(event):
            # runs on the stopping thread when it closes the idle connection, before the listener
            if event.kind == "close" and event.conn is not None and not late:
                listener = handle.server.listener
                late.append(Client(handle.address))
                # The engine takes the newcomer off the listener (the pending accept is
                # then no longer pending); its trace event waits for this hook to return.
                deadline = time.monotonic() + WAIT
                while listener._reader is not None and time.monotonic() < deadline:
                    time.sleep(0.001)
                assert listener._reader is None, "the engine never took the late connection"

        handle.runtime.tracer.subscribe(connect_during_stop)
        handle.stop()
        assert late, "the hook never ran"
        assert handle.runtime._sockets == set(), \
            f"sockets left open after stop: {list(handle.runtime._sockets)}"
        assert late[0].closed_by_server(timeout=1.0), "the late client is still connected"
    finally:
        handle.stop()
        for sock in list(handle.runtime._sockets):  # what the bug leaves behind
            sock._sock.close()
        for client in late:
            client.close()

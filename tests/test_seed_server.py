"""The seed server's observable behaviour, quirks included (DESIGN items 1-4, 7, 8)."""
import threading

from conftest import WAIT, Client, conn_of, send_message, wait_for
from sockdemo.servers.seed import SeedServer

WAITING = "Waiting for a connection..."


def served(handle, n, what="messages"):
    return wait_for(handle, lambda e: e.kind == "message", f"{n} {what}", count=n)


def closed(handle, conn):
    return wait_for(handle, lambda e: e.kind == "close" and e.conn == conn, f"close of conn {conn}")


def test_console_starts_with_the_requested_then_the_bound_address(server):
    handle = server("seed", pool=2)
    host, port = handle.address
    wait_for(handle, lambda e: e.kind == "console" and e["text"] == WAITING, "the first waiting line")
    assert handle.console[:3] == ["Local address and port : 127.0.0.1:0",
                                  f"Local address and port : 127.0.0.1:{port}", WAITING]
    assert host == "127.0.0.1" and port != 0


def test_n_sequential_clients_give_n_plus_one_waiting_lines(server):
    handle = server("seed", pool=2)
    for i in range(3):
        send_message(handle.address, b"client %d" % i)
    wait_for(handle, lambda e: e.kind == "console" and e["text"] == WAITING, "4 waiting lines", count=4)
    served(handle, 3)
    assert handle.console.count(WAITING) == 4


def test_message_line_is_exact(server):
    handle = server("seed", pool=2)
    send_message(handle.address, b"Hello, server")
    served(handle, 1)
    assert "Read 13 bytes from socket.\n Data : Hello, server" in handle.console


def test_accept_callback_ends_the_accept_then_sets_all_done_then_begins_a_receive(server):
    handle = server("seed", pool=2)
    with Client(handle.address) as client:
        [accept] = wait_for(handle, lambda e: e.kind == "accept" and e["peer"][1] == client.port,
                            "the accept")
        wait_for(handle, lambda e: e.kind == "callback_end" and e["id"] == accept["id"],
                 "the end of the accept callback")
    [start] = [e for e in handle.trace.of_kind("callback_start") if e["id"] == accept["id"]]
    assert start["name"] == "AcceptCallback"
    inside = [e for e in handle.trace.events if e.thread == start.thread and e.seq > start.seq]
    steps = [(e.kind, e.get("op") or e.get("event")) for e in inside
             if e.kind in ("end", "set", "begin", "callback_end")]
    assert steps[:4] == [("end", "accept"), ("set", "allDone"), ("begin", "receive"), ("callback_end", None)]


def test_framing_is_the_peers_close_not_the_client_sends(server):
    handle = server("seed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"first part, ")
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "the first chunk")
        client.send(b"second part")
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "both chunks", count=2)
        assert handle.trace.of_kind("message") == []  # nothing printed before the close
        client.half_close()
        assert client.recv_all() == b""
    [message] = served(handle, 1)
    assert message["text"] == "first part, second part" and message.conn == conn


def test_one_byte_message_is_silently_dropped(server):
    handle = server("seed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"x").half_close()
        assert client.recv_all() == b""
    closed(handle, conn)
    assert handle.trace.of_kind("message") == []
    assert not any(line.startswith("Read ") for line in handle.console)


def test_two_byte_message_is_printed(server):
    handle = server("seed", pool=2)
    send_message(handle.address, b"ok")
    served(handle, 1)
    assert "Read 2 bytes from socket.\n Data : ok" in handle.console


def test_empty_connection_prints_nothing(server):
    handle = server("seed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.half_close()
        assert client.recv_all() == b""
    closed(handle, conn)
    assert not any(line.startswith("Read ") for line in handle.console)


def test_eof_marker_means_nothing_to_the_seed(server):
    handle = server("seed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"This is a test<EOF>")
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "the chunk")
        wait_for(handle, lambda e: e.kind == "begin" and e.conn == conn and e["op"] == "receive",
                 "the next begin_receive", count=2)
        assert handle.trace.of_kind("message") == []
        client.half_close()
        assert client.recv_all() == b""  # no echo: the seed never answers
    [message] = served(handle, 1)
    assert message["text"] == "This is a test<EOF>"


def test_bytes_above_0x7f_are_question_marks_and_n_counts_characters(server):
    handle = server("seed", pool=2)
    send_message(handle.address, "café ✓".encode("utf-8"))  # 9 bytes
    [message] = served(handle, 1)
    assert message["text"] == "caf?? ???" and message.nbytes == 9
    assert "Read 9 bytes from socket.\n Data : caf?? ???" in handle.console


def test_close_without_shutdown_and_without_reply(server):
    handle = server("seed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"no answer expected").half_close()
        assert client.recv_all() == b""  # the server's close, right after our half-close
    closed(handle, conn)
    assert [e for e in handle.trace.of_kind("shutdown", "sent") if e.conn == conn] == []


def test_main_thread_waits_on_all_done_once_per_connection(server):
    handle = server("seed", pool=2)
    for i in range(3):
        send_message(handle.address, b"client %d" % i)
    wait_for(handle, lambda e: e.kind == "wait" and e.thread == "main" and e["event"] == "allDone",
             "4 waits on allDone", count=4)
    waits = [e for e in handle.trace.of_kind("wait") if e.thread == "main"]
    assert {e["event"] for e in waits} == {"allDone"}


class RaisingSeed(SeedServer):
    """A seed whose read callback fails on a message containing "boom"."""

    def read_callback(self, ar):
        if b"boom" in bytes(ar.async_state.buffer):
            raise RuntimeError("boom in ReadCallback")
        super().read_callback(ar)


def test_unhandled_callback_error_is_recorded_and_traced(server):
    handle = server("seed", pool=2, server=RaisingSeed)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"boom")
        [error] = wait_for(handle, lambda e: e.kind == "error", "the error event")
    assert error.conn == conn and error["where"] == "ReadCallback"
    assert "RuntimeError: boom in ReadCallback" == error["error"]
    assert [str(e) for e in handle.runtime.unhandled_errors] == ["boom in ReadCallback"]


def test_by_default_the_seed_goes_on_serving_after_an_unhandled_error(server):
    handle = server("seed", pool=2, server=RaisingSeed)
    with Client(handle.address) as client:
        client.send(b"boom")
        wait_for(handle, lambda e: e.kind == "error", "the error event")
    send_message(handle.address, b"still here")
    [message] = served(handle, 1)
    assert message["text"] == "still here" and handle.running


def test_unhandled_stop_stops_the_seed_server(server):
    handle = server("seed", pool=2, server=RaisingSeed, unhandled="stop")
    with Client(handle.address) as client:
        client.send(b"boom")
        wait_for(handle, lambda e: e.kind == "error", "the error event")
        assert client.closed_by_server(), "stopping did not close the client's connection"
    wait_for(handle, lambda e: e.kind == "close" and e.conn is None, "the listener's close")
    assert not handle.running
    main = [t for t in threading.enumerate() if t is handle._main]
    if main:
        main[0].join(WAIT)
        assert not main[0].is_alive(), "the server's main thread is still running"


def test_a_small_buffer_cuts_the_message_into_small_chunks(server):
    handle = server("seed", pool=2, buffer_size=4)
    send_message(handle.address, b"0123456789")
    [message] = served(handle, 1)
    chunks = [e for e in handle.trace.of_kind("chunk") if e.conn == message.conn]
    assert message["text"] == "0123456789"
    assert all(c.nbytes <= 4 for c in chunks) and sum(c.nbytes for c in chunks) == 10


def test_buffer_size_below_one_is_refused():
    import pytest

    from sockdemo.real.runtime import RealRuntime
    runtime = RealRuntime(pool=1)
    try:
        with pytest.raises(ValueError):
            SeedServer(runtime, "127.0.0.1", 0, buffer_size=0)
    finally:
        runtime.stop()

"""The fixed server: each seed quirk repaired, in the same shape."""

from conftest import Client, conn_of, send_message, wait_for
from sockdemo.servers.fixed import FixedServer

WAITING = "Waiting for a connection..."


def messages(handle, n):
    return wait_for(handle, lambda e: e.kind == "message", f"{n} messages", count=n)


def closed(handle, conn):
    return wait_for(handle, lambda e: e.kind == "close" and e.conn == conn, f"close of conn {conn}")


def errors_of(handle, conn):
    return [e for e in handle.trace.of_kind("error") if e.conn == conn]


def test_one_byte_message_is_reported(server):
    handle = server("fixed", pool=2)
    send_message(handle.address, b"x")
    [message] = messages(handle, 1)
    assert message["text"] == "x" and message.nbytes == 1
    assert "Read 1 bytes from socket.\n Data : x" in handle.console


def test_text_is_utf8_and_n_counts_bytes(server):
    handle = server("fixed", pool=2)
    send_message(handle.address, "café ✓".encode("utf-8"))
    [message] = messages(handle, 1)
    assert message["text"] == "café ✓" and message.nbytes == 9
    assert "Read 9 bytes from socket.\n Data : café ✓" in handle.console


def test_a_character_split_across_two_receives_stays_whole(server):
    handle = server("fixed", pool=2)
    first, second = "é".encode("utf-8")[:1], "é".encode("utf-8")[1:]
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"caf" + first)
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "the first chunk")
        client.send(second).half_close()
        assert client.recv_all() == b""
    [message] = messages(handle, 1)
    chunks = [e for e in handle.trace.of_kind("chunk") if e.conn == conn]
    assert [c.nbytes for c in chunks] == [4, 1]  # the split really happened
    assert message["text"] == "café" and "\ufffd" not in message["text"]


def test_invalid_utf8_becomes_replacement_characters(server):
    handle = server("fixed", pool=2)
    send_message(handle.address, b"ok\xff\xfe")
    [message] = messages(handle, 1)
    assert message["text"] == "ok\ufffd\ufffd" and message.nbytes == 4


def test_truncated_utf8_at_the_close_becomes_a_replacement_character(server):
    handle = server("fixed", pool=2)
    send_message(handle.address, b"ab\xe2\x9c")  # the first two bytes of a 3-byte character
    [message] = messages(handle, 1)
    assert message["text"] == "ab\ufffd"


def test_message_over_the_limit_closes_that_connection_with_an_error(server):
    handle = server("fixed", pool=2, max_message=10)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"0123456789abcdef")
        assert client.closed_by_server(), "the server kept an over-limit connection open"
    closed(handle, conn)
    [error] = errors_of(handle, conn)
    assert "exceeds 10 bytes" in error["error"]
    assert handle.trace.of_kind("message") == []


def test_message_at_the_limit_is_accepted(server):
    handle = server("fixed", pool=2, max_message=10)
    send_message(handle.address, b"0123456789")
    [message] = messages(handle, 1)
    assert message["text"] == "0123456789"


def test_the_next_client_is_served_after_an_over_limit_one(server):
    handle = server("fixed", pool=2, max_message=10)
    with Client(handle.address) as client:
        client.send(b"far too long for the limit")
        assert client.closed_by_server()
    send_message(handle.address, b"short")
    [message] = messages(handle, 1)
    assert message["text"] == "short"


def test_idle_client_is_closed_after_the_idle_timeout(server):
    handle = server("fixed", pool=2, idle_timeout=0.2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        closed(handle, conn)
        assert client.closed_by_server(), "the idle client was not disconnected"
    [error] = errors_of(handle, conn)
    assert error["error"] == "idle for 0.2 s"
    assert f"Connection {conn} closed: idle for 0.2 s" in handle.console


def test_a_client_that_keeps_talking_is_not_idle(server):
    handle = server("fixed", pool=2, idle_timeout=3.0)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        for i in range(4):  # each chunk restarts the timer; we wait for it, not for time
            client.send(b"%d" % i)
            wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, f"chunk {i}", count=i + 1)
        client.half_close()
        assert client.recv_all() == b""
    [message] = messages(handle, 1)
    assert message["text"] == "0123" and errors_of(handle, conn) == []


def test_reset_ends_only_that_connection(server):
    handle = server("fixed", pool=2)
    with Client(handle.address) as calm, Client(handle.address) as rude:
        calm_conn, rude_conn = conn_of(handle, calm), conn_of(handle, rude)
        calm.send(b"calm and ")
        rude.send(b"half a mess")
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == rude_conn, "the rude chunk")
        rude.reset()
        closed(handle, rude_conn)
        calm.send(b"collected").half_close()
        assert calm.recv_all() == b""
    [message] = messages(handle, 1)
    assert message.conn == calm_conn and message["text"] == "calm and collected"
    [error] = errors_of(handle, rude_conn)
    assert error["error"].startswith("ConnectionResetError")
    assert handle.runtime.unhandled_errors == []


def test_main_thread_does_not_wait_on_all_done_per_connection(server):
    handle = server("fixed", pool=2)
    for i in range(3):
        send_message(handle.address, b"client %d" % i)
    messages(handle, 3)
    waits = [e for e in handle.trace.of_kind("wait") if e.thread == "main"]
    assert [e["event"] for e in waits] == ["shutdownRequested"]
    assert not any(e.get("event") == "allDone" for e in handle.trace.of_kind("set", "reset", "wait"))


def test_accepting_is_chained_from_the_accept_callback(server):
    handle = server("fixed", pool=2)
    # The handle starts with main's first accept pending: no client was there
    # to complete it at once (which would keep the loop on main).
    for i in range(2):
        send_message(handle.address, b"client %d" % i)
    wait_for(handle, lambda e: e.kind == "console" and e["text"] == "Waiting for a connection...",
             "three waiting lines", count=3)
    accept_begins = [e for e in handle.trace.events if e.kind == "begin" and e["op"] == "accept"]
    assert [e.thread == "main" for e in accept_begins] == [True, False, False]


def test_fixed_shuts_down_before_closing(server):
    handle = server("fixed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"hello").half_close()
        assert client.recv_all() == b""
    closed(handle, conn)
    kinds = [e.kind for e in handle.trace.for_conn(conn) if e.kind in ("shutdown", "close")]
    assert kinds == ["shutdown", "close"]


def test_empty_connection_prints_nothing_and_is_closed(server):
    handle = server("fixed", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.half_close()
        assert client.recv_all() == b""
    closed(handle, conn)
    assert handle.trace.of_kind("message") == [] and errors_of(handle, conn) == []


def test_invalid_options_are_refused():
    import pytest

    from sockdemo.real.runtime import RealRuntime
    runtime = RealRuntime(pool=1)
    try:
        with pytest.raises(ValueError):
            FixedServer(runtime, "127.0.0.1", 0, max_message=0)
        with pytest.raises(ValueError):
            FixedServer(runtime, "127.0.0.1", 0, idle_timeout=0)
    finally:
        runtime.stop()

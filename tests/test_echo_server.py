"""The full "Asynchronous Server Socket Example": the echo server (DESIGN item 5)."""
from conftest import Client, conn_of, wait_for

TEST = b"This is a test<EOF>"


def closed(handle, conn):
    return wait_for(handle, lambda e: e.kind == "close" and e.conn == conn, f"close of conn {conn}")


def test_the_companion_clients_message_comes_back_whole(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        client.send(TEST)
        assert client.recv_all() == TEST  # read until the server closes, as the client sample does


def test_console_lines_are_exact(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(TEST)
        client.recv_all()
    closed(handle, conn)
    wait_for(handle, lambda e: e.kind == "console" and e["text"].startswith("Sent "), "the sent line")
    reads = [line for line in handle.console if line.startswith(("Read ", "Sent "))]
    assert reads == ["Read 19 bytes from socket. \n Data : This is a test<EOF>",
                     "Sent 19 bytes to client."]


def test_server_shuts_down_both_directions_then_closes(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(TEST)
        client.recv_all()
    closed(handle, conn)
    steps = [(e.kind, e.get("how")) for e in handle.trace.for_conn(conn)
             if e.kind in ("sent", "shutdown", "close")]
    assert steps == [("sent", None), ("shutdown", "Both"), ("close", None)]


def test_eof_split_across_sends_still_ends_the_message(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"split <E")
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "the first chunk")
        client.send(b"OF>")
        assert client.recv_all() == b"split <EOF>"


def test_the_reply_is_ascii(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        client.send("café<EOF>".encode("utf-8"))
        assert client.recv_all() == b"caf??<EOF>"


def test_accept_callback_sets_all_done_before_ending_the_accept(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        [accept] = wait_for(handle, lambda e: e.kind == "accept" and e["peer"][1] == client.port, "the accept")
        wait_for(handle, lambda e: e.kind == "callback_end" and e["id"] == accept["id"],
                 "the end of the accept callback")
    [start] = [e for e in handle.trace.of_kind("callback_start") if e["id"] == accept["id"]]
    inside = [e for e in handle.trace.events if e.thread == start.thread and e.seq > start.seq]
    steps = [(e.kind, e.get("op") or e.get("event")) for e in inside if e.kind in ("end", "set", "begin")]
    assert steps[:3] == [("set", "allDone"), ("end", "accept"), ("begin", "receive")]


def test_a_client_that_half_closes_without_eof_is_never_answered(server):
    handle = server("echo", pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"no marker here").half_close()
        [eof] = wait_for(handle, lambda e: e.kind == "eof" and e.conn == conn, "the server's 0-byte receive")
        wait_for(handle, lambda e: e.kind == "callback_end" and e["id"] == eof["id"],
                 "the read callback that got the 0 bytes")
        # the callback is over and began nothing: nobody will ever close this socket
        assert [e for e in handle.trace.for_conn(conn) if e.kind in ("close", "shutdown", "begin")
                and e.seq > eof.seq] == []
        assert not client.closed_by_server(timeout=0.2), "the echo server answered a client without <EOF>"
    assert not any(line.startswith(("Read ", "Sent ")) for line in handle.console)

"""The full "Asynchronous Server Socket Example": the echo server (DESIGN item 5)."""
import threading

import pytest

from conftest import WAIT, Client, conn_of, wait_for

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


# -- a connection its limits close ends only that connection -----------------------

def assert_still_serving(handle):
    assert handle.running and handle.unhandled_errors == [], handle.unhandled_errors
    with Client(handle.address) as client:
        client.send(TEST)
        assert client.recv_all() == TEST


@pytest.mark.parametrize("dotnet", ["framework", "modern"])
def test_an_idle_timeout_under_a_pending_receive_ends_only_that_connection(server, dotnet):
    # The close aborts the receive; its end_receive raises for the limit's doing, not the client's.
    handle = server("echo", pool=2, dotnet=dotnet, unhandled="stop", idle_timeout=0.2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"no end marker")
        assert client.closed_by_server()
    wait_for(handle, lambda e: e.kind == "callback_end" and e.conn == conn and e["name"] == "ReadCallback",
             "the aborted receive's callback", count=2)
    assert_still_serving(handle)


def test_a_message_over_the_limit_ends_only_that_connection(server):
    handle = server("echo", pool=2, unhandled="stop", max_message=len(TEST))
    with Client(handle.address) as client:
        client.send(b"x" * (len(TEST) + 1))
        assert client.closed_by_server()
    assert_still_serving(handle)


def test_a_limit_that_closes_the_connection_while_its_read_callback_runs_ends_only_it(server):
    # The callback has ended its receive and is about to begin the next one when
    # the idle timer closes the connection on another pool thread.
    handle = server("echo", pool=2, unhandled="stop", idle_timeout=0.2)
    closed_meanwhile = threading.Event()

    def hold_the_callback(event):
        if event.kind == "end" and event.get("op") == "receive" and event.thread.startswith("pool-"):
            closed_meanwhile.wait(WAIT)

    def see_the_close(event):
        if event.kind == "close" and event.conn is not None:
            closed_meanwhile.set()

    handle.runtime.tracer.subscribe(see_the_close)
    handle.runtime.tracer.subscribe(hold_the_callback)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"no end marker")
        assert client.closed_by_server()
    assert closed_meanwhile.wait(WAIT), "the idle timer never closed the connection"
    handle.runtime.tracer.unsubscribe(hold_the_callback)
    wait_for(handle, lambda e: e.kind == "callback_end" and e.conn == conn and e["name"] == "ReadCallback",
             "the held callback's end")
    assert_still_serving(handle)


def test_a_long_message_costs_time_linear_in_its_length(monkeypatch):
    # The example turns all the text so far into a string on every receive to
    # look for <EOF>: a megabyte in 1 KiB receives copied half a gigabyte.
    from sockdemo.apm.state_object import StringBuilder
    from sockdemo.sim.scenarios import Client as Script
    from sockdemo.sim.scenarios import Scenario
    from sockdemo.sim.simulation import run_scenario
    copied = []
    whole = StringBuilder.to_string
    monkeypatch.setattr(StringBuilder, "to_string", lambda sb: copied.append(len(sb)) or whole(sb))
    text = "y" * 200 + "<E" + "OF>"   # the marker split across two receives, too
    sim = run_scenario(Scenario(mode="echo", clients=(Script.text(text, chunk=2, gap=0.001, end="eof"),)))
    assert sim.trace.of_kind("message")[0]["text"] == text
    assert sum(copied) <= 2 * len(text), f"{sum(copied)} characters copied for a {len(text)}-character message"


def test_string_builder_find_is_str_find_on_its_text():
    from sockdemo.apm.state_object import StringBuilder
    sb = StringBuilder()
    for part in ("ab<E", "O", "F>cd", "", "<EOF>"):
        sb.append(part)
    text = "ab<EOF>cd<EOF>"
    for start in range(len(text) + 2):
        assert sb.find("<EOF>", start) == text.find("<EOF>", start), start
    assert StringBuilder().find("<EOF>") == -1

"""AsyncioServer: the seed server with async/await, same console, same trace kinds."""
import re
import threading

import pytest
from test_handle import new_threads

from conftest import WAIT, Client, open_fds, send_message, wait_for
from sockdemo.lab.asyncio_handle import AsyncioServerHandle, start_asyncio_server
from sockdemo.lab.handle import start_server
from sockdemo.servers.asyncio_server import LOOP_THREAD

MESSAGES = [b"hello there", b"x", "caf\u00e9".encode(), b"a" * 3000, b"last one"]


def _mask_port(line: str) -> str:
    return re.sub(r":\d+$", ":PORT", line)


def _serve_sequentially(handle) -> None:
    for data in MESSAGES:
        send_message(handle.address, data)
    printed = sum(1 for data in MESSAGES if len(data) > 1)
    wait_for(handle, lambda e: e.kind == "message", "every printed message", count=printed)


def test_console_lines_equal_the_seed_servers_for_the_same_sequential_clients():
    with start_asyncio_server() as aio:
        _serve_sequentially(aio)
    with start_server("seed") as seed:
        _serve_sequentially(seed)
        # The seed's main thread prints its last "Waiting" after the last accept:
        # wait for it rather than race it.
        wait_for(seed, lambda e: e.kind == "console" and e["text"] == "Waiting for a connection...",
                 "every Waiting line", count=len(MESSAGES) + 1)
    a = [_mask_port(line) for line in aio.console]
    s = [_mask_port(line) for line in seed.console]
    # main prints "Waiting" on its own thread, so in the seed its place among
    # the pool's "Read" lines is a race: compare the lines, and the Reads in order.
    assert sorted(a) == sorted(s)
    assert [x for x in a if x.startswith("Read")] == [x for x in s if x.startswith("Read")]
    assert "Read 5 bytes from socket.\n Data : caf??" in a   # ASCII: é is 2 bytes, 2 "?"
    assert not any(line.endswith("Data : x") for line in a)          # the 1-byte drop


def test_the_console_order_is_the_seeds_intended_order():
    with start_asyncio_server() as aio:
        send_message(aio.address, b"one")
        wait_for(aio, lambda e: e.kind == "message", "the message")
    assert [_mask_port(x) for x in aio.console] == [
        "Local address and port : 127.0.0.1:PORT", "Local address and port : 127.0.0.1:PORT",
        "Waiting for a connection...", "Waiting for a connection...",
        "Read 3 bytes from socket.\n Data : one"]


def test_trace_has_accept_chunk_message_close_per_connection():
    with start_asyncio_server() as aio:
        for data in (b"first", b"second"):
            send_message(aio.address, data)
        wait_for(aio, lambda e: e.kind == "close", "both closes", count=2)
    trace = aio.trace
    assert trace.connections == [1, 2]
    for conn, text in ((1, "first"), (2, "second")):
        kinds = [e.kind for e in trace.for_conn(conn)]
        for kind in ("accept", "chunk", "eof", "message", "close"):
            assert kind in kinds, f"conn {conn} has no {kind}: {kinds}"
        assert kinds.index("accept") < kinds.index("chunk") < kinds.index("message") < kinds.index("close")
        [message] = [e for e in trace.for_conn(conn) if e.kind == "message"]
        assert message["text"] == text


def test_every_server_event_runs_on_the_loop_thread():
    with start_asyncio_server() as aio:
        send_message(aio.address, b"one thread")
        wait_for(aio, lambda e: e.kind == "close", "the close")
    assert {e.thread for e in aio.trace.events} == {LOOP_THREAD}


def test_each_resumption_is_a_read_callback_slice_joined_to_its_begin():
    with start_asyncio_server(buffer_size=4) as aio:
        send_message(aio.address, b"twelve bytes")
        wait_for(aio, lambda e: e.kind == "close", "the close")
    t = aio.trace
    starts = [e for e in t.of_kind("callback_start") if e["name"] == "ReadCallback"]
    ends = [e for e in t.of_kind("callback_end") if e["name"] == "ReadCallback"]
    chunks = t.of_kind("chunk")
    assert [c.nbytes for c in chunks] and sum(c.nbytes for c in chunks) == 12
    assert len(starts) == len(ends) == len(chunks) + 1          # one more for the eof
    begun = {e["id"] for e in t.of_kind("begin") if e["op"] == "receive"}
    assert {e["id"] for e in starts} == begun


def test_a_reset_is_recorded_unhandled_and_the_server_goes_on():
    with start_asyncio_server() as aio:
        client = Client(aio.address)
        client.send(b"half")
        wait_for(aio, lambda e: e.kind == "chunk", "the first chunk")
        client.reset()
        wait_for(aio, lambda e: e.kind == "error", "the unhandled error")
        send_message(aio.address, b"next client")
        wait_for(aio, lambda e: e.kind == "message", "the next message")
    assert [type(e) for e in aio.runtime.unhandled_errors] == [ConnectionResetError]


def test_start_stop_ten_times_leaves_no_threads_and_no_fds():
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = open_fds()
    for i in range(10):
        handle = start_asyncio_server()
        if i % 3 == 0:
            send_message(handle.address, b"hi")
            wait_for(handle, lambda e: e.kind == "message", "the message")
        handle.stop()
        assert not handle.running
    extra = new_threads(threads_before)
    assert not extra, f"threads left behind: {sorted(t.name for t in extra)}"
    assert open_fds() - fds_before == set(), "file descriptors left open"


def test_stop_closes_an_idle_connection_and_is_idempotent():
    handle = start_asyncio_server()
    client = Client(handle.address)
    client.send(b"never finished")
    wait_for(handle, lambda e: e.kind == "chunk", "the chunk")
    handle.stop()
    handle.stop()
    assert client.closed_by_server(WAIT)


def test_a_handle_runs_once():
    with AsyncioServerHandle() as handle:
        with pytest.raises(RuntimeError):
            handle.start()

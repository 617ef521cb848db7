"""ServerHandle: a server in the background that a notebook can start and stop cleanly."""
import socket
import threading
import time

import pytest

import sockdemo
from conftest import WAIT, Client, conn_of, open_fds, send_message, wait_for, wait_until
from sockdemo.lab.handle import ServerHandle, main_waits, start_server
from sockdemo.trace.events import Event


def new_threads(before: set) -> set:
    """Threads not in ``before``. ``stop()`` joins every thread it started, and a
    joined thread has already left ``threading.enumerate``: no waiting needed."""
    return {t for t in threading.enumerate() if t.ident not in before}


def test_address_is_loopback_with_a_real_port(server):
    handle = server("seed", pool=1)
    host, port = handle.address
    assert host == "127.0.0.1" and 0 < port < 65536 and handle.port == port


def test_main_waits_is_a_wait_on_main_only():
    assert main_waits(Event(1, 0, "wait", "main", info={"event": "allDone"}))
    assert main_waits(Event(2, 0, "wait", "main", info={"event": "shutdownRequested"}))
    assert not main_waits(Event(3, 0, "wait", "pool-1", info={"event": "allDone"}))
    assert not main_waits(Event(4, 0, "wake", "main", info={"event": "allDone"}))
    assert not main_waits(Event(5, 0, "reset", "main", info={"event": "allDone"}))
    assert sockdemo.main_waits is main_waits   # the lessons import it from the package


def test_handle_serves_a_client(server):
    handle = server("seed", pool=1)
    send_message(handle.address, b"hello")
    wait_for(handle, lambda e: e.kind == "message", "the message")


@pytest.mark.parametrize("mode", ["seed", "fixed", "echo"])
def test_start_stop_fifty_times_leaves_no_threads_and_no_fds(mode):
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = open_fds()
    for i in range(50):
        handle = start_server(mode, pool=2)
        if i % 10 == 0:  # now and then a client too, so pool threads and accepted sockets exist
            with Client(handle.address) as client:
                client.send(b"hi<EOF>" if mode == "echo" else b"hi").half_close()
                client.recv_all()
            wait_for(handle, lambda e: e.kind == "message", "the message")
        handle.stop()
    extra = new_threads(threads_before)
    assert not extra, f"threads left behind: {sorted(t.name for t in extra)}"
    assert open_fds() - fds_before == set(), "file descriptors left open"


def test_stop_is_idempotent(server):
    handle = server("seed", pool=1)
    handle.stop()
    handle.stop()
    assert not handle.running


def test_context_manager_starts_and_stops():
    with ServerHandle("seed", pool=1) as handle:
        assert handle.running
        send_message(handle.address, b"inside")
        wait_for(handle, lambda e: e.kind == "message", "the message")
    assert not handle.running
    assert "Read 6 bytes from socket.\n Data : inside" in handle.console  # still there after stop


def test_start_server_context_manager_stops_on_exit():
    with start_server("fixed", pool=1) as handle:
        address = handle.address
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=WAIT).close()


def test_a_handle_cannot_be_started_twice(server):
    handle = server("seed", pool=1)
    with pytest.raises(RuntimeError):
        handle.start()


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        ServerHandle("nonsense")


def test_a_bad_server_option_leaves_no_thread_and_no_fd_behind():
    threads_before = {t.ident for t in threading.enumerate()}
    fds_before = open_fds()
    with pytest.raises(ValueError):
        ServerHandle("fixed", max_message=0)
    extra = new_threads(threads_before)
    assert not extra, f"threads left behind: {sorted(t.name for t in extra)}"
    assert open_fds() - fds_before == set(), "file descriptors left open"


def test_start_on_a_busy_port_raises_and_cleans_up():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        threads_before = {t.ident for t in threading.enumerate()}
        with pytest.raises(RuntimeError, match="did not start listening"):
            start_server("seed", port=busy.getsockname()[1], pool=1)
        assert not new_threads(threads_before)


@pytest.mark.parametrize("mode", ["seed", "fixed"])
def test_stop_while_a_client_is_mid_message_is_prompt_and_closes_everything(server, mode):
    handle = server(mode, pool=2)
    with Client(handle.address) as client:
        conn = conn_of(handle, client)
        client.send(b"the first half of a mess")
        wait_for(handle, lambda e: e.kind == "chunk" and e.conn == conn, "the first half")
        started = time.monotonic()
        handle.stop()
        assert time.monotonic() - started < 2.0, "stop took too long"
        assert client.closed_by_server(), "the client's connection was left open"
    assert not handle.running
    assert handle.runtime._sockets == set()
    assert handle.trace.of_kind("message") == []


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback_works(server):
    handle = server("seed", host="::1", pool=1)
    assert handle.address[0] == "::1"
    wait_for(handle, lambda e: e.kind == "console" and e["text"].startswith("Waiting"), "the waiting line")
    assert handle.console[1] == f"Local address and port : [::1]:{handle.port}"
    send_message(handle.address, b"over six")
    [message] = wait_for(handle, lambda e: e.kind == "message", "the message")
    assert message["text"] == "over six"


def test_a_callback_running_at_stop_gets_an_end_marked_cut(server):
    from sockdemo.servers.broken import SleepyServer
    from sockdemo.views.stepper_state import state_at
    handle = server("seed", pool=1, server=SleepyServer)
    with Client(handle.address) as client:
        client.send(b"slow").half_close()
        [start] = wait_for(handle, lambda e: e.kind == "callback_start" and e["name"] == "ReadCallback",
                           "the sleeping ReadCallback")
        handle.stop()
    [end] = [e for e in handle.trace.of_kind("callback_end") if e["id"] == start["id"]]
    assert end.thread == start.thread and end.get("cut") is True
    last = state_at(handle.trace, len(handle.trace))
    assert last.thread(start.thread).activity != "running", last.thread(start.thread)


def test_a_callback_that_returned_is_never_marked_cut(server):
    handle = server("seed", pool=2)
    send_message(handle.address, b"quick")
    wait_for(handle, lambda e: e.kind == "close" and e.conn is not None, "the handler's close")
    wait_for(handle, lambda e: e.kind == "callback_end" and e["name"] == "ReadCallback", "its end", count=2)
    handle.stop()
    assert not [e for e in handle.trace.of_kind("callback_end") if e.get("cut")]


def test_stop_lets_no_queued_callback_start_before_the_trace_ends(server):
    # One worker, held in connection 1's ReadCallback while connection 2's waits
    # in the queue. Stop ends the held callback's slice (cut); the worker then
    # returns and must find the pool closed, or connection 2's callback would
    # start in the trace after its last end, a slice that never ends.
    handle = server("seed", pool=1)
    holding, release, held, conns = threading.Event(), threading.Event(), [], []

    def hold_the_first(event):
        if event.kind == "callback_start" and event["name"] == "ReadCallback" and event.conn == conns[0]:
            held.append(threading.current_thread())
            holding.set()
            release.wait(WAIT)

    def on_the_cut(event):
        if event.kind == "callback_end" and event.get("cut"):
            release.set()
            held[0].join(WAIT)  # the worker's next step happens before the trace ends

    first, second = Client(handle.address), Client(handle.address)
    with first, second:
        conns += [conn_of(handle, first), conn_of(handle, second)]
        handle.runtime.tracer.subscribe(hold_the_first)
        first.send(b"one").half_close()
        assert holding.wait(WAIT), "connection 1's ReadCallback never started"
        second.send(b"two").half_close()
        wait_until(lambda: handle.runtime.pool.waiting == 1, "the second callback queued")
        handle.runtime.tracer.subscribe(on_the_cut)
        handle.stop()
    assert not [e for e in handle.trace.of_kind("callback_start")
                if e.conn == conns[1] and e["name"] == "ReadCallback"]


@pytest.mark.parametrize("mode", ["seed", "fixed", "echo"])
def test_start_returns_once_main_waits_so_the_first_client_is_accepted_by_a_worker(mode):
    # A client that beat main's first BeginAccept would be accepted inline, on
    # main: start() returning at the listen alone left that race to the machine.
    for _ in range(10):
        with start_server(mode, pool=2) as handle:
            waits = [e for e in handle.trace.events if main_waits(e)]
            assert [e["event"] for e in waits] == ["shutdownRequested" if mode == "fixed" else "allDone"]
            assert handle.trace.of_kind("begin")[0]["op"] == "accept"
            with Client(handle.address) as client:
                client.send(b"hi<EOF>" if mode == "echo" else b"hi").half_close()
                client.recv_all()
            [accept] = wait_for(handle, lambda e: e.kind == "callback_start" and e["name"] == "AcceptCallback",
                                "the AcceptCallback")
            assert accept.thread.startswith("pool-"), accept

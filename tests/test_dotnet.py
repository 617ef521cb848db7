"""The two .NETs, row by row (apm.dotnet): each behaviour under both profiles,
in the simulator and on real sockets (127.0.0.1 only)."""
from __future__ import annotations

import select
import threading

import pytest

from conftest import WAIT, Client, wait_for
from sockdemo.apm.dotnet import PROFILES, dotnet_profile
from sockdemo.apm.errors import InvalidOperationError, ObjectDisposedError, OperationAbortedError
from sockdemo.sim.scenarios import Client as Script
from sockdemo.sim.scenarios import Scenario
from sockdemo.sim.simulation import run_scenario

PROFILE_NAMES = sorted(PROFILES)


def test_profiles_are_named_and_nonsense_is_refused():
    framework, modern = dotnet_profile("framework"), dotnet_profile("modern")
    off_pool, on_pool = (lambda: False), (lambda: True)
    assert framework.through_port("receive", off_pool) and framework.through_port("send", on_pool)
    # CanUseAcceptEx: AcceptEx (the port) only on a pool thread; DoBeginAccept elsewhere.
    assert not framework.through_port("accept", off_pool) and framework.through_port("accept", on_pool)
    assert not any(modern.through_port(op, on_pool) for op in ("accept", "receive", "send"))
    with pytest.raises(ValueError, match="framework"):
        dotnet_profile("net48")


# -- an operation that can complete at once ----------------------------------------

def sim_run(dotnet, clients, **changes):
    sim = run_scenario(Scenario(clients=tuple(clients), dotnet=dotnet, **changes))
    return sim, sim.trace


@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_sim_a_queued_connection_runs_accept_callback_inline_on_main_under_both(dotnet):
    # Two clients at once: when main begins its second accept, the second
    # connection already waits in the backlog, so that accept completes at once
    # and its callback runs inside BeginAccept, on main, under both .NETs (the
    # Framework's DoBeginAccept, .NET 6+'s TaskToApm); the first accept waited,
    # and a pool worker performed it and ran its callback.
    sim, trace = sim_run(dotnet, [Script.text("one"), Script.text("two")])
    accepts = [e for e in trace.of_kind("callback_start") if e["name"] == "AcceptCallback"]
    assert [e.thread[:5] for e in accepts] == ["pool-", "main"], [(e.thread, e.conn) for e in accepts]
    [ready] = [e for e in trace.of_kind("ready") if e.get("op") == "accept"]
    assert ready.thread == "engine", "the engine only saw the accept event"
    assert sim.result.status == "finished" and len(sim.result.messages) == 2
    reads_on_main = [e for e in trace.of_kind("callback_start")
                     if e.thread == "main" and e["name"] == "ReadCallback"]
    if dotnet == "framework":  # its BeginReceive goes through the completion port: never inline
        assert not reads_on_main


@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_real_a_queued_connection_runs_the_callback_where_the_profile_says(lab, dotnet):
    lb = lab(pool=2, dotnet=dotnet)
    listener = lb.listener()
    client = Client(listener.local_endpoint)
    lb.clients.append(client)
    ran, done = [], threading.Event()

    def accept_callback(ar):
        ran.append((threading.current_thread().name, ar.completed_synchronously))
        ar.async_state.end_accept(ar)
        done.set()

    # Wait for the proof that the connection is queued: the listener is readable.
    readable, _, _ = select.select([listener._sock], [], [], WAIT)
    assert readable, "the client's connection never reached the listener"
    listener.begin_accept(accept_callback, listener)
    assert done.wait(WAIT), "the accept callback never ran"
    [(thread, sync)] = ran
    assert (thread, sync) == (threading.current_thread().name, True), "inline, on the caller"


@pytest.mark.parametrize("dotnet, where, sync", [("framework", "pool-", False), ("modern", "pool-", True)])
def test_real_an_accept_begun_on_a_pool_thread(lab, dotnet, where, sync):
    # From a pool thread the Framework uses AcceptEx: the completion is queued
    # to the port even when a connection waits; .NET 6+ runs it inline there.
    lb = lab(pool=2, dotnet=dotnet)
    listener = lb.listener()
    lb.clients.append(Client(listener.local_endpoint))
    readable, _, _ = select.select([listener._sock], [], [], WAIT)
    assert readable, "the client's connection never reached the listener"
    ran, done = [], threading.Event()

    def accept_callback(ar):
        ran.append((threading.current_thread().name, ar.completed_synchronously))
        ar.async_state.end_accept(ar)
        done.set()

    begun_on = []

    def begin_on_the_pool(state):  # a timer's callback runs on a pool thread
        begun_on.append(threading.current_thread().name)
        listener.begin_accept(accept_callback, listener)

    lb.runtime.start_timer(0, begin_on_the_pool)
    assert done.wait(WAIT), "the accept callback never ran"
    [(thread, ran_sync)] = ran
    assert thread.startswith(where) and ran_sync is sync
    if dotnet == "modern":
        assert thread == begun_on[0], "inline, on the pool thread that began it"


@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_real_completed_synchronously_without_a_callback(lab, dotnet):
    # TaskToApm sets CompletedSynchronously from the task, whether or not a
    # callback was given; so does the Framework's DoBeginAccept for an accept
    # begun off the pool.
    lb = lab(pool=2, dotnet=dotnet)
    listener = lb.listener()
    lb.clients.append(Client(listener.local_endpoint))
    readable, _, _ = select.select([listener._sock], [], [], WAIT)
    assert readable, "the client's connection never reached the listener"
    ar = listener.begin_accept(None, listener)
    assert ar.async_wait_handle.wait_one(WAIT)
    assert ar.completed_synchronously is True, "done inside BeginAccept, under both .NETs"
    assert listener.end_accept(ar) is not None


# -- an operation that completes later: who performs it ----------------------------

@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_sim_who_performs_a_receive_that_completes_later(dotnet):
    sim, trace = sim_run(dotnet, [Script.pieces("a", "b", gap=0.001)])
    chunks = trace.of_kind("chunk")
    reads = [e for e in trace.of_kind("callback_start") if e["name"] == "ReadCallback"]
    assert chunks and reads
    if dotnet == "framework":
        assert {e.thread for e in chunks} == {"engine"}, "the engine performs it (the OS, under IOCP)"
        assert not [e for e in trace.of_kind("ready") if e.get("op") == "receive"]
    else:
        ready = [e for e in trace.of_kind("ready") if e.get("op") == "receive"]
        assert ready and {e.thread for e in ready} == {"engine"}, "the engine only queues readiness"
        assert all(e.thread.startswith("pool-") for e in chunks), "a worker performs the recv"
        for chunk in chunks:  # and that worker runs the callback
            [start] = [e for e in reads if e["id"] == chunk["id"]]
            assert start.thread == chunk.thread


# -- receives that keep completing at once --------------------------------------------

@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_sim_a_long_message_through_a_tiny_buffer(dotnet):
    sim, trace = sim_run(dotnet, [Script.text("x" * 20_000)], server_options={"buffer_size": 16})
    overflow = [e for e in trace.of_kind("error") if "StackOverflow" in str(e.get("error"))]
    if dotnet == "framework":
        assert not overflow and sim.result.messages, "queued callbacks never nest"
    else:
        assert overflow and overflow[0]["dotnet"] == "Stack overflow.", "the nesting overflows"
        assert sim.runtime.overflowed and sim.result.status == "stopped"


# -- End twice, End after close ------------------------------------------------------

@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_real_end_twice(lab, dotnet):
    lb = lab(pool=2, dotnet=dotnet)
    _, handler, client = lb.accept_pair()
    ar = handler.begin_send(b"hi", 0, 2, 0, None)
    assert handler.end_send(ar) == 2
    if dotnet == "framework":
        with pytest.raises(InvalidOperationError, match="only be called once"):
            handler.end_send(ar)
    else:
        assert handler.end_send(ar) == 2, "TaskToApm.End returns the task's result again"


@pytest.mark.parametrize("dotnet, error", [("framework", ObjectDisposedError),
                                           ("modern", OperationAbortedError)])
def test_real_end_after_close(lab, dotnet, error):
    lb = lab(pool=2, dotnet=dotnet)
    listener = lb.listener()
    pending = listener.begin_accept(None, listener)
    listener.close()
    with pytest.raises(error) as caught:
        listener.end_accept(pending)
    if dotnet == "modern":
        assert caught.value.socket_error_code == "OperationAborted"


@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_real_who_performs_a_receive_that_completes_later(lab, dotnet):
    lb = lab(pool=2, dotnet=dotnet)
    _, handler, client = lb.accept_pair()
    got, done = [], threading.Event()

    def read_callback(ar):
        got.append((threading.current_thread().name, handler.end_receive(ar)))
        done.set()

    handler.begin_receive(bytearray(64), 0, 64, 0, read_callback)  # nothing there yet: pending
    client.send(b"later")
    assert done.wait(WAIT), "the receive never completed"
    [(callback_thread, n)] = got
    [chunk] = [e for e in lb.trace.of_kind("chunk") if e.conn == handler.conn]
    assert n == 5 and callback_thread.startswith("pool-")
    if dotnet == "framework":
        assert chunk.thread == "engine"
        assert not [e for e in lb.trace.of_kind("ready") if e.get("op") == "receive"]
    else:
        [ready] = [e for e in lb.trace.of_kind("ready") if e.get("op") == "receive"]
        assert ready.thread == "engine" and chunk.thread == callback_thread, "the worker did the recv"


@pytest.mark.parametrize("mode", ["seed", "fixed"])
@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_real_a_long_message_already_there_through_a_tiny_buffer(server, mode, dotnet):
    handle = server(mode, pool=2, dotnet=dotnet, buffer_size=16)
    text = b"y" * 64_000
    with Client(handle.address) as client:
        client.send(text).half_close()  # all of it waits in the kernel before most receives
        client.closed_by_server(timeout=WAIT)
    overflowed = handle.runtime.overflowed
    if dotnet == "modern" and mode == "seed":
        assert overflowed, "the page's BeginReceive-in-ReadCallback nests until the stack overflows"
    else:
        assert not overflowed
    if mode == "fixed":  # the CompletedSynchronously loop: whole, with a flat stack, either way
        [message] = handle.wait_for("message")
        assert message.nbytes == len(text)


# -- an exception of a callback run inline ----------------------------------------

@pytest.mark.parametrize("dotnet", PROFILE_NAMES)
def test_real_an_exception_of_an_inline_callback_comes_out_of_begin(lab, dotnet):
    """.NET 6+: TaskToApm.Begin calls a done task's callback with no try around it,
    so what it throws comes out of Begin* into the caller; on the Framework the
    callback runs on the pool, and the exception is unhandled there."""
    lb = lab(pool=2, dotnet=dotnet)
    _, handler, client = lb.accept_pair()
    client.send(b"there already")
    readable, _, _ = select.select([handler._sock], [], [], WAIT)
    assert readable, "the bytes never arrived"

    def read_callback(ar):
        handler.end_receive(ar)
        raise KeyError("thrown in ReadCallback")

    if dotnet == "modern":
        with pytest.raises(KeyError, match="thrown in ReadCallback"):
            handler.begin_receive(bytearray(64), 0, 64, 0, read_callback)
        assert lb.runtime.unhandled_errors == []
    else:
        handler.begin_receive(bytearray(64), 0, 64, 0, read_callback)
        [error] = wait_for(lb, lambda e: e.kind == "error" and e.get("where"), "the unhandled error")
        assert error.thread.startswith("pool-") and "KeyError" in error["error"]


def test_a_stack_overflow_passes_every_except_exception():
    from sockdemo.apm.errors import StackOverflow
    assert not issubclass(StackOverflow, Exception)

"""The limits of the fixed and echo servers (servers.guards), each seen acting.

The simulator makes most of these exact (virtual time, no waiting); the
resource-exhaustion case needs a real process with a low file-descriptor
limit and runs the real ``serve``.
"""
from __future__ import annotations

import errno
import resource
import sys
import time

import pytest

from conftest import WAIT, Client, start_serve
from sockdemo.servers.guards import RESOURCE_ERRORS, TRANSIENT_ERRORS, Guard, Limits
from sockdemo.sim.scenarios import Client as Script
from sockdemo.sim.scenarios import Scenario
from sockdemo.sim.simulation import run_scenario


def run(mode, clients, **options):
    sim = run_scenario(Scenario(mode=mode, clients=tuple(clients), server_options=options))
    return sim, sim.result


@pytest.mark.parametrize("mode", ["fixed", "echo"])
def test_at_the_connection_cap_accepting_waits_until_a_connection_ends(mode):
    end = "eof" if mode == "echo" else "close"
    holders = [Script.text("holding", end="idle") for _ in range(2)]
    late = Script.text("late<EOF>" if mode == "echo" else "late", at=0.01, end=end)
    sim, result = run(mode, [*holders, late], max_connections=2, idle_timeout=1.0)
    console = sim.console
    paused = console.index("Connection limit reached (2 open): accepting paused")
    idle = [i for i, line in enumerate(console) if line.endswith("closed: idle for 1 s")]
    resumed = next(i for i, line in enumerate(console) if line.startswith("Accepting again ("))
    read = next(i for i, line in enumerate(console) if line.startswith("Read "))
    assert paused < idle[0] < resumed < read, console
    assert result.conns["client-3"] == 3 and "late" in result.messages[3][0]
    limits = sim.trace.of_kind("limit")
    assert [(e["limit"], e["action"]) for e in limits] == [("max_connections", "paused"),
                                                           ("max_connections", "resumed")]


@pytest.mark.parametrize("mode", ["fixed", "echo"])
def test_a_trickling_client_is_closed_at_the_message_deadline(mode):
    # One byte every 0.5 s is never idle for 1 s, but the message never ends either.
    trickle = Script.pieces(*"x" * 30, gap=0.5)
    sim, result = run(mode, [trickle], idle_timeout=1.0, message_timeout=3.0)
    [line] = [line for line in sim.console if "closed:" in line]
    assert line == "Connection 1 closed: message not complete within 3 s"
    [error] = [e for e in sim.trace.of_kind("error") if e.get("limit")]
    assert error["limit"] == "message_timeout" and error.t >= 3_000_000
    client_sends = [e for e in sim.trace.of_kind("client_send") if e.t < error.t]
    assert 5 <= len(client_sends) < 30


@pytest.mark.parametrize("mode", ["fixed", "echo"])
def test_a_silent_client_is_closed_after_the_idle_timeout(mode):
    sim, _ = run(mode, [Script.text("hello?", end="idle")], idle_timeout=2.0)
    [error] = [e for e in sim.trace.of_kind("error") if e.get("limit")]
    assert error["limit"] == "idle_timeout" and "Connection 1 closed: idle for 2 s" in sim.console
    [chunk] = sim.trace.of_kind("chunk")
    assert error.t - chunk.t >= 2_000_000


@pytest.mark.parametrize("mode", ["fixed", "echo"])
def test_a_message_over_the_limit_is_cut_off(mode):
    sim, result = run(mode, [Script.text("x" * 50)], max_message=20)
    assert "Connection 1 closed: message exceeds 20 bytes" in sim.console
    assert result.messages == {}


def test_a_busy_connection_keeps_one_timer_at_a_time(monkeypatch):
    # Re-arming per receive would leave one cancelled timer per receive in the heap.
    from sockdemo.sim.runtime import SimRuntime
    started = []
    real_start = SimRuntime.start_timer

    def counting(self, *args, **kwargs):
        started.append(args[0])
        return real_start(self, *args, **kwargs)

    monkeypatch.setattr(SimRuntime, "start_timer", counting)
    sim, _ = run("fixed", [Script.pieces(*"y" * 200, gap=0.001)], idle_timeout=1.0)
    assert sim.trace.of_kind("message")[0].nbytes == 200
    assert len(sim.trace.of_kind("chunk")) > 100
    assert started == [pytest.approx(1.0)], "one timer for the whole connection, armed at its accept"


def test_limits_refuse_nonsense():
    for bad in ({"idle_timeout": 0}, {"message_timeout": -1}, {"max_message": 0},
                {"max_connections": 1.5}, {"idle_timeout": True}):
        with pytest.raises(ValueError):
            Limits(**bad)


def test_errors_of_one_pending_connection_do_not_pause_accepting():
    assert errno.ECONNABORTED in TRANSIENT_ERRORS and errno.EMFILE in RESOURCE_ERRORS
    assert not TRANSIENT_ERRORS & RESOURCE_ERRORS


class _Runtime:
    """Just enough of a runtime for the guard's bookkeeping."""

    def __init__(self):
        from sockdemo.apm.console import Console
        from sockdemo.trace.tracer import Tracer
        self.tracer = Tracer(lambda: 0)
        self.console = Console(self.tracer)
        self.timers = []

    def now(self):
        return 0.0

    def start_timer(self, seconds, callback, state=None, conn=None):
        from sockdemo.apm.runtime import Timer
        timer = Timer(callback, state, len(self.timers), conn, seconds)
        self.timers.append(timer)
        return timer


def test_a_resource_error_pauses_once_per_episode_and_resumes_after_the_pause():
    rt, resumed = _Runtime(), []
    guard = Guard(rt, Limits(), lambda: resumed.append(True))
    full = OSError(errno.EMFILE, "Too many open files")
    assert guard.accept_failed(full) is False and not guard.may_accept()
    assert guard.accept_failed(full) is False
    assert len(rt.timers) == 1, "a second failure in the same pause must not start a second timer"
    assert [line for line in rt.console.lines if line.startswith("Accept failed")] == [
        "Accept failed: OSError: [Errno 24] Too many open files; accepting again every 1 s until it works"]
    rt.timers[0]._invoke()
    assert resumed == [True] and guard.may_accept()


# -- a real process out of file descriptors --------------------------------------

def _low_fd_limit(n):
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return limit


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's RLIMIT_NOFILE")
def test_fixed_serve_survives_running_out_of_file_descriptors():
    proc, port = start_serve("--mode", "fixed", "--backlog", "128", "--idle-timeout", "60",
                             preexec_fn=_low_fd_limit(48))
    holders = []
    try:
        for _ in range(60):  # more than the server has descriptors for
            holders.append(Client(("127.0.0.1", port)))
        line = _read_until(proc, "Accept failed:")
        assert "Too many open files" in line
        for holder in holders:
            holder.close()
        holders.clear()
        with Client(("127.0.0.1", port)) as late:  # served once descriptors are free again
            late.send(b"after the storm").half_close()
            assert late.closed_by_server(timeout=WAIT + 5)
        assert _read_until(proc, " Data : after the storm")
    finally:
        for holder in holders:
            holder.close()
        proc.terminate()
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert out.count("Accept failed:") == 0  # the one line was read above: logged once


def _read_until(proc, text, timeout=WAIT + 5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if text in line:
            return line
    raise AssertionError(f"serve never printed {text!r}")

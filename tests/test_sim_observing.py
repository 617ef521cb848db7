"""Observing never schedules: who listens, and which event kinds exist, cannot move a simulated run.

A run's schedule is every event's thread, kind, virtual time and payload, in
order. The simulator's tracer only records; the scheduling points are the
primitives' checkpoints, so these must hold for every scenario and seed.
"""
import pytest

from sockdemo.apm.console import Console
from sockdemo.apm.reset_event import ManualResetEvent
from sockdemo.apm.runtime import Runtime
from sockdemo.apm.socket import Socket
from sockdemo.sim.network import SimSocket
from sockdemo.sim.scenarios import SCENARIOS
from sockdemo.sim.simulation import Simulation
from sockdemo.trace.recording import Trace

SEEDS = (0, 1, 7)


def run(name, seed=0, before=None):
    """Run a scenario to its end; ``before(sim)`` runs once the simulation is made."""
    with Simulation(name, seed=seed) as sim:
        if before is not None:
            before(sim)
        sim.run()
    return sim


def schedule(events):
    return [(e.thread, e.kind, e.t, e.conn, e.nbytes, e.info) for e in events]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_extra_listeners_do_not_change_the_trace(name, seed):
    second = Trace()

    def listen(sim):
        sim.runtime.tracer.subscribe(lambda event: None)
        sim.runtime.tracer.subscribe(second)
        second.meta.update(sim.trace.meta)   # the same run, so the same server named

    plain = run(name, seed).trace.dumps()
    assert run(name, seed, listen).trace.dumps() == plain
    assert second.dumps() == plain


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_run_nobody_listens_to_ends_as_a_traced_one(name):
    def deafen(sim):
        for listener in sim.runtime.tracer.hooks:
            sim.runtime.tracer.unsubscribe(listener)

    traced, untraced = run(name), run(name, before=deafen)
    assert len(untraced.trace) == 0
    assert (untraced.now, untraced.console, untraced.result.status, untraced.result.conns,
            untraced.result.replies) == \
        (traced.now, traced.console, traced.result.status, traced.result.conns, traced.result.replies)


def test_a_hook_that_raises_adds_its_report_and_moves_nothing():
    def broken(event):
        if event.kind == "callback_start":   # so the report comes from a pool thread
            raise ValueError("a broken hook")

    plain = run("two_clients")
    watched = run("two_clients", before=lambda sim: sim.runtime.tracer.subscribe(broken))
    reports = watched.trace.of_kind("hook_error")
    assert [e.thread for e in reports] == ["pool-1"]
    assert schedule(e for e in watched.trace.events if e.kind != "hook_error") == schedule(plain.trace.events)


# A primitive made to emit one more kind of event, before and after its work:
# (class, method, how it reaches its tracer). SimSocket.arrive runs on the engine.
PROBES = {
    "Socket._begin": (Socket, "_begin", lambda sock: sock.runtime.tracer),
    "Socket._end": (Socket, "_end", lambda sock: sock.runtime.tracer),
    "ManualResetEvent.set": (ManualResetEvent, "set", lambda event: event._tracer),
    "ManualResetEvent.wait_one": (ManualResetEvent, "wait_one", lambda event: event._tracer),
    "Console.write_line": (Console, "write_line", lambda console: console._tracer),
    "Runtime._run_callback": (Runtime, "_run_callback", lambda runtime: runtime.tracer),
    "SimSocket.arrive": (SimSocket, "arrive", lambda sock: sock.runtime.tracer),
}


def add_probe(monkeypatch, cls, method, tracer_of):
    original = getattr(cls, method)

    def probed(self, *args, **kwargs):
        tracer_of(self).emit("probe", where="before")
        try:
            return original(self, *args, **kwargs)
        finally:
            tracer_of(self).emit("probe", where="after")

    monkeypatch.setattr(cls, method, probed)


@pytest.mark.parametrize("probe", sorted(PROBES))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_new_event_kind_does_not_move_the_others(monkeypatch, name, probe):
    plain = run(name, seed=1)
    add_probe(monkeypatch, *PROBES[probe])
    probed = run(name, seed=1)
    assert schedule(e for e in probed.trace.events if e.kind != "probe") == schedule(plain.trace.events)


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_each_probe_is_emitted(monkeypatch, probe):
    """The test above would pass vacuously if a probe never fired."""
    add_probe(monkeypatch, *PROBES[probe])
    assert len(run("one_client").trace.of_kind("probe")) >= 2

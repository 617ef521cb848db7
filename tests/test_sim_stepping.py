"""The stepping API: one event per step, peek, run(until), the learner as scheduler."""
import pytest

from sockdemo.simulator import Simulation, run_scenario


def test_step_performs_one_event_and_returns_it():
    with Simulation("one_client") as sim:
        first = sim.step()
        assert first.seq == 1 and len(sim.trace) == 1
        second = sim.step()
        assert second.seq == 2 and len(sim.trace) == 2


def test_stepping_to_the_end_gives_the_same_trace_as_run():
    with Simulation("two_clients", seed=4) as sim:
        stepped = []
        while (ev := sim.step()) is not None:
            stepped.append(ev)
        assert sim.finished
    ran = run_scenario("two_clients", seed=4)
    assert [(e.seq, e.t, e.kind, e.thread) for e in stepped] == \
        [(e.seq, e.t, e.kind, e.thread) for e in ran.trace.events]


def test_peek_says_what_comes_next_without_doing_it():
    with Simulation("one_client") as sim:
        nxt = sim.peek()
        assert (nxt.t, nxt.thread) == (0, "client-1")
        assert len(sim.trace) == 0
        assert sim.step().thread == "client-1"


def test_run_until_stops_at_a_virtual_time_and_can_go_on():
    with Simulation("split_message") as sim:
        r = sim.run(until=1000)
        assert r.status == "running" and sim.now <= 1000
        assert all(e.t <= 1000 for e in sim.trace)
        assert sim.run().status == "finished"


def test_choosing_a_thread_needs_the_scheduler_mode():
    with Simulation("one_client") as sim:
        with pytest.raises(ValueError):
            sim.step(thread="main")


def test_the_learner_chooses_who_runs_next():
    with Simulation("forgotten_set", choose=True) as sim:
        assert sim.runnable() == ["client-1", "main", "client-2"]   # earliest first
        ev = sim.step(thread="main")
        assert (ev.thread, ev.kind) == ("main", "console")
        with pytest.raises(ValueError):
            sim.step(thread="pool-7")


def test_close_mid_run_stops_every_thread():
    sim = Simulation("starved_pool")
    for _ in range(40):
        sim.step()
    threads = [st.thread for st in sim.kernel.threads.values()]
    sim.close()
    assert threads and not any(t.is_alive() for t in threads)
    assert sim.step() is None

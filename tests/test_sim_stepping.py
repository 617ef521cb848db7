"""The stepping API: one event per step, peek, run(until), the learner as scheduler."""
import pytest

from sockdemo.sim.scenarios import SCENARIOS
from sockdemo.sim.simulation import Simulation, run_scenario


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


def run_by_steps(sim, until=None, max_events=1_000_000):
    """What ``run`` is defined as: ``step()`` over and over, ``until`` looked at
    before each step whose events are all handed out."""
    n = 0
    while n < max_events:
        nxt = sim.peek()
        if until is not None and nxt is not None and not nxt.done and nxt.t > until:
            break
        if sim.step() is None and (sim.kernel.closed or sim.peek() is None):
            break
        n += 1


@pytest.mark.parametrize("name, until, max_events", [
    ("two_clients", None, 1_000_000), ("two_clients", None, 17), ("split_message", 1500, 1_000_000),
    ("starved_pool_injected", 600_000, 40), ("reset_mid_message", None, 1_000_000),
    ("backlog_overflow", 700, 1_000_000)])
def test_run_stops_where_stepping_would(name, until, max_events):
    # run lets the threads pass the baton among themselves between events;
    # it must stop at the same place, with the same events handed out.
    scenario = SCENARIOS[name].with_(unhandled="stop")   # reset_mid_message: a stop
    with Simulation(scenario, seed=2) as ran, Simulation(scenario, seed=2) as stepped:
        ran.run(until=until, max_events=max_events)
        run_by_steps(stepped, until, max_events)
        assert ran.trace.dumps() == stepped.trace.dumps()
        assert (ran.now, ran.kernel.closed, ran.peek()) == (stepped.now, stepped.kernel.closed, stepped.peek())
        assert [ran.step() for _ in range(3)] == [stepped.step() for _ in range(3)]


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
    last = sim.trace.events[-1]
    sim.close()
    assert threads and not any(t.is_alive() for t in threads)
    # What the last step did before the close may still be handed out; nothing new runs.
    rest = [sim.step() for _ in range(3)]
    assert rest[1:] == [None, None] and (rest[0] is None or rest[0].t == last.t), rest


# A schedule of one_client in which the message is printed before main's second
# "Waiting for a connection..." (the default order prints it after). One choice
# is one step: the code from one checkpoint to the next.
READ_FIRST = (["client-1"]                  # connect
              + ["main"] * 6                # print, listen, reset, print, begin_accept, wait_one
              + ["engine"]                  # the engine sees the accept event
              + ["pool-1"] * 6              # accept(), then AcceptCallback: entry, end_accept, set,
                                            # begin_receive, exit
              + ["client-1", "engine", "engine"]   # write and half-close; the bytes, then the FIN, arrive
              + ["pool-1"] * 3              # ReadCallback: entry, end_receive, begin_receive (the 0 bytes at once)
              + ["pool-2", "pool-1", "pool-2", "pool-2"])  # the next ReadCallback prints, as pool-1 leaves


def test_replay_runs_each_choice_even_after_a_step_of_several_events():
    with Simulation("one_client", seed=0, choose=True) as sim:
        performed = sim.replay(READ_FIRST)
        # every event, in order, none left behind (the trace may fill in a client event's conn later)
        assert [e.seq for e in performed] == [e.seq for e in sim.trace.events]
        assert sim.peek() is None or not sim.peek().done
        # the client's second step wrote and half-closed at one instant: two events
        sends = [e for e in performed if e.kind in ("client_send", "client_shutdown")]
        assert [e.kind for e in sends] == ["client_send", "client_shutdown"]
        assert sends[0].t == sends[1].t
        assert sim.run().status == "finished"
    lines = sim.console
    read_at = next(i for i, line in enumerate(lines) if line.startswith("Read 14 bytes"))
    waiting = [i for i, line in enumerate(lines) if line == "Waiting for a connection..."]
    assert read_at < waiting[1], lines
    assert sim.messages_by_client() == {"client-1": ["Hello, server!"]}


def test_plain_step_with_a_thread_is_ignored_while_events_are_handed_out():
    """The trap replay() avoids: the same choices through step(thread=...) go astray."""
    with Simulation("one_client", seed=0, choose=True) as sim:
        with pytest.raises(ValueError):
            for name in READ_FIRST:
                sim.step(thread=name)


def test_replay_performs_the_chosen_thread_first():
    with Simulation("one_client", seed=0, choose=True) as sim:
        firsts = []
        for name in READ_FIRST:
            performed = sim.replay([name])   # a step may also end without an event
            if performed:
                firsts.append((name, performed[0].thread))
        assert len(firsts) > len(READ_FIRST) // 2
        assert all(name == thread for name, thread in firsts), firsts


def test_replay_is_deterministic_and_can_continue_in_pieces():
    with Simulation("one_client", seed=0, choose=True) as whole:
        whole.replay(READ_FIRST)
    with Simulation("one_client", seed=0, choose=True) as pieces:
        pieces.replay(READ_FIRST[:9])
        pieces.replay(READ_FIRST[9:])
    assert whole.trace.dumps() == pieces.trace.dumps()


def test_replay_rejects_a_choice_that_cannot_run():
    with Simulation("one_client", seed=0, choose=True) as sim:
        with pytest.raises(ValueError, match=r"choice 1 \('pool-3'\) cannot run now; runnable: main, engine"):
            sim.replay(["client-1", "pool-3", "main"])
        assert [e.thread for e in sim.trace.events] == ["client-1"]   # what ran before stays
        sim.replay(["main"])                                          # and it can go on


def test_replay_after_the_end_says_the_simulation_is_over():
    with Simulation("one_client", seed=0, choose=True) as sim:
        sim.run()
        with pytest.raises(ValueError, match="simulation is over"):
            sim.replay(["main"])


def test_replay_needs_the_scheduler_mode():
    with Simulation("one_client") as sim:
        with pytest.raises(ValueError, match="choose=True"):
            sim.replay(["client-1"])


def test_closing_a_simulation_mid_callback_ends_that_slice_marked_cut():
    from sockdemo.sim.simulation import Simulation
    sim = Simulation("starved_pool", seed=0)
    while not any(e.kind == "sleep" for e in sim.trace.events):
        assert sim.step() is not None, "the ReadCallback never went to sleep"
    [start] = [e for e in sim.trace.of_kind("callback_start") if e["name"] == "ReadCallback"]
    sim.close()
    [end] = [e for e in sim.trace.of_kind("callback_end") if e["id"] == start["id"]]
    assert end.thread == start.thread and end.get("cut") is True

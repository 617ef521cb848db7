"""The simulator is a pure function of scenario and seed, and leaves no threads behind."""
import threading

import pytest

from sockdemo.sim.scenarios import SCENARIOS
from sockdemo.sim.simulation import run_scenario


def _threads():
    return {t for t in threading.enumerate()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_scenario_and_seed_give_byte_identical_trace_files(name, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run_scenario(name, seed=3).trace.save(a)
    run_scenario(name, seed=3).trace.save(b)
    assert a.read_bytes() == b.read_bytes()


def test_seeds_change_interleaving_not_messages():
    runs = [run_scenario("two_clients", seed=s) for s in range(12)]
    orders = {tuple((e.thread, e.kind, e.conn) for e in r.trace.events) for r in runs}
    assert len(orders) > 1
    for r in runs:
        assert r.messages_by_client() == {"client-1": ["first client here"],
                                          "client-2": ["second client, hi"]}


def test_seed_does_not_change_what_each_client_sends():
    for s in range(5):
        sim = run_scenario("split_message", seed=s)
        sent = b"".join(e["data"].encode() for e in sim.trace.of_kind("client_send"))
        assert sent == b"a message in four parts"


@pytest.mark.parametrize("name", ["one_client", "forgotten_set", "starved_pool", "idle_client"])
def test_a_finished_simulation_leaves_no_thread_behind(name):
    before = _threads()
    sim = run_scenario(name)
    assert sim.kernel.closed
    assert _threads() <= before
    assert all(not st.thread.is_alive() for st in sim.kernel.threads.values())

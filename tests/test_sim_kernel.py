"""The kernel on its own: timed entries, seeded ties, the baton, blocking, stopping.

Every test drives a bare ``Kernel`` the way ``Simulation.step`` does (pop the
next entry, perform it) and records ``(who, virtual time)`` pairs.
"""
import os
import threading

import pytest

from conftest import WAIT
from sockdemo.apm.affinity import current_cpu
from sockdemo.apm.errors import ThreadInterrupted
from sockdemo.sim import kernel as kernel_module
from sockdemo.sim.kernel import Kernel

CPU = 10   # the kernel's cpu_us: what a step costs a thread


@pytest.fixture
def k():
    kernel = Kernel(seed=0, cpu_us=CPU)
    yield kernel
    kernel.close(WAIT)


def run(kernel: Kernel) -> None:
    while (entry := kernel.pop_next()) is not None:
        kernel.perform(entry)


def order_at_one_instant(seed: int, owners) -> list[str]:
    """The order in which entries all due at t=5 run, one per (name, owner)."""
    kernel = Kernel(seed=seed)
    done = []
    for name, owner in owners:
        kernel.call_at(5, name, lambda name=name: done.append(name), owner=owner)
    run(kernel)
    return done


# -- timed entries -----------------------------------------------------------------

def test_entries_run_in_virtual_time_order(k):
    log = []
    for t, name in ((30, "c"), (10, "a"), (20, "b")):
        k.call_at(t, name, lambda name=name: log.append((name, k.now)))
    run(k)
    assert log == [("a", 10), ("b", 20), ("c", 30)]


def test_call_later_counts_from_now(k):
    log = []
    k.call_at(100, "first", lambda: k.call_later(50, "second", lambda: log.append(k.now)))
    run(k)
    assert log == [150]


def test_call_at_a_past_time_runs_now(k):
    log = []
    k.call_at(100, "first", lambda: k.call_at(40, "late", lambda: log.append(k.now)))
    run(k)
    assert log == [100]


def test_a_cancelled_entry_never_runs(k):
    log = []
    entry = k.call_at(10, "a", lambda: log.append("a"))
    k.call_at(20, "b", lambda: log.append("b"))
    entry.cancelled = True
    run(k)
    assert log == ["b"]


# -- ties ------------------------------------------------------------------------------

OWNERS = [(name, name) for name in "abcd"]


def test_a_tie_is_broken_by_the_seed():
    # Random(0) draws randrange(4), (3), (2) = 3, 1, 0 among the tied, in seq order.
    assert order_at_one_instant(0, OWNERS) == ["d", "b", "a", "c"]
    assert order_at_one_instant(0, OWNERS) == order_at_one_instant(0, OWNERS)


def test_other_seeds_break_a_tie_otherwise():
    orders = {tuple(order_at_one_instant(seed, OWNERS)) for seed in range(10)}
    assert len(orders) > 1


def test_entries_of_one_owner_keep_their_order_in_a_tie():
    owners = [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")]
    orders = [order_at_one_instant(seed, owners) for seed in range(10)]
    assert len({tuple(order) for order in orders}) > 1   # the owners do interleave
    for order in orders:
        assert [n for n in order if n[0] == "a"] == ["a1", "a2", "a3"]
        assert [n for n in order if n[0] == "b"] == ["b1", "b2"]


def test_candidates_are_the_first_entry_of_each_owner_at_the_earliest_time(k):
    for t, name, owner in ((5, "a1", "a"), (5, "b1", "b"), (5, "a2", "a"), (9, "c1", "c")):
        k.call_at(t, name, lambda: None, owner=owner)
    assert [e.name for e in k.candidates()] == ["a1", "b1"]


def test_pop_named_takes_that_ones_earliest_entry_or_says_who_can_run(k):
    k.call_at(5, "a", lambda: None)
    k.call_at(7, "b", lambda: None)
    assert (k.pop_named("b").name, k.pop_next().name) == ("b", "a")
    with pytest.raises(ValueError, match="'c' cannot run now; runnable: nothing"):
        k.pop_named("c")


# -- the baton ---------------------------------------------------------------------------

def test_a_thread_keeps_the_baton_for_its_first_checkpoint_and_yields_at_the_next(k):
    log = []

    def body(name):
        st = k.threads[name]
        log.append((name, "starts", k.now))
        k.checkpoint(st)                      # what it was started for: no yield
        log.append((name, "first", k.now))
        k.checkpoint(st)                      # yields: the other thread may go first
        log.append((name, "second", k.now))

    k.start_thread("t1", lambda: body("t1"))
    k.call_at(15, "other", lambda: log.append(("other", "runs", k.now)))
    run(k)
    assert log == [("t1", "starts", CPU), ("t1", "first", CPU),
                   ("other", "runs", 15), ("t1", "second", 2 * CPU)]


def test_only_the_thread_with_the_baton_runs(k):
    running, overlaps = [], []

    def body(name):
        st = k.threads[name]
        for _ in range(5):
            running.append(name)
            if len(running) > 1:
                overlaps.append(list(running))
            running.remove(name)
            k.checkpoint(st)

    for name in ("t1", "t2", "t3"):
        k.start_thread(name, lambda name=name: body(name))
    run(k)
    assert overlaps == []
    assert all(st.done and st.failure is None for st in k.threads.values())


def test_two_threads_of_one_name_are_refused(k):
    k.start_thread("t", lambda: None)
    with pytest.raises(ValueError, match="a simulated thread named 't' exists already"):
        k.start_thread("t", lambda: None)


# -- blocking ------------------------------------------------------------------------------

def test_wake_resumes_a_blocked_thread_with_its_value(k):
    log = []

    def body():
        log.append(("blocks", k.now))
        log.append((k.block(k.threads["t"]), k.now))

    st = k.start_thread("t", body)
    k.call_at(100, "waker", lambda: k.wake(st, "woken"))
    run(k)
    assert log == [("blocks", CPU), ("woken", 100 + CPU)]


def test_block_with_a_timeout_returns_on_timeout_when_nobody_wakes_it(k):
    log = []
    k.start_thread("t", lambda: log.append((k.block(k.threads["t"], 50, on_timeout="late"), k.now)))
    run(k)
    assert log == [("late", CPU + 50)]


def test_a_wake_cancels_the_timeout(k):
    log = []

    def body():
        log.append((k.block(k.threads["t"], 1000, on_timeout="late"), k.now))

    st = k.start_thread("t", body)
    k.call_at(100, "waker", lambda: k.wake(st, "woken"))
    run(k)
    assert log == [("woken", 100 + CPU)]
    assert k.now == 100 + CPU and k.pending() == []   # the timeout never came


# -- stopping --------------------------------------------------------------------------------

def test_close_interrupts_every_parked_thread_and_joins_it(k):
    unwound = []

    def body(name, park):
        try:
            park(k.threads[name])
        except ThreadInterrupted:
            unwound.append(name)
            raise

    k.start_thread("blocked", lambda: body("blocked", k.block))
    k.start_thread("runnable", lambda: body("runnable", lambda st: (k.checkpoint(st), k.checkpoint(st))))
    for _ in range(2):
        k.perform(k.pop_next())   # each runs to where it parks
    threads = [st.thread for st in k.threads.values()]
    k.close(WAIT)
    assert sorted(unwound) == ["blocked", "runnable"]
    assert k.closed and not any(t.is_alive() for t in threads)
    assert all(st.failure is None for st in k.threads.values())   # an interruption is no failure


def test_a_thread_unwinding_after_close_cannot_schedule_again(k):
    seen = []

    def body():
        st = k.threads["t"]
        try:
            k.block(st)
        finally:
            try:
                k.checkpoint(st)
            except ThreadInterrupted:
                seen.append("interrupted again")

    k.start_thread("t", body)
    k.perform(k.pop_next())
    k.close(WAIT)
    assert seen == ["interrupted again"]


def test_a_thread_that_never_reaches_a_scheduling_point_is_named(k, monkeypatch):
    monkeypatch.setattr(kernel_module, "HANDOFF_TIMEOUT", 0.05)
    release = threading.Event()
    k.start_thread("stuck", lambda: release.wait(WAIT))   # blocks outside the runtime
    try:
        with pytest.raises(RuntimeError, match=r"simulated thread stuck ran 0\.05 s of real time "
                                               r"without reaching a scheduling point"):
            k.perform(k.pop_next())
    finally:
        release.set()
        k.threads["stuck"].thread.join(WAIT)


def test_a_thread_that_comes_back_after_the_hand_off_timeout_cannot_take_the_baton(k, monkeypatch):
    monkeypatch.setattr(kernel_module, "HANDOFF_TIMEOUT", 0.05)
    release, seen = threading.Event(), []

    def late():
        release.wait(WAIT)
        try:
            k.checkpoint(k.threads["late"])
        except ThreadInterrupted:
            seen.append("interrupted")

    k.start_thread("late", late)
    with pytest.raises(RuntimeError, match="late ran"):
        k.perform(k.pop_next())
    release.set()
    k.threads["late"].thread.join(WAIT)
    assert seen == ["interrupted"]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or current_cpu() is None,
                    reason="needs Linux CPU affinity")
def test_simulated_threads_share_the_cpu_the_kernel_was_made_on(k):
    before, seen = os.sched_getaffinity(0), {}
    for name in ("a", "b"):
        k.start_thread(name, lambda name=name: seen.setdefault(name, os.sched_getaffinity(0)))
    run(k)
    assert seen == {"a": {k.cpu}, "b": {k.cpu}}
    assert os.sched_getaffinity(0) == before, "the caller keeps its CPUs"

"""ManualResetEvent on the real runtime: set/reset/wait_one, its trace, and stop."""
import queue
import threading
import time

import pytest

from conftest import WAIT, wait_for, wait_until
from sockdemo.apm.errors import ThreadInterrupted


def test_a_new_event_is_reset_and_wait_times_out_false(lab):
    event = lab(pool=1).runtime.manual_reset_event(name="gate")
    assert not event.is_set
    assert event.wait_one(0.01) is False


def test_initially_set_event_does_not_block(lab):
    event = lab(pool=1).runtime.manual_reset_event(True, "gate")
    assert event.is_set and event.wait_one(0) is True


def test_set_opens_the_gate_for_every_later_wait(lab):
    event = lab(pool=1).runtime.manual_reset_event(name="gate")
    assert event.set() is True
    assert [event.wait_one(0) for _ in range(3)] == [True, True, True]


def test_reset_closes_the_gate_again(lab):
    event = lab(pool=1).runtime.manual_reset_event(name="gate")
    event.set()
    assert event.reset() is True
    assert not event.is_set and event.wait_one(0.01) is False


def test_set_wakes_a_blocked_waiter(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    result = []
    waiter = threading.Thread(target=lambda: result.append(event.wait_one(WAIT)), name="waiter")
    waiter.start()
    wait_for(lb, lambda e: e.kind == "wait" and e.thread == "waiter", "the waiter's wait")
    event.set()
    waiter.join(WAIT)
    assert not waiter.is_alive() and result == [True]


def test_set_releases_every_blocked_waiter_and_reset_holds_later_ones(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    results = []
    waiters = [threading.Thread(target=lambda: results.append(event.wait_one(WAIT)), name=f"waiter-{i}")
               for i in range(3)]
    for waiter in waiters:
        waiter.start()
    wait_for(lb, lambda e: e.kind == "wait" and e.thread.startswith("waiter-"), "the waiters' waits", count=3)
    event.set()
    for waiter in waiters:
        waiter.join(WAIT)
    assert results == [True, True, True]
    event.reset()
    assert event.wait_one(0.01) is False


def test_set_then_reset_at_once_releases_every_waiter_of_that_moment(lab):
    # .NET's Set releases every thread waiting at that moment, however soon Reset follows.
    event = lab(pool=1).runtime.manual_reset_event(name="gate")
    waiters, rounds = 4, 100
    results: queue.SimpleQueue = queue.SimpleQueue()
    go = [threading.Semaphore(0) for _ in range(waiters)]

    def waiter(i):
        for _ in range(rounds):
            go[i].acquire()
            results.put(event.wait_one(WAIT))

    threads = [threading.Thread(target=waiter, args=(i,), name=f"waiter-{i}", daemon=True)
               for i in range(waiters)]
    for thread in threads:
        thread.start()
    for r in range(rounds):
        for g in go:
            g.release()
        wait_until(lambda: event._flag.waiters == waiters, f"round {r}: {waiters} threads blocked in wait_one")
        event.set()
        event.reset()
        returned = [results.get(timeout=WAIT * 2) for _ in range(waiters)]
        assert returned == [True] * waiters, f"round {r}: a wait released by set() timed out: {returned}"
    for thread in threads:
        thread.join(WAIT)


def test_a_wait_begun_after_set_and_reset_still_times_out(lab):
    event = lab(pool=1).runtime.manual_reset_event(name="gate")
    for _ in range(3):
        event.set()
        event.reset()
    started = time.monotonic()
    assert event.wait_one(0.05) is False
    assert time.monotonic() - started >= 0.04


def test_trace_shows_wait_then_set_then_the_woken_waiters_wake(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    waiter = threading.Thread(target=event.wait_one, args=(WAIT,), name="waiter")
    waiter.start()
    wait_for(lb, lambda e: e.kind == "wait" and e.thread == "waiter", "the waiter's wait")
    event.set()
    waiter.join(WAIT)
    kinds = [(e.kind, e.thread, e.get("event")) for e in lb.trace.of_kind("wait", "set", "wake")]
    me = threading.current_thread().name
    assert kinds == [("wait", "waiter", "gate"), ("set", me, "gate"), ("wake", "waiter", "gate")]
    assert lb.trace.of_kind("wake")[0]["signaled"] is True


def test_timed_out_wait_is_traced_as_not_signaled(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    event.wait_one(0.01)
    [wait, wake] = lb.trace.of_kind("wait", "wake")
    assert wait["timeout"] == 0.01 and wake["signaled"] is False


def test_reset_is_traced(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="allDone")
    event.reset()
    [reset] = lb.trace.of_kind("reset")
    assert reset["event"] == "allDone"


def start_waiter(event, name: str):
    """A daemon thread blocked in ``event.wait_one()``; ``outcome`` says how it ended."""
    outcome = []

    def wait_forever():
        try:
            event.wait_one()
            outcome.append("returned")
        except ThreadInterrupted:
            outcome.append("interrupted")

    waiter = threading.Thread(target=wait_forever, name=name, daemon=True)
    waiter.start()
    return waiter, outcome


def test_runtime_stop_interrupts_a_waiter(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    waiter, outcome = start_waiter(event, "waiter")
    wait_for(lb, lambda e: e.kind == "wait" and e.thread == "waiter", "the waiter's wait")
    lb.runtime.stop()
    waiter.join(WAIT)
    assert not waiter.is_alive() and outcome == ["interrupted"]


def test_stop_interrupts_several_waiters_with_and_without_a_timeout(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    outcomes: queue.SimpleQueue = queue.SimpleQueue()

    def wait(timeout):
        try:
            outcomes.put(event.wait_one(timeout))
        except ThreadInterrupted:
            outcomes.put("interrupted")

    threads = [threading.Thread(target=wait, args=(timeout,), daemon=True) for timeout in (None, WAIT, None)]
    for thread in threads:
        thread.start()
    wait_until(lambda: event._flag.waiters == 3, "3 threads blocked in wait_one")
    lb.runtime.stop()
    for thread in threads:
        thread.join(WAIT)
    assert [outcomes.get(timeout=WAIT) for _ in threads] == ["interrupted"] * 3


def test_reset_after_stop_leaves_the_event_open(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    lb.runtime.stop()
    event.reset()
    with pytest.raises(ThreadInterrupted):
        event.wait_one(WAIT)


def test_wait_after_stop_raises_at_once(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    lb.runtime.stop()
    with pytest.raises(ThreadInterrupted):
        event.wait_one(WAIT)


def test_an_interrupted_wait_is_traced_as_an_interrupted_wake(lab):
    lb = lab(pool=1)
    event = lb.runtime.manual_reset_event(name="gate")
    waiter = threading.Thread(target=lambda: pytest.raises(ThreadInterrupted, event.wait_one), name="waiter")
    waiter.start()
    wait_for(lb, lambda e: e.kind == "wait" and e.thread == "waiter", "the waiter's wait")
    lb.runtime.stop()
    waiter.join(WAIT)
    [wake] = wait_for(lb, lambda e: e.kind == "wake" and e.thread == "waiter", "the waiter's wake")
    assert wake["signaled"] is False and wake.get("interrupted") is True


def test_an_event_made_after_stop_does_not_block_forever(lab):
    lb = lab(pool=1)
    lb.runtime.stop()
    event = lb.runtime.manual_reset_event(name="late")
    waiter, outcome = start_waiter(event, "late-waiter")
    waiter.join(1.0)
    assert outcome == ["interrupted"], "a wait_one begun after stop blocks forever"

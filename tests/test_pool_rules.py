"""The CLR pool's rules, held by both worlds: the real ``ThreadPool`` and the simulator's ``SimPool``.

The rules (dotnet/runtime, ``ThreadPoolWorkQueue.cs``): an item queued by a
pool worker goes on that worker's local queue; every enqueue asks for a
worker, so an idle one wakes and can steal; a worker takes its own newest
local item, then the oldest global one, then steals another's oldest local
one; local items count as waiting work for starvation injection.

Each test runs once per world through a small ``World`` adapter: real
threads (every wait bounded by ``WAIT``, no sleep to let a race settle), or a
``SimRuntime`` whose kernel is driven until nothing is left to do (virtual
time). Callbacks are queued as a completion is: through ``runtime._queue``.
"""
from __future__ import annotations

import itertools
import threading
from typing import Callable, NamedTuple

import pytest

from conftest import WAIT
from sockdemo.apm.runtime import Timer
from sockdemo.real.runtime import RealRuntime
from sockdemo.sim.runtime import SimRuntime

MAX_SIM_STEPS = 100_000


class Run(NamedTuple):
    thread: str
    start: float   # seconds, on the world's clock
    end: float


class World:
    """What a rule test needs of a world: queue a callback, an event to block on, the clock."""

    def __init__(self, runtime, now: Callable[[], float]):
        self.runtime = runtime
        self.now = now
        self.ran: dict[str, Run] = {}
        self._ids = itertools.count(1)

    def queue(self, label: str, body: Callable[[], None] = lambda: None) -> None:
        """Queue callback ``label``: on the caller's local queue when the caller is a worker."""
        def callback(state):
            start = self.now()
            try:
                body()
            finally:
                self.ran[label] = Run(threading.current_thread().name, start, self.now())
                self._ended(label)

        self.runtime._queue(Timer(callback, None, next(self._ids), None, 0))

    def queue_from_outside(self, label: str, body: Callable[[], None] = lambda: None) -> None:
        """Queue ``label`` from a thread that is no worker (the global queue), and wait until it is queued."""
        outsider = threading.Thread(target=self.queue, args=(label, body), name="outsider")
        outsider.start()
        outsider.join(WAIT)
        assert not outsider.is_alive(), "queueing from outside the pool never returned"

    def event(self):
        return self.runtime.manual_reset_event(name="test")

    def order(self, *labels: str) -> list[str]:
        """``labels`` sorted by when they started."""
        return sorted(labels, key=lambda label: self.ran[label].start)

    def _ended(self, label: str) -> None:
        pass


class RealWorld(World):
    name = "real"

    def __init__(self, pool: int, inject: bool):
        import time
        super().__init__(RealRuntime(pool=pool, inject=inject), time.monotonic)
        self._done: dict[str, threading.Event] = {}
        self._done_lock = threading.Lock()

    def _event_for(self, label: str) -> threading.Event:
        with self._done_lock:
            return self._done.setdefault(label, threading.Event())

    def _ended(self, label: str) -> None:
        self._event_for(label).set()

    def finish(self, *labels: str) -> None:
        """Wait until every callback in ``labels`` has ended."""
        for label in labels:
            assert self._event_for(label).wait(WAIT), f"callback {label} did not end within {WAIT} s"

    def close(self) -> None:
        self.runtime.stop()


class SimWorld(World):
    name = "sim"

    def __init__(self, pool: int, inject: bool):
        runtime = SimRuntime(pool=pool, inject=inject)
        super().__init__(runtime, lambda: runtime.kernel.now / 1e6)

    def finish(self, *labels: str) -> None:
        """Run the simulation until nothing is left to do; every callback in ``labels`` must have ended."""
        kernel = self.runtime.kernel
        for _ in range(MAX_SIM_STEPS):
            entry = kernel.pop_next()
            if entry is None:
                break
            kernel.perform(entry)
        else:
            raise AssertionError(f"the simulation still had work after {MAX_SIM_STEPS} steps")
        missing = [label for label in labels if label not in self.ran]
        assert not missing, f"callbacks that never ended: {missing}"

    def close(self) -> None:
        self.runtime.stop()


@pytest.fixture(params=[RealWorld, SimWorld], ids=["real", "sim"])
def world(request):
    made = []

    def factory(pool: int, inject: bool = False) -> World:
        made.append(request.param(pool, inject))
        return made[-1]

    yield factory
    for each in made:
        each.close()


def warm_up(w: World) -> None:
    """Make both workers of a two-worker pool exist, then let them park."""
    second_started = w.event()
    w.queue_from_outside("warm-1", lambda: second_started.wait_one(WAIT))
    w.queue_from_outside("warm-2", second_started.set)
    w.finish("warm-1", "warm-2")
    assert w.runtime.pool.threads == ["pool-1", "pool-2"]


def queue_then_block(w: World, seconds: float = WAIT) -> list:
    """Callback A queues B, then blocks until B has run (at most ``seconds``); returns [B ran meanwhile]."""
    b_ran, outcome = w.event(), []

    def a():
        w.queue("B", b_ran.set)
        outcome.append(b_ran.wait_one(seconds))

    w.queue_from_outside("A", a)
    return outcome


def test_an_idle_worker_steals_what_a_blocked_callback_queued(world):
    w = world(pool=2)
    warm_up(w)
    outcome = queue_then_block(w)
    w.finish("A", "B")
    a, b = w.ran["A"], w.ran["B"]
    assert outcome == [True], "B waited for A to finish"
    assert b.thread != a.thread and b.start < a.end
    assert b.start - a.start < 0.4, "B was not taken at once"
    assert w.runtime.pool.threads == ["pool-1", "pool-2"]


def test_a_worker_is_made_for_what_a_blocked_callback_queued(world):
    w = world(pool=2)
    outcome = queue_then_block(w)
    w.finish("A", "B")
    assert outcome == [True]
    assert (w.ran["A"].thread, w.ran["B"].thread) == ("pool-1", "pool-2")


def test_injection_adds_a_worker_that_steals_the_local_item(world):
    w = world(pool=1, inject=True)
    outcome = queue_then_block(w, seconds=2.0)
    w.finish("A", "B")
    a, b = w.ran["A"], w.ran["B"]
    assert outcome == [True], "no worker was injected for B, queued locally"
    assert (a.thread, b.thread) == ("pool-1", "pool-2")
    # injection answers about 500 ms of starvation; it is no worker made on demand
    assert 0.4 <= b.start - a.start < 1.0, f"B started {b.start - a.start:.3f} s after A"


def test_without_injection_a_local_item_waits_for_its_only_worker(world):
    w = world(pool=1)
    outcome = queue_then_block(w, seconds=0.3)
    w.finish("A", "B")
    assert outcome == [False]
    assert w.ran["B"].thread == "pool-1" and w.ran["B"].start >= w.ran["A"].end
    assert w.runtime.pool.threads == ["pool-1"]


def test_the_owner_runs_its_newest_local_item_first_then_the_global_queue_oldest_first(world):
    w = world(pool=1)

    def a():
        w.queue("L1")
        w.queue("L2")
        w.queue_from_outside("G1")
        w.queue_from_outside("G2")

    w.queue_from_outside("A", a)
    w.finish("A", "L1", "L2", "G1", "G2")
    assert w.order("A", "L1", "L2", "G1", "G2") == ["A", "L2", "L1", "G1", "G2"]
    assert {run.thread for run in w.ran.values()} == {"pool-1"}


def test_a_thief_takes_the_oldest_local_item_first(world):
    w = world(pool=2)
    warm_up(w)
    last_ran = w.event()

    def a():
        w.queue("L1")
        w.queue("L2")
        w.queue("L3", last_ran.set)
        assert last_ran.wait_one(WAIT), "the queued items were not stolen"

    w.queue_from_outside("A", a)
    w.finish("A", "L1", "L2", "L3")
    thief = {w.ran[label].thread for label in ("L1", "L2", "L3")}
    assert thief == {"pool-1", "pool-2"} - {w.ran["A"].thread}
    assert w.order("L1", "L2", "L3") == ["L1", "L2", "L3"]


def test_close_drops_queued_and_local_items_and_lets_the_running_one_finish(world):
    w = world(pool=1)
    closed = []

    def a():
        w.queue("L1")
        w.queue_from_outside("G1")
        w.runtime.pool.close()
        w.queue("L2")  # after close: dropped too
        closed.append("A went on after close")

    w.queue_from_outside("A", a)
    w.finish("A")
    if isinstance(w, RealWorld):
        w.runtime.pool.join(WAIT)  # the worker has ended: nothing else can run
    assert closed and set(w.ran) == {"A"}

"""ThreadPool alone: named workers on demand up to the minimum, injection, stop.

The queueing rules it shares with the simulator's pool (local queues,
stealing, what a worker takes next) are in ``test_pool_rules.py``."""
import queue
import threading

import pytest

from conftest import WAIT
from sockdemo.apm.errors import ThreadInterrupted
from sockdemo.real.thread_pool import ThreadPool


class Recorder:
    """The pool's ``run``: records (item, thread name); items that are Events block on them."""

    def __init__(self):
        self.ran = queue.SimpleQueue()

    def __call__(self, item):
        self.ran.put((item if not isinstance(item, tuple) else item[0], threading.current_thread().name))
        if isinstance(item, tuple):
            item[1].wait(WAIT)

    def next(self, what="an item to run"):
        try:
            return self.ran.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"{what}: nothing ran within {WAIT} s") from None


@pytest.fixture
def make_pool():
    pools = []

    def factory(*args, **kw):
        pools.append(ThreadPool(*args, **kw))
        return pools[-1]

    yield factory
    for pool in pools:
        pool.join(WAIT)


def test_needs_at_least_one_thread():
    with pytest.raises(ValueError):
        ThreadPool(lambda item: None, 0)


def test_no_thread_before_any_work(make_pool):
    pool = make_pool(Recorder(), 4)
    assert pool.threads == []


def test_first_item_runs_on_pool_1(make_pool):
    run = Recorder()
    pool = make_pool(run, 4)
    pool.queue("a")
    assert run.next() == ("a", "pool-1")
    assert pool.threads == ["pool-1"]


def test_a_busy_pool_grows_up_to_the_minimum_and_no_further(make_pool):
    run, release = Recorder(), threading.Event()
    pool = make_pool(run, 2)
    try:
        pool.queue(("a", release))
        pool.queue(("b", release))
        got = {run.next(), run.next()}
        assert {name for _, name in got} == {"pool-1", "pool-2"}
        pool.queue("c")  # both workers blocked: c waits, no pool-3
        assert pool.threads == ["pool-1", "pool-2"]
    finally:
        release.set()
    assert run.next("c after the release")[0] == "c"
    assert pool.threads == ["pool-1", "pool-2"]


def test_starvation_check_injects_a_worker_when_work_waited_long_enough(make_pool):
    run, release = Recorder(), threading.Event()
    pool = make_pool(run, 1, inject_after=0.0)
    try:
        pool.queue(("a", release))
        assert run.next() == ("a", "pool-1")
        pool.queue("b")
        pool.check_starvation()
        assert run.next("b on the injected worker") == ("b", "pool-2")
    finally:
        release.set()


def test_starvation_check_counts_what_a_worker_queued_for_itself(make_pool):
    ran, release = queue.SimpleQueue(), threading.Event()

    def run(item):
        if item == "a":
            pool.queue("b")  # on pool-1's own queue, behind a callback that blocks
        ran.put((item, threading.current_thread().name))
        if item == "a":
            release.wait(WAIT)

    pool = make_pool(run, 1, inject_after=0.0)
    try:
        pool.queue("a")
        assert ran.get(timeout=WAIT) == ("a", "pool-1")
        assert pool.waiting == 1
        pool.check_starvation()
        assert ran.get(timeout=WAIT) == ("b", "pool-2"), "the injected worker did not steal b"
    finally:
        release.set()


def test_starvation_check_waits_for_inject_after(make_pool):
    run, release = Recorder(), threading.Event()
    pool = make_pool(run, 1, inject_after=60.0)
    try:
        pool.queue(("a", release))
        assert run.next() == ("a", "pool-1")
        pool.queue("b")
        pool.check_starvation()
        assert pool.threads == ["pool-1"]
    finally:
        release.set()
    assert run.next() == ("b", "pool-1")


def test_starvation_check_does_nothing_when_nothing_waits(make_pool):
    run = Recorder()
    pool = make_pool(run, 1, inject_after=0.0)
    pool.queue("a")
    run.next()
    pool.check_starvation()
    assert pool.threads == ["pool-1"]


def test_join_lets_the_running_item_finish_drops_queued_ones_and_ends_the_workers(make_pool):
    finished, release = [], threading.Event()
    started = threading.Event()

    def run(item):
        if item == "slow":
            started.set()
            release.wait(WAIT)
        finished.append(item)

    pool = make_pool(run, 1)
    pool.queue("slow")
    assert started.wait(WAIT)
    pool.queue("dropped")
    joiner = threading.Thread(target=pool.join, args=(WAIT,))
    joiner.start()
    release.set()
    joiner.join(WAIT)
    assert not joiner.is_alive()
    assert finished == ["slow"]
    assert not any(t.name == "pool-1" and t.is_alive() for t in threading.enumerate())


def test_close_drops_work_queued_afterwards(make_pool):
    ran = []
    pool = make_pool(ran.append, 1)
    pool.queue("before")
    pool.close()
    pool.queue("after")
    pool.join(WAIT)
    assert "after" not in ran


def test_close_is_idempotent(make_pool):
    pool = make_pool(Recorder(), 2)
    pool.queue("x")
    pool.close()
    pool.close()
    pool.join(WAIT)
    assert not any(t.name.startswith("pool-") and t.is_alive() and t in pool._workers
                   for t in threading.enumerate())


def test_join_reports_a_worker_that_will_not_finish(make_pool):
    release, started = threading.Event(), threading.Event()

    def run(item):
        started.set()
        release.wait(WAIT)

    pool = make_pool(run, 1)
    pool.queue("stuck")
    assert started.wait(WAIT)
    try:
        with pytest.raises(RuntimeError, match="pool-1"):
            pool.join(0.05)
    finally:
        release.set()


def test_no_worker_is_spawned_after_close(make_pool):
    pool = make_pool(Recorder(), 2)
    pool.close()
    pool.queue("late")
    assert pool.threads == []


def test_join_from_a_worker_does_not_wait_for_itself(make_pool):
    outcome = queue.SimpleQueue()
    holder = {}

    def run(item):
        try:
            holder["pool"].join(WAIT)
            outcome.put("joined")
        except Exception as exc:
            outcome.put(exc)

    pool = holder["pool"] = make_pool(run, 1)
    pool.queue("join from inside")
    assert outcome.get(timeout=WAIT * 2) == "joined"


def test_thread_interrupted_in_an_item_does_not_kill_the_worker(make_pool):
    ran = queue.SimpleQueue()

    def run(item):
        ran.put(item)
        if item == "interrupt":
            raise ThreadInterrupted()

    pool = make_pool(run, 1)
    pool.queue("interrupt")
    pool.queue("next")
    assert [ran.get(timeout=WAIT), ran.get(timeout=WAIT)] == ["interrupt", "next"]
    assert pool.threads == ["pool-1"]

"""``ThreadPool``: the CLR worker pool that runs every callback, cut down.

Mirrors System.Threading.ThreadPool as the socket callbacks meet it, with the
rules of dotnet/runtime's ``ThreadPoolWorkQueue.cs`` (``Enqueue``,
``Dequeue``, ``WorkStealingQueue``) and ``PortableThreadPool.GateThread.cs``
(both in src/libraries/System.Private.CoreLib/src/System/Threading/):

- *Where an item goes.* An item queued by one of the pool's own workers goes
  on that worker's local work-stealing queue (``LocalPush``): the lab queues a
  completion the way .NET queues a task's continuation, which prefers the
  local queue (``ThreadPool.QueueUserWorkItem`` forces the global one; tasks
  and ``preferLocal: true`` do not). An item queued by any other thread (the
  engine, main, a timer) goes on the global queue.
- *Every enqueue asks for a worker* (``EnsureThreadRequested``), local or
  global: the most recently parked worker is woken (the CLR parks its workers
  on a LIFO semaphore), or, while fewer than the minimum exist, a new one is
  made (``pool-1``, ``pool-2``, ...). Then no more are made on demand. As in
  the CLR, one request is outstanding at a time: a worker woken for it that
  finds more work than its first item asks for the next worker (``Dispatch``).
- *What a worker takes next* (``Dequeue``): its own local queue, newest first
  (``LocalPop``); then the global queue, oldest first; then it steals from the
  other workers' local queues, oldest first (``TrySteal``). The CLR starts
  that search at a random worker; here it goes in worker order, so a run is
  easier to follow.
- *Starvation* (the gate thread): ``check_starvation``, which the engine calls
  every 100 ms, adds one worker when work waits (global or local, both count:
  each asked for a worker that never came), no worker is parked, and nothing
  was taken for ``inject_after`` seconds (about 500 ms in .NET).

So a callback that queues another and then blocks holds nothing hostage: an
idle worker steals the queued one at once, and if every worker is busy the
gate thread sees the starvation. The simulator's ``sim.pool.SimPool`` follows
the same rules in virtual time (``tests/test_pool_rules.py`` holds both to them).
"""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable, NamedTuple, Optional

from ..apm.errors import ThreadInterrupted

__all__ = ["ThreadPool"]


class _Worker(NamedTuple):
    thread: threading.Thread
    local: collections.deque   # its work-stealing queue: it pops the newest end, thieves the oldest
    wake: threading.Lock       # held while it is parked; whoever wakes it releases it once


class ThreadPool:
    def __init__(self, run: Callable, min_threads: int, max_threads: Optional[int] = None,
                 inject_after: Optional[float] = None):
        if min_threads < 1:
            raise ValueError(f"the pool needs at least one thread, not {min_threads}")
        self.min_threads = min_threads
        self.max_threads = max_threads or max(min_threads, 64)
        self.inject_after = inject_after
        self._run = run
        self._global: collections.deque = collections.deque()
        # Guards the workers, the parked list and closing. A worker parks only
        # after looking for work again under it, and every enqueue takes it
        # after adding its item, so an enqueue never misses a parking worker.
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []
        self._parked: list[_Worker] = []   # the last to park is the first woken
        self._waking = False               # a worker was woken and has not looked yet
        self._last_take = time.monotonic()
        self._stopping = False
        self._current = _CurrentWorker()

    @property
    def threads(self) -> list[str]:
        return [w.thread.name for w in self._workers]

    @property
    def waiting(self) -> int:
        """Items queued and not yet taken, in the global queue and every local one."""
        return len(self._global) + sum(len(w.local) for w in self._workers)

    def is_pool_thread(self) -> bool:
        """``Thread.IsThreadPoolThread`` for the calling thread."""
        return self._current.worker is not None

    def queue(self, item) -> None:
        """Queue ``item`` (anything but None) for ``run``."""
        if self._stopping:
            return
        me = self._current.worker
        (self._global if me is None else me.local).append(item)
        self._request_worker()

    def _request_worker(self) -> None:
        """``EnsureThreadRequested``: wake a parked worker, unless one woken
        already is on its way (it asks for the next if it finds more work), or
        make one while fewer than the minimum exist."""
        with self._lock:
            if self._waking or self._stopping:
                return
            if self._parked:
                self._waking = True
                self._parked.pop().wake.release()
            elif len(self._workers) < self.min_threads:
                self._spawn()

    def check_starvation(self) -> None:
        """Inject one worker if work has waited ``inject_after`` seconds untouched."""
        now = time.monotonic()
        with self._lock:
            starving = (not self._parked and self.waiting > 0
                        and now - self._last_take >= self.inject_after)
            if starving and not self._stopping and len(self._workers) < self.max_threads:
                self._spawn()
                self._last_take = now

    def close(self) -> None:
        """Take no more work: queued (global and local) and later items are dropped; running ones finish."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._global.clear()
            for worker in self._workers:
                worker.local.clear()
            parked, self._parked = self._parked, []
        for worker in parked:
            worker.wake.release()

    def join(self, timeout: float, skip=()) -> None:
        """Wait for every worker to end but the calling one and those in ``skip``
        (looked up as each is reached: the runtime passes the threads inside its stop)."""
        self.close()
        deadline = time.monotonic() + timeout
        me = threading.current_thread()
        others = [w.thread for w in self._workers if w.thread is not me]
        for thread in others:
            if thread not in skip:
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in others if t.is_alive() and t not in skip]
        if stuck:
            raise RuntimeError(f"pool threads still running a callback after {timeout} s: {', '.join(stuck)}")

    def _spawn(self) -> None:  # holds self._lock
        wake = threading.Lock()
        wake.acquire()
        index = len(self._workers)
        thread = threading.Thread(target=self._work, args=(index,), name=f"pool-{index + 1}", daemon=True)
        self._workers.append(_Worker(thread, collections.deque(), wake))
        thread.start()

    def _work(self, index: int) -> None:
        me = self._current.worker = self._workers[index]
        while True:
            item = self._take(me)
            if item is None:
                return
            try:
                self._run(item)
            except ThreadInterrupted:
                pass

    def _take(self, me: _Worker):
        """The next item for ``me``, parked until there is one; None once the pool is closed."""
        woken = False
        while True:
            item = self._find(me)
            if item is None:
                parked = False
                with self._lock:
                    if not self._stopping:
                        item = self._find(me)
                        parked = item is None
                        if parked:
                            self._parked.append(me)
                if parked:
                    me.wake.acquire()
                    with self._lock:
                        self._waking = False  # the request that woke us is answered
                    woken = True
                    continue
            if item is None or self._stopping:
                return None
            self._last_take = time.monotonic()
            if woken and self.waiting:  # more than we can run: another worker, as the CLR's Dispatch asks
                self._request_worker()
            return item

    def _find(self, me: _Worker):
        """Own local queue (newest), the global queue (oldest), another's local
        queue (oldest). Each end of a deque is taken atomically; one that was
        emptied between the look and the take raises, and the search goes on."""
        if me.local:
            try:
                return me.local.pop()
            except IndexError:
                pass
        if self._global:
            try:
                return self._global.popleft()
            except IndexError:
                pass
        for other in self._workers:
            if other is not me and other.local:
                try:
                    return other.local.popleft()
                except IndexError:
                    pass
        return None


class _CurrentWorker(threading.local):
    """The worker the calling thread is; ``None`` on every other thread. A class
    default, not ``getattr(..., None)``: a miss would raise and catch an
    AttributeError on each completion queued by the main or engine thread."""
    worker: Optional[_Worker] = None

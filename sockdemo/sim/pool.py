"""``SimPool``: the CLR worker pool in virtual time.

Mirrors System.Threading.ThreadPool with the rules of the real world's
``real.thread_pool.ThreadPool``, taken from dotnet/runtime's
``ThreadPoolWorkQueue.cs`` and ``PortableThreadPool.GateThread.cs``
(src/libraries/System.Private.CoreLib/src/System/Threading/); that module's
docstring says them at length:

- an item queued by a pool worker goes on that worker's local queue, any
  other on the global queue;
- every enqueue asks for a worker: the most recently parked one is woken
  (unless one woken already has not looked yet: it asks for the next itself
  if it finds more than it can run), or one is made while fewer than the
  minimum exist;
- a worker takes its own newest local item, else the oldest global one, else
  steals another worker's oldest local item;
- with ``inject_after_us`` a starvation check (the CLR's gate thread) adds one
  worker once work (global or local) has waited that long (virtual) with no
  worker parked and nothing taken.

``tests/test_pool_rules.py`` runs the same rule tests against both pools.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from .kernel import Kernel, SimThread

__all__ = ["SimPool", "MAX_POOL_THREADS"]

MAX_POOL_THREADS = 64


class SimPool:
    """The CLR worker pool in virtual time (same rules as ``ThreadPool``)."""

    def __init__(self, kernel: Kernel, run: Callable, min_threads: int,
                 inject_after_us: Optional[int] = None, max_threads: int = MAX_POOL_THREADS):
        if min_threads < 1:
            raise ValueError(f"the pool needs at least one thread, not {min_threads}")
        self._kernel = kernel
        self._run = run
        self.min_threads = min_threads
        self.max_threads = max(max_threads, min_threads)
        self.inject_after_us = inject_after_us
        self.workers: list[SimThread] = []
        self.idle: list[SimThread] = []     # parked workers; the last to park is the first woken
        self._global: deque = deque()
        self._locals: dict[SimThread, deque] = {}   # each worker's work-stealing queue
        self._last_take = 0
        self._waking = False    # a worker was woken and has not looked yet
        self._gate = None
        self._closed = False

    @property
    def threads(self) -> list[str]:
        return [w.name for w in self.workers]

    @property
    def queue(self) -> tuple:
        """Every item waiting for a worker: the global queue's, then each worker's local ones."""
        return tuple(self._global) + tuple(item for w in self.workers for item in self._locals[w])

    @property
    def waiting(self) -> int:
        return len(self._global) + sum(map(len, self._locals.values()))

    def is_pool_thread(self) -> bool:
        """``Thread.IsThreadPoolThread`` for the simulated thread running now."""
        return self._kernel.current_thread() in self._locals

    def queue_item(self, item) -> None:
        if self._closed:
            return
        local = self._locals.get(self._kernel.current_thread())
        (self._global if local is None else local).append(item)
        self._request_worker()

    def _request_worker(self) -> None:
        """``EnsureThreadRequested``: wake a parked worker, unless one woken
        already is on its way; make one while fewer than the minimum exist;
        else have the gate look at the pool later."""
        if self._waking:
            return
        if self.idle:
            self._waking = True
            self._kernel.wake(self.idle.pop())
        elif len(self.workers) < self.min_threads:
            self._spawn()
        elif self.inject_after_us is not None:
            self._arm_gate()

    def close(self) -> None:
        """Take no more work: queued (global and local) and later items are dropped;
        running ones finish, and every worker ends once it has nothing to run."""
        self._closed = True
        self._global.clear()
        for local in self._locals.values():
            local.clear()
        idle, self.idle = self.idle, []
        for worker in idle:
            self._kernel.wake(worker)

    def _spawn(self) -> None:
        name = f"pool-{len(self.workers) + 1}"
        worker = self._kernel.start_thread(name, lambda: self._work(worker))
        self._locals[worker] = deque()
        self.workers.append(worker)

    def _work(self, me: SimThread) -> None:
        k = self._kernel
        while True:
            woken = False
            item = self._find(me)
            while item is None:
                if self._closed:
                    return
                self.idle.append(me)
                me.waiting_on = "work"
                k.block(me)
                self._waking = False  # the request that woke us is answered
                woken = True
                item = self._find(me)
            self._last_take = k.now
            if woken and self.waiting:  # more than we can run: another worker, as the CLR's Dispatch asks
                self._request_worker()
            self._run(item)

    def _find(self, me: SimThread):
        """Own local queue (newest), the global queue (oldest), another's local queue (oldest)."""
        if self._locals[me]:
            return self._locals[me].pop()
        if self._global:
            return self._global.popleft()
        for other in self.workers:
            if other is not me and self._locals[other]:
                return self._locals[other].popleft()
        return None

    def _arm_gate(self) -> None:
        if self._gate is not None or len(self.workers) >= self.max_threads:
            return
        due = max(self._kernel.now, self._last_take + self.inject_after_us)
        self._gate = self._kernel.call_at(due, "gate", self._check_starvation)

    def _check_starvation(self) -> None:
        """The CLR's gate thread: one more worker after ``inject_after`` of no progress."""
        self._gate = None
        if self._closed or not self.waiting or self.idle:
            return
        k = self._kernel
        if k.now - self._last_take >= self.inject_after_us and len(self.workers) < self.max_threads:
            self._spawn()
            self._last_take = k.now
        self._arm_gate()

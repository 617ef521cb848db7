"""``SimPool``: the CLR worker pool in virtual time.

Mirrors System.Threading.ThreadPool with the rules of the real world's
``real.thread_pool.ThreadPool``: workers ``pool-1`` ... made on demand while
fewer than the minimum exist and work waits, then no more; with
``inject_after_us`` a starvation check (the CLR's gate thread) adds one
after that long (virtual) without progress.
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
        self.queue: deque = deque()
        self.workers: list[SimThread] = []
        self.idle: deque = deque()
        self._last_take = 0
        self._gate = None

    @property
    def threads(self) -> list[str]:
        return [w.name for w in self.workers]

    def queue_item(self, item) -> None:
        self.queue.append(item)
        if self.idle:
            self._kernel.wake(self.idle.popleft())
        elif len(self.workers) < self.min_threads:
            self._spawn()
        elif self.inject_after_us is not None:
            self._arm_gate()

    def _spawn(self) -> None:
        name = f"pool-{len(self.workers) + 1}"
        self.workers.append(self._kernel.start_thread(name, lambda: self._work(name)))

    def _work(self, name: str) -> None:
        k = self._kernel
        me = k.threads[name]
        while True:
            while not self.queue:
                self.idle.append(me)
                me.waiting_on = "work"
                k.block(me)
            item = self.queue.popleft()
            self._last_take = k.now
            self._run(item)

    def _arm_gate(self) -> None:
        if self._gate is not None or len(self.workers) >= self.max_threads:
            return
        due = max(self._kernel.now, self._last_take + self.inject_after_us)
        self._gate = self._kernel.call_at(due, "gate", self._check_starvation)

    def _check_starvation(self) -> None:
        """The CLR's gate thread: one more worker after ``inject_after`` of no progress."""
        self._gate = None
        if not self.queue or self.idle:
            return
        k = self._kernel
        if k.now - self._last_take >= self.inject_after_us and len(self.workers) < self.max_threads:
            self._spawn()
            self._last_take = k.now
        self._arm_gate()

"""``ThreadPool``: the CLR worker pool that runs every callback, cut down.

Mirrors System.Threading.ThreadPool as the socket callbacks meet it: named
workers (``pool-1``, ``pool-2``, ...) created on demand while fewer than the
minimum exist and work is waiting, then no more, so a callback that blocks
starves everything queued behind it. With ``inject_after`` set, a starvation
check (the CLR's "gate thread", here a timer on the engine) adds one worker
each time the queue has waited that long without a worker taking anything:
about 500 ms in .NET.

Like the CLR's work-stealing pool, a worker keeps what it queues itself: a
callback whose ``begin_receive`` completes at once queues the next callback
on its own worker's local list, which that worker runs as soon as the current
callback returns. No other worker is woken for it, and one connection's
callbacks stay on one thread while its bytes keep arriving; completions that
come from the engine or the main thread go to the shared queue, and any
worker takes them.

Only the real world uses this class; the simulator has a virtual pool with
the same rules.
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Callable, Optional

from ..apm.errors import ThreadInterrupted

__all__ = ["ThreadPool"]


class ThreadPool:
    def __init__(self, run: Callable, min_threads: int, max_threads: Optional[int] = None,
                 inject_after: Optional[float] = None):
        if min_threads < 1:
            raise ValueError(f"the pool needs at least one thread, not {min_threads}")
        self.min_threads = min_threads
        self.max_threads = max_threads or max(min_threads, 64)
        self.inject_after = inject_after
        self._run = run
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._idle = 0
        self._waiting = 0  # queued items no worker has taken yet
        self._last_take = time.monotonic()
        self._stopping = False
        self._local = _WorkerLocal()

    @property
    def threads(self) -> list[str]:
        return [w.name for w in self._workers]

    def queue(self, item) -> None:
        local = self._local.items
        if local is not None and not self._stopping:  # queued by one of our workers
            local.append(item)
            return
        self._queue.put(item)
        with self._lock:
            self._waiting += 1
            if (self._waiting > self._idle and len(self._workers) < self.min_threads
                    and not self._stopping):
                self._spawn()

    def check_starvation(self) -> None:
        """Inject one worker if work has waited ``inject_after`` seconds untouched."""
        now = time.monotonic()
        with self._lock:
            starving = (self._waiting > 0 and self._idle == 0
                        and now - self._last_take >= self.inject_after)
            if starving and not self._stopping and len(self._workers) < self.max_threads:
                self._spawn()
                self._last_take = now

    def close(self) -> None:
        """Take no more work: queued and later callbacks are dropped; running ones finish."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            workers = len(self._workers)
        for _ in range(workers):
            self._queue.put(None)

    def join(self, timeout: float) -> None:
        """Wait for every worker (but the calling one) to end."""
        self.close()
        deadline = time.monotonic() + timeout
        me = threading.current_thread()
        for worker in list(self._workers):
            if worker is not me:
                worker.join(max(0.0, deadline - time.monotonic()))
        stuck = [w.name for w in self._workers if w.is_alive() and w is not me]
        if stuck:
            raise RuntimeError(f"pool threads still running a callback after {timeout} s: {', '.join(stuck)}")

    def _spawn(self) -> None:  # holds self._lock
        worker = threading.Thread(target=self._work, name=f"pool-{len(self._workers) + 1}", daemon=True)
        self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        local = self._local.items = collections.deque()
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is not None:
                    self._waiting -= 1
                self._last_take = time.monotonic()
            if item is None:
                return
            while item is not None and not self._stopping:
                try:
                    self._run(item)
                except ThreadInterrupted:
                    pass
                item = local.popleft() if local else None
            local.clear()


class _WorkerLocal(threading.local):
    """A worker's own queue; ``None`` on every other thread. A class default,
    not ``getattr(..., None)``: a miss would raise and catch an AttributeError
    on each completion queued by the main or engine thread."""
    items: Optional[collections.deque] = None

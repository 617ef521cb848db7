"""``ManualResetEvent``: the gate the sample's main thread waits at.

Mirrors System.Threading.ManualResetEvent: ``set`` opens the gate for every
waiter until ``reset`` closes it; ``wait_one(timeout)`` blocks until it is open
and says whether it was. The blocking itself belongs to the runtime (a real
``threading.Event`` or the simulator's baton), so the same class, and the same
trace events, serve both worlds. Events are emitted *before* acting, so a
waiter woken by ``set`` is always traced after the ``set`` that woke it.
``set``, ``reset`` and ``wait_one`` are scheduling points (the runtime's
``checkpoint``, first thing); waking from ``wait_one`` is not one of its own:
the thread was resumed for it. An ``AsyncResult`` sets and waits on its
handle as part of a socket call, which is the scheduling point, so it uses
``_set`` and ``_wait``: the same without the checkpoint.
"""
from __future__ import annotations

from typing import Optional

from ..trace import kinds
from .errors import ThreadInterrupted

__all__ = ["ManualResetEvent"]


class ManualResetEvent:
    def __init__(self, runtime, initial: bool = False, name: str = "event"):
        self.name = name
        self._tracer = runtime.tracer
        self._checkpoint = runtime.checkpoint
        self._flag = runtime._new_flag(initial)

    def __repr__(self) -> str:
        return f"<ManualResetEvent {self.name} {'set' if self.is_set else 'reset'}>"

    @property
    def is_set(self) -> bool:
        return self._flag.is_set()

    def set(self) -> bool:
        self._checkpoint(kinds.SET, self.name)
        self._set()
        return True

    def _set(self) -> None:
        self._tracer.emit(kinds.SET, event=self.name)
        self._flag.set()

    def reset(self) -> bool:
        self._checkpoint(kinds.RESET, self.name)
        self._tracer.emit(kinds.RESET, event=self.name)
        self._flag.clear()
        return True

    def wait_one(self, timeout: Optional[float] = None) -> bool:
        """Block until set; ``timeout`` in seconds (None waits forever)."""
        self._checkpoint(kinds.WAIT, self.name)
        return self._wait(timeout)

    def _wait(self, timeout: Optional[float]) -> bool:
        self._tracer.emit(kinds.WAIT, event=self.name, timeout=timeout)
        try:
            signaled = self._flag.wait(timeout)
        except ThreadInterrupted:
            self._tracer.emit(kinds.WAKE, event=self.name, signaled=False, interrupted=True)
            raise
        self._tracer.emit(kinds.WAKE, event=self.name, signaled=signaled)
        return signaled

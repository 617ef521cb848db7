"""The tracer: hands every step of the server to whoever subscribed.

Mirrors no .NET type; it is the instrumentation the page lacks. Shaped after
trio's instruments: hooks are plain callables taking one ``Event``; with none
subscribed ``emit`` returns at its first line, so an untraced server pays one
attribute test per step; a hook that raises is unsubscribed, a ``hook_error``
event says so, and the server goes on.

Events are numbered and delivered under one lock, so every hook sees them in
``seq`` order even when the engine and several pool threads emit at once. The
thread name is read when the event happens: Python reuses thread idents once a
thread ends, so an ident looked up later could name the wrong thread.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

from .events import Event

__all__ = ["Tracer", "Hook"]

Hook = Callable[[Event], None]


class Tracer:
    def __init__(self, clock_us: Callable[[], int]):
        self._clock_us = clock_us
        self._hooks: tuple[Hook, ...] = ()
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def hooks(self) -> tuple[Hook, ...]:
        return self._hooks

    def subscribe(self, hook: Hook) -> Hook:
        with self._lock:
            self._hooks = self._hooks + (hook,)
        return hook

    def unsubscribe(self, hook: Hook) -> None:
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hook)

    def emit(self, kind: str, conn: Optional[int] = None,
             nbytes: Optional[int] = None, **info) -> None:
        if not self._hooks:
            return
        thread = threading.current_thread().name
        with self._lock:
            self._deliver(kind, thread, conn, nbytes, info)

    def _deliver(self, kind, thread, conn, nbytes, info) -> None:
        self._seq += 1
        event = Event.make(self._seq, self._clock_us(), kind, thread, conn, nbytes, info)
        broken = []
        for hook in self._hooks:
            try:
                hook(event)
            except Exception as exc:  # a broken hook must never break the server
                broken.append((hook, exc))
        for hook, exc in broken:
            self._hooks = tuple(h for h in self._hooks if h is not hook)
            self._deliver("hook_error", thread, None, None,
                          {"hook": getattr(hook, "__qualname__", repr(hook)),
                           "error": f"{type(exc).__name__}: {exc}"})

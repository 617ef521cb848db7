"""The tracer: hands every step of the server to whoever subscribed.

Mirrors no .NET type; it is the instrumentation the page lacks. Shaped after
trio's instruments: hooks are plain callables taking one ``Event``; with none
subscribed ``emit`` returns at its first line, so an untraced server pays one
attribute test per step; a hook that raises is unsubscribed, a ``hook_error``
event says so, and the server goes on. A recorder (a ``Trace``) is cheaper
still: each event is appended to its list as a tuple, with no call and no
object built, and it makes the Events when it is read.

Events are numbered from one atomic counter. Hooks are called under one lock,
so every hook sees them in ``seq`` order even when the engine and several pool
threads emit at once. When only recorders listen on the wall clock (a traced
server), records are appended without it (a list append is atomic), so a
record may land just before its predecessor, and the recorder sorts by
``seq`` when it builds the events. The thread's name is read at its first
event and kept in a thread-local (rename a thread before it emits, not
after): Python reuses thread idents once a thread ends, so an ident looked up
later could name the wrong thread.
"""
from __future__ import annotations

import itertools
import threading
from threading import current_thread
from time import perf_counter_ns
from typing import Callable, Optional

from .events import Event

_make_event = Event.make
# Each thread's name, read at its first event and kept: a thread-local
# outlives no thread, so a reused ident can never pick up a stale name.
_this_thread = threading.local()

__all__ = ["Tracer", "Hook", "wait_for_events"]

Hook = Callable[[Event], None]


class Tracer:
    def __init__(self, clock_us: Optional[Callable[[], int]] = None):
        """``clock_us`` gives each event's time in µs; by default (the real
        world's clock) the µs since this tracer was made."""
        self._origin_ns = perf_counter_ns()
        self._wall_clock = clock_us is None
        self._clock_us = self._wall_us if clock_us is None else clock_us
        self._hooks: tuple[Hook, ...] = ()
        self._logs: tuple[tuple[object, list], ...] = ()   # (recorder, its record list)
        self.hooks: tuple = ()  # everyone listening, hooks and recorders: empty means untraced
        # The record lists when nothing but recorders listen on the wall clock
        # (then emit appends itself, lock-free); empty when a hook listens, or
        # nobody does, or another clock is used (a simulation's: not hurried).
        self._only_records: tuple[list, ...] = ()
        self._lock = threading.Lock()
        self._seqs = itertools.count(1)

    def _listeners_changed(self) -> None:  # holds the lock
        self.hooks = self._hooks + tuple(recorder for recorder, _ in self._logs)
        self._only_records = (() if self._hooks or not self._wall_clock
                              else tuple(records for _, records in self._logs))

    def _wall_us(self) -> int:
        return (perf_counter_ns() - self._origin_ns) // 1000

    def subscribe(self, hook: Hook) -> Hook:
        """Add a hook (called with each Event) or a recorder: an object with a
        ``_records`` list, such as a ``Trace``, to which each event is appended
        as a plain tuple ``(seq, t, kind, thread, conn, nbytes, info)``, with no
        call and no object built per event; the recorder makes Events later."""
        with self._lock:
            records = getattr(hook, "_records", None)
            if isinstance(records, list):
                self._logs = self._logs + ((hook, records),)
            else:
                self._hooks = self._hooks + (hook,)
            self._listeners_changed()
        return hook

    def unsubscribe(self, hook: Hook) -> None:
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hook)
            self._logs = tuple(log for log in self._logs if log[0] is not hook)
            self._listeners_changed()

    def emit(self, kind: str, conn: Optional[int] = None,
             nbytes: Optional[int] = None, **info) -> None:
        if self.hooks:
            try:
                thread = _this_thread.name
            except AttributeError:  # this thread's first event
                thread = _this_thread.name = current_thread().name
            only_records = self._only_records
            if only_records:  # numbering and appending are atomic: no lock; _wall_us inline
                record = (next(self._seqs), (perf_counter_ns() - self._origin_ns) // 1000,
                          kind, thread, conn, nbytes, info)
                for records in only_records:
                    records.append(record)
            else:
                self._deliver(kind, thread, conn, nbytes, info)

    def _deliver(self, kind: str, thread: str, conn, nbytes, info: dict) -> None:
        """Number one event under the lock and hand it out: a tuple to each
        recorder, an Event to each hook (the simulator's tracer calls this
        after its own scheduling point)."""
        with self._lock:
            seq, t = next(self._seqs), self._clock_us()
            for _, records in self._logs:
                records.append((seq, t, kind, thread, conn, nbytes, info))
            if self._hooks:
                event = _make_event(seq, t, kind, thread, conn, nbytes, info)
                for hook in self._hooks:
                    try:
                        hook(event)
                    except Exception as exc:  # a broken hook must never break the server
                        self._drop(hook, exc, thread)

    def _drop(self, hook: Hook, exc: Exception, thread: str) -> None:
        """Unsubscribe a hook that raised and tell the others (holds the lock)."""
        self._hooks = tuple(h for h in self._hooks if h is not hook)
        self._listeners_changed()
        seq, t = next(self._seqs), self._clock_us()
        info = {"hook": getattr(hook, "__qualname__", repr(hook)),
                "error": f"{type(exc).__name__}: {exc}"}
        for _, records in self._logs:
            records.append((seq, t, "hook_error", thread, None, None, info))
        event = _make_event(seq, t, "hook_error", thread, None, None, info)
        for other in self._hooks:
            try:
                other(event)
            except Exception as second:
                self._drop(other, second, thread)


def wait_for_events(tracer: Tracer, recorded, match, count: int = 1,
                    timeout: float = 10.0) -> list:
    """Block until ``count`` events match, counting those already in ``recorded``
    (a Trace) too; return the first ``count`` in ``seq`` order.

    ``match`` is an event kind (``"message"``) or a predicate on an Event. The
    hook goes in before looking back, so no event slips between the two; on
    timeout, a ``TimeoutError`` says how many were seen."""
    predicate = match if callable(match) else (lambda event: event.kind == match)
    found: dict = {}
    lock = threading.Lock()
    enough = threading.Event()

    def add(event: Event) -> None:
        with lock:
            found[event.seq] = event
            if len(found) >= count:
                enough.set()

    def hook(event: Event) -> None:
        if predicate(event):
            add(event)

    tracer.subscribe(hook)
    try:
        for event in recorded.events:
            if predicate(event):
                add(event)
        if not enough.wait(timeout):
            what = match if isinstance(match, str) else getattr(match, "__name__", "matching")
            raise TimeoutError(f"saw {len(found)} of {count} {what} events within {timeout} s")
        with lock:
            return [found[seq] for seq in sorted(found)][:count]
    finally:
        tracer.unsubscribe(hook)

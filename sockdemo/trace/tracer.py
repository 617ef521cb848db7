"""The tracer: hands every step of the server to whoever subscribed.

Mirrors no .NET type; it is the instrumentation the page lacks. Shaped after
trio's instruments:

- free when unused: with nobody subscribed, ``emit`` returns at its first line;
- *recorders* (a ``Trace``) are cheaper than hooks: each event is appended to
  the recorder's list as a plain tuple, with no call and no object built, and
  the recorder makes the Events when it is read;
- *hooks* are plain callables taking one ``Event``, called on the emitting
  thread and outside every lock, so a hook may write to the console, emit, or
  stop the server. An event emitted while this thread is delivering (by a
  hook, or by what a hook called) is delivered after the current one, never
  inside it: no recursion, however hooks and emits nest;
- a hook that raises is unsubscribed, a ``hook_error`` event says so (once),
  and the server goes on.

The tracer only records: it never schedules, so who listens cannot change
what a simulated run does (the runtimes' ``checkpoint`` is the scheduling
point). Events are numbered from one counter, and each is appended to every
recorder in the same step, so a recorder's list is always in ``seq`` order
and only grows at its end. Hooks are called after that step, so two
threads' events may reach a hook out of ``seq`` order; one thread's events
reach every hook in that thread's order.

The thread's name is read at its first event and kept in a thread-local
(rename a thread before it emits, not after): Python reuses thread idents once
a thread ends, so an ident looked up later could name the wrong thread. A
world with threads of its own (the simulator's actors) passes ``thread_name``.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from threading import current_thread
from time import perf_counter_ns
from typing import Callable, Optional

from . import kinds
from .events import Event
from .text import describe_error

__all__ = ["Tracer", "Hook", "wait_for_events"]

Hook = Callable[[Event], None]

_make_event = Event.make
# Each thread's name, read at its first event and kept: a thread-local
# outlives no thread, so a reused ident can never pick up a stale name.
_this_thread = threading.local()


def _real_thread_name() -> str:
    try:
        return _this_thread.name
    except AttributeError:  # this thread's first event
        name = _this_thread.name = current_thread().name
        return name


class Tracer:
    def __init__(self, clock_us: Optional[Callable[[], int]] = None,
                 thread_name: Optional[Callable[[], str]] = None):
        """``clock_us`` gives each event's time in µs (by default the µs since
        this tracer was made); ``thread_name`` names the emitting thread."""
        self._origin_ns = perf_counter_ns()
        self._clock_us = self._wall_us if clock_us is None else clock_us
        self._thread_name = thread_name or _real_thread_name
        self._hooks: tuple[Hook, ...] = ()
        self._recorders: tuple = ()         # (recorder, its record list)
        self._records: tuple[list, ...] = ()
        self.hooks: tuple = ()  # everyone listening, hooks and recorders: empty means untraced
        self._lock = threading.Lock()        # guards subscribing only; never held while delivering
        # Numbering and recording are one step, so every record list is in
        # seq order and only ever grows at its end (views rely on it). Held
        # for a few bytecodes, never while a hook runs.
        self._numbering = threading.Lock()
        self._seqs = itertools.count(1)
        self._delivering = threading.local()  # this thread's events waiting for the hooks
        self.closed = False

    def current_thread_name(self) -> str:
        """The name this tracer gives the thread that calls it."""
        return self._thread_name()

    def _wall_us(self) -> int:
        return (perf_counter_ns() - self._origin_ns) // 1000

    # -- listeners -------------------------------------------------------------

    def subscribe(self, hook: Hook) -> Hook:
        """Add a hook (called with each Event) or a recorder: an object with a
        ``_records`` list, such as a ``Trace``, to which each event is appended
        as a plain tuple ``(seq, t, kind, thread, conn, nbytes, info)``.

        A recorder with a ``_room`` attribute (a ``Trace`` with a cap, a
        ``TraceStream``) holds at most that many more records in its list: at
        the cap the emitter calls its ``_make_room()``, which may wait for room
        (a stream's writer catching up) and says whether there is; if not, the
        recorder is unsubscribed and told with ``_truncated(seq)``, the first
        event it missed. The wait holds the numbering lock, so every emitter
        waits with it and the records stay in ``seq`` order."""
        with self._lock:
            records = getattr(hook, "_records", None)
            if isinstance(records, list):
                self._recorders = self._recorders + ((hook, records),)
            else:
                self._hooks = self._hooks + (hook,)
            self._listeners_changed()
        return hook

    def unsubscribe(self, hook: Hook) -> None:
        with self._lock:
            self._hooks = tuple(h for h in self._hooks if h is not hook)
            self._recorders = tuple(r for r in self._recorders if r[0] is not hook)
            self._listeners_changed()

    def _listeners_changed(self) -> None:  # holds the lock
        self._records = tuple((records, recorder if hasattr(recorder, "_room") else None)
                              for recorder, records in self._recorders)
        self.hooks = () if self.closed else self._hooks + tuple(r for r, _ in self._recorders)

    def close(self) -> None:
        """Record and deliver nothing more (a world that is unwinding after its stop)."""
        with self._lock:
            self.closed = True
            self._listeners_changed()

    # -- emitting --------------------------------------------------------------

    def emit(self, kind: str, conn: Optional[int] = None,
             nbytes: Optional[int] = None, **info) -> None:
        if self.hooks:
            self.emit_as(self._thread_name(), kind, conn, nbytes, info)

    def emit_as(self, thread: str, kind: str, conn: Optional[int] = None,
                nbytes: Optional[int] = None, info: Optional[dict] = None) -> None:
        """``emit`` on behalf of ``thread`` (a runtime closing a callback that
        its stop cut short, on the thread that was running it)."""
        if not self.hooks:
            return
        full = None
        with self._numbering:
            record = (next(self._seqs), self._clock_us(), kind, thread, conn, nbytes,
                      {} if info is None else info)
            for records, capped in self._records:
                if capped is not None and len(records) >= capped._room and not capped._make_room():
                    full = capped
                    continue
                records.append(record)
        if full is not None:
            self.unsubscribe(full)
            full._truncated(record[0])
        if self._hooks:
            self._deliver(_make_event(*record))

    def _deliver(self, event: Event) -> None:
        queue = getattr(self._delivering, "queue", None)
        if queue is not None:  # emitted from inside a hook on this thread: after this one
            queue.append(event)
            return
        queue = self._delivering.queue = deque((event,))
        try:
            while queue:
                event = queue.popleft()
                for hook in self._hooks:
                    try:
                        hook(event)
                    except Exception as exc:  # a broken hook must never break the server
                        self._drop(hook, exc)
        finally:
            self._delivering.queue = None

    def _drop(self, hook: Hook, exc: Exception) -> None:
        """Unsubscribe a hook that raised, and say so once (queued behind the event)."""
        with self._lock:
            if hook not in self._hooks:
                return
            self._hooks = tuple(h for h in self._hooks if h is not hook)
            self._listeners_changed()
        self.emit(kinds.HOOK_ERROR, hook=getattr(hook, "__qualname__", repr(hook)),
                  error=describe_error(exc))


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

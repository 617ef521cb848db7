"""The tracer: hands every step of the server to whoever subscribed.

Mirrors no .NET type; it is the instrumentation the page lacks. Shaped after
trio's instruments:

- free when unused: with nobody subscribed, ``emit`` returns at its first line;
- *recorders* (a ``Trace``, a ``TraceStream``) cost one tuple and one list
  append per event: the tracer keeps a *log* of raw records and hands it over
  to them in batches (see below);
- *hooks* are plain callables taking one ``Event``, called on the emitting
  thread and outside every lock, so a hook may write to the console, emit, or
  stop the server. An event emitted while this thread is delivering (by a
  hook, or by what a hook called) is delivered after the current one, never
  inside it: no recursion, however hooks and emits nest;
- a hook that raises is unsubscribed, a ``hook_error`` event says so (once),
  and the server goes on.

The tracer only records: it never schedules, so who listens cannot change
what a simulated run does (the runtimes' ``checkpoint`` is the scheduling
point).

The log. An event's number (``seq``) is its place in one list, the log: a
record is appended to it in one step (``list.append`` is atomic), so the
log is in ``seq`` order however threads interleave, with no lock and no
counter, and every recorder sees the same numbers. A record is a plain tuple
``(clock, kind, thread, conn, nbytes, info)``, the clock read raw (the wall
clock's nanoseconds, or the ``clock_us`` given); ``seq`` and the time in µs
are worked out when the records are read (``recording.events_of``). The log
is handed over (``_hand_over``: each recorder's ``_receive``, then the log
forgets them) when a recorder asks (a ``Trace`` being read, a stream's
writer), when the listeners change (so a recorder gets exactly the events
of its subscription), and every ``HAND_OVER`` records, so it never grows
long. A hook needs its event's ``seq`` at once: while hooks listen, events
are logged under the lock, which also orders each hand-over. The lock-free
path reads the clock just before its append, so two threads' events a few
µs apart may be logged in the other order than their times say; one
thread's events are always in its own order, times included.

Hooks are called after the append, so two threads' events may reach a hook
out of ``seq`` order; one thread's events reach every hook in that thread's
order.

The thread's name is read at its first event and kept in a thread-local
(rename a thread before it emits, not after): Python reuses thread idents once
a thread ends, so an ident looked up later could name the wrong thread. A
world with threads of its own (the simulator's actors) passes ``thread_name``.
"""
from __future__ import annotations

import threading
from collections import deque
from threading import current_thread
from time import perf_counter_ns
from typing import Callable, Optional

from . import kinds
from .events import Event
from .text import describe_error

__all__ = ["Tracer", "Hook", "wait_for_events", "HAND_OVER"]

Hook = Callable[[Event], None]
HAND_OVER = 256   # records the log holds before it is handed over to the recorders

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
        # The wall clock is read raw (one C call, no Python frame per event)
        # and made µs since ``_t0`` when read; a given clock is µs already.
        self._t0: Optional[int] = perf_counter_ns() if clock_us is None else None
        self._clock = perf_counter_ns if clock_us is None else clock_us
        self._thread_name = thread_name or _real_thread_name
        self._hooks: tuple[Hook, ...] = ()
        self._recorders: tuple = ()
        self.hooks: tuple = ()  # everyone listening, hooks and recorders: empty means untraced
        # Guards subscribing, hand-overs and numbering for hooks; never held while a hook runs.
        self._lock = threading.Lock()
        self._log: list[tuple] = []     # records not yet handed over; the first one's seq is _first
        self._first = 1
        self._delivering = threading.local()  # this thread's events waiting for the hooks
        self.closed = False

    def current_thread_name(self) -> str:
        """The name this tracer gives the thread that calls it."""
        return self._thread_name()

    @property
    def logged(self) -> int:
        """How many events it has logged so far: the last one's ``seq``. Exact
        in a world whose threads take turns (the simulator's); with threads
        that run at once, a moment's figure."""
        return self._first - 1 + len(self._log)

    def time_us(self, clock: int) -> int:
        """A record's clock reading as the event's time in µs."""
        return clock if self._t0 is None else (clock - self._t0) // 1000

    # -- listeners -------------------------------------------------------------

    def subscribe(self, hook: Hook) -> Hook:
        """Add a hook (called with each Event) or a recorder: an object with a
        ``_receive(first_seq, records, t0)`` method, such as a ``Trace``, which
        is handed the records logged while it is subscribed, in order, in
        batches (``recording.events_of`` turns a batch into events); it may
        return False to be unsubscribed (a ``Trace`` at its cap). A recorder's
        ``_source`` is set to this tracer, so it can ask for what is logged
        (``_hand_over``)."""
        with self._lock:
            self._hand_over_locked()  # what was logged before is not the new recorder's
            if callable(getattr(hook, "_receive", None)):
                hook._source = self
                self._recorders = self._recorders + (hook,)
            else:
                self._hooks = self._hooks + (hook,)
            self._listeners_changed()
        return hook

    def unsubscribe(self, hook: Hook) -> None:
        with self._lock:
            self._hand_over_locked()  # a recorder leaves with everything logged until now
            self._hooks = tuple(h for h in self._hooks if h is not hook)
            if hook in self._recorders:
                self._recorders = tuple(r for r in self._recorders if r is not hook)
                hook._source = None
            self._listeners_changed()

    def _listeners_changed(self) -> None:  # holds the lock
        self.hooks = () if self.closed else self._hooks + self._recorders

    def close(self) -> None:
        """Record and deliver nothing more (a world that is unwinding after its stop)."""
        with self._lock:
            self._hand_over_locked()
            self.closed = True
            self._listeners_changed()

    # -- the log -----------------------------------------------------------------

    def _hand_over(self) -> None:
        """Give every recorder the records logged so far, and forget them."""
        with self._lock:
            self._hand_over_locked()

    def _hand_over_locked(self) -> None:  # holds the lock
        log = self._log
        n = len(log)
        if not n:
            return
        batch = log[:n]
        del log[:n]   # emitters may append meanwhile: only these n go
        first, self._first = self._first, self._first + n
        full = [r for r in self._recorders if r._receive(first, batch, self._t0) is False]
        if full:
            self._recorders = tuple(r for r in self._recorders if r not in full)
            for recorder in full:
                recorder._source = None
            self._listeners_changed()

    # -- emitting --------------------------------------------------------------

    def emit(self, kind: str, conn: Optional[int] = None,
             nbytes: Optional[int] = None, **info) -> None:
        if self.hooks:
            if self._hooks:
                self._emit_numbered(self._thread_name(), kind, conn, nbytes, info)
                return
            # Recorders only: the event is its place in the log (see the module's note).
            log = self._log
            log.append((self._clock(), kind, self._thread_name(), conn, nbytes, info))
            if len(log) >= HAND_OVER:
                self._hand_over()

    def emit_as(self, thread: str, kind: str, conn: Optional[int] = None,
                nbytes: Optional[int] = None, info: Optional[dict] = None) -> None:
        """``emit`` on behalf of ``thread`` (a runtime closing a callback that
        its stop cut short, on the thread that was running it)."""
        if self.hooks:
            self._emit_numbered(thread, kind, conn, nbytes, {} if info is None else info)

    def _emit_numbered(self, thread, kind, conn, nbytes, info) -> None:
        """Log an event and learn its ``seq`` (its place in the log), under the
        lock, which a hand-over takes too; then deliver it to the hooks."""
        with self._lock:
            clock = self._clock()
            record = (clock, kind, thread, conn, nbytes, info)
            log = self._log
            log.append(record)
            i = len(log) - 1
            while log[i] is not record:  # lock-free emitters may have appended after it
                i -= 1
            seq = self._first + i
            if len(log) >= HAND_OVER:
                self._hand_over_locked()
        if self._hooks:
            self._deliver(_make_event(seq, self.time_us(clock), kind, thread, conn, nbytes, info))

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

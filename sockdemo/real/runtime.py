"""``RealRuntime``: the servers on real sockets and real threads.

Mirrors .NET's socket machinery on Linux: one *engine* thread runs a
``selectors`` loop (the CLR's epoll thread, ``SocketAsyncEngine``) and
performs each waiting operation when its socket is ready; every callback is
queued to a pool of named worker threads (``pool-1`` ... ``pool-N``), never run
on the engine or on the thread that called ``begin_*``.
``System.Threading.Timer`` callbacks also fire from the engine onto the pool.

One owner per selector: only the engine calls the selector (``register``,
``modify``, ``unregister``, ``select``, ``close``); no selector is safe to
change while another thread sits in ``select`` (``SelectSelector`` would hang).
Another thread that needs a socket watched, or no longer watched, queues the
socket and wakes the engine through a socketpair, as asyncio's
``call_soon_threadsafe`` does; the engine then applies what the socket waits
for *now*, so a late request cannot resurrect a closed socket. A socket still
registered when it closes is closed by the engine, after it unregistered it:
file descriptor numbers are reused, and a stale registration must never meet
a new socket. ``SOCKDEMO_SELECTOR`` (``select``, ``poll``, ``epoll``) picks the
selector class when ``RealRuntime(selector=...)`` does not.

Stopping is what a notebook needs and .NET never had to offer: ``stop()``
interrupts every ``wait_one`` and ``sleep`` (``ThreadInterrupted``, like
``Thread.Interrupt``), closes every socket the runtime made, drops queued
callbacks, lets running ones finish, and joins every thread it started but
the one calling it, which may be any thread: a pool thread or the engine (a
callback, a trace hook) ends by itself once it is back in its loop.
"""
from __future__ import annotations

import heapq
import itertools
import os
import selectors
import socket as _os
import threading
import time
import weakref
from typing import Optional

from ..apm.console import HISTORY
from ..apm.errors import ObjectDisposedError, ThreadInterrupted
from ..apm.runtime import Runtime, Timer
from ..trace import kinds
from .socket import RealSocket
from .thread_pool import ThreadPool

__all__ = ["RealRuntime", "SELECTOR_VARIABLE", "selector_from_environment"]

_STARVATION_CHECK = 0.1   # seconds between the "gate thread"'s looks at the pool
INJECTION_DELAY = 0.5     # .NET adds a worker after about this much starvation

SELECTOR_VARIABLE = "SOCKDEMO_SELECTOR"
_SELECTOR_CLASSES = {"select": "SelectSelector", "poll": "PollSelector", "epoll": "EpollSelector"}


def selector_from_environment() -> type:
    """The selector class ``SOCKDEMO_SELECTOR`` names; unset or empty: ``selectors.DefaultSelector``."""
    name = os.environ.get(SELECTOR_VARIABLE, "")
    if not name:
        return selectors.DefaultSelector
    selector_class = getattr(selectors, _SELECTOR_CLASSES.get(name, ""), None)
    if selector_class is None:
        here = [n for n, cls in _SELECTOR_CLASSES.items() if hasattr(selectors, cls)]
        raise ValueError(f"{SELECTOR_VARIABLE}={name!r} names no selector this platform has; "
                         f"use one of {', '.join(here)}, or leave it unset for the default")
    return selector_class


class _Flag:
    """A ``ManualResetEvent``'s blocking half, which its runtime's stop interrupts.

    .NET's ``Set`` releases every thread waiting at that moment, even when a
    ``Reset`` follows at once (dotnet/runtime, src/libraries/System.Private.
    CoreLib/src/System/Threading/WaitSubsystem.WaitableObject.Unix.cs,
    ``SignalManualResetEvent``: each registered waiter is signalled, then the
    event is marked set). Here each reset period has its own *gate*, a lock
    held from the ``reset`` that made it until the ``set`` that releases it for
    good. A waiter takes the gate it found and hands it straight back, so
    every waiter of a period passes once that period is set; a ``reset`` makes
    a new gate for the next period and never takes back the old one, so it
    cannot shut out a waiter that has not passed yet.

    It is cheaper than ``threading.Event`` (no ``Condition``, no lock made per
    wait: one per reset of a set event), which the sample pays on every
    connection: ``Reset``, ``WaitOne``, ``Set``.
    """
    __slots__ = ("_runtime", "_gate", "_changing", "_set", "waiters", "__weakref__")

    def __init__(self, runtime: "RealRuntime", initial: bool):
        self._runtime = runtime
        self._gate = _held_lock()
        self._changing = threading.Lock()  # makes set, clear and a waiter's arrival atomic
        self._set = False
        self.waiters = 0  # threads blocked on the gate now (what a test waits for)
        if initial:
            self.set()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._changing:
            if not self._set:
                self._set = True
                self._gate.release()

    def clear(self) -> None:
        with self._changing:
            # Once the runtime stops, every event stays open: no wait may block again.
            if self._set and not self._runtime.stopping:
                self._set = False
                self._gate = _held_lock()

    def wait(self, timeout: Optional[float] = None) -> bool:
        gate = self._gate
        if gate.acquire(False):  # open: the common case costs one lock operation
            gate.release()
            signaled = True
        else:
            with self._changing:
                gate = self._gate  # the gate of the period this wait began in
                self.waiters += 1
            signaled = gate.acquire(True, -1 if timeout is None else max(timeout, 0))
            if signaled:
                gate.release()
            with self._changing:
                self.waiters -= 1
        if self._runtime.stopping:
            raise ThreadInterrupted()
        return signaled


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


class RealRuntime(Runtime):
    def __init__(self, *, pool: Optional[int] = None, inject: bool = False,
                 dotnet="framework", unhandled: str = "record", sink=None,
                 selector: Optional[type] = None, on_unhandled=None, console_history: int = HISTORY):
        """``selector``: a ``selectors.BaseSelector`` subclass for the engine
        (by default the one ``SOCKDEMO_SELECTOR`` names, else ``DefaultSelector``);
        the rest as ``apm.runtime.Runtime`` takes them."""
        super().__init__(dotnet=dotnet, unhandled=unhandled, sink=sink, on_unhandled=on_unhandled,
                         console_history=console_history)
        selector_class = selector_from_environment() if selector is None else selector
        if not (isinstance(selector_class, type) and issubclass(selector_class, selectors.BaseSelector)):
            raise TypeError(f"selector must be a selectors.BaseSelector subclass, not {selector_class!r}")
        self.pool = ThreadPool(self._run_work, pool or os.cpu_count() or 2,
                               inject_after=INJECTION_DELAY if inject else None)
        self.stopping = False
        self._swept = False             # stop has closed every socket: the engine may end
        self._stop_lock = threading.Lock()
        self._stoppers: set = set()     # threads inside stop(), never joined by another stop
        self._stopped = threading.Event()
        self._sockets: set = set()
        self._flags = weakref.WeakSet()
        self._timers: list = []
        self._disposed = 0              # disposed timers still in the heap (about)
        self._timer_lock = threading.Lock()
        self._timer_ids = itertools.count(1)
        self._selector = selector_class()   # the engine's alone from here on
        self._wake_r, self._wake_w = _os.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # What other threads ask of the engine. The lock also orders each
        # request against the engine's end: a request is either taken by the
        # engine or refused (the caller then acts itself), never left behind.
        self._requests_lock = threading.Lock()
        self._requests: list = []       # sockets whose registration is out of date
        self._engine_running = True
        self._wake_pending = False      # a wake byte is on its way: no need for another
        self._engine = threading.Thread(target=self._engine_loop, name="engine", daemon=True)
        self._engine.start()
        if inject:
            self._start_internal_timer(_STARVATION_CHECK, self._gate)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- for servers -----------------------------------------------------------

    def socket(self, family=_os.AF_INET) -> RealSocket:
        if self.stopping:
            raise RuntimeError("this runtime has stopped; start a new one")
        os_socket = _os.socket(family, _os.SOCK_STREAM)
        os_socket.setblocking(False)  # accept and connect have no "don't wait" flag
        return RealSocket(self, os_socket)

    def start_timer(self, seconds, callback, state=None, conn=None) -> Timer:
        timer = _RealTimer(callback, state, self._next_op_id(), conn, time.monotonic() + seconds)
        timer.runtime = self
        self._schedule(timer)
        return timer

    def _timer_disposed(self) -> None:
        """A timer was disposed. It stays in the heap until due, holding what its
        callback would have been given (a closed connection's state), so once
        disposed ones are half the heap, they leave it in one pass: memory stays
        in step with the live timers, at O(1) amortised per disposal."""
        with self._timer_lock:
            self._disposed += 1
            if self._disposed > 64 and 2 * self._disposed > len(self._timers):
                self._timers = [entry for entry in self._timers if not entry[2].cancelled]
                heapq.heapify(self._timers)
                self._disposed = 0

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._stopped.wait(seconds):
            raise ThreadInterrupted()

    # -- stopping --------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> None:
        """Close everything and join every thread started but the caller; safe
        to call twice, and from any thread. A thread that is itself inside
        ``stop`` is not waited for either: two stops joining each other would
        wait forever, and it ends by itself once back in its loop."""
        me = threading.current_thread()
        with self._stop_lock:
            self._stoppers.add(me)
        try:
            self._shut_down()
            if self._engine is not me and self._engine not in self._stoppers:
                self._engine.join(timeout)
                if self._engine.is_alive():
                    raise RuntimeError(f"the engine thread did not stop within {timeout} s")
            self.pool.join(timeout, skip=self._stoppers)
        finally:
            with self._stop_lock:
                self._stoppers.discard(me)

    def _shut_down(self) -> None:
        """The part of stopping any thread may do, even a pool thread: no joins."""
        with self._stop_lock:
            if self.stopping:
                return
            self.stopping = True
            flags = list(self._flags)
        self._stopped.set()
        # The pool refuses work first, so the completions that closing
        # produces below are dropped, never run against a stopped server.
        self.pool.close()
        for flag in flags:
            flag.set()
        for sock in list(self._sockets):
            sock.close()
        # The engine serves until here (a socket closed above may need it to
        # let go of its registration); now it may end.
        self._swept = True
        self._ask_engine()

    def _adopt(self, sock) -> None:
        """Count a new socket as ours, so stop closes it; refuse it once stopping."""
        with self._stop_lock:
            if not self.stopping:
                self._sockets.add(sock)
                return
        sock._sock.close()
        raise ObjectDisposedError("runtime")

    def _stop_from_callback(self) -> None:
        # Inside a callback: stop without waiting for anyone; whoever owns the runtime joins later.
        self._shut_down()

    # -- the world's primitives ------------------------------------------------

    def _new_flag(self, initial: bool) -> _Flag:
        flag = _Flag(self, initial)
        with self._stop_lock:
            self._flags.add(flag)
            stopping = self.stopping
        if stopping:  # made after stop's sweep: its waits must not block forever
            flag.set()
        return flag

    def _queue(self, item) -> None:
        self.pool.queue(item)

    # -- the engine ------------------------------------------------------------

    def _watch(self, sock) -> bool:
        """Have the engine bring ``sock``'s registration up to date with what it
        waits for now: at once on the engine, else by a request. False: the
        engine has ended, so nothing watches any more (the caller closes its
        socket itself)."""
        if threading.current_thread() is self._engine:
            sock._sync_registration(self._selector)
            return True
        return self._ask_engine(sock)

    def _ask_engine(self, sock=None) -> bool:
        """Wake the engine, with ``sock`` to bring up to date; False if it has ended."""
        with self._requests_lock:
            if not self._engine_running:
                return False
            if sock is not None:
                self._requests.append(sock)
            if not self._wake_pending:
                self._wake_pending = True
                try:
                    self._wake_w.send(b"\0")
                except BlockingIOError:
                    pass  # the pipe is full of wake bytes: the engine wakes anyway
        return True

    def _take_requests(self) -> list:
        with self._requests_lock:
            self._wake_pending = False
            requests, self._requests = self._requests, []
        return requests

    def _engine_loop(self) -> None:
        selector = self._selector
        selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        try:
            while True:
                # Requests first, then the check: a stop that found a wake
                # byte on its way (and so sent none) is seen here.
                for sock in self._take_requests():
                    self._guarded(sock._sync_registration, selector)
                if self._swept:
                    break
                timeout = self._fire_due_timers()
                for key, mask in selector.select(timeout):
                    self._guarded(key.data, mask)
        finally:
            # From here on a request is refused and its caller closes its
            # socket itself; the ones already queued are served first.
            with self._requests_lock:
                self._engine_running = False
            for sock in self._take_requests():
                self._guarded(sock._sync_registration, selector)
            selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _guarded(self, call, arg) -> None:
        try:
            call(arg)
        except Exception as exc:  # the engine must outlive any one socket
            self.tracer.emit(kinds.ERROR, error=f"{type(exc).__name__}: {exc}", where="engine")

    def _drain_wake(self, mask) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _schedule(self, timer) -> None:
        with self._timer_lock:
            earliest = not self._timers or timer.due < self._timers[0][0]
            heapq.heappush(self._timers, (timer.due, timer.id, timer))
        # The engine looks at the timers again before it selects: only another thread must wake it.
        if earliest and threading.current_thread() is not self._engine:
            self._ask_engine()

    def _fire_due_timers(self) -> Optional[float]:
        """Queue the due timers; return seconds until the next one (None: none),
        counting any that firing these scheduled."""
        now = time.monotonic()
        due = []
        with self._timer_lock:
            while self._timers and self._timers[0][0] <= now:
                timer = heapq.heappop(self._timers)[2]
                if timer.cancelled:
                    self._disposed = max(0, self._disposed - 1)
                else:
                    due.append(timer)
        for timer in due:
            if timer.cancelled:
                continue
            if isinstance(timer, _InternalTimer):
                timer.callback(timer)
            else:
                self.pool.queue(timer)
        with self._timer_lock:
            return self._timers[0][0] - time.monotonic() if self._timers else None

    def _start_internal_timer(self, seconds, callback) -> None:
        self._schedule(_InternalTimer(callback, None, next(self._timer_ids) * -1, None,
                                      time.monotonic() + seconds))

    def _gate(self, timer) -> None:
        """The starvation check, run on the engine itself, then again later."""
        self.pool.check_starvation()
        self._start_internal_timer(_STARVATION_CHECK, self._gate)


class _RealTimer(Timer):
    """A ``System.Threading.Timer`` whose disposal the runtime hears of (see ``_timer_disposed``)."""
    __slots__ = ("runtime",)

    def dispose(self) -> None:
        if not self.cancelled:
            super().dispose()
            self.runtime._timer_disposed()


class _InternalTimer(Timer):
    """A timer the engine runs itself (the gate); never reaches the pool."""
    __slots__ = ()

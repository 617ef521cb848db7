"""``SimRuntime``: the servers on a virtual network, a virtual pool and a virtual clock.

Mirrors the same .NET machinery as ``RealRuntime`` (sockets, the worker pool,
``ManualResetEvent``, ``Thread.Sleep``, ``System.Threading.Timer``), but every
piece runs on the simulator's kernel (``kernel.py``), so a run is a pure
function of its scenario and seed.

Scheduling points are the runtime's ``checkpoint()`` calls, made by the
primitives (docs/ARCHITECTURE.md lists them): on a simulated thread
(``main``, ``pool-N``) it hands the baton back to the kernel, unless the
thread was just resumed (that checkpoint is the step it was resumed for). So
one kernel step is the code between two checkpoints, and may emit several
events (a receive completed at once, a ``wake``, a ``message``). The kernel's
actions (``engine``, ``client-N``) run inline and never yield. The tracer
only records, on the virtual clock, under the running thread's or actor's
name: who listens, and which event kinds exist, cannot change a run.

The virtual pool has ``ThreadPool``'s rules: workers ``pool-1`` ... made on
demand while fewer than the minimum exist and work waits, then no more; with
``inject`` a starvation check adds one after 500 ms (virtual) of no progress.
"""
from __future__ import annotations

import socket as _os
import threading
from typing import Optional

from ..apm.errors import ThreadInterrupted
from ..apm.runtime import Runtime, Timer
from ..trace import kinds
from ..trace.text import callback_name
from .kernel import RESUME, Action, Kernel, SimThread, us
from .network import Network, SimSocket
from .pool import SimPool

__all__ = ["SimRuntime", "SimFlag", "INJECTION_DELAY_US"]

INJECTION_DELAY_US = 500_000


class SimFlag:
    """The blocking half of a ``ManualResetEvent``, on the baton."""

    def __init__(self, kernel: Kernel, initial: bool):
        self._kernel = kernel
        self._set = bool(initial)
        self._waiters: list[SimThread] = []
        self.name = "event"   # its ManualResetEvent's, for the deadlock report

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for st in waiters:
            self._kernel.wake(st, True)

    def clear(self) -> None:
        self._set = False

    def wait(self, timeout: Optional[float] = None) -> bool:
        if self._set:
            return True
        k = self._kernel
        st = k.current_thread()
        if st is None:
            if k.closing:
                raise ThreadInterrupted()
            raise RuntimeError("only a simulated thread (main, pool-N) can wait on a simulated event")
        if timeout is not None and timeout <= 0:
            return False
        self._waiters.append(st)
        st.waiting_on = self.name
        try:
            return bool(k.block(st, None if timeout is None else us(timeout), on_timeout=False,
                                action=Action(kinds.WAKE, self.name)))
        finally:
            if st in self._waiters:
                self._waiters.remove(st)


class SimTimer(Timer):
    """A timer whose disposal also takes it off the kernel's heap, so a
    cancelled timeout does not keep the simulation running until it is due."""
    __slots__ = ("_entry",)

    def dispose(self) -> None:
        super().dispose()
        entry = getattr(self, "_entry", None)
        if entry is not None:
            entry.cancelled = True


class SimRuntime(Runtime):
    def __init__(self, *, seed: int = 0, pool: int = 2, inject: bool = False,
                 latency_us: int = 100, cpu_us: int = 10, rcvbuf: Optional[int] = None,
                 dotnet="framework", unhandled: str = "record", sink=None):
        self.kernel = Kernel(seed, cpu_us)
        super().__init__(lambda: self.kernel.now, dotnet=dotnet,
                         unhandled=unhandled, sink=sink, thread_name=self._thread_name)
        self.pool = SimPool(self.kernel, self._run_work, pool,
                            inject_after_us=INJECTION_DELAY_US if inject else None)
        self.network = Network(self, latency_us, rcvbuf)
        self.stopping = False
        self.stop_reason: Optional[str] = None

    @property
    def now_us(self) -> int:
        return self.kernel.now

    def _thread_name(self) -> str:
        """Who an event is from: the simulated thread or the actor running now
        (an actor runs on the kernel's own thread), else the real thread."""
        running = self.kernel.current
        return running.name if running is not None else threading.current_thread().name

    def checkpoint(self, kind: str = "", detail=None, conn=None) -> None:
        st = self.kernel.current_thread()
        # Only simulated threads yield: an actor runs inline on the kernel's
        # own thread, and code outside the simulation holds no baton to give.
        if st is not None:
            self.kernel.checkpoint(st, Action(kind, detail, conn))

    # -- for servers -----------------------------------------------------------

    def socket(self, family=_os.AF_INET) -> SimSocket:
        if self.stopping:
            raise RuntimeError("this runtime has stopped; start a new one")
        return SimSocket(self, family=family)

    def manual_reset_event(self, initial: bool = False, name: str = "event"):
        event = super().manual_reset_event(initial, name)
        event._flag.name = name   # so a deadlock report says "main waits on allDone"
        return event

    def start_timer(self, seconds, callback, state=None, conn=None) -> Timer:
        k = self.kernel
        timer = SimTimer(callback, state, self._next_op_id(), conn, k.now + us(seconds))

        def fire():
            if not timer.cancelled:
                self._queue(timer)
        timer._entry = k.call_at(timer.due, "engine", fire, owner="timers",
                                 label=f"a timer fires: {callback_name(callback)} is queued")
        return timer

    def now(self) -> float:
        return self.kernel.now / 1_000_000

    def sleep(self, seconds: float) -> None:
        k = self.kernel
        st = k.current_thread()
        if st is None:
            raise RuntimeError("only a simulated thread (main, pool-N) can sleep in the simulator")
        self.checkpoint(kinds.SLEEP, seconds)
        self.tracer.emit(kinds.SLEEP, seconds=seconds)
        st.waiting_on = "sleep"
        k.block(st, us(seconds), action=Action(RESUME, "sleep"))

    # -- the world's primitives ------------------------------------------------

    def _new_flag(self, initial: bool) -> SimFlag:
        return SimFlag(self.kernel, initial)

    def _queue(self, item) -> None:
        if not self.stopping:
            self.pool.queue_item(item)

    def _stop_from_callback(self) -> None:
        self.stopping = True
        self.stop_reason = "an unhandled error in a callback stopped the server (unhandled='stop')"

    def stop(self, timeout: float = 5.0) -> None:
        """Interrupt every simulated thread and join the real ones; idempotent.
        Nothing is traced from here on: the threads unwind, they do not act."""
        self.stopping = True
        self.end_running_callbacks()
        self.tracer.close()
        self.kernel.close(timeout)

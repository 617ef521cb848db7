"""``Runtime``: everything a server is given instead of importing it.

Mirrors what .NET supplies implicitly: the socket class, the thread pool that
runs callbacks, ``ManualResetEvent``, ``Console`` and ``System.Threading.Timer``.
The servers receive a runtime and touch nothing else, which is how one server
module runs both on real sockets (``RealRuntime``) and in the simulator
(``SimRuntime``).

This base class holds what both worlds share: completing an operation (trace
it, then run its callback inline or queue it to the pool) and running a
callback on a pool thread (trace its slice, and decide what an unhandled
error does). A world supplies the sockets, the pool, the clock and blocking.

``checkpoint()`` marks a point of the .NET API where a real thread could be
pre-empted (docs/ARCHITECTURE.md, "Scheduling points", lists them; each
primitive calls it before it acts). Real threads are pre-empted by the
operating system wherever it likes, so here it does nothing; the simulator
hands its baton back to the kernel there.

The unhandled-error policy mirrors .NET at a distance: an exception escaping a
callback kills a .NET process. Here it is always recorded (an ``error`` event
and ``runtime.unhandled_errors``); with ``unhandled="stop"`` it also stops the
runtime, which is as close to dying as a server in a notebook should get.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

from .console import Console
from ..trace.tracer import Tracer
from .reset_event import ManualResetEvent
from ..trace import kinds
from ..trace.text import callback_name, describe_error, preview

__all__ = ["Runtime", "Timer"]

class Timer:
    """``System.Threading.Timer``, one-shot: ``callback(state)`` on a pool thread."""
    __slots__ = ("callback", "async_state", "id", "conn", "due", "cancelled")

    def __init__(self, callback, state, timer_id: int, conn: Optional[int], due):
        self.callback, self.async_state = callback, state
        self.id, self.conn, self.due = timer_id, conn, due
        self.cancelled = False

    def dispose(self) -> None:
        self.cancelled = True

    def _invoke(self) -> None:
        self.callback(self.async_state)


class Runtime:
    def __init__(self, clock_us: Optional[Callable[[], int]] = None, *, inline_completion: bool = False,
                 unhandled: str = "record", sink: Optional[Callable[[str], None]] = None,
                 thread_name: Optional[Callable[[], str]] = None):
        if unhandled not in ("record", "stop"):
            raise ValueError(f"unhandled must be 'record' or 'stop', not {unhandled!r}")
        self.tracer = Tracer(clock_us, thread_name)
        self.console = Console(self.tracer, sink, self.checkpoint)
        self.inline_completion = inline_completion
        self.unhandled = unhandled
        self.unhandled_errors: list[BaseException] = []
        self._op_ids = itertools.count(1)
        self._conn_ids = itertools.count(1)
        # The callbacks running now, so that a stop can end their slices
        # (token -> (thread, callback name, op id, conn)); dict calls are atomic.
        self._running: dict[int, tuple] = {}
        self._running_tokens = itertools.count()

    # -- for servers -----------------------------------------------------------

    def manual_reset_event(self, initial: bool = False, name: str = "event") -> ManualResetEvent:
        return ManualResetEvent(self, initial, name)

    def socket(self, family=None):
        raise NotImplementedError

    def start_timer(self, seconds: float, callback: Callable[[Any], None], state: Any = None,
                    conn: Optional[int] = None) -> Timer:
        raise NotImplementedError

    def now(self) -> float:
        """Seconds on this runtime's clock (monotonic; virtual in the simulator)."""
        raise NotImplementedError

    def sleep(self, seconds: float) -> None:
        """``Thread.Sleep``; raises ``ThreadInterrupted`` if the runtime stops meanwhile."""
        raise NotImplementedError

    def checkpoint(self, kind: str = "", detail=None, conn: Optional[int] = None) -> None:
        """A scheduling point: another thread may run here (see the module's note).
        ``kind``, ``detail`` and ``conn`` say what the thread does next (the event
        kind it is about to emit, and the op, event or callback name it is about):
        the simulator shows it to a learner who chooses who goes next."""

    # -- shared by both worlds -------------------------------------------------

    def _next_op_id(self) -> int:
        return next(self._op_ids)

    def _next_conn(self) -> int:
        return next(self._conn_ids)

    def _complete(self, ar, result, error: Optional[BaseException], synchronous: bool = False) -> None:
        """An operation finished: trace it, then run or queue its callback."""
        if self.tracer.hooks:
            self._trace_completion(ar, result, error)
        ar._mark_completed(result, error)
        if ar.callback is None:
            return
        if synchronous and self.inline_completion:
            ar.completed_synchronously = True
            self._run_callback(ar)
        else:
            self._queue(ar)

    def _trace_completion(self, ar, result, error) -> None:
        emit, conn, op = self.tracer.emit, ar.socket.conn, ar.op
        if error is not None:
            emit(kinds.OP_ERROR, conn, op=op, id=ar.id, error=describe_error(error))
        elif op == "accept":
            emit(kinds.ACCEPT, result.conn, id=ar.id, peer=list(result.remote_endpoint))
        elif op == "receive" and result:
            buffer, offset, _ = ar._args
            emit(kinds.CHUNK, conn, result, id=ar.id, data=preview(buffer, offset, result))
        elif op == "receive":
            emit(kinds.EOF, conn, 0, id=ar.id)
        elif op == "send":
            emit(kinds.SENT, conn, result, id=ar.id)
        else:
            emit(kinds.CONNECTED, conn, id=ar.id)

    def _run_callback(self, item) -> None:
        """Run one callback (an ``AsyncResult``'s or a ``Timer``'s) on this thread."""
        emit, checkpoint = self.tracer.emit, self.checkpoint
        name = callback_name(item.callback)
        conn = item.conn
        checkpoint(kinds.CALLBACK_START, name, conn)
        token = next(self._running_tokens)
        self._running[token] = (self.tracer.current_thread_name(), name, item.id, conn)
        emit(kinds.CALLBACK_START, conn, name=name, id=item.id)
        try:
            item._invoke()
        except Exception as exc:
            self.unhandled_errors.append(exc)
            emit(kinds.ERROR, conn, error=describe_error(exc), where=name)
            if self.unhandled == "stop":
                self._stop_from_callback()
        finally:
            checkpoint(kinds.CALLBACK_END, name, conn)
            if self._running.pop(token, None) is not None:  # else a stop has ended it already
                emit(kinds.CALLBACK_END, conn, name=name, id=item.id)

    def end_running_callbacks(self) -> None:
        """End the slice of every callback still running, marked ``cut``: a stop is
        beginning, and the trace must not show a thread running a callback forever.
        The innermost first, so nested (inline) callbacks close in order."""
        for token in reversed(list(self._running)):
            running = self._running.pop(token, None)
            if running is not None:
                thread, name, op_id, conn = running
                self.tracer.emit_as(thread, kinds.CALLBACK_END, conn, None,
                                    {"name": name, "id": op_id, "cut": True})

    # -- what a world provides -------------------------------------------------

    def _queue(self, item) -> None:
        raise NotImplementedError

    def _new_flag(self, initial: bool):
        """An object with ``set``, ``clear``, ``is_set`` and ``wait(timeout) -> bool``."""
        raise NotImplementedError

    def _stop_from_callback(self) -> None:
        raise NotImplementedError

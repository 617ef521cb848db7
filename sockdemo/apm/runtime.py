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
import threading
from typing import Any, Callable, Optional

from ..trace import kinds
from ..trace.text import callback_name, describe_error, dotnet_unhandled, preview
from ..trace.tracer import Tracer
from .console import HISTORY, Console
from .dotnet import dotnet_profile
from .errors import StackOverflow
from .reset_event import ManualResetEvent

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


class Readiness:
    """.NET 6+ on Linux: the epoll thread saw a socket ready for ``ar`` and queued
    this to the pool; a worker performs the operation (``attempt()``: ``(done,
    result, error)``, re-watching the socket when it was not ready after all)
    and runs the callback itself (SocketAsyncContext.Unix.cs)."""
    __slots__ = ("ar", "attempt")

    def __init__(self, ar, attempt: Callable[[], tuple]):
        self.ar, self.attempt = ar, attempt


class _Nesting(threading.local):
    """How deep this thread is in callbacks run inline inside one another."""
    depth = 0


class Runtime:
    def __init__(self, clock_us: Optional[Callable[[], int]] = None, *, dotnet="framework",
                 unhandled: str = "record", sink: Optional[Callable[[str], None]] = None,
                 thread_name: Optional[Callable[[], str]] = None,
                 on_unhandled: Optional[Callable[[str], None]] = None, console_history: int = HISTORY):
        """``dotnet``: which .NET to behave as (``apm.dotnet``: "framework", the
        page's, or "modern"). ``unhandled``: what an exception escaping a callback
        does besides being recorded ("record": nothing more; "stop": stop the
        runtime, as the .NET process would end); ``on_unhandled`` gets the line
        .NET would print for it."""
        if unhandled not in ("record", "stop"):
            raise ValueError(f"unhandled must be 'record' or 'stop', not {unhandled!r}")
        self.dotnet = dotnet_profile(dotnet)
        self.tracer = Tracer(clock_us, thread_name)
        self.console = Console(self.tracer, sink, self.checkpoint, console_history)
        self.unhandled = unhandled
        self.on_unhandled = on_unhandled
        self.unhandled_errors: list[BaseException] = []
        self.overflowed = False   # a callback nested too deep: .NET's StackOverflowException
        self._nesting = _Nesting()
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

    def _complete(self, ar, result, error: Optional[BaseException], synchronous: bool = False,
                  on_worker: bool = False) -> None:
        """An operation finished: trace it, then run its callback or queue it.

        ``synchronous``: it finished inside its ``begin_*``. Through a
        completion port (the Framework's receives) the callback is queued all
        the same; otherwise (.NET 6+, and the Framework's accept begun off the
        pool) it runs right there, ``CompletedSynchronously`` true.
        ``on_worker``: a pool worker performed it, and runs the callback itself."""
        if self.tracer.hooks:
            self._trace_completion(ar, result, error)
        inline = synchronous and not ar._via_port
        if inline:
            # TaskToApm, and the Framework's FinishPostingAsyncOp:
            # CompletedSynchronously says whether it was done inside Begin*,
            # callback or not.
            ar.completed_synchronously = True
        ar._mark_completed(result, error)
        if ar.callback is None:
            return
        if inline or on_worker:
            self._run_callback(ar, inline)
        else:
            self._queue(ar)

    def _ready(self, ar, attempt: Callable[[], tuple]) -> None:
        """The engine saw the socket of a pending ``ar`` ready. Through a
        completion port (the Framework's receives) the operation is done there
        (the OS performed it) and the callback queued; otherwise (.NET 6+, and
        the Framework's accept event) the readiness is queued, and a pool
        worker performs the operation and runs the callback.
        ``attempt()`` tries the operation once: ``(done, result, error)``."""
        if ar._via_port:
            done, result, error = attempt()
            if done:
                self._complete(ar, result, error)
            return
        if ar._readiness is not None:
            return  # already queued: the worker will take everything there is
        ar._readiness = Readiness(ar, attempt)
        if self.tracer.hooks:
            self.tracer.emit(kinds.READY, ar.socket.conn, op=ar.op, id=ar.id)
        self._queue(ar._readiness)

    def _run_work(self, item) -> None:
        """What a pool worker does with one work item: run a callback, or (.NET 6+)
        perform an operation whose socket is ready, then run its callback here."""
        if type(item) is not Readiness:
            self._run_callback(item)
            return
        ar = item.ar
        ar._readiness = None
        if ar.is_completed:
            return  # the socket was closed meanwhile, which completed it
        self.checkpoint(kinds.PERFORM, ar.op, ar.socket.conn)
        done, result, error = item.attempt()
        if done:
            self._complete(ar, result, error, on_worker=True)

    def _on_pool_thread(self) -> bool:
        """``Thread.CurrentThread.IsThreadPoolThread``."""
        return self.pool.is_pool_thread()

    def _aborted_by_close(self) -> BaseException:
        """What ``end_*`` raises for an operation its socket's close aborted."""
        return self.dotnet.aborted_by_close()

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

    def _run_callback(self, item, inline: bool = False) -> None:
        """Run one callback (an ``AsyncResult``'s or a ``Timer``'s) on this thread.

        ``inline``: run inside the ``begin_*`` that completed at once (.NET 6+).
        ``TaskToApm.Begin`` calls such a callback with no ``try`` around it, so
        an exception comes out of ``begin_*`` into its caller (main's loop, or
        the callback that began it) instead of being unhandled here; a stack
        overflow comes out as ``StackOverflow``, which no ``except Exception``
        catches, as none catches .NET's."""
        emit, checkpoint = self.tracer.emit, self.checkpoint
        name = callback_name(item.callback)
        conn = item.conn
        checkpoint(kinds.CALLBACK_START, name, conn)
        token = next(self._running_tokens)
        self._running[token] = (self.tracer.current_thread_name(), name, item.id, conn)
        emit(kinds.CALLBACK_START, conn, name=name, id=item.id)
        nesting = self._nesting
        nesting.depth += 1
        try:
            item._invoke()
        except (RecursionError, StackOverflow) as exc:
            self._overflow(exc, name, conn)
            if inline:
                raise StackOverflow(str(exc)) from None
        except Exception as exc:
            if inline:
                raise
            self._unhandled(exc, name, conn)
        finally:
            nesting.depth -= 1
            checkpoint(kinds.CALLBACK_END, name, conn)
            if self._running.pop(token, None) is not None:  # else a stop has ended it already
                emit(kinds.CALLBACK_END, conn, name=name, id=item.id)
            if self.overflowed and nesting.depth == 0:
                self._overflowed_here()

    def _unhandled(self, exc: Exception, where: str, conn) -> None:
        """An exception escaped a callback: a .NET process would print it and end."""
        self.unhandled_errors.append(exc)
        line = dotnet_unhandled(exc)
        self.tracer.emit(kinds.ERROR, conn, error=describe_error(exc), where=where, dotnet=line)
        if self.on_unhandled is not None:
            self.on_unhandled(line)
        if self.unhandled == "stop":
            self._stop_from_callback()

    def _overflow(self, exc: RecursionError, where: str, conn) -> None:
        """Callbacks nested until Python's recursion limit: .NET 6+ would have hit
        a ``StackOverflowException``, which no code can catch. Recorded (once)
        here, deep in the stack, where even that may run out of stack again (the
        next frame out then tries); the runtime stops once this thread is back
        in its outermost callback (``_overflowed_here``)."""
        if not self.overflowed:
            self.overflowed = True
            self.unhandled_errors.append(exc)
            self.tracer.emit(kinds.ERROR, conn, where=where, dotnet="Stack overflow.",
                             error=f"StackOverflowException: the callbacks nested too deep ({exc})")

    def _overflowed_here(self) -> None:
        """The stack has unwound after an overflow: end as the .NET process would,
        whatever ``unhandled`` says (a stack overflow cannot be caught)."""
        if self.on_unhandled is not None:
            self.on_unhandled("Stack overflow.")
            self.on_unhandled = None   # once
        self._stop_from_callback()

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

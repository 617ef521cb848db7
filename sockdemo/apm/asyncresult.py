"""``IAsyncResult``: the receipt a ``begin_*`` call hands back.

Mirrors System.IAsyncResult as the socket APM uses it: ``async_state`` is the
object given to ``begin_*``, ``async_wait_handle`` a ``ManualResetEvent`` set on
completion, ``is_completed`` and ``completed_synchronously`` the two flags.
``end_*`` (through ``_end``) blocks until the operation is done and re-raises
its error; a second call raises ``InvalidOperationError`` on the page's .NET
Framework and returns the result again on .NET 6+ (``apm.dotnet``).

The wait handle is made only when someone asks for it: the common path (the
callback calls ``end_*`` after completion) never needs one. Setting it and the
wait inside ``end_*`` are part of a socket call, not scheduling points of
their own (``ManualResetEvent._set``, ``_wait``).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .errors import InvalidOperationError

__all__ = ["AsyncResult"]


class AsyncResult:
    __slots__ = ("async_state", "callback", "op", "socket", "id",
                 "is_completed", "completed_synchronously",
                 "_result", "_error", "_ended", "_handle", "_args", "_readiness", "_via_port")

    def __init__(self, socket, op: str, callback: Optional[Callable], state: Any, op_id: int):
        self.socket = socket
        self.op = op
        self.callback = callback
        self.async_state = state
        self.id = op_id
        self.is_completed = False
        self.completed_synchronously = False
        self._result = None
        self._error: Optional[BaseException] = None
        self._ended = False
        self._handle = None
        self._args: tuple = ()
        self._readiness = None   # a Readiness queued to the pool for it
        self._via_port = False   # through a completion port (the Framework), else readiness

    def __repr__(self) -> str:
        status = "completed" if self.is_completed else "pending"
        return f"<AsyncResult {self.op} #{self.id} {status}>"

    @property
    def conn(self) -> Optional[int]:
        """The connection this operation is about: an accept's is the new one."""
        if self.op == "accept" and self.is_completed and self._result is not None:
            return self._result.conn
        return self.socket.conn

    @property
    def async_wait_handle(self):
        if self._handle is None:
            handle = self.socket.runtime.manual_reset_event(name=f"{self.op}#{self.id}")
            self._handle = handle
            # Completion may have raced with us: it reads _handle after setting
            # is_completed, we read is_completed after setting _handle, so one
            # of us sees the other and the handle is never left unset.
            if self.is_completed:
                handle._set()
        return self._handle

    def _mark_completed(self, result, error: Optional[BaseException]) -> None:
        self._result, self._error = result, error
        self.is_completed = True
        if self._handle is not None:
            self._handle._set()

    def _invoke(self) -> None:
        self.callback(self)

    def _end(self, op: str):
        if self.op != op:
            raise ValueError(f"end_{op} was given the result of begin_{self.op}")
        if self._ended and not self.socket.runtime.dotnet.end_twice_returns:
            raise InvalidOperationError(f"end_{op} can only be called once for each asynchronous operation")
        self._ended = True
        if not self.is_completed:
            self.async_wait_handle._wait(None)
        if self._error is not None:
            raise self._error
        return self._result

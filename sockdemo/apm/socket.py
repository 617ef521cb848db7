"""``Socket``: the Begin/End half of System.Net.Sockets.Socket.

Mirrors the socket APM the page uses: ``begin_accept``/``end_accept``,
``begin_receive``/``end_receive`` (into the caller's buffer at an offset),
``begin_send``/``end_send``, ``begin_connect``/``end_connect``, plus
``bind``, ``listen``, ``shutdown`` and ``close``.

This class is the part both worlds share: it makes the ``AsyncResult``, traces
the ``begin``/``end`` of every operation and enforces the rules (a closed
socket refuses new work with ``ObjectDisposedError``; ``end_*`` once). How an
operation actually completes is the runtime's business: a subclass implements
``_start(ar)`` and later calls ``runtime._complete(ar, result, error)``.

Every ``begin_*`` and ``end_*``, ``shutdown`` and ``close`` is a scheduling
point: each calls the runtime's ``checkpoint`` once its arguments are checked
and before the operation, so a thread pre-empted there may find the socket
closed by then, as a .NET thread may (a world's ``listen`` does the same).
"""
from __future__ import annotations

import socket as _os_socket
from typing import Any, Callable, Optional

from ..trace import kinds
from ..trace.text import format_endpoint
from .asyncresult import AsyncResult
from .errors import ObjectDisposedError

__all__ = ["Socket", "address_family", "format_endpoint", "SHUT_RD", "SHUT_WR", "SHUT_RDWR"]

# SocketShutdown.Receive / Send / Both
SHUT_RD, SHUT_WR, SHUT_RDWR = _os_socket.SHUT_RD, _os_socket.SHUT_WR, _os_socket.SHUT_RDWR
_HOW_NAMES = {SHUT_RD: "Receive", SHUT_WR: "Send", SHUT_RDWR: "Both"}

AsyncCallback = Callable[[AsyncResult], None]


def address_family(host: str) -> int:
    """``IPAddress.AddressFamily``: IPv6 for a host with a colon, else IPv4."""
    return _os_socket.AF_INET6 if ":" in host else _os_socket.AF_INET


class Socket:
    """Shared APM logic; ``RealSocket`` and the simulator's socket fill in the I/O."""

    def __init__(self, runtime, conn: Optional[int] = None):
        self.runtime = runtime
        self.conn = conn
        self.closed = False

    # -- the page's operations -------------------------------------------------

    def begin_accept(self, callback: AsyncCallback, state: Any = None) -> AsyncResult:
        return self._begin("accept", callback, state)

    def end_accept(self, ar: AsyncResult) -> "Socket":
        return self._end(ar, "accept")

    def begin_receive(self, buffer: bytearray, offset: int, size: int, flags: int,
                      callback: AsyncCallback, state: Any = None) -> AsyncResult:
        _check_range(buffer, offset, size)
        return self._begin("receive", callback, state, (buffer, offset, size), size)

    def end_receive(self, ar: AsyncResult) -> int:
        return self._end(ar, "receive")

    def begin_send(self, data, offset: int, size: int, flags: int,
                   callback: AsyncCallback, state: Any = None) -> AsyncResult:
        _check_range(data, offset, size)
        return self._begin("send", callback, state, (data, offset, size), size)

    def end_send(self, ar: AsyncResult) -> int:
        return self._end(ar, "send")

    def begin_connect(self, endpoint, callback: AsyncCallback, state: Any = None) -> AsyncResult:
        return self._begin("connect", callback, state, (tuple(endpoint),))

    def end_connect(self, ar: AsyncResult) -> None:
        return self._end(ar, "connect")

    def shutdown(self, how: int) -> None:
        self.runtime.checkpoint(kinds.SHUTDOWN, None, self.conn)
        self._check_open()
        self.runtime.tracer.emit(kinds.SHUTDOWN, self.conn, how=_HOW_NAMES.get(how, how))
        self._shutdown(how)

    def close(self) -> None:
        self.runtime.checkpoint(kinds.CLOSE, None, self.conn)
        self._dispose()

    def _dispose(self) -> None:
        """``close`` without its scheduling point: for a world closing sockets as
        part of one call (a listener's close resets its backlog)."""
        if self.closed:
            return
        self.closed = True
        self.runtime.tracer.emit(kinds.CLOSE, self.conn)
        self._close()

    # -- shared machinery ------------------------------------------------------

    def _begin(self, op: str, callback, state, args: tuple = (), nbytes=None) -> AsyncResult:
        rt = self.runtime
        rt.checkpoint(kinds.BEGIN, op, self.conn)
        self._check_open()
        ar = AsyncResult(self, op, callback, state, rt._next_op_id())
        ar._args = args
        ar._via_port = rt.dotnet.through_port(op, rt._on_pool_thread)
        tracer = rt.tracer
        if tracer.hooks:
            tracer.emit(kinds.BEGIN, self.conn, nbytes, op=op, id=ar.id,
                        callback=getattr(callback, "__name__", None))
        self._start(ar)
        return ar

    def _end(self, ar: AsyncResult, op: str):
        if ar.socket is not self:
            raise ValueError(f"end_{op} was given the result of another socket's operation")
        self.runtime.checkpoint(kinds.END, op, ar.conn)
        tracer = self.runtime.tracer
        try:
            result = ar._end(op)
        except BaseException as exc:
            tracer.emit(kinds.END, ar.conn, op=op, id=ar.id, error=type(exc).__name__)
            raise
        if tracer.hooks:
            tracer.emit(kinds.END, ar.conn, result if isinstance(result, int) else None,
                        op=op, id=ar.id)
        return result

    def _check_open(self) -> None:
        if self.closed:
            raise ObjectDisposedError()

    # -- what a world provides -------------------------------------------------

    def _start(self, ar: AsyncResult) -> None:
        raise NotImplementedError

    def _shutdown(self, how: int) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


def _check_range(buffer, offset: int, size: int) -> None:
    if offset < 0 or size < 0 or offset + size > len(buffer):
        raise ValueError(f"offset {offset} and size {size} do not fit a buffer of {len(buffer)} bytes")

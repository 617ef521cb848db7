"""``RealSocket``: the APM ``Socket`` on an operating-system socket.

Mirrors how .NET on Linux runs a socket operation (SocketAsyncContext): the
operation is first tried at once on the calling thread, non-blocking; if the
kernel has nothing yet, the socket is handed to the engine's selector and the
engine thread performs the operation when the socket is ready. Either way the
callback then goes to the pool, never runs on the caller (unless the runtime
has inline completion on: .NET Core's behaviour, the recursion lesson).

A socket has at most one pending read-side operation (accept or receive) and
one pending write-side operation (send or connect); the page never needs more.
Closing a socket completes whatever was pending with ``ObjectDisposedError``.
"""
from __future__ import annotations

import errno
import os
import selectors
import socket as _os
import threading

from ..apm.socket import Socket
from ..apm.errors import InvalidOperationError, ObjectDisposedError
from ..trace import kinds

__all__ = ["RealSocket"]

_READ_OPS = ("accept", "receive")
# Every receive and send says "don't wait" itself, so an accepted socket can
# stay in blocking mode: one system call (and one GIL hand-off) less per
# connection. Where the flag is missing (Windows) every socket is made
# non-blocking instead.
_DONTWAIT = getattr(_os, "MSG_DONTWAIT", 0)
_IN_PROGRESS = (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY)


class RealSocket(Socket):
    def __init__(self, runtime, os_socket: _os.socket, conn=None, remote_endpoint=None):
        super().__init__(runtime, conn)
        if not _DONTWAIT or os_socket.gettimeout():  # a timeout would make Python poll first
            os_socket.setblocking(False)
        self._sock = os_socket
        self._fd = os_socket.fileno()
        self._lock = threading.Lock()
        self._reader = None   # the pending accept or receive
        self._writer = None   # the pending send or connect
        self._mask = 0        # what the selector watches for us
        self.remote_endpoint = remote_endpoint
        self._family = None   # a listener's, set by listen(): its accepted sockets'
        runtime._adopt(self)

    def __repr__(self) -> str:
        return f"<RealSocket conn={self.conn} fd={self._fd}{' closed' if self.closed else ''}>"

    # -- synchronous calls -----------------------------------------------------

    def bind(self, endpoint) -> None:
        self._check_open()
        self._sock.setsockopt(_os.SOL_SOCKET, _os.SO_REUSEADDR, 1)
        self._sock.bind(tuple(endpoint))

    def listen(self, backlog: int = 10) -> None:
        self._check_open()
        self._sock.listen(backlog)
        self._family = self._sock.family
        self.runtime.tracer.emit(kinds.LISTEN, endpoint=list(self.local_endpoint), backlog=backlog)

    @property
    def local_endpoint(self):
        return self._sock.getsockname()[:2]

    def _shutdown(self, how: int) -> None:
        with self._lock:
            self._sock.shutdown(how)

    def _close(self) -> None:
        with self._lock:
            pending = [ar for ar in (self._reader, self._writer) if ar is not None]
            self._watch(None, None)
            self._sock.close()
        self.runtime._sockets.discard(self)
        for ar in pending:
            self.runtime._complete(ar, None, ObjectDisposedError())

    # -- asynchronous operations -----------------------------------------------

    def _start(self, ar) -> None:
        reading = ar.op in _READ_OPS
        with self._lock:
            if self.closed:
                raise ObjectDisposedError()
            pending = self._reader if reading else self._writer
            if pending is not None:
                raise InvalidOperationError(f"a {pending.op} is already pending on this socket")
            done, result, error = self._attempt(ar)
            if not done:
                self._watch(ar, reading)
                return
        self.runtime._complete(ar, result, error, synchronous=True)

    def _on_ready(self, mask: int) -> None:
        """Called by the engine thread when the selector says we are ready."""
        finished = []
        with self._lock:
            for ar, wanted in ((self._reader, selectors.EVENT_READ), (self._writer, selectors.EVENT_WRITE)):
                if ar is None or not mask & wanted:
                    continue
                done, result, error = self._attempt(ar)
                if done:
                    finished.append((ar, result, error))
                    self._watch(None, wanted == selectors.EVENT_READ)
        for ar, result, error in finished:
            self.runtime._complete(ar, result, error)

    def _attempt(self, ar):
        """Try the operation once, non-blocking: (done, result, error)."""
        op = ar.op
        try:
            if op == "receive":
                buffer, offset, size = ar._args
                if offset == 0:  # the page's case: no view to make
                    return True, self._sock.recv_into(buffer, size, _DONTWAIT), None
                with memoryview(buffer) as view:
                    return True, self._sock.recv_into(view[offset:offset + size], 0, _DONTWAIT), None
            if op == "accept":
                # socket.accept() minus what a server pays for on every client
                # and never needs: enum lookups of family and type, and the
                # listener's blocking mode copied over (RealSocket sets its own).
                fd, address = self._sock._accept()
                os_socket = _os.socket(self._family, _os.SOCK_STREAM, 0, fd)
                rt = self.runtime
                return True, RealSocket(rt, os_socket, rt._next_conn(), address[:2]), None
            if op == "send":
                data, offset, size = ar._args
                sent = ar._result or 0  # progress so far, kept on the result until done
                with memoryview(data) as view:
                    sent += self._sock.send(view[offset + sent:offset + size], _DONTWAIT)
                ar._result = sent
                return (True, sent, None) if sent == size else (False, None, None)
            return self._attempt_connect(ar)
        except (BlockingIOError, InterruptedError):
            return False, None, None
        except OSError as exc:
            return True, None, exc

    def _attempt_connect(self, ar):
        if ar._result is None:  # first try: start the handshake
            ar._result = "connecting"
            code = self._sock.connect_ex(ar._args[0])
        else:  # the selector says writable: the handshake ended, well or not
            code = self._sock.getsockopt(_os.SOL_SOCKET, _os.SO_ERROR)
        if code in _IN_PROGRESS:
            return False, None, None
        if code:
            return True, None, OSError(code, os.strerror(code))
        self.remote_endpoint = self._sock.getpeername()[:2]
        return True, None, None

    def _watch(self, ar, reading) -> None:
        """Record ``ar`` as pending on one side (or clear a side, or all with ``reading=None``)
        and make the selector watch exactly the sides that have work. Holds ``_lock``."""
        if reading is None:
            self._reader = self._writer = None
        elif reading:
            self._reader = ar
        else:
            self._writer = ar
        mask = ((selectors.EVENT_READ if self._reader else 0)
                | (selectors.EVENT_WRITE if self._writer else 0))
        if mask == self._mask:
            return
        selector = self.runtime._selector
        if self._mask == 0:
            selector.register(self._fd, mask, self._on_ready)
        elif mask == 0:
            selector.unregister(self._fd)
        else:
            selector.modify(self._fd, mask, self._on_ready)
        self._mask = mask

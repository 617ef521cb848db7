"""``RealSocket``: the APM ``Socket`` on an operating-system socket.

Mirrors how .NET on Linux runs a socket operation (SocketAsyncContext): the
operation is first tried at once on the calling thread, non-blocking; if the
kernel has nothing yet, the socket is handed to the engine's selector. When
the socket is ready, the runtime's profile (``apm.dotnet``) says who performs
the operation: the engine itself, standing in for the page's .NET Framework
whose OS completes it under an I/O completion port, or (.NET 6+) a pool
worker, to which the engine only hands the readiness (the socket side is not
watched meanwhile, as .NET's edge-triggered epoll does not report it again).
An operation that completes at once runs its callback where the profile says.

A socket has at most one pending read-side operation (accept or receive) and
one pending write-side operation (send or connect); the page never needs more.
Closing a socket completes whatever was pending with the profile's error
(``ObjectDisposedError``, or .NET 7+'s ``OperationAbortedError``).

Only the engine thread touches the selector (see ``real.runtime``): a socket
records what it waits for, under its lock, and asks the runtime to have the
engine bring the registration up to date (``_sync_registration``, on the
engine, under the same lock). A socket the selector still watches when it
closes is closed by the engine, once it has let go of it.
"""
from __future__ import annotations

import errno
import os
import selectors
import socket as _os
import threading

from ..apm.errors import InvalidOperationError, ObjectDisposedError
from ..apm.socket import Socket
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
        self._handed: set = set()  # pending operations a worker will perform (.NET 6+): not watched
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
            self._reader = self._writer = None
            registered = self._mask != 0
        self.runtime._sockets.discard(self)
        # Registered: the engine unregisters, then closes. Not registered, the
        # engine never registers a closed socket, so it is ours to close now.
        if not (registered and self.runtime._watch(self)):
            self._sock.close()
        for ar in pending:
            self.runtime._complete(ar, None, self.runtime._aborted_by_close())

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
                if reading:
                    self._reader = ar
                else:
                    self._writer = ar
        if done:
            self.runtime._complete(ar, result, error, synchronous=True)
        else:
            # Refused only once the engine has ended, after stop closed every
            # socket: this one's close completes the operation.
            self.runtime._watch(self)

    def _on_ready(self, mask: int) -> None:
        """Called by the engine thread when the selector says we are ready."""
        rt = self.runtime
        ready = []
        with self._lock:
            for ar, event in ((self._reader, selectors.EVENT_READ), (self._writer, selectors.EVENT_WRITE)):
                if ar is not None and mask & event and ar not in self._handed:
                    ready.append(ar)
            handed = [ar for ar in ready if not ar._via_port]
            if handed:
                self._handed.update(handed)   # a worker will perform them: stop watching
                self._sync_locked(rt._selector)
        for ar in ready:
            rt._ready(ar, lambda ar=ar: self._perform(ar))

    def _perform(self, ar):
        """Try a pending operation once, where the profile performs it (the engine,
        or a pool worker): ``(done, result, error)``."""
        rt = self.runtime
        on_engine = threading.current_thread() is rt._engine
        with self._lock:
            self._handed.discard(ar)
            if ar is not self._reader and ar is not self._writer:
                return False, None, None   # closed meanwhile: the close completed it
            done, result, error = self._attempt(ar)
            if done:
                if ar is self._reader:
                    self._reader = None
                else:
                    self._writer = None
            if on_engine:
                self._sync_locked(rt._selector)
        if not on_engine and not done:
            rt._watch(self)   # not ready after all: the engine watches it again
        return done, result, error

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

    def _sync_registration(self, selector) -> None:
        """On the engine: make ``selector`` watch exactly the sides with a pending operation."""
        with self._lock:
            self._sync_locked(selector)

    def _sync_locked(self, selector) -> None:  # on the engine, holding _lock
        handed = self._handed
        mask = ((selectors.EVENT_READ if self._reader and self._reader not in handed else 0)
                | (selectors.EVENT_WRITE if self._writer and self._writer not in handed else 0))
        if mask == self._mask:
            return
        if self._mask == 0:
            selector.register(self._fd, mask, self._on_ready)
        elif mask == 0:
            selector.unregister(self._fd)
        else:
            selector.modify(self._fd, mask, self._on_ready)
        self._mask = mask
        if mask == 0 and self.closed:  # closed while watched: ours to close, now that it is let go
            self._sock.close()

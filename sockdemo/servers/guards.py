"""``Limits`` and ``Guard``: what a server facing real clients needs and the page's sample lacks.

Mirrors the limits a production .NET server sets around the page's pattern
(ASP.NET Core's Kestrel: ``KeepAliveTimeout``, ``RequestHeadersTimeout``,
``MaxRequestBodySize``, ``MaxConcurrentConnections``) and what asyncio and
nginx do when ``accept()`` fails. The ``fixed`` and ``echo`` servers use one
``Guard`` each; ``seed`` has none, as the page has none.

- **idle_timeout**: a connection that sends nothing for that long is closed.
- **message_timeout**: a whole message must arrive within that long of the
  accept, so a client that trickles a byte a second cannot hold a connection
  for days by never being idle.
- **max_message**: a message over that many bytes closes its connection.
- **max_connections**: at that many open connections the server stops
  accepting until one ends (nginx's ``worker_connections``); new clients wait
  in the listen backlog meanwhile.
- **accept errors**: when the process runs out of file descriptors or memory
  (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ENOMEM``), accepting pauses for
  ``ACCEPT_PAUSE`` seconds (asyncio's ``ACCEPT_RETRY_DELAY``) while existing
  connections go on being served, and the episode is logged once; errors of
  one pending connection (``ECONNABORTED`` and the like, see accept(2)) are
  skipped and accepting goes on at once.

Each limit, when it acts, leaves a console line and a trace event: an
``error`` naming the ``limit`` for a connection it closed, a ``limit`` event
for a pause at the cap, an ``accept_error`` for a failed accept. Every connection has one timer at a time, re-armed for
its next deadline only when it fires, so a busy connection adds nothing to
the runtime's timer heap per receive.

Connections are counted without a lock: a connection is in ``open`` from its
accept to its close, and ``dict.pop`` is atomic, so when a timer and a
callback race to close one, exactly one of them does it.
"""
from __future__ import annotations

import errno
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Optional

from ..apm.socket import SHUT_RDWR
from ..apm.state_object import BUFFER_SIZE
from ..trace import kinds
from ..trace.text import describe_error

__all__ = ["Limits", "DEFAULT_LIMITS", "Guard", "Guarded", "ACCEPT_PAUSE", "RESOURCE_ERRORS", "TRANSIENT_ERRORS"]

ACCEPT_PAUSE = 1.0   # seconds; asyncio's constants.ACCEPT_RETRY_DELAY
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept(2), Linux: "already-pending network errors on the new socket" are
# reported by accept and "should be treated like EAGAIN by retrying".
TRANSIENT_ERRORS = frozenset(getattr(errno, name) for name in (
    "ECONNABORTED", "EPROTO", "ENETDOWN", "ENOPROTOOPT", "EHOSTDOWN", "ENONET",
    "EHOSTUNREACH", "EOPNOTSUPP", "ENETUNREACH", "EPERM", "EINTR") if hasattr(errno, name))


@dataclass(frozen=True)
class Limits:
    idle_timeout: float = 30.0        # seconds without a byte
    message_timeout: float = 120.0    # seconds for a whole message, from the accept
    max_message: int = 1 << 20        # bytes
    max_connections: int = 1000       # open at once

    def __post_init__(self):
        for name in ("idle_timeout", "message_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("max_message", "max_connections"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}")


class _Watch:
    """One open connection's clock: when it opened, when it last said something."""
    __slots__ = ("handler", "opened_at", "last_heard", "nbytes", "timer")

    def __init__(self, handler, now: float):
        self.handler = handler
        self.opened_at = self.last_heard = now
        self.nbytes = 0
        self.timer = None


class Guard:
    """The limits of one server: counts its connections, times them, paces its accepts."""

    def __init__(self, runtime, limits: Limits, resume_accepting: Callable[[], None]):
        """``resume_accepting()`` starts accepting again after a pause (the
        server's own way: chain a ``begin_accept``, or open a gate main waits at)."""
        self.runtime = runtime
        self.limits = limits
        self.open: dict = {}            # handler socket -> _Watch
        # Why accepting is paused: "cap" (max_connections), "resources" (after
        # a failed accept). Changed only by atomic dict calls (see _pause).
        self._paused: dict = {}
        self.failed_accepts = 0         # in the current episode of resource errors
        self._resume_accepting = resume_accepting

    # -- accepting ---------------------------------------------------------------

    def may_accept(self) -> bool:
        """False while accepting is paused: at the connection cap (until a
        connection ends) or after accept() ran out of resources (a moment)."""
        if "resources" in self._paused:
            return False
        if len(self.open) < self.limits.max_connections:
            return True
        if self._pause("cap"):
            self._note(kinds.LIMIT, None, limit="max_connections", value=self.limits.max_connections,
                       action="paused",
                       line=f"Connection limit reached ({len(self.open)} open): accepting paused")
        # A connection may have ended between the count and the flag: look again.
        if len(self.open) < self.limits.max_connections and self._unpause():
            return True
        return False

    def accept_failed(self, error: OSError) -> bool:
        """An accept failed: True to accept again at once, False to stop (the
        listener is gone) or to wait for ``resume_accepting`` after a pause."""
        code = getattr(error, "errno", None)
        if code in TRANSIENT_ERRORS:
            self.runtime.tracer.emit(kinds.ACCEPT_ERROR, error=describe_error(error), action="retry")
            return True
        if code not in RESOURCE_ERRORS:
            self.runtime.tracer.emit(kinds.ACCEPT_ERROR, error=describe_error(error), action="stop")
            return False
        self.failed_accepts += 1
        if self.failed_accepts == 1:  # once per episode: a flood of identical lines helps nobody
            self._note(kinds.ACCEPT_ERROR, None, error=describe_error(error), action="pause",
                       retry_in=ACCEPT_PAUSE,
                       line=f"Accept failed: {describe_error(error)}; "
                            f"accepting again every {ACCEPT_PAUSE:g} s until it works")
        if self._pause("resources"):
            self.runtime.start_timer(ACCEPT_PAUSE, self.retry_accepting)
        return False

    def retry_accepting(self, _state=None) -> None:
        """The pause after a resource error is over (a timer callback)."""
        if self._paused.pop("resources", None) is not None:
            self._resume_accepting()

    def accepted(self, handler) -> None:
        """A connection was accepted: count it and start its clock."""
        if self.failed_accepts:
            self._note(kinds.ACCEPT_ERROR, None, action="recovered", failed=self.failed_accepts,
                       line=f"Accepting again after {self.failed_accepts} failed attempt(s)")
            self.failed_accepts = 0
        watch = self.open[handler] = _Watch(handler, self.runtime.now())
        self._arm(watch)

    # -- serving -----------------------------------------------------------------

    def received(self, handler, nbytes: int) -> Optional[str]:
        """Count bytes heard; the reason to close if the message is now too long."""
        watch = self.open.get(handler)
        if watch is None:
            return None
        watch.last_heard = self.runtime.now()
        watch.nbytes += nbytes
        if watch.nbytes > self.limits.max_message:
            return f"message exceeds {self.limits.max_message} bytes"
        return None

    def close(self, handler, reason: Optional[str] = None, limit: Optional[str] = None) -> None:
        """Shut down and close a connection once, saying why when a limit or an error acted."""
        if not self._forget(handler):
            return
        if reason is not None:
            info = {"error": reason} if limit is None else {"error": reason, "limit": limit}
            self._note(kinds.ERROR, handler.conn, **info,
                       line=f"Connection {handler.conn} closed: {reason}")
        try:
            handler.shutdown(SHUT_RDWR)
        except OSError:
            pass  # the peer may be gone already; closing is all that is left
        handler.close()
        self._after_close()

    def closed(self, handler) -> bool:
        """Forget a connection the server closed itself; False if it was not open."""
        if not self._forget(handler):
            return False
        self._after_close()
        return True

    @contextmanager
    def may_close(self, handler):
        """Around a call on a connection's socket that a limit may close meanwhile
        (a timer fires on another thread, under a pending receive or between two
        calls): the ``OSError`` that close causes is swallowed, as the limit's
        doing; any other error passes on (a server without error handling of its
        own, as the echo example has none, still dies of a client's reset)."""
        try:
            yield
        except OSError:
            if handler in self.open:
                raise

    def _forget(self, handler) -> bool:
        """Stop counting and timing a connection; True for the one caller that does."""
        watch = self.open.pop(handler, None)
        if watch is None:
            return False
        if watch.timer is not None:
            watch.timer.dispose()
        return True

    def _after_close(self) -> None:
        if len(self.open) < self.limits.max_connections and self._unpause():
            self._resume_accepting()

    # -- timers ------------------------------------------------------------------

    def _arm(self, watch: _Watch) -> None:
        limits = self.limits
        due = min(watch.last_heard + limits.idle_timeout, watch.opened_at + limits.message_timeout)
        watch.timer = self.runtime.start_timer(max(0.0, due - self.runtime.now()), self._deadline,
                                               watch, watch.handler.conn)

    def _deadline(self, watch: _Watch) -> None:
        """A connection's timer fired: close it if a deadline passed, else wait for the next."""
        if self.open.get(watch.handler) is not watch:
            return
        now, limits = self.runtime.now(), self.limits
        if now >= watch.opened_at + limits.message_timeout:
            self.close(watch.handler, f"message not complete within {limits.message_timeout:g} s",
                       "message_timeout")
        elif now >= watch.last_heard + limits.idle_timeout:
            self.close(watch.handler, f"idle for {limits.idle_timeout:g} s", "idle_timeout")
        else:
            self._arm(watch)

    # -- helpers -----------------------------------------------------------------

    @property
    def paused_at_cap(self) -> bool:
        return "cap" in self._paused

    def _pause(self, why: str) -> bool:
        """Pause accepting; True for the one caller that does (``setdefault`` is atomic)."""
        token = object()
        return self._paused.setdefault(why, token) is token

    def _unpause(self) -> bool:
        """Leave the pause at the cap; True for the one caller that does (``pop`` is atomic)."""
        if self._paused.pop("cap", None) is None:
            return False
        self._note(kinds.LIMIT, None, limit="max_connections", value=self.limits.max_connections,
                   action="resumed", line=f"Accepting again ({len(self.open)} open)")
        return True

    def _note(self, kind: str, conn, line: str, **info) -> None:
        self.runtime.console.write_line(line)
        self.runtime.tracer.emit(kind, conn, **info)


DEFAULT_LIMITS = Limits()   # what fixed, echo and serve default to


class Guarded:
    """The part of a server that the limits make: their options, and one ``Guard``.

    A base of ``fixed`` and ``echo`` (before ``SeedServer``); each says how
    accepting resumes after a pause, in ``resume_accepting``."""

    # The stepper shows the guard's lines as the server's own (they run in its callbacks).
    source_parts = (Guard,)

    def __init__(self, runtime, host="127.0.0.1", port=11000, backlog=10, *,
                 buffer_size: int = BUFFER_SIZE, idle_timeout: float = DEFAULT_LIMITS.idle_timeout,
                 message_timeout: float = DEFAULT_LIMITS.message_timeout,
                 max_message: int = DEFAULT_LIMITS.max_message,
                 max_connections: int = DEFAULT_LIMITS.max_connections):
        super().__init__(runtime, host, port, backlog, buffer_size=buffer_size)
        self.limits = Limits(idle_timeout, message_timeout, max_message, max_connections)
        self.guard = Guard(runtime, self.limits, self.resume_accepting)

    def resume_accepting(self) -> None:
        """Start accepting again after a pause (the connection cap, or accept() out of resources)."""
        raise NotImplementedError

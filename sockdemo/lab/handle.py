"""``ServerHandle``: a server running in the background, for notebooks and tests.

Mirrors nothing in .NET: the page's server owns its process's main thread and
runs until the process dies. A notebook needs to start it beside the kernel,
look at it, stop it and start it again, so the handle runs the server's
``start_listening`` on a background thread named ``main`` (the page's main
thread), on its own ``RealRuntime``, with a ``Trace`` subscribed.

    with start_server("seed") as server:       # 127.0.0.1, a free port
        send(server.address, ...)
    server.trace, server.console               # still there after stop
"""
from __future__ import annotations

import sys
import threading
from typing import Callable, Optional

from ..apm.console import HISTORY
from ..real.runtime import RealRuntime
from ..servers.registry import server_class
from ..trace import kinds
from ..trace.recording import Trace
from ..trace.tracer import wait_for_events

__all__ = ["BackgroundServer", "ServerHandle", "DidNotStart", "main_waits", "start_server", "write_whole"]

START_TIMEOUT = 10.0


def main_waits(event) -> bool:
    """True for a ``wait`` event on the thread ``main``: the server's main
    thread entering a ``WaitOne`` (the seed server's ``allDone.WaitOne()``,
    once each time round its accept loop). A predicate for ``wait_for``:
    ``server.wait_for(main_waits, count=2)``."""
    return event.kind == kinds.WAIT and event.thread == "main"


def write_whole(text: str) -> None:
    """``text`` and its line end to stderr in one write, then flushed: pool
    threads report at once, and ``print`` writes its end apart, which lets
    another thread's text fall between a report and its line end."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class BackgroundServer:
    """What every server running in the background offers a notebook: its
    address, console and trace, ``wait_for``, and ``with``. A subclass says
    how it starts and stops, and where it listens (``_listening_on``)."""

    runtime = None   # has .tracer and .console
    trace = None     # the run, a Trace

    @property
    def address(self) -> tuple:
        """``(host, port)`` the server listens on."""
        return tuple(self._listening_on())

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def console(self) -> list[str]:
        return self.runtime.console.lines

    def wait_for(self, match, count: int = 1, timeout: float = 10.0) -> list:
        """Wait until ``count`` events of this run match ``match`` (a kind such
        as ``"message"``, or a predicate on an Event), those already traced
        included; return them. Raises ``TimeoutError`` after ``timeout`` s."""
        return wait_for_events(self.runtime.tracer, self.trace, match, count, timeout)

    def __repr__(self) -> str:
        where = f" on {self.address[0]}:{self.address[1]}" if self.running else ""
        errors = len(self.runtime.unhandled_errors)
        warning = f", {errors} unhandled error{'s' if errors != 1 else ''}" if errors else ""
        return f"<{type(self).__name__} {self.mode}{where} {'running' if self.running else 'stopped'}{warning}>"

    def __enter__(self):
        if not self.started:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class DidNotStart(RuntimeError):
    """The server never listened; ``lines`` is what it printed meanwhile (its reason)."""

    def __init__(self, mode: str, lines: list):
        self.lines = list(lines)
        super().__init__(f"the {mode} server did not start listening:\n" + "\n".join(lines[-3:]))


class ServerHandle(BackgroundServer):
    def __init__(self, mode: str = "seed", host: str = "127.0.0.1", port: int = 0,
                 backlog: int = 10, *, pool: Optional[int] = None, inject: bool = False,
                 dotnet="framework", unhandled: str = "record", trace=True,
                 sink: Optional[Callable[[str], None]] = None, server: Optional[type] = None,
                 on_unhandled: Optional[Callable[[str], None]] = None,
                 console_history: int = HISTORY, **server_options):
        """A server of ``mode`` (or the class ``server``) on a new ``RealRuntime``.

        An exception escaping a callback would end a .NET process; here it
        never ends the kernel. It is recorded (``unhandled_errors``), the line
        .NET would print goes to ``on_unhandled`` (by default: stderr, which a
        notebook shows in red under the running cell), and with
        ``unhandled="stop"`` the server stops as the process would.

        ``trace``: True records the run in memory (``handle.trace``, a
        ``Trace``); False records nothing; or a recorder of one's own, such as
        a ``TraceStream`` writing to a file as the run goes."""
        server = server_class(mode if server is None else server)
        self.runtime = RealRuntime(pool=pool, inject=inject, dotnet=dotnet, unhandled=unhandled,
                                   sink=sink, on_unhandled=on_unhandled or self._warn,
                                   console_history=console_history)
        self.trace = trace if hasattr(trace, "_receive") else Trace()
        self.trace.name_server(server)
        if trace is not False:
            self.runtime.tracer.subscribe(self.trace)
        try:
            self.server = server(self.runtime, host, port, backlog, **server_options)
        except BaseException:
            self.runtime.stop()  # a bad option must not leave the engine running
            raise
        self._main: Optional[threading.Thread] = None
        self._failure: Optional[BaseException] = None

    # -- what a notebook reads -------------------------------------------------

    @property
    def unhandled_errors(self) -> list:
        """Exceptions that escaped a callback (each would have ended a .NET process)."""
        return self.runtime.unhandled_errors

    def _warn(self, line: str) -> None:
        write_whole(f"sockdemo: {line}\n  (an exception escaped a callback of the {self.server.mode} server; "
                    f"a .NET process would end here. See handle.unhandled_errors.)")

    def _listening_on(self):
        return self.server.listener.local_endpoint

    @property
    def mode(self) -> str:
        return self.server.mode

    @property
    def started(self) -> bool:
        return self._main is not None

    @property
    def running(self) -> bool:
        """Started, not stopped, and its main thread has not ended by itself."""
        return self._main is not None and self._main.is_alive() and not self.runtime.stopping

    # -- life cycle ------------------------------------------------------------

    def start(self) -> "ServerHandle":
        """Start main and return once it waits for its first connection: it
        listens, has begun its first accept, and sits in ``WaitOne`` (every
        server's main ends its start there). So a client started after this
        returns comes while main waits, as one a student starts after seeing
        "Waiting for a connection...": a pool worker accepts it. Returning at
        the listen alone would leave a race a slow machine loses: a client
        that beats main's ``BeginAccept`` is accepted inline, on main."""
        if self._main is not None:
            raise RuntimeError("this server was started already; make a new handle to run again")
        ready = threading.Event()
        listened, said = [], []   # the listen event; what the server printed meanwhile

        def on_listen(event):
            if event.kind == kinds.LISTEN:
                listened.append(event)
            elif main_waits(event):
                ready.set()
            elif event.kind == kinds.CONSOLE:
                said.append(event.get("text"))

        def main():
            try:
                self.server.start_listening()
            except BaseException as exc:  # ThreadInterrupted is the normal end
                self._failure = exc
            finally:
                ready.set()

        self.runtime.tracer.subscribe(on_listen)
        self._main = threading.Thread(target=main, name="main", daemon=True)
        self._main.start()
        ok = ready.wait(START_TIMEOUT)
        self.runtime.tracer.unsubscribe(on_listen)
        if not ok or not listened:
            self.stop()
            raise DidNotStart(self.server.mode, said)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every socket and join every thread this server started; idempotent.

        The trace ends where stopping begins: tearing the server down (the
        sockets closed under pending operations, the main thread interrupted)
        is the lab's doing, not the sample's, and would only clutter the run.
        A callback still running then gets its end, marked ``cut``; the pool
        takes no more work first, so no callback starts after those ends."""
        self.runtime.pool.close()
        self.runtime.end_running_callbacks()
        self.runtime.tracer.unsubscribe(self.trace)
        self.runtime.stop(timeout)
        if self._main is not None and self._main is not threading.current_thread():
            self._main.join(timeout)
            if self._main.is_alive():
                raise RuntimeError(f"the server's main thread did not stop within {timeout} s")


def start_server(mode: str = "seed", host: str = "127.0.0.1", port: int = 0, backlog: int = 10,
                 **options) -> ServerHandle:
    """Start a server in the background and return its handle (stop it with
    ``.stop()``), once its main thread waits for the first connection."""
    return ServerHandle(mode, host, port, backlog, **options).start()

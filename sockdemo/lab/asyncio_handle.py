"""``AsyncioServerHandle``: the asyncio server running in the background, for notebooks and tests.

Mirrors nothing in .NET. It runs ``servers.asyncio_server.AsyncioServer`` the
way ``ServerHandle`` runs the APM servers: a thread named ``loop`` with its
own event loop, 127.0.0.1 and port 0 by default, ``.address``, ``.trace``,
``.console``, ``.runtime.tracer`` (for ``send(..., tracer=...)``), ``stop()``
that closes every socket and joins the thread, and a context manager. A
handle runs once; start a new one to run again (``start_asyncio_server``).
"""
from __future__ import annotations

import asyncio
import threading
from typing import Callable, Optional

from ..apm.state_object import BUFFER_SIZE
from ..servers.asyncio_server import LOOP_THREAD, AsyncioServer, LoopRuntime
from ..trace.recording import Trace
from .handle import START_TIMEOUT, BackgroundServer

__all__ = ["AsyncioServerHandle", "start_asyncio_server"]


class AsyncioServerHandle(BackgroundServer):
    """An ``AsyncioServer`` on its own event loop in a background thread (``loop``)."""

    mode = "asyncio"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, backlog: int = 10, *,
                 trace: bool = True, sink: Optional[Callable[[str], None]] = None,
                 buffer_size: int = BUFFER_SIZE):
        self.runtime = LoopRuntime(sink)
        self.trace = Trace()
        if trace:
            self.runtime.tracer.subscribe(self.trace)
        self.server = AsyncioServer(self.runtime, host, port, backlog, buffer_size=buffer_size)
        self.trace.name_server(AsyncioServer)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._stop_requested: Optional[asyncio.Event] = None
        self._failure: Optional[BaseException] = None

    # -- what a notebook reads -------------------------------------------------

    def _listening_on(self):
        return self.server.address

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- life cycle ------------------------------------------------------------

    def start(self) -> "AsyncioServerHandle":
        if self._thread is not None:
            raise RuntimeError("this server was started already; make a new handle to run again")
        listening = threading.Event()

        async def serve():
            self._stop_requested = asyncio.Event()
            try:
                await self.server.start_listening()
            finally:
                listening.set()
            try:
                await self._stop_requested.wait()
            finally:
                await self.server.close()

        def run():
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # a bind error, say: start() reports it
                self._failure = exc
                listening.set()
            finally:
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=run, name=LOOP_THREAD, daemon=True)
        self._thread.start()
        if not listening.wait(START_TIMEOUT) or self.server.address is None:
            self.stop()
            raise RuntimeError(f"the asyncio server did not start listening: {self._failure!r}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close every socket, end the loop and join its thread; idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or not thread.is_alive():
            return
        if loop is not None and self._stop_requested is not None:
            try:
                loop.call_soon_threadsafe(self._stop_requested.set)
            except RuntimeError:
                pass  # the loop closed meanwhile: the thread is ending anyway
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the asyncio server's loop did not stop within {timeout} s")


def start_asyncio_server(host: str = "127.0.0.1", port: int = 0, backlog: int = 10,
                         **options) -> AsyncioServerHandle:
    """Start the asyncio server in the background and return its handle."""
    return AsyncioServerHandle(host, port, backlog, **options).start()

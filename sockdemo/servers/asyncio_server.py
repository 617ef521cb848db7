"""The page's server once more, with ``async``/``await``: asyncio streams.

Mirrors what replaced the page's Begin/End pattern in .NET (``await
socket.ReceiveAsync(...)``, ``TcpListener.AcceptTcpClientAsync``): one
coroutine per connection whose local variables are the ``StateObject``. Its
observable behaviour is the seed server's, quirks included, so the two can
be compared on the same clients: the same console lines (``Local address
and port``, one ``Waiting for a connection...`` at start and one per
accepted connection, ``Read {n} bytes from socket.\\n Data : {content}`` only
when the text is longer than 1 character), 1024-byte reads until the peer's
close, ASCII with ``?`` for every byte above 0x7F, close without reply, and
no error handling (an error is recorded in ``unhandled_errors`` and ends that
connection's coroutine, as an exception escaping a callback would).

It emits the same trace events, so ``plot_lanes``, ``plot_chunks`` and the
stepper draw it. What maps to what:

===========================================  ====================================================
seed server (APM, callbacks)                  here (one coroutine per connection)
===========================================  ====================================================
``begin_accept`` in the main loop             ``begin`` (op accept): asyncio is always accepting;
                                              one is traced per ``Waiting for a connection...``
``allDone.WaitOne()`` on the main thread      nothing: no thread waits, the loop accepts
``accept`` completion, ``AcceptCallback``     ``accept`` event, then an ``AcceptCallback`` slice:
                                              the coroutine's first run, up to its first ``await``
``begin_receive`` + ``ReadCallback``          ``begin`` (op receive) just before
                                              ``await reader.read(1024)``; when it returns, a
                                              ``chunk``/``eof`` event and a ``ReadCallback`` slice:
                                              the run from that resumption to the next ``await``
``end_receive`` (the byte count)              ``end`` (op receive): the value ``read`` returned
``StateObject`` (socket, buffer, ``sb``)      the coroutine's locals: ``writer``, ``data``, ``sb``
the pool threads                              one thread, the event loop's (named ``loop``)
===========================================  ====================================================

Flow ids join each ``begin`` to the slice it led to, exactly as the runtimes
do, so Perfetto draws the same arrows.

``sockdemo.lab.asyncio_handle`` runs it in the background, as ``start_server``
runs the others.
"""
from __future__ import annotations

import asyncio
import itertools
from typing import Callable, Optional

from ..apm.console import Console
from ..apm.encoding import ascii_get_string
from ..apm.socket import address_family, format_endpoint
from ..apm.state_object import BUFFER_SIZE, StringBuilder
from ..trace import kinds
from ..trace.text import describe_error, preview
from ..trace.tracer import Tracer

__all__ = ["AsyncioServer", "LoopRuntime", "LOOP_THREAD"]

LOOP_THREAD = "loop"


class LoopRuntime:
    """What the asyncio server is given instead of a ``Runtime``: a tracer on
    the wall clock, a console, op and connection numbers, and where unhandled
    errors go. The event loop replaces the engine and the pool."""

    def __init__(self, sink: Optional[Callable[[str], None]] = None):
        self.tracer = Tracer()
        self.console = Console(self.tracer, sink)
        self.unhandled_errors: list[BaseException] = []
        self._op_ids = itertools.count(1)
        self._conn_ids = itertools.count(1)

    def next_op_id(self) -> int:
        return next(self._op_ids)

    def next_conn(self) -> int:
        return next(self._conn_ids)


class AsyncioServer:
    mode = "asyncio"

    def __init__(self, runtime: LoopRuntime, host: str = "127.0.0.1", port: int = 11000,
                 backlog: int = 10, *, buffer_size: int = BUFFER_SIZE):
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1 byte, not {buffer_size}")
        self.runtime = runtime
        self.console = runtime.console
        self.local_ep = (host, port)
        self.backlog = backlog
        self.buffer_size = buffer_size
        self.server: Optional[asyncio.AbstractServer] = None
        self.address: Optional[tuple] = None
        self._accept_id: Optional[int] = None
        self._writers: set = set()
        self._tasks: set = set()

    # -- StartListening ----------------------------------------------------------

    async def start_listening(self) -> None:
        """Bind, listen and start accepting; returns at once (the loop accepts)."""
        host, port = self.local_ep
        self.console.write_line(f"Local address and port : {format_endpoint(self.local_ep)}")
        self.server = await asyncio.start_server(self.handle_client, host, port,
                                                 family=address_family(host), backlog=self.backlog)
        self.address = tuple(self.server.sockets[0].getsockname()[:2])
        self.runtime.tracer.emit(kinds.LISTEN, endpoint=list(self.address), backlog=self.backlog)
        if port == 0:  # as the seed server does: show the port the system chose
            self.console.write_line(f"Local address and port : {format_endpoint(self.address)}")
        self._waiting_for_a_connection()

    def _waiting_for_a_connection(self) -> None:
        self.console.write_line("Waiting for a connection...")
        self._accept_id = self.runtime.next_op_id()
        self.runtime.tracer.emit(kinds.BEGIN, None, op="accept", id=self._accept_id,
                                 callback="handle_client")

    # -- AcceptCallback and every ReadCallback, as one coroutine -------------------

    async def handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rt, emit = self.runtime, self.runtime.tracer.emit
        conn = rt.next_conn()
        self._writers.add(writer)
        self._tasks.add(asyncio.current_task())
        peer = writer.get_extra_info("peername")
        accept_id = self._accept_id
        emit(kinds.ACCEPT, conn, id=accept_id, peer=list(peer[:2]))
        # The coroutine's first run is what AcceptCallback was.
        emit(kinds.CALLBACK_START, None, name="AcceptCallback", id=accept_id)
        self._waiting_for_a_connection()
        sb = StringBuilder()              # the StateObject is just local variables
        op_id = self._begin_receive(conn)
        emit(kinds.CALLBACK_END, None, name="AcceptCallback", id=accept_id)
        try:
            while True:
                try:
                    data = await reader.read(self.buffer_size)
                except (ConnectionError, OSError) as exc:  # a reset: the seed's end_receive raises
                    emit(kinds.OP_ERROR, conn, op="receive", id=op_id, error=describe_error(exc))
                    emit(kinds.CALLBACK_START, conn, name="ReadCallback", id=op_id)
                    rt.unhandled_errors.append(exc)
                    emit(kinds.ERROR, conn, error=describe_error(exc), where="ReadCallback")
                    emit(kinds.CALLBACK_END, conn, name="ReadCallback", id=op_id)
                    return   # like the seed: nobody closes this socket (stop() will)
                read, slice_id = len(data), op_id
                if read:
                    emit(kinds.CHUNK, conn, read, id=slice_id,
                         data=preview(data))
                else:
                    emit(kinds.EOF, conn, 0, id=slice_id)
                emit(kinds.CALLBACK_START, conn, name="ReadCallback", id=slice_id)
                emit(kinds.END, conn, read, op="receive", id=slice_id)
                if read > 0:
                    sb.append(ascii_get_string(data, 0, read))
                    op_id = self._begin_receive(conn)
                    emit(kinds.CALLBACK_END, conn, name="ReadCallback", id=slice_id)
                    continue
                if len(sb) > 1:
                    content = sb.to_string()
                    self.console.write_line(f"Read {len(content)} bytes from socket.\n Data : {content}")
                    emit(kinds.MESSAGE, conn, len(content), text=content)
                emit(kinds.CLOSE, conn)
                writer.close()
                self._writers.discard(writer)
                emit(kinds.CALLBACK_END, conn, name="ReadCallback", id=slice_id)
                return
        finally:
            self._tasks.discard(asyncio.current_task())

    def _begin_receive(self, conn: int) -> int:
        op_id = self.runtime.next_op_id()
        self.runtime.tracer.emit(kinds.BEGIN, conn, self.buffer_size, op="receive", id=op_id,
                                 callback="read_callback")
        return op_id

    # -- stopping ------------------------------------------------------------------

    async def close(self) -> None:
        """Stop accepting, end every connection's coroutine, close every socket."""
        if self.server is not None:
            self.server.close()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

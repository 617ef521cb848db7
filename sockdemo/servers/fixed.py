"""The page's server with each quirk repaired, in the same shape.

Mirrors what a careful .NET developer would write after meeting the seed's
quirks (DESIGN.md "Fidelity to the sample"):

=====================================  =========================================
seed quirk                             repair here
=====================================  =========================================
a 1-byte message is dropped (``> 1``)  every non-empty message is reported
ASCII: every byte above 0x7F is ``?``  UTF-8, decoded incrementally, so a
and a character split across two      character split across two receives
receives could never be rebuilt        stays whole
the text grows without bound           ``max_message`` bytes (default 1 MiB);
                                       over it: an ``error`` event, the
                                       connection closed, the server goes on
no timeout: an idle client holds its  ``idle_timeout`` seconds without a byte
connection forever                     closes it (a ``System.Threading.Timer``)
no error handling (a reset kills the  each connection's errors are caught,
.NET process)                          traced and end only that connection
the main thread blocks on ``WaitOne``  accepting is chained from the accept
once per connection                    callback; the main thread only waits to
                                       be told to shut down
"Read {n} bytes" counts characters     it counts bytes
close without shutdown                 shutdown, then close
=====================================  =========================================
"""
from __future__ import annotations

import codecs

from ..apm.socket import SHUT_RDWR
from ..trace.text import describe_error
from .seed import SeedServer
from ..apm.state_object import BUFFER_SIZE, StateObject
from ..trace import kinds

__all__ = ["FixedServer", "FixedStateObject", "MAX_MESSAGE", "IDLE_TIMEOUT"]

MAX_MESSAGE = 1 << 20
IDLE_TIMEOUT = 30.0


class FixedStateObject(StateObject):
    def __init__(self, work_socket=None, buffer_size: int = BUFFER_SIZE):
        super().__init__(work_socket, buffer_size)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.nbytes = 0
        self.idle_timer = None
        self.closed = False


class FixedServer(SeedServer):
    mode = "fixed"

    def __init__(self, runtime, host="127.0.0.1", port=11000, backlog=10, *,
                 buffer_size: int = BUFFER_SIZE, max_message: int = MAX_MESSAGE,
                 idle_timeout: float = IDLE_TIMEOUT):
        super().__init__(runtime, host, port, backlog, buffer_size=buffer_size)
        if max_message < 1 or idle_timeout <= 0:
            raise ValueError("max_message and idle_timeout must be positive")
        self.max_message = max_message
        self.idle_timeout = idle_timeout
        self.shutdown_requested = runtime.manual_reset_event(False, "shutdownRequested")

    def accept_loop(self, listener) -> None:
        # Accepting goes on from the accept callback; the main thread is free
        # and here only waits to be told to shut down.
        self.begin_next_accept(listener)
        self.shutdown_requested.wait_one()

    def begin_next_accept(self, listener) -> None:
        self.console.write_line("Waiting for a connection...")
        listener.begin_accept(self.accept_callback, listener)

    def accept_callback(self, ar) -> None:
        listener = ar.async_state
        try:
            handler = listener.end_accept(ar)
        except OSError as e:  # the listener was closed: no more connections
            self.runtime.tracer.emit(kinds.ERROR, None, error=describe_error(e))
            return
        self.begin_next_accept(listener)

        state = FixedStateObject(handler, self.buffer_size)
        self.restart_idle_timer(state)
        self.begin_receive(state)

    def begin_receive(self, state) -> None:
        state.work_socket.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                                        self.read_callback, state)

    def read_callback(self, ar) -> None:
        state = ar.async_state
        handler = state.work_socket
        try:
            read = handler.end_receive(ar)
            if read > 0:
                state.nbytes += read
                if state.nbytes > self.max_message:
                    self.end_connection(state, f"message exceeds {self.max_message} bytes")
                    return
                state.sb.append(state.decoder.decode(bytes(state.buffer[:read])))
                self.restart_idle_timer(state)
                self.begin_receive(state)
                return
            state.sb.append(state.decoder.decode(b"", final=True))
            if state.nbytes > 0:
                content = state.sb.to_string()
                self.console.write_line(f"Read {state.nbytes} bytes from socket.\n Data : {content}")
                self.runtime.tracer.emit(kinds.MESSAGE, handler.conn, state.nbytes, text=content)
            self.end_connection(state)
        except Exception as e:  # one connection's trouble never reaches another
            self.end_connection(state, describe_error(e))

    def idle_callback(self, state) -> None:
        self.end_connection(state, f"idle for {self.idle_timeout:g} s")

    def restart_idle_timer(self, state) -> None:
        if state.idle_timer is not None:
            state.idle_timer.dispose()
        state.idle_timer = self.runtime.start_timer(self.idle_timeout, self.idle_callback, state,
                                                    state.work_socket.conn)

    def end_connection(self, state, error: str | None = None) -> None:
        """Close one connection once, saying why when it is an error."""
        if state.closed:
            return
        state.closed = True
        handler = state.work_socket
        if state.idle_timer is not None:
            state.idle_timer.dispose()
        if error is not None:
            self.console.write_line(f"Connection {handler.conn} closed: {error}")
            self.runtime.tracer.emit(kinds.ERROR, handler.conn, error=error)
        try:
            handler.shutdown(SHUT_RDWR)
        except OSError:
            pass  # the peer may be gone already; closing is all that is left
        handler.close()

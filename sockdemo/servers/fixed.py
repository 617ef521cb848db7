"""The page's server with each quirk repaired, in the same shape.

Mirrors what a careful .NET developer would write after meeting the seed's
quirks:

=====================================  =========================================
seed quirk                             repair here
=====================================  =========================================
a 1-byte message is dropped (``> 1``)  every non-empty message is reported
ASCII: every byte above 0x7F is ``?``  UTF-8, decoded incrementally, so a
and a character split across two      character split across two receives
receives could never be rebuilt        stays whole
the text grows without bound           ``max_message`` bytes (default 1 MiB)
no timeout: an idle client holds its  ``idle_timeout`` without a byte, and
connection forever                     ``message_timeout`` for a whole message
no error handling (a reset kills the  each connection's errors are caught,
.NET process)                          traced and end only that connection
every connection a client opens is    ``max_connections`` at once; at the cap
accepted, until the process runs out   accepting pauses (``guards.Guard``), as
of file descriptors                    it does when accept() runs out of them
the main thread blocks on ``WaitOne``  accepting is chained from the accept
once per connection                    callback; the main thread only waits to
                                       be told to shut down
``BeginReceive`` in ``ReadCallback``   the ``CompletedSynchronously`` loop: when
nests one stack frame per receive that  an operation completes at once (.NET 6+
completes at once (.NET 6+)            runs its callback inline), the caller
                                       loops and the callback returns early
a client can forge console lines       control characters are printed escaped
"Read {n} bytes" counts characters     it counts bytes
close without shutdown                 shutdown, then close
=====================================  =========================================

The ``CompletedSynchronously`` loop is the canonical APM pattern (the .NET
``Stream`` and socket samples of the APM era use it): ``receive`` begins
operations in a loop for as long as each one completes synchronously and
finishes it itself; ``read_callback`` finishes only the operations that
completed later, then continues the loop. The stack stays flat however many
receives complete at once. On the page's .NET Framework a receive's callback
is always queued (``completed_synchronously`` false: the loop runs once); only
an accept begun on main with a connection already waiting completes at once.
"""
from __future__ import annotations

import codecs

from ..apm.state_object import BUFFER_SIZE, StateObject
from ..trace import kinds
from ..trace.text import describe_error, printable
from .guards import Guarded
from .seed import SeedServer

__all__ = ["FixedServer", "FixedStateObject"]


class FixedStateObject(StateObject):
    def __init__(self, work_socket=None, buffer_size: int = BUFFER_SIZE):
        super().__init__(work_socket, buffer_size)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.nbytes = 0


class FixedServer(Guarded, SeedServer):
    mode = "fixed"

    def __init__(self, runtime, *args, **options):
        super().__init__(runtime, *args, **options)
        self.shutdown_requested = runtime.manual_reset_event(False, "shutdownRequested")

    # -- accepting ---------------------------------------------------------------

    def accept_loop(self, listener) -> None:
        # Accepting goes on from the accept callback; the main thread is free
        # and here only waits to be told to shut down.
        self.accept(listener)
        self.shutdown_requested.wait_one()

    def resume_accepting(self) -> None:
        """After a pause (the connection cap, or accept() out of resources)."""
        self.accept(self.listener)

    def accept(self, listener) -> None:
        """Begin accepts for as long as each completes at once; stop at a pending one."""
        while self.guard.may_accept():
            self.console.write_line("Waiting for a connection...")
            try:
                ar = listener.begin_accept(self.accept_callback, listener)
            except OSError as e:  # the listener was closed: no more connections
                self.runtime.tracer.emit(kinds.ERROR, None, error=describe_error(e))
                return
            if not ar.completed_synchronously or not self.finish_accept(ar):
                return

    def accept_callback(self, ar) -> None:
        if ar.completed_synchronously:
            return  # the loop in accept() finishes it, on the thread that began it
        if self.finish_accept(ar):
            self.accept(ar.async_state)

    def finish_accept(self, ar) -> bool:
        """End one accept and start serving it; True to accept the next one now."""
        listener = ar.async_state
        try:
            handler = listener.end_accept(ar)
        except OSError as e:
            return self.guard.accept_failed(e)
        self.guard.accepted(handler)
        self.receive(FixedStateObject(handler, self.buffer_size))
        return True

    # -- receiving ---------------------------------------------------------------

    def receive(self, state) -> None:
        """Begin receives for as long as each completes at once; stop at a pending one."""
        handler = state.work_socket
        while True:
            try:
                ar = handler.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                                           self.read_callback, state)
            except OSError as e:  # closed meanwhile (a limit acted, or the server stops)
                self.guard.close(handler, describe_error(e))
                return
            if not ar.completed_synchronously or not self.finish_receive(ar):
                return

    def read_callback(self, ar) -> None:
        if ar.completed_synchronously:
            return  # the loop in receive() finishes it, on the thread that began it
        if self.finish_receive(ar):
            self.receive(ar.async_state)

    def finish_receive(self, ar) -> bool:
        """End one receive; True while the message goes on (receive more)."""
        state = ar.async_state
        handler = state.work_socket
        try:
            read = handler.end_receive(ar)
        except Exception as e:  # one connection's trouble never reaches another
            self.guard.close(handler, describe_error(e))
            return False
        if read > 0:
            too_long = self.guard.received(handler, read)
            if too_long is not None:
                self.guard.close(handler, too_long, "max_message")
                return False
            state.nbytes += read
            state.sb.append(state.decoder.decode(bytes(state.buffer[:read])))
            return True
        state.sb.append(state.decoder.decode(b"", final=True))
        if state.nbytes > 0:
            content = state.sb.to_string()
            self.console.write_line(f"Read {state.nbytes} bytes from socket.\n Data : {printable(content)}")
            self.runtime.tracer.emit(kinds.MESSAGE, handler.conn, state.nbytes, text=content)
        self.guard.close(handler)
        return False

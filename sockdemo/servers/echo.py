"""The full "Asynchronous Server Socket Example": the page's server that answers.

Mirrors the companion .NET page line for line. It differs from the seed in
four places, each kept as the example has it:

- ``accept_callback`` sets ``all_done`` *before* ``end_accept`` (the seed page
  ends the accept first);
- ``<EOF>`` anywhere in the text so far ends the message, which is printed as
  ``Read {n} bytes from socket. \\n Data : {content}`` (note the space before
  the line break) and sent back whole with ``begin_send``;
- ``send_callback`` prints ``Sent {n} bytes to client.``, shuts down both
  directions and closes;
- a peer that closes before ``<EOF>`` is simply never answered: the example
  neither prints nor closes on a 0-byte receive, so that socket stays open
  until the idle timeout below closes it.

Because an echo server is the one a learner leaves running for real clients,
it carries the same ``guards.Guard`` as ``fixed`` (idle and message timeouts,
a message size limit, a connection cap, a pause when accept() runs out of
file descriptors) and prints message text with control characters escaped.
Those are additions to the example, each marked where it happens; the
example's own error handling (none: an exception escaping a callback ends a
.NET process) is kept, but for the errors a limit causes itself: closing a
connection aborts its pending receive, or fails the call its callback makes
next, and ``Guard.may_close`` takes those for the limit's doing, so they end
that connection only. A client's reset still ends the process.
"""
from __future__ import annotations

from ..apm.encoding import ascii_get_bytes, ascii_get_string
from ..apm.socket import SHUT_RDWR
from ..apm.state_object import StateObject
from ..trace import kinds
from ..trace.text import printable
from .guards import Guarded
from .seed import SeedServer

__all__ = ["EchoServer", "EOF_MARKER"]

EOF_MARKER = "<EOF>"


class EchoServer(Guarded, SeedServer):
    mode = "echo"

    def __init__(self, runtime, *args, **options):
        super().__init__(runtime, *args, **options)
        # The guard's gate: open unless accepting is paused (at the cap, or
        # after accept() ran out of resources); the main loop waits at it.
        self.accepting = runtime.manual_reset_event(True, "acceptingAllowed")

    def resume_accepting(self) -> None:
        self.accepting.set()

    def accept_loop(self, listener) -> None:
        while True:
            self.all_done.reset()

            self.console.write_line("Waiting for a connection...")
            self.wait_until_accepting()  # (added: the guard's pause)
            listener.begin_accept(self.accept_callback, listener)

            self.all_done.wait_one()

    def wait_until_accepting(self) -> None:
        # Closed before asking, so a connection that ends in between opens it again.
        self.accepting.reset()
        if not self.guard.may_accept():
            self.accepting.wait_one()

    def accept_callback(self, ar) -> None:
        # Signal the main thread to continue.
        self.all_done.set()

        # Get the socket that handles the client request.
        listener = ar.async_state
        try:  # (added: a failed accept pauses accepting instead of ending the process)
            handler = listener.end_accept(ar)
        except OSError as e:
            self.guard.accept_failed(e)
            return
        self.guard.accepted(handler)

        # Create the state object.
        state = StateObject(buffer_size=self.buffer_size)
        state.work_socket = handler
        handler.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                              self.read_callback, state)

    def read_callback(self, ar) -> None:
        content = ""

        # Retrieve the state object and the handler socket
        # from the asynchronous state object.
        state = ar.async_state
        handler = state.work_socket

        # Read data from the client socket.
        bytes_read = 0  # (added: a receive that a limit's close aborted reads as 0 bytes: nothing follows)
        with self.guard.may_close(handler):
            bytes_read = handler.end_receive(ar)

        if bytes_read > 0:
            too_long = self.guard.received(handler, bytes_read)  # (added: the size limit)
            if too_long is not None:
                self.guard.close(handler, too_long, "max_message")
                return

            # There might be more data, so store the data received so far.
            state.sb.append(ascii_get_string(state.buffer, 0, bytes_read))

            # Check for end-of-file tag. If it is not there, read more data.
            # (added: only where this receive may have completed it; the example's
            # ToString() of all the text on every receive costs time quadratic in its length)
            if state.sb.find(EOF_MARKER, max(0, len(state.sb) - bytes_read - len(EOF_MARKER) + 1)) > -1:
                content = state.sb.to_string()
                # All the data has been read from the client. Display it on the console.
                self.console.write_line(f"Read {len(content)} bytes from socket. \n Data : {printable(content)}")
                self.runtime.tracer.emit(kinds.MESSAGE, handler.conn, len(content), text=content)
                # Echo the data back to the client.
                self.send(handler, content)
            else:
                # Not all data received. Get more.
                with self.guard.may_close(handler):  # (added: a limit may close it meanwhile)
                    handler.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                                          self.read_callback, state)

    def send(self, handler, data: str) -> None:
        # Convert the string data to byte data using ASCII encoding.
        byte_data = ascii_get_bytes(data)

        # Begin sending the data to the remote device.
        with self.guard.may_close(handler):  # (added: a limit may close it meanwhile)
            handler.begin_send(byte_data, 0, len(byte_data), 0, self.send_callback, handler)

    def send_callback(self, ar) -> None:
        try:
            # Retrieve the socket from the state object.
            handler = ar.async_state

            # Complete sending the data to the remote device.
            bytes_sent = handler.end_send(ar)
            self.console.write_line(f"Sent {bytes_sent} bytes to client.")

            handler.shutdown(SHUT_RDWR)
            handler.close()
            self.guard.closed(handler)  # (added: the connection no longer counts)

        except Exception as e:
            self.console.write_line(f"{type(e).__name__}: {e}")

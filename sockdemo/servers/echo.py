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
  neither prints nor closes on a 0-byte receive, so that socket stays open.
"""
from __future__ import annotations

from ..apm.socket import SHUT_RDWR
from ..apm.encoding import ascii_get_bytes, ascii_get_string
from .seed import SeedServer
from ..apm.state_object import StateObject
from ..trace import kinds

__all__ = ["EchoServer", "EOF_MARKER"]

EOF_MARKER = "<EOF>"


class EchoServer(SeedServer):
    mode = "echo"

    def accept_callback(self, ar) -> None:
        # Signal the main thread to continue.
        self.all_done.set()

        # Get the socket that handles the client request.
        listener = ar.async_state
        handler = listener.end_accept(ar)

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
        bytes_read = handler.end_receive(ar)

        if bytes_read > 0:
            # There might be more data, so store the data received so far.
            state.sb.append(ascii_get_string(state.buffer, 0, bytes_read))

            # Check for end-of-file tag. If it is not there, read more data.
            content = state.sb.to_string()
            if content.find(EOF_MARKER) > -1:
                # All the data has been read from the client. Display it on the console.
                self.console.write_line(f"Read {len(content)} bytes from socket. \n Data : {content}")
                self.runtime.tracer.emit(kinds.MESSAGE, handler.conn, len(content), text=content)
                # Echo the data back to the client.
                self.send(handler, content)
            else:
                # Not all data received. Get more.
                handler.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                                      self.read_callback, state)

    def send(self, handler, data: str) -> None:
        # Convert the string data to byte data using ASCII encoding.
        byte_data = ascii_get_bytes(data)

        # Begin sending the data to the remote device.
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

        except Exception as e:
            self.console.write_line(f"{type(e).__name__}: {e}")

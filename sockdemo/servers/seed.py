"""The page's server, quirks included: ``AsynchronousSocketListener``.

Mirrors "Using an Asynchronous Server Socket" line for line (the C# is in
``sockdemo/page/SeedServer.cs``): ``start_listening`` binds, listens and loops
``reset`` / print / ``begin_accept`` / ``wait_one`` on ``all_done``;
``accept_callback`` ends the accept, sets ``all_done``, makes a ``StateObject``
and begins a receive; ``read_callback`` appends ASCII text until the peer
closes (``end_receive`` returns 0), prints it when longer than 1 character,
and closes without shutdown and without reply.

Everything the server touches comes from its runtime, so this one class runs
on real sockets and in the simulator alike. Its quirks are the lessons:
``fixed_server`` repairs them, ``echo_server`` completes the page's example.
"""
from __future__ import annotations

from ..apm.encoding import ascii_get_string
from ..apm.socket import address_family, format_endpoint
from ..apm.state_object import BUFFER_SIZE, StateObject
from ..trace import kinds
from ..trace.text import describe_error

__all__ = ["SeedServer"]


class SeedServer:
    mode = "seed"

    def __init__(self, runtime, host: str = "127.0.0.1", port: int = 11000, backlog: int = 10,
                 *, buffer_size: int = BUFFER_SIZE):
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1 byte, not {buffer_size}")
        self.runtime = runtime
        self.buffer_size = buffer_size
        self.console = runtime.console
        self.all_done = runtime.manual_reset_event(False, "allDone")
        self.local_ep = (host, port)
        self.backlog = backlog
        self.listener = None

    def start_listening(self) -> None:
        local_ep = self.local_ep
        self.console.write_line(f"Local address and port : {format_endpoint(local_ep)}")

        listener = self.runtime.socket(address_family(local_ep[0]))
        self.listener = listener

        try:
            listener.bind(local_ep)
            listener.listen(self.backlog)
            if local_ep[1] == 0:  # as the oracle does: show the port the system chose
                self.console.write_line(f"Local address and port : {format_endpoint(listener.local_endpoint)}")
            self.accept_loop(listener)
        except Exception as e:
            self.console.write_line(describe_error(e))

        self.console.write_line("Closing the listener...")

    def accept_loop(self, listener) -> None:
        while True:
            self.all_done.reset()

            self.console.write_line("Waiting for a connection...")
            listener.begin_accept(self.accept_callback, listener)

            self.all_done.wait_one()

    def accept_callback(self, ar) -> None:
        # Get the socket that handles the client request.
        listener = ar.async_state
        handler = listener.end_accept(ar)

        # Signal the main thread to continue.
        self.all_done.set()

        # Create the state object.
        state = StateObject(buffer_size=self.buffer_size)
        state.work_socket = handler
        handler.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                              self.read_callback, state)

    def read_callback(self, ar) -> None:
        state = ar.async_state
        handler = state.work_socket

        # Read data from the client socket.
        read = handler.end_receive(ar)

        # Data was read from the client socket.
        if read > 0:
            state.sb.append(ascii_get_string(state.buffer, 0, read))
            handler.begin_receive(state.buffer, 0, state.BUFFER_SIZE, 0,
                                  self.read_callback, state)
        else:
            if len(state.sb) > 1:
                # All the data has been read from the client;
                # display it on the console.
                content = state.sb.to_string()
                self.console.write_line(f"Read {len(content)} bytes from socket.\n Data : {content}")
                self.runtime.tracer.emit(kinds.MESSAGE, handler.conn, len(content), text=content)
            handler.close()

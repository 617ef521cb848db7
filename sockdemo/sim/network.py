"""The simulator's network: sockets on a virtual wire, and the scripted clients.

Mirrors the part of TCP the page relies on without saying so. A ``SimSocket``
is the APM ``Socket`` over the virtual wire: it keeps a per-connection receive
buffer; bytes land in it one ``latency`` after the client wrote them, and a
receive completes with ``min(available, size)`` bytes (at most ``rcvbuf``, the
socket's receive buffer, when set). So two writes that arrive before the
server asks coalesce into one receive, and one write larger than the buffer
splits, as on a real network, without anyone scripting chunks.

As ``RealSocket`` does, an operation is first tried at once on the calling
thread (completed "synchronously" if the data is already there); otherwise it
waits and the ``engine`` completes it when the data arrives. The handshake:
a client's SYN reaches the listener one latency after ``connect``; the server
side socket (and its ``conn`` number) is made then and waits in the listen
backlog until an accept takes it; the client learns it is connected one more
latency later. A full backlog refuses the client (the page's "server busy").

A ``ClientRun`` plays one scripted client (``scenarios.Client``) as a
generator the kernel advances inline under the name ``client-N``; its
``client_*`` events carry the server's ``conn`` and the client's local port.
"""
from __future__ import annotations

import errno
import itertools
import socket as _os
from collections import deque
from typing import Optional

from ..apm.errors import InvalidOperationError
from ..apm.socket import SHUT_RDWR, SHUT_WR, Socket
from ..trace import kinds
from ..trace.text import preview
from .kernel import us

__all__ = ["Network", "SimSocket", "ClientRun"]

FIRST_CLIENT_PORT = 50001


class Network:
    """The wire: listeners by address, a latency, and every client."""

    def __init__(self, runtime, latency_us: int = 100, rcvbuf: Optional[int] = None):
        self.runtime = runtime
        self.kernel = runtime.kernel
        self.latency = latency_us
        self.rcvbuf = rcvbuf
        self.listeners: dict[tuple, "SimSocket"] = {}
        self.sockets: list["SimSocket"] = []
        self.clients: list["ClientRun"] = []
        self._ports = itertools.count(FIRST_CLIENT_PORT)
        self._ephemeral = itertools.count(11000)

    def later(self, name, action, owner=None, label=None) -> None:
        """Run ``action`` one latency from now, as ``name``; ``label`` says what it does."""
        self.kernel.call_later(self.latency, name, action, owner, label)

    def pending_ops(self) -> list[str]:
        out = []
        for s in self.sockets:
            for ar in (s._reader, s._writer):
                if ar is not None and not s.closed:
                    where = f"conn {s.conn}" if s.conn is not None else f"the listener {s._endpoint_text()}"
                    out.append(f"{ar.op} pending on {where}")
        return out

    # -- the handshake --------------------------------------------------------

    def syn(self, client: "ClientRun") -> None:
        """Runs on the engine: the client's SYN reaches the server's address."""
        listener = self.listeners.get(client.address)
        # A pending accept takes one more connection than the backlog holds.
        room = 0 if listener is None else listener.backlog_max + (listener._reader is not None)
        if listener is None or listener.closed or not listener.listening or len(listener.backlog) >= room:
            self.later(client.name, lambda: client.refused(), owner=client.owner_in,
                       label="is refused: the listen backlog is full")
            return
        rt = self.runtime
        sock = SimSocket(rt, conn=rt._next_conn())
        sock.client = client
        sock.remote_endpoint = (client.address[0], client.port)
        sock._local = listener._local
        client.conn = sock.conn
        client.server = sock
        listener.backlog.append(sock)
        listener._poke()
        self.later(client.name, client.connected, owner=client.owner_in,
                   label=f"learns it is connected (conn {sock.conn})")


class SimSocket(Socket):
    def __init__(self, runtime, conn: Optional[int] = None, family=_os.AF_INET):
        super().__init__(runtime, conn)
        self.net: Network = runtime.network
        self.family = family
        self._local: Optional[tuple] = None
        self.remote_endpoint: Optional[tuple] = None
        self.listening = False
        self.backlog: deque = deque()
        self.backlog_max = 0
        self._reader = None      # the pending accept or receive
        self._writer = None      # the pending send (completes at once: room is unlimited)
        self.rx = bytearray()    # bytes arrived, not yet received
        self.peer_fin = False
        self.peer_reset = False
        self.wr_shut = False
        self.client: Optional[ClientRun] = None
        self.net.sockets.append(self)

    def __repr__(self) -> str:
        return f"<SimSocket conn={self.conn}{' closed' if self.closed else ''}>"

    def _endpoint_text(self) -> str:
        return f"{self._local[0]}:{self._local[1]}" if self._local else "(unbound)"

    # -- synchronous calls -----------------------------------------------------

    def bind(self, endpoint) -> None:
        self._check_open()
        host, port = endpoint[0], endpoint[1]
        if port == 0:
            port = next(p for p in self.net._ephemeral if (host, p) not in self.net.listeners)
        if (host, port) in self.net.listeners:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        self._local = (host, port)
        self.net.listeners[self._local] = self

    def listen(self, backlog: int = 10) -> None:
        self.runtime.checkpoint(kinds.LISTEN)
        self._check_open()
        if self._local is None:
            raise OSError(errno.EINVAL, "Invalid argument: bind before listen")
        self.listening = True
        self.backlog_max = max(0, backlog)
        self.runtime.tracer.emit(kinds.LISTEN, endpoint=list(self.local_endpoint), backlog=backlog)

    @property
    def local_endpoint(self):
        return self._local

    def _shutdown(self, how: int) -> None:
        if how in (SHUT_WR, SHUT_RDWR) and not self.wr_shut:
            self.wr_shut = True
            client = self.client
            if client is not None:
                self.net.later(client.name, client.server_fin, owner=client.owner_in,
                               label="sees the server's FIN")

    def _close(self) -> None:
        net = self.net
        if self.listening and net.listeners.get(self._local) is self:
            del net.listeners[self._local]
            for waiting in list(self.backlog):
                waiting._dispose()
            self.backlog.clear()
        pending = [ar for ar in (self._reader, self._writer) if ar is not None]
        self._reader = self._writer = None
        client = self.client
        if client is not None:
            if self.rx and not self.peer_reset:
                # Closing with unread data resets the connection (RFC 2525, 2.17).
                net.later(client.name, client.server_reset, owner=client.owner_in,
                          label="sees a reset: the server closed with data unread")
            elif not self.wr_shut:
                self.wr_shut = True
                net.later(client.name, client.server_fin, owner=client.owner_in,
                          label="sees the server's FIN")
        for ar in pending:
            self.runtime._complete(ar, None, self.runtime._aborted_by_close())

    # -- asynchronous operations -----------------------------------------------

    def _start(self, ar) -> None:
        op = ar.op
        if op == "accept":
            self._check_pending(self._reader)
            if not self.listening:
                raise InvalidOperationError("You must call the Listen method before performing this operation")
            if self.backlog:
                self.runtime._complete(ar, self.backlog.popleft(), None, synchronous=True)
            else:
                self._reader = ar
        elif op == "receive":
            self._check_pending(self._reader)
            done = self._try_receive(ar)
            if done is None:
                self._reader = ar
            else:
                self.runtime._complete(ar, done[0], done[1], synchronous=True)
        elif op == "send":
            self._check_pending(self._writer)
            self.runtime._complete(ar, *self._send(ar), synchronous=True)
        else:
            raise InvalidOperationError("the simulator's sockets are server sockets: no connect")

    def _check_pending(self, pending) -> None:
        if pending is not None:
            raise InvalidOperationError(f"a {pending.op} is already pending on this socket")

    def _try_receive(self, ar):
        """(result, error) if the receive can complete now, else None."""
        if self.peer_reset:
            return None, ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        if self.rx:
            buffer, offset, size = ar._args
            n = min(len(self.rx), size, self.net.rcvbuf or size)
            buffer[offset:offset + n] = self.rx[:n]
            del self.rx[:n]
            return n, None
        if self.peer_fin:
            return 0, None
        return None

    def _send(self, ar):
        data, offset, size = ar._args
        if self.peer_reset:
            return None, ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        if self.wr_shut:
            return None, BrokenPipeError(errno.EPIPE, "Broken pipe")
        client = self.client
        if client is not None:
            piece = bytes(data[offset:offset + size])
            self.net.later(client.name, lambda: client.server_data(piece), owner=client.owner_in,
                           label=f"receives {len(piece)} bytes from the server")
        return size, None

    # -- the engine's side: what arrives from the client --------------------------

    def _poke(self) -> None:
        """Something arrived for the pending accept or receive: the engine tells the runtime."""
        ar = self._reader
        if ar is not None:
            self.runtime._ready(ar, lambda: self._attempt(ar))

    def _attempt(self, ar):
        """Try the pending ``ar`` once: ``(done, result, error)``."""
        if ar is not self._reader:
            return False, None, None   # completed already (the socket was closed)
        if ar.op == "accept":
            done = (self.backlog.popleft(), None) if self.backlog else None
        else:
            done = self._try_receive(ar)
        if done is None:
            return False, None, None
        self._reader = None
        return True, done[0], done[1]

    def arrive(self, data: bytes) -> None:
        if self.closed:
            self._refuse_data()
            return
        self.rx += data
        self._poke()

    def arrive_fin(self) -> None:
        self.peer_fin = True
        if not self.closed:
            self._poke()

    def arrive_reset(self) -> None:
        self.peer_reset = True
        self.rx.clear()
        if not self.closed:
            self._poke()

    def _refuse_data(self) -> None:
        client = self.client
        if client is not None and not self.peer_reset:
            self.peer_reset = True
            self.net.later(client.name, client.server_reset, owner=client.owner_in,
                           label="sees a reset: the server had closed")


class ClientRun:
    """One scripted client on the wire (its script is a ``scenarios.Client``)."""

    def __init__(self, net: Network, index: int, script, address: tuple):
        self.net = net
        self.kernel = net.kernel
        self.tracer = net.runtime.tracer
        self.index = index
        self.name = f"client-{index}"
        self.script = script
        self.address = tuple(address)
        self.port = next(net._ports)
        self.conn: Optional[int] = None
        self.server: Optional[SimSocket] = None
        self.reply = bytearray()
        self.state = "not connected yet"
        self.done = False
        self.holding = False
        self.error: Optional[str] = None
        self.server_closed = False
        self._waiting_close = False
        self._timeout_entry = None
        # Each direction of a connection keeps its order, even at equal times.
        self.owner_in = ("to", self.name)
        self.owner_out = ("from", self.name)
        self._gen = self._play()
        self._started = False
        net.clients.append(self)

    def __repr__(self) -> str:
        return f"<ClientRun {self.name} conn={self.conn} {self.state}>"

    def start(self) -> None:
        self.kernel.call_at(us(self.script.at), self.name, self._advance, owner=self.name,
                            label=f"connects to {self.address[0]}:{self.address[1]}")

    def _emit(self, kind, nbytes=None, **info) -> None:
        self.tracer.emit(kind, self.conn, nbytes, port=self.port, **info)

    # -- the script -------------------------------------------------------------

    def _play(self):
        s = self.script
        self.state = "connecting"
        self._emit(kinds.CLIENT_CONNECT, address=list(self.address))
        self.net.later("engine", lambda: self.net.syn(self), owner=self.owner_out,
                       label=f"{self.name}'s SYN reaches the listener")
        ok = yield None
        if not ok:
            return
        for delay, data in s.sends:
            if delay:
                self.state = "sleeping"
                yield us(delay)
            if self.server_closed:
                break
            self.state = "sending"
            self._emit(kinds.CLIENT_SEND, len(data), data=preview(data))
            self._to_server(lambda sock, d=bytes(data): sock.arrive(d), f"{len(data)} bytes arrive")
        if s.end == "reset":
            self.state = "reset"
            self._emit(kinds.CLIENT_RESET)
            self._to_server(lambda sock: sock.arrive_reset(), "a reset arrives")
            self.server_closed = True
            return
        if s.end == "idle":
            self.state = "idle: holds the connection open"
            self.holding = True
            return
        if s.end == "close":
            self._half_close()
        if not self.server_closed:
            self.state = "waiting for the server to close"
            timeout = us(s.timeout) if (s.end == "eof" and s.timeout is not None) else None
            closed = yield ("close", timeout)
            if not closed:
                self._emit(kinds.CLIENT_TIMEOUT, seconds=s.timeout)
                self._half_close()
                self.state = "waiting for the server to close"
                yield ("close", None)
        self.state = "done"

    def _half_close(self) -> None:
        self._emit(kinds.CLIENT_SHUTDOWN, how="Send")
        self._to_server(lambda sock: sock.arrive_fin(), "the FIN arrives")

    def _to_server(self, deliver, what: str) -> None:
        def arrive():
            sock = self.server
            if sock is not None:
                deliver(sock)
        self.net.later("engine", arrive, owner=self.owner_out, label=f"{what} on conn {self.conn}")

    def _advance(self, value=None) -> None:
        try:
            if self._started:
                instr = self._gen.send(value)
            else:
                self._started = True
                instr = next(self._gen)
        except StopIteration:
            self.done = True
            return
        if isinstance(instr, int):
            self.kernel.call_later(instr, self.name, self._advance, owner=self.name,
                                   label="goes on with its script after a pause")
        elif isinstance(instr, tuple) and instr[0] == "close":
            self._waiting_close = True
            if instr[1] is not None:
                self._timeout_entry = self.kernel.call_later(
                    instr[1], self.name, self._timed_out, owner=self.name,
                    label="gives up waiting for an answer and half-closes")

    def _resume_closed(self) -> None:
        if self._waiting_close:
            self._waiting_close = False
            if self._timeout_entry is not None:
                self._timeout_entry.cancelled = True
                self._timeout_entry = None
            self._advance(True)

    def _timed_out(self) -> None:
        self._timeout_entry = None
        if self._waiting_close:
            self._waiting_close = False
            self._advance(False)

    # -- what arrives from the server (run as this client) ------------------------

    def connected(self) -> None:
        self.state = "connected"
        self._emit(kinds.CLIENT_CONNECTED, peer=list(self.address))
        self._advance(True)

    def refused(self) -> None:
        self.error = "ConnectionRefusedError: the server refused the connection (listen backlog full?)"
        self._emit(kinds.CLIENT_ERROR, error=self.error)
        self.server_closed = True
        self._advance(False)

    def server_data(self, data: bytes) -> None:
        self.reply += data
        self._emit(kinds.CLIENT_RECV, len(data), data=preview(data))

    def server_fin(self) -> None:
        self.server_closed = True
        self._emit(kinds.CLIENT_EOF, 0)
        self._resume_closed()

    def server_reset(self) -> None:
        self.server_closed = True
        self.error = "ConnectionResetError: the server reset the connection"
        self._emit(kinds.CLIENT_ERROR, error=self.error)
        self._resume_closed()

    def describe_wait(self) -> str:
        if self.server is None:
            return f"{self.name} waits to be connected"
        if self.server in self.net.listeners.get(self.address, _NO_LISTENER).backlog:
            return (f"{self.name} waits for the server to close conn {self.conn} "
                    "(never accepted: it sits in the listen backlog)")
        return f"{self.name} {self.state} conn {self.conn}"


class _NoListener:
    backlog = ()


_NO_LISTENER = _NoListener()

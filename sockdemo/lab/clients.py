"""The client fleet: many plain blocking clients fired at a server at once.

Mirrors the other side of the page: the companion "Asynchronous Client Socket
Example" sends ``This is a test<EOF>`` and reads until the server closes;
``send(address, eof=True)`` does exactly that. By default a client instead
half-closes after sending (``shutdown(SHUT_WR)``), which is what the page's
server waits for: its only framing is the peer's close.

Each client is deliberately ordinary (a blocking socket with a timeout,
``TCP_NODELAY`` so every piece leaves as its own segment) because the lessons
are about the server: what the clients *do* must be obvious, and what the
server *sees* (chunks that match none of the client's ``send`` calls) is the
surprise. At most ``concurrency`` clients run at once, on worker threads named
``client-1`` ... so that their trace events sit on lanes of their own.

    results = send(server.address, n=20, chunk=4, delay=0.01,
                   tracer=server.runtime.tracer)

With a tracer, every piece written is a ``client_send`` event (``conn`` None,
``info["port"]`` the client's local port, which whoever reads the trace joins
to the server's connection: ``sockdemo.trace.join``), plus ``client_connect``, ``client_error`` and
``client_close`` or ``client_reset``. Without one, nothing is traced.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

from ..apm.socket import address_family
from ..servers import echo
from ..trace import kinds

__all__ = ["send", "ClientResult", "EOF_MARKER"]

EOF_MARKER = echo.EOF_MARKER.encode("ascii")
_RECV_SIZE = 65536

Message = Union[str, bytes, bytearray]


@dataclass(frozen=True)
class ClientResult:
    """What one client did. ``port`` is its local port (None if it never connected)."""
    index: int
    port: Optional[int]
    sent: int
    reply: bytes
    error: Optional[str]
    started: float
    finished: float

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


def send(address, n: int = 1, message: Union[Message, Sequence[Message], Callable[[int], Message]] = "This is a test",
         *, chunk: Optional[int] = None, delay: float = 0.0, concurrency: int = 8,
         eof: bool = False, reset_after: Optional[int] = None, tracer=None,
         timeout: float = 10.0,
         progress: Optional[Callable[[int, int], None]] = None) -> list[ClientResult]:
    """Run ``n`` clients against ``address`` (host, port); return their results in client order.

    Each client connects, sets TCP_NODELAY and writes its message in
    ``chunk``-byte pieces (None: in one piece) with ``delay`` seconds between
    pieces. Then, by default, it half-closes and reads until the server closes;
    with ``eof=True`` it appends ``<EOF>`` and reads the echo until the server
    closes (the companion client; a seed server never answers, so this ends in
    a timeout error); with ``reset_after=K`` it stops after K bytes and resets
    the connection (SO_LINGER 0, then close).

    ``message`` is a str (sent as UTF-8), bytes, a list with one per client, or
    a callable ``i -> str | bytes``. ``timeout`` bounds each blocking step
    (connect, each write, and the whole wait for the server's close). Client
    failures are reported in ``ClientResult.error``, never raised; bad
    arguments raise ``ValueError``. ``progress(done, total)`` is called as
    clients finish, one call at a time.
    """
    host, port = _check_address(address)
    n = _check_int("n", n, 0)
    if chunk is not None:
        chunk = _check_int("chunk", chunk, 1)
    concurrency = _check_int("concurrency", concurrency, 1)
    if reset_after is not None:
        reset_after = _check_int("reset_after", reset_after, 0)
    delay = _check_number("delay", delay, allow_zero=True)
    timeout = _check_number("timeout", timeout, allow_zero=False)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable (done, total), not {progress!r}")
    payloads = _payloads(message, n, eof)

    results: list[Optional[ClientResult]] = [None] * n
    next_index = iter(range(n))
    lock = threading.Lock()
    done = 0
    progress_error: list[BaseException] = []
    emit = tracer.emit if tracer is not None else None
    family = address_family(host)

    def work():
        nonlocal done
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                return
            results[i] = _run_client(i, family, (host, port), payloads[i], chunk, delay,
                                     eof, reset_after, timeout, emit)
            if progress is not None:
                with lock:  # one call at a time, ``done`` never goes backwards
                    done += 1
                    if not progress_error:
                        try:
                            progress(done, n)
                        except Exception as exc:  # stop calling it, report at the end
                            progress_error.append(exc)

    workers = [threading.Thread(target=work, name=f"client-{k + 1}", daemon=True)
               for k in range(min(concurrency, n))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if progress_error:
        raise progress_error[0]
    return results  # type: ignore[return-value]


def _run_client(index, family, address, data: bytes, chunk, delay, eof, reset_after,
                timeout, emit) -> ClientResult:
    started = time.monotonic()
    port = None
    sent = 0
    reply = bytearray()
    error = None
    phase = "connect"
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address)
        port = sock.getsockname()[1]
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if emit:
            emit(kinds.CLIENT_CONNECT, None, port=port, client=index, peer=list(address))

        phase = "send"
        limit = len(data) if reset_after is None else min(reset_after, len(data))
        step = chunk or max(limit, 1)
        while sent < limit:
            if sent and delay:
                time.sleep(delay)  # the pause between pieces is the point, not a race guard
            piece = data[sent:min(sent + step, limit)]
            sock.sendall(piece)
            sent += len(piece)
            if emit:
                emit(kinds.CLIENT_SEND, None, len(piece), port=port, client=index)

        if reset_after is not None:
            # linger on, zero seconds: close sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            if emit:
                emit(kinds.CLIENT_RESET, None, port=port, client=index)
            return ClientResult(index, port, sent, b"", None, started, time.monotonic())

        if not eof:
            phase = "half-close"
            sock.shutdown(socket.SHUT_WR)
        phase = "reply"
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(remaining)
            received = sock.recv(_RECV_SIZE)
            if not received:
                break
            reply += received
    except OSError as exc:
        error = _describe(exc, phase, eof, timeout)
        if emit:
            emit(kinds.CLIENT_ERROR, None, port=port, client=index, error=error)
    finally:
        if sock.fileno() != -1:
            sock.close()
            if emit and port is not None:
                emit(kinds.CLIENT_CLOSE, None, port=port, client=index)
    return ClientResult(index, port, sent, bytes(reply), error, started, time.monotonic())


def _describe(exc: OSError, phase: str, eof: bool, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        if phase == "reply" and eof:
            return (f"timed out: the server did not close the connection within {timeout:g} s "
                    f"after <EOF> (a seed server ignores <EOF>: it waits for the client to half-close)")
        if phase == "reply":
            return f"timed out: the server did not close the connection within {timeout:g} s after the half-close"
        return f"{phase} timed out after {timeout:g} s"
    return f"{phase}: {type(exc).__name__}: {exc}"


# -- argument checks -------------------------------------------------------------

def _check_address(address) -> tuple[str, int]:
    try:
        host, port = address[0], address[1]
    except (TypeError, IndexError, KeyError):
        raise ValueError(f"address must be (host, port), not {address!r}") from None
    if not isinstance(host, str) or not host:
        raise ValueError(f"address host must be a non-empty str, not {host!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"address port must be an int from 1 to 65535, not {port!r}")
    return host, port


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def _check_number(name: str, value, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, not {value}")
    return float(value)


def _encode(value, where: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise ValueError(f"{where} must be str or bytes, not {type(value).__name__}")


def _payloads(message, n: int, eof: bool) -> list[bytes]:
    """Every client's bytes, worked out before any client starts, so bad input fails fast."""
    if isinstance(message, (str, bytes, bytearray, memoryview)):
        one = _encode(message, "message")
        texts = [one] * n
    elif callable(message):
        texts = [_encode(message(i), f"message({i})") for i in range(n)]
    elif isinstance(message, (list, tuple)):
        if len(message) != n:
            raise ValueError(f"message has {len(message)} entries for {n} clients; give one per client")
        texts = [_encode(m, f"message[{i}]") for i, m in enumerate(message)]
    else:
        raise ValueError("message must be str, bytes, a list (one per client) or a callable i -> str|bytes, "
                         f"not {type(message).__name__}")
    return [t + EOF_MARKER for t in texts] if eof else texts

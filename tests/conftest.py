"""Shared fixtures for the real-socket tests.

Everything binds and connects 127.0.0.1 (or ::1) only. Every wait is bounded
by ``WAIT`` seconds and fails with a message that says what never happened;
no test sleeps to let a race settle: it waits on the traced event that proves
the thing happened (or, for state no event reports, ``wait_until`` it holds).
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from typing import Callable, Optional

import pytest

from oracle.mono import read_bound_port
from sockdemo.lab.handle import ServerHandle
from sockdemo.real.runtime import RealRuntime
from sockdemo.trace.events import Event
from sockdemo.trace.recording import Trace
from sockdemo.trace.tracer import wait_for_events

WAIT = 5.0  # seconds any single wait may take before the test fails


# -- servers -------------------------------------------------------------------

@pytest.fixture
def server():
    """A factory: ``server("seed", pool=2, ...)`` starts a ServerHandle;
    every handle started is stopped when the test ends, whatever happened."""
    started: list[ServerHandle] = []

    def factory(mode: str = "seed", **options) -> ServerHandle:
        handle = ServerHandle(mode, **options)
        started.append(handle)
        return handle.start()

    yield factory
    errors = []
    for handle in reversed(started):
        try:
            handle.stop()
        except Exception as exc:  # report, but stop the others first
            errors.append(exc)
    if errors:
        raise errors[0]


def wait_for(tracer_owner, predicate: Callable[[Event], bool], what: str,
             timeout: float = WAIT, count: int = 1) -> list[Event]:
    """``wait_for_events`` on anything with ``.runtime`` and ``.trace`` (a
    ServerHandle, a ``Lab``), failing the test with ``what`` on timeout."""
    try:
        return wait_for_events(tracer_owner.runtime.tracer, tracer_owner.trace, predicate,
                               count, timeout)
    except TimeoutError as exc:
        raise AssertionError(f"{what}: {exc}") from None


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Look at ``predicate`` every millisecond until it holds, for state no
    event reports (how many threads block on a lock); fail with ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.001)


def conn_of(handle: ServerHandle, client: "Client", timeout: float = WAIT) -> int:
    """The server's connection number for a client (from the accept's peer port)."""
    [accept] = wait_for(handle, lambda e: e.kind == "accept" and e.info.get("peer", [None, None])[1] == client.port,
                        f"accept of the client on port {client.port}", timeout)
    return accept.conn


def start_serve(*args: str, **popen) -> tuple[subprocess.Popen, int]:
    """``python -m sockdemo serve --port 0 ARGS`` in a subprocess with text
    pipes, once it has printed the port it bound: ``(process, port)``. The
    caller reads the rest of stdout (nothing past that line has been read)."""
    proc = subprocess.Popen([sys.executable, "-m", "sockdemo", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    try:
        port, _ = read_bound_port(proc.stdout, timeout=WAIT)
    except (TimeoutError, RuntimeError) as exc:
        proc.kill()
        _, err = proc.communicate(timeout=WAIT)
        raise AssertionError(f"serve never printed its port: {exc}; stderr: {err!r}") from None
    return proc, port


# -- a bare runtime ------------------------------------------------------------

class Lab:
    """A RealRuntime with a Trace subscribed, for tests below the servers."""

    def __init__(self, **options):
        self.runtime = RealRuntime(**options)
        self.trace = Trace()
        self.runtime.tracer.subscribe(self.trace)
        self.clients: list[Client] = []

    def listener(self, host: str = "127.0.0.1", backlog: int = 16):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = self.runtime.socket(family)
        listener.bind((host, 0))
        listener.listen(backlog)
        return listener

    def accept_pair(self, listener=None):
        """(listener, server-side RealSocket, plain client) for one fresh connection."""
        listener = listener or self.listener()
        client = Client(listener.local_endpoint)
        self.clients.append(client)
        ar = listener.begin_accept(None, listener)
        assert ar.async_wait_handle.wait_one(WAIT), "the accept never completed"
        return listener, listener.end_accept(ar), client


@pytest.fixture
def lab():
    """A factory for Labs; every runtime made is stopped when the test ends."""
    made: list[Lab] = []

    def factory(**options) -> Lab:
        made.append(Lab(**options))
        return made[-1]

    yield factory
    for item in made:
        item.runtime.stop()
        for client in item.clients:
            client.close()


# -- a tiny plain-socket client ------------------------------------------------

class Client:
    """A blocking client on a plain socket, every call bounded by ``timeout``."""

    def __init__(self, address, timeout: float = WAIT, nodelay: bool = True):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect(tuple(address[:2]))
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> "Client":
        self.sock.sendall(data)
        return self

    def half_close(self) -> "Client":
        self.sock.shutdown(socket.SHUT_WR)
        return self

    def recv_all(self, timeout: Optional[float] = None) -> bytes:
        """Read until the server closes; a reset counts as the end too."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        parts = []
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                parts.append(data)
        except ConnectionResetError:
            pass
        return b"".join(parts)

    def closed_by_server(self, timeout: float = WAIT) -> bool:
        """True when the server closed (EOF or reset) within ``timeout``; False on timeout."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def reset(self) -> None:
        """Close with SO_LINGER (1, 0): the peer gets a RST, not a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_message(address, data: bytes, timeout: float = WAIT) -> bytes:
    """Connect, send, half-close, read until the server closes; return the reply."""
    with Client(address, timeout) as client:
        client.send(data).half_close()
        return client.recv_all()


# -- process resources ---------------------------------------------------------

def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


# -- an installed copy of the package ------------------------------------------

@pytest.fixture(scope="session")
def installed_copy(tmp_path_factory):
    """The package installed by pip into a folder of its own (no -e, no repository
    beside it), the way a student's ``pip install sockdemo`` lays it out; skips
    when pip cannot build it here."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    base = tmp_path_factory.mktemp("installed")
    source = base / "src"
    source.mkdir()
    for name in ("sockdemo", "pyproject.toml", "README.md", "LICENSE", "LICENSE-LESSONS.md"):
        copy = shutil.copytree if (root / name).is_dir() else shutil.copy
        copy(root / name, source / name)
    target = base / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
               str(source)]
    try:
        done = subprocess.run(command, cwd=source, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.skip("pip did not install the package within 300 s")
    if done.returncode != 0:
        pytest.skip(f"pip could not install the package here: {(done.stderr or done.stdout).strip()[-400:]}")
    return target

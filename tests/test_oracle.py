"""Differential test: `sockdemo serve --mode seed` against the page's C# under Mono.

The same clients, one after another, go to each server; the two consoles must
match line for line once bound ports are masked. Skipped when Mono is absent
(`apt-get install mono-mcs mono-runtime`).

The order of console lines is made deterministic by the client script, not by
luck: a client sends only after the server has printed the `Waiting for a
connection...` that follows its accept, and the next client connects only
after the server closed the previous one (which it does after printing `Read`).
"""

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle import mono  # noqa: E402

pytestmark = pytest.mark.skipif(mono.find_mono() is None,
                                reason="mono/mcs not installed (apt-get install mono-mcs mono-runtime)")

TIMEOUT = 10.0
WAITING = "Waiting for a connection..."

# (label, pieces of bytes sent with TCP_NODELAY, pause between pieces in seconds)
LONG = bytes(0x30 + (i % 43) for i in range(3000))  # '0'..'Z', printable, no newline
CLIENTS = [
    ("hello", [b"hello"], 0),
    ("one byte (dropped: length > 1)", [b"x"], 0),
    ("nothing", [], 0),
    ("two bytes", [b"ok"], 0),
    ("utf-8 e-acute -> two '?'", [b"caf\xc3\xa9"], 0),
    ("e-acute split across sends", [b"caf\xc3", b"\xa9!"], 0.05),
    ("high bytes", [b"\x80\xff\x7f end"], 0),
    ("3000 bytes in 7 pieces", [LONG[i:i + 450] for i in range(0, 3000, 450)], 0.02),
    ("companion client text", [b"This is a test<EOF>"], 0),
    ("<EOF> means nothing to seed", [b"a<EOF>b", b"<EOF>"], 0.02),
]

EXPECTED = [
    "Local address and port : 127.0.0.1:0",
    "Local address and port : 127.0.0.1:PORT",
    WAITING,
    WAITING, "Read 5 bytes from socket.", " Data : hello",
    WAITING,
    WAITING,
    WAITING, "Read 2 bytes from socket.", " Data : ok",
    WAITING, "Read 5 bytes from socket.", " Data : caf??",
    WAITING, "Read 6 bytes from socket.", " Data : caf??!",
    WAITING, "Read 7 bytes from socket.", " Data : ??\x7f end",
    WAITING, "Read 3000 bytes from socket.", " Data : " + LONG.decode("ascii"),
    WAITING, "Read 19 bytes from socket.", " Data : This is a test<EOF>",
    WAITING, "Read 12 bytes from socket.", " Data : a<EOF>b<EOF>",
]


class ConsoleReader:
    """Collects a server's stdout lines as they arrive (decoded as UTF-8)."""

    def __init__(self, stream, startup_lines=()):
        self.lines = list(startup_lines)
        self.cond = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        for raw in stream:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self.cond.notify_all()
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def wait_for(self, what, count, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.lines.count(what) < count:
                left = deadline - time.monotonic()
                if self.done or left <= 0:
                    pytest.fail(f"server never printed {what!r} #{count} within {timeout}s "
                                f"(exited: {self.done}; is stdout flushed per line?); "
                                f"console so far: {self.lines[-8:]!r}")
                self.cond.wait(left)

    def finish(self, timeout=TIMEOUT):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "server stdout still open after the server stopped"
        return self.lines


def run_client(port, pieces, pause):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        yield  # connected: let the caller wait for the server's accept
        for k, piece in enumerate(pieces):
            if k and pause:
                time.sleep(pause)
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            try:
                got = sock.recv(4096)
            except socket.timeout:
                pytest.fail(f"server did not close the connection within {TIMEOUT}s")
            if not got:
                break
            reply += got
        assert reply == b"", f"the seed server must not reply, got {reply[:80]!r}"


def drive(port, console):
    for k, (_label, pieces, pause) in enumerate(CLIENTS):
        steps = run_client(port, pieces, pause)
        next(steps)
        # Accept k printed `Waiting` number k + 2 (one before the first accept).
        console.wait_for(WAITING, k + 2)
        for _ in steps:
            pass


def mask(lines):
    return [re.sub(r"(127\.0\.0\.1):(?!0$)\d+", r"\1:PORT", line) for line in lines]


def run_csharp():
    proc, port = mono.start(0, stderr=subprocess.PIPE)
    console = ConsoleReader(proc.stdout, proc.startup_lines)
    try:
        drive(port, console)
    finally:
        mono.stop(proc)
    lines = console.finish()
    err = proc.stderr.read().decode(errors="replace")
    assert "Exception" not in err, err
    return mask(lines)


def run_ours():
    argv = [sys.executable, "-m", "sockdemo", "serve", "--port", "0", "--mode", "seed"]
    if not (ROOT / "sockdemo" / "__main__.py").exists():
        pytest.fail("sockdemo/__main__.py (the `serve` CLI) does not exist yet")
    proc = subprocess.Popen(argv, cwd=str(ROOT), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        try:
            port, startup = mono.read_bound_port(proc.stdout, timeout=TIMEOUT)
        except (TimeoutError, RuntimeError) as exc:
            proc.kill()
            pytest.fail(f"`{' '.join(argv[1:])}` did not print its bound port: {exc}; "
                        f"stderr: {proc.communicate()[1].decode(errors='replace')[-2000:]}")
        console = ConsoleReader(proc.stdout, startup)
        drive(port, console)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"our server did not stop within {TIMEOUT}s of SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = console.finish()
    err = proc.stderr.read().decode(errors="replace")
    assert rc == 0, f"exit status {rc} after SIGTERM; stderr:\n{err[-2000:]}"
    return mask(lines)


def show(lines):
    return "\n".join(repr(line[:120]) for line in lines)


def test_csharp_oracle_prints_the_expected_console():
    # Pins down the oracle itself, so a failure below is about sockdemo.
    got = run_csharp()
    assert got == EXPECTED, "C# console:\n" + show(got)


def test_seed_mode_console_matches_csharp():
    theirs = run_csharp()
    ours = run_ours()
    # The sample's loop never ends normally; our clean SIGTERM exit may print
    # the line that follows it in the page's code, and nothing else.
    if ours[-1:] == ["Closing the listener..."]:
        ours = ours[:-1]
    assert ours == theirs, ("line-by-line difference (ours vs C#):\n"
                            + "\n".join(f"{i}: {o[:100]!r} != {t[:100]!r}"
                                        for i, (o, t) in enumerate(zip(ours, theirs)) if o != t)
                            + f"\nlengths: ours {len(ours)}, C# {len(theirs)}"
                            + "\nours:\n" + show(ours[-10:]))

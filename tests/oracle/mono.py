"""The oracle: the page's C# server (SeedServer.cs) compiled with mcs, run by Mono.

Used by tests/test_oracle.py (differential test against `--mode seed`) and by
benchmarks/bench_servers.py (the `csharp` row). Debian: `apt-get install
mono-mcs mono-runtime`. Everything here returns None or skips politely when
Mono is absent, so nothing else has to guard against it.

Observed with Mono 6.8 (Debian 12):
- console lines are flushed one by one even into a pipe (Console.Out autoflush),
  so the bound port can be read while the server runs;
- `mono SeedServer.exe 0` prints `Local address and port : 127.0.0.1:0`, then
  the bound `127.0.0.1:PORT`, then `Waiting for a connection...`;
- a peer reset (RST) makes EndReceive throw in ReadCallback: unhandled
  exception on a pool thread, the process dies with exit status 255;
- with SOCKDEMO_THREADS=1, stderr gets `AcceptCallback thread=N pool=True`
  and `ReadCallback thread=N pool=True` per callback.
"""

import os
import selectors
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "sockdemo" / "page" / "SeedServer.cs"
PORT_PREFIX = "Local address and port : "

_cached_exe = None


def find_mono():
    """(mono, mcs) executable paths, or None when either is missing."""
    mono, mcs = shutil.which("mono"), shutil.which("mcs")
    if not mono or not mcs:
        return None
    return mono, mcs


def build_seed_server(tmpdir):
    """Compile SeedServer.cs into tmpdir; return the .exe path (never in the repo)."""
    tools = find_mono()
    if tools is None:
        raise RuntimeError("mono and mcs are required (apt-get install mono-mcs mono-runtime)")
    exe = Path(tmpdir) / "SeedServer.exe"
    proc = subprocess.run([tools[1], f"-out:{exe}", str(SOURCE)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not exe.exists():
        raise RuntimeError(f"mcs failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return exe


def seed_server_exe():
    """The compiled oracle, built once per process into a private temp dir."""
    global _cached_exe
    if _cached_exe is None or not _cached_exe.exists():
        _cached_exe = build_seed_server(tempfile.mkdtemp(prefix="sockdemo-oracle-"))
    return _cached_exe


def read_bound_port(stdout, timeout=20.0):
    """Read the two `Local address and port` lines from a server's stdout pipe.

    Returns (port, lines_read). The first line shows the requested endpoint
    (`:0`), the second the bound one; a server started on a fixed port prints
    only one, so this is for port 0. Raises TimeoutError on silence.
    """
    lines = []
    buf = b""
    fd = stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                lines.append(text)
                if text.startswith(PORT_PREFIX) and not text.endswith(":0"):
                    if buf:
                        raise RuntimeError("read past the port line; use a line-based reader")
                    return int(text.rsplit(":", 1)[1]), lines
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                raise TimeoutError(f"no bound-port line within {timeout}s; got {lines!r}")
            chunk = os.read(fd, 1)  # byte at a time: leave everything after the line in the pipe
            if not chunk:
                raise RuntimeError(f"server exited before printing its port; got {lines!r}")
            buf += chunk
    finally:
        sel.close()


def start(port=0, env=None, threads=False, stderr=subprocess.PIPE):
    """Start the C# seed server under Mono on 127.0.0.1.

    Returns (process, bound_port). stdout is a pipe the caller must drain;
    the two `Local address and port` lines have already been consumed (they
    are kept on `process.startup_lines`). threads=True sets SOCKDEMO_THREADS=1.
    """
    tools = find_mono()
    if tools is None:
        raise RuntimeError("mono is not installed")
    exe = seed_server_exe()
    run_env = dict(os.environ if env is None else env)
    if threads:
        run_env["SOCKDEMO_THREADS"] = "1"
    proc = subprocess.Popen([tools[0], str(exe), str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=stderr, env=run_env)
    try:
        if port == 0:
            bound, lines = read_bound_port(proc.stdout)
        else:
            bound, lines = port, []
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.startup_lines = lines
    return proc, bound


def stop(proc, timeout=10.0):
    """Mono's sample has no shutdown path: kill it and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=timeout)

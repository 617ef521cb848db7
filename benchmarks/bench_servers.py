"""Throughput of the seed server against its peers, on real loopback sockets.

    python benchmarks/bench_servers.py [--quick] [--json FILE] [--servers seed,csharp,...]

Servers, each in its own subprocess on 127.0.0.1 port 0, stdout drained from
a pipe by this process:

- seed:      python -m sockdemo serve --port 0 --mode seed --trace FILE --backlog 128
- untraced:  the same without --trace (what tracing costs; not in the default set)
- baseline:  the seed server of another checkout, with --baseline DIR (e.g. made by
             `git worktree add /tmp/before HEAD~1`): a change measured side by side
- csharp:    the page's C# (sockdemo/page/SeedServer.cs) under Mono, if installed
- asyncio:   benchmarks/peers.py asyncio   (asyncio.Protocol, same framing and console)
- threading: benchmarks/peers.py threading (socketserver.ThreadingTCPServer)
- fixed:     python -m sockdemo serve --port 0 --mode fixed --buffer-size 65536
             --max-message 1073741824 --backlog 128 (untraced; load C only)
- raw:       benchmarks/peers.py raw (one selectors loop, 64 KiB recv; load C only)

Loads, 8 clients in flight at a time (A, B), or one (C):

- A: 2,000 clients x 64 bytes (connect, send, shutdown(SHUT_WR), read to EOF) -> connections/s
- B: 300 clients x 64 KiB sent in 1 KiB pieces with TCP_NODELAY -> MB/s (10^6 bytes)
- C: 1 client x 100 MB sent in 64 KiB pieces -> MB/s: bulk transfer, fixed against
  the raw loop, the ceiling of a Python server (goal: fixed at least 0.6x raw)

The driver runs in separate processes (blocking sockets, a few threads each),
started and made ready before the clock starts. Every message carries its
client number, and a run only counts if the server printed exactly one
`Read {n} bytes` line with the right length for every client. Servers are run
interleaved (one rotation per repetition), each on a fresh process with a
warm-up, and the median of the repetitions is reported, with the CPU time of
the server and of the driver (2 cores: the driver's CPU competes with the
server's, so it is shown to prove it is not the bottleneck).

Then two memory figures (`--no-memory` skips them):

- bytes a trace holds per event: a seed server traced in memory (a `Trace`,
  as a notebook's handle keeps it) in this process, load A driven at it;
  tracemalloc counts what the trace's store holds once the run is over;
- 10,000 idle connections (1,000 with --quick) opened to `serve --mode seed
  --pool 4 --trace FILE` and held: the server's VmRSS, against 100 MB.
"""

import argparse
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from oracle import mono  # noqa: E402

HOST = "127.0.0.1"
SERVERS = ("seed", "csharp", "asyncio", "threading", "fixed", "raw")
OPTIONAL = ("untraced", "baseline")
# Where each of our own servers is run from (`python -m sockdemo` in that directory).
SOCKDEMO_ROOTS = {"seed": ROOT, "untraced": ROOT, "fixed": ROOT}
# Load C's servers, which run no other load (the others run every load but C).
BULK_LOAD, BULK_SERVERS = "C", ("fixed", "raw")
BULK_BUFFER = 64 * 1024
# The fixed server's max_message (1 MiB by default) raised past load C's message.
BULK_MAX_MESSAGE = 1 << 30
READ_RE = re.compile(r"^Read (\d+) bytes from socket\. ?$")
IDLE_RSS_LIMIT = 100 * 2**20   # what 10,000 idle connections may cost the server, in bytes
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- loads -------------------------------------------------------------------

class Load:
    """`clients` clients, each sending `size` bytes in `piece`-byte sends."""

    def __init__(self, name, clients, size, piece, concurrency=8, nodelay=False):
        self.name, self.clients, self.size, self.piece = name, clients, size, piece
        self.concurrency, self.nodelay = concurrency, nodelay

    def scaled(self, clients):
        return Load(self.name, clients, self.size, self.piece, self.concurrency, self.nodelay)

    def warmup(self):
        """The warm-up run before this load: a twentieth of the clients (8 at
        least), or for one big message, one a tenth of its size."""
        if self.clients == 1:
            return Load(self.name, 1, max(self.size // 10, 1), self.piece, self.concurrency, self.nodelay)
        return self.scaled(max(8, self.clients // 20))

    def as_dict(self):
        return dict(name=self.name, clients=self.clients, size=self.size, piece=self.piece,
                    concurrency=self.concurrency, nodelay=self.nodelay)


def full_loads():
    return [Load("A", 2000, 64, 64), Load("B", 300, 64 * 1024, 1024, nodelay=True),
            Load(BULK_LOAD, 1, 100_000_000, BULK_BUFFER, concurrency=1)]


def quick_loads():
    return [Load("A", 200, 64, 64), Load("B", 20, 64 * 1024, 1024, nodelay=True),
            Load(BULK_LOAD, 1, 10_000_000, BULK_BUFFER, concurrency=1)]


def loads_for(name, loads):
    """The loads server `name` runs: load C is fixed's and raw's only."""
    return [load for load in loads if (load.name == BULK_LOAD) == (name in BULK_SERVERS)]


ALPHABET = bytes(range(0x61, 0x61 + 26))


def payload(index, size, tag=0):
    """Printable ASCII, starting with an 8-digit id: tag*10^7 + index."""
    head = b"%08d" % (tag * 10_000_000 + index)
    body = ALPHABET * (max(size - len(head), 0) // 26 + 1)
    return (head + body)[:size]


# -- driver (runs in its own processes) --------------------------------------

def one_client(port, data, piece, nodelay, timeout):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((HOST, port))
        if piece >= len(data):
            sock.sendall(data)
        else:
            view = memoryview(data)
            for off in range(0, len(data), piece):
                sock.sendall(view[off:off + piece])
        sock.shutdown(socket.SHUT_WR)
        extra = 0
        while True:
            got = sock.recv(4096)
            if not got:
                return extra
            extra += len(got)
    finally:
        sock.close()


def drive(port, indices, size, piece, nodelay, threads, tag=0, timeout=30.0):
    """Run the clients numbered `indices`, `threads` at a time; returns stats."""
    blobs = {}
    todo = iter(indices)
    lock = threading.Lock()
    errors, replies = [], [0]

    for i in indices:  # build payloads before the clock starts
        blobs[i] = payload(i, size, tag)

    def worker():
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                extra = one_client(port, blobs[i], piece, nodelay, timeout)
                if extra:
                    with lock:
                        replies[0] += extra
            except OSError as exc:
                with lock:
                    errors.append(f"client {i}: {exc!r}")

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    t1, cpu1 = time.perf_counter(), time.process_time()
    return dict(start=t0, end=t1, cpu=cpu1 - cpu0, clients=len(indices),
                errors=errors, reply_bytes=replies[0])


def drive_select(port, indices, size, piece, nodelay, concurrency, tag=0, timeout=30.0):
    """The same clients as `drive`, as one thread multiplexing non-blocking sockets.

    Leaner than threads (no GIL hand-offs, no thread wake-ups): on a 2-core
    machine every cycle the driver saves is left to the server.
    """
    import selectors

    blobs = [(i, memoryview(payload(i, size, tag))) for i in indices]
    todo = iter(blobs)
    sel = selectors.DefaultSelector()
    errors, replies = [], 0
    live = 0
    W, R = selectors.EVENT_WRITE, selectors.EVENT_READ

    def launch():
        nonlocal live
        item = next(todo, None)
        if item is None:
            return
        i, data = item
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A blocking connect on loopback returns once the kernel has done the
        # handshake (no accept needed), and saves a select round per client.
        sock.settimeout(timeout)
        try:
            sock.connect((HOST, port))
        except OSError as exc:
            errors.append(f"client {i}: connect {exc!r}")
            sock.close()
            return launch()
        sock.setblocking(False)
        # state: [index, data, offset, connected]; send at once, no need to wait
        state = [i, data, 0, True]
        key = sel.register(sock, W, state)
        live += 1
        pump(key)

    def finish(key, error=None):
        nonlocal live
        if error:
            errors.append(f"client {key.data[0]}: {error}")
        sel.unregister(key.fileobj)
        key.fileobj.close()
        live -= 1
        launch()

    def pump(key, mask=W):
        nonlocal replies
        state, sock = key.data, key.fileobj
        try:
            if mask & W:
                data, off = state[1], state[2]
                while off < len(data):
                    try:
                        off += sock.send(data[off:off + piece])
                    except BlockingIOError:
                        break
                state[2] = off
                if off == len(data):
                    sock.shutdown(socket.SHUT_WR)
                    sel.modify(sock, R, state)
            else:
                got = sock.recv(4096)
                if got:
                    replies += len(got)
                else:
                    finish(key)
        except OSError as exc:
            finish(key, repr(exc))

    cpu0, t0 = time.process_time(), time.perf_counter()
    for _ in range(concurrency):
        launch()
    deadline = time.monotonic() + timeout + len(blobs) * 0.05
    while live:
        events = sel.select(1.0)
        if not events and time.monotonic() > deadline:
            for key in list(sel.get_map().values()):
                finish(key, "timeout")
            break
        for key, mask in events:
            pump(key, mask)
    t1, cpu1 = time.perf_counter(), time.process_time()
    sel.close()
    return dict(start=t0, end=t1, cpu=cpu1 - cpu0, clients=len(blobs),
                errors=errors, reply_bytes=replies)


DRIVERS = {"threads": drive, "select": drive_select}


def driver_main():
    """Entry of a driver process: spec on argv, `go` on stdin, JSON result on stdout."""
    spec = json.loads(sys.argv[2])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "go":
        return 1
    indices = range(spec["first"], spec["clients"], spec["stride"])
    result = DRIVERS[spec["driver"]](spec["port"], indices, spec["size"], spec["piece"], spec["nodelay"],
                   spec["threads"], spec["tag"])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def run_load(port, load, procs=1, tag=0, timeout=120.0, driver="select"):
    """Drive `load` at `port` from `procs` processes; returns the merged stats.

    Concurrency is split across processes (8 = 2 x 4 by default). perf_counter
    is CLOCK_MONOTONIC on Linux, so start/end compare across processes.
    """
    procs = max(1, min(procs, load.concurrency, load.clients))
    per = [load.concurrency // procs + (1 if k < load.concurrency % procs else 0)
           for k in range(procs)]
    children = []
    try:
        for k in range(procs):
            spec = dict(port=port, first=k, clients=load.clients, stride=procs,
                        size=load.size, piece=load.piece, nodelay=load.nodelay,
                        threads=per[k], tag=tag, driver=driver)
            children.append(subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--_driver", json.dumps(spec)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("driver process failed to start")
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=timeout)
            if child.returncode != 0 or not out.strip():
                raise RuntimeError(f"driver process failed (status {child.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    start = min(r["start"] for r in results)
    end = max(r["end"] for r in results)
    return dict(wall=end - start, start=start, end=end,
                driver_cpu=sum(r["cpu"] for r in results),
                clients=sum(r["clients"] for r in results),
                errors=[e for r in results for e in r["errors"]],
                reply_bytes=sum(r["reply_bytes"] for r in results))


# -- servers -------------------------------------------------------------------

class Console:
    """Drains a server's stdout pipe, keeping `Read n` records and other lines."""

    def __init__(self, stream):
        self.stream = stream
        self.cond = threading.Condition()
        self.reads = []        # (n, content) per `Read` line
        self.waiting = 0       # `Waiting for a connection...` lines
        self.other = []        # anything else (exceptions, ...)
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        pending = None
        for raw in self.stream:
            line = raw.decode("ascii", "replace").rstrip("\n")
            with self.cond:
                if pending is not None:
                    content = line[len(" Data : "):] if line.startswith(" Data : ") else None
                    self.reads.append((pending, content))
                    pending = None
                    self.cond.notify_all()
                    continue
                m = READ_RE.match(line)
                if m:
                    pending = int(m.group(1))
                elif line == "Waiting for a connection...":
                    self.waiting += 1
                    self.cond.notify_all()
                else:
                    self.other.append(line[:300])
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_reads(self, count, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.reads) < count and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return len(self.reads)


def cpu_seconds(pid):
    """CPU time of `pid` and of its live child processes (a traced seed server's
    trace writer works in one), so a server's cost counts wherever it runs."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / CLK_TCK
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                total += sum(cpu_seconds(int(child)) for child in f.read().split())
        return total
    except (OSError, IndexError, ValueError):
        return float("nan")


def machine_busy():
    """(busy, total) CPU ticks of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan"), float("nan")
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


class Server:
    def __init__(self, name, workdir, extra=(), preexec_fn=None):
        """`extra`: more arguments for our own servers' command line."""
        self.name = name
        self.workdir = workdir
        self.extra, self.preexec_fn = list(extra), preexec_fn
        self.proc = None
        self.port = None
        self.console = None

    def start(self):
        if self.name == "csharp":
            self.proc, self.port = mono.start(0, stderr=subprocess.DEVNULL)
        else:
            cwd = SOCKDEMO_ROOTS.get(self.name, ROOT)
            if self.name == "fixed":
                argv = [sys.executable, "-m", "sockdemo", "serve", "--port", "0", "--mode", "fixed",
                        "--buffer-size", str(BULK_BUFFER), "--max-message", str(BULK_MAX_MESSAGE),
                        "--backlog", "128"]
            elif self.name in SOCKDEMO_ROOTS:
                argv = [sys.executable, "-m", "sockdemo", "serve", "--port", "0",
                        "--mode", "seed", "--backlog", "128"]
                if self.name != "untraced":
                    trace = Path(self.workdir) / f"{self.name}-trace-{time.monotonic_ns()}.json"
                    argv += ["--trace", str(trace)]
                argv += self.extra
            else:
                argv = [sys.executable, str(HERE / "peers.py"), self.name,
                        "--port", "0", "--backlog", "128"]
            self.proc = subprocess.Popen(argv, cwd=str(cwd), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         preexec_fn=self.preexec_fn)
            try:
                self.port, _ = mono.read_bound_port(self.proc.stdout, timeout=30)
            except BaseException:
                self.proc.kill()
                err = self.proc.communicate()[1].decode(errors="replace")
                raise RuntimeError(f"{self.name} did not start: {err[-2000:]}") from None
            # Keep stderr drained too, so a chatty server never blocks on it.
            threading.Thread(target=self.proc.stderr.read, daemon=True).start()
        self.console = Console(self.proc.stdout)
        return self

    def stop(self, timeout=60.0):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            if self.name == "csharp":
                self.proc.kill()
            else:
                self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.console.thread.join(timeout=10)
        return rc


def verify(console, first, load, tag, timeout=60.0):
    """Exactly one correct `Read` line per client of this load, after index `first`."""
    expected = first + load.clients
    have = console.wait_reads(expected, timeout)
    problems = []
    if have < expected:
        problems.append(f"{expected - first - max(have - first, 0)} of {load.clients} messages missing")
    seen = set()
    for n, content in console.reads[first:expected]:
        if content is None or n != load.size or len(content) != n:
            problems.append(f"bad record: n={n} len={None if content is None else len(content)}")
            continue
        ident = int(content[:8])
        if ident // 10_000_000 != tag or ident in seen:
            problems.append(f"unexpected or duplicate id {ident}")
        seen.add(ident)
    if len(seen) != load.clients and not problems:
        problems.append(f"{load.clients - len(seen)} client ids missing")
    return problems[:10]


def bench_server(name, loads, workdir, procs=1, driver="select", warmup=True):
    """One fresh server process: warm-up, then each load; returns per-load results."""
    server = Server(name, workdir).start()
    out = {}
    try:
        index = 0
        if warmup:
            # JIT, thread-pool growth, allocator: paid before the clock starts.
            for load in loads:
                warm = load.warmup()
                stats = run_load(server.port, warm, procs, tag=9, driver=driver)
                index += warm.clients
                problems = verify(server.console, index - warm.clients, warm, 9)
                if problems or stats["errors"]:
                    raise RuntimeError(f"{name} warm-up failed: {problems or stats['errors'][:3]}")
        for k, load in enumerate(loads):
            cpu0, own0 = cpu_seconds(server.proc.pid), time.process_time()
            busy0, _ = machine_busy()
            window0 = time.perf_counter()
            stats = run_load(server.port, load, procs, tag=k + 1, driver=driver)
            problems = verify(server.console, index, load, k + 1)
            # Both include the wait for the last lines; `own` is this process
            # draining the server's console (it competes for the CPU too).
            cpu1, own1 = cpu_seconds(server.proc.pid), time.process_time()
            busy1, _ = machine_busy()
            window = time.perf_counter() - window0
            # CPU used by anything else on the machine (other users' jobs):
            # a high value means this run measured a contended machine.
            foreign = (busy1 - busy0) / CLK_TCK - (cpu1 - cpu0) - stats["driver_cpu"] - (own1 - own0)
            index += load.clients
            wall = stats["wall"]
            res = dict(wall=wall, clients=load.clients,
                       conn_per_s=load.clients / wall,
                       mb_per_s=load.clients * load.size / wall / 1e6,
                       server_cpu=cpu1 - cpu0, driver_cpu=stats["driver_cpu"],
                       drain_cpu=own1 - own0, drain_util=(own1 - own0) / wall,
                       foreign_util=max(foreign, 0.0) / window,
                       server_util=(cpu1 - cpu0) / wall, driver_util=stats["driver_cpu"] / wall,
                       errors=stats["errors"][:10], reply_bytes=stats["reply_bytes"],
                       problems=problems,
                       ok=not problems and not stats["errors"] and not stats["reply_bytes"])
            out[load.name] = res
    finally:
        rc = server.stop()
        for res in out.values():
            res["exit_status"] = rc
        if server.console.other:
            for res in out.values():
                res["console_other"] = server.console.other[:5]
    return out


# -- memory ----------------------------------------------------------------------

def trace_bytes_per_event(load):
    """Bytes an in-memory `Trace` holds per event after a seed server's run of `load`.

    The server runs in this process (a handle, as a notebook starts it), with
    tracemalloc on; once it has stopped, everything it recorded has been
    handed to its trace, and what the trace module allocated and still holds
    is the trace's store. Counted before anything reads the trace (reading
    makes an `Event` of each record, which is the reader's memory)."""
    import tracemalloc

    from sockdemo.lab.handle import start_server
    tracemalloc.start()
    try:
        handle = start_server("seed", port=0, backlog=128, console_history=0)
        try:
            stats = run_load(handle.port, load, tag=1)
        finally:
            handle.stop()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size for stat in snapshot.filter_traces(
        [tracemalloc.Filter(True, str(ROOT / "sockdemo" / "trace" / "*"))]).statistics("filename"))
    events = len(handle.trace)
    return dict(events=events, bytes=held, per_event=held / max(events, 1), errors=stats["errors"][:3])


def _more_files():
    """In a server's child process: as many open files as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def vm_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


def idle_connections_rss(workdir, count, timeout=120.0):
    """Open `count` connections to a traced `serve --mode seed --pool 4` and hold
    them, sending nothing; once the server has accepted them all, its VmRSS."""
    _more_files()   # this process holds the client ends
    server = Server("seed", workdir, extra=["--pool", "4", "--backlog", "4096"],
                    preexec_fn=_more_files).start()
    clients = []
    try:
        base = vm_rss(server.proc.pid)
        deadline = time.monotonic() + timeout
        for _ in range(count):
            sock = socket.create_connection((HOST, server.port), timeout=max(deadline - time.monotonic(), 1))
            clients.append(sock)
        # Each accept prints a `Waiting` line, one more than the connections accepted.
        with server.console.cond:
            while server.console.waiting <= count and not server.console.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                server.console.cond.wait(left)
            accepted = server.console.waiting - 1
        rss = vm_rss(server.proc.pid)
    finally:
        for sock in clients:
            sock.close()
        server.stop()
    return dict(connections=count, accepted=accepted, rss=rss, rss_at_start=base,
                per_connection=(rss - base) / max(accepted, 1), ok=accepted == count and rss < IDLE_RSS_LIMIT)


def memory_report(quick, workdir):
    load = full_loads()[0] if not quick else quick_loads()[0]
    trace = trace_bytes_per_event(load)
    idle = idle_connections_rss(workdir, 1000 if quick else 10_000)
    lines = [f"trace in memory: {trace['bytes']:,} bytes for {trace['events']:,} events of load "
             f"{load.name} = {trace['per_event']:.0f} bytes/event (goal <= 150)",
             f"idle connections: {idle['accepted']:,} of {idle['connections']:,} held by serve --pool 4 "
             f"--trace: VmRSS {idle['rss'] / 2**20:.1f} MB ({idle['rss_at_start'] / 2**20:.1f} MB at start, "
             f"{idle['per_connection'] / 1024:.1f} KiB a connection; limit {IDLE_RSS_LIMIT / 2**20:.0f} MB): "
             + ("ok" if idle["ok"] else "NOT OK")]
    return dict(trace=trace, idle=idle), "\n".join(lines)


# -- main ----------------------------------------------------------------------

def available(name):
    if name == "csharp":
        return mono.find_mono() is not None
    if name in SOCKDEMO_ROOTS:
        return (SOCKDEMO_ROOTS[name] / "sockdemo" / "__main__.py").exists()
    return name != "baseline"  # it needs --baseline DIR


def summarize(runs, loads):
    summary = {}
    for name, per_load in runs.items():
        summary[name] = {}
        for load in loads:
            results = [r[load.name] for r in per_load if load.name in r]
            if not results and load.name not in {lo.name for lo in loads_for(name, loads)}:
                continue   # a load this server does not run
            ok = [r for r in results if r["ok"]]
            if not ok:
                summary[name][load.name] = dict(ok=False, runs=len(results))
                continue
            summary[name][load.name] = dict(
                ok=len(ok) == len(results), runs=len(results),
                conn_per_s=statistics.median(r["conn_per_s"] for r in ok),
                mb_per_s=statistics.median(r["mb_per_s"] for r in ok),
                wall=statistics.median(r["wall"] for r in ok),
                server_util=statistics.median(r["server_util"] for r in ok),
                driver_util=statistics.median(r["driver_util"] for r in ok),
                conn_per_s_all=[round(r["conn_per_s"], 1) for r in results],
                mb_per_s_all=[round(r["mb_per_s"], 2) for r in results])
    return summary


def format_table(summary, names):
    lines = [f"{'server':<10} {'A conn/s':>9} {'srvCPU':>7} {'drvCPU':>7}   "
             f"{'B MB/s':>8} {'srvCPU':>7} {'drvCPU':>7}   runs A (conn/s) / B (MB/s)"]

    def cell(s, key, fmt):
        return format(s[key], fmt) if s and s.get(key) is not None else "FAILED"

    for name in names:
        a, b = summary.get(name, {}).get("A"), summary.get(name, {}).get("B")
        util = lambda s, k: f"{s[k]:.0%}" if s and k in s else "-"  # noqa: E731
        lines.append(
            f"{name:<10} {cell(a, 'conn_per_s', '9.0f'):>9} {util(a, 'server_util'):>7} "
            f"{util(a, 'driver_util'):>7}   {cell(b, 'mb_per_s', '8.2f'):>8} "
            f"{util(b, 'server_util'):>7} {util(b, 'driver_util'):>7}   "
            f"{(a or {}).get('conn_per_s_all', '-')} / {(b or {}).get('mb_per_s_all', '-')}")
    if "seed" in summary:
        lines.append("")
        for other in names:
            if other == "seed" or other not in summary:
                continue
            parts = []
            for load, key, unit in (("A", "conn_per_s", "conn/s"), ("B", "mb_per_s", "MB/s")):
                s, o = summary["seed"].get(load, {}), summary[other].get(load, {})
                if s.get(key) and o.get(key):
                    parts.append(f"{load} ({unit}) {s[key] / o[key]:.2f}")
            lines.append(f"seed/{other:<10} " + ("   ".join(parts) or "n/a"))
    lines.append("")
    lines.append("srvCPU/drvCPU: CPU seconds per wall second (1 core = 100%; 2 cores here "
                 f"= {os.cpu_count()}); srvCPU counts the server's child processes too.")
    return "\n".join(lines)


def format_bulk(summary, names, load):
    """Load C's lines: each server's MB/s, then fixed's ratio to the raw loop."""
    lines = [f"load {load.name}: one {load.size / 1e6:g} MB message in {load.piece // 1024} KiB pieces, "
             f"{BULK_BUFFER // 1024} KiB receives"]
    rates = {}
    for name in names:
        s = summary.get(name, {}).get(load.name)
        if s and s.get("mb_per_s") is not None:
            rates[name] = s["mb_per_s"]
            lines.append(f"{name:<10} {s['mb_per_s']:8.1f} MB/s  server {s['server_util']:.0%}  "
                         f"driver {s['driver_util']:.0%}   runs (MB/s) {s['mb_per_s_all']}")
        else:
            lines.append(f"{name:<10}   FAILED")
    if "fixed" in rates and "raw" in rates:
        ratio = rates["fixed"] / rates["raw"]
        lines.append(f"fixed/raw  {ratio:.2f} (goal: at least 0.6)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small load, one repetition")
    parser.add_argument("--json", metavar="FILE", help="save all results as JSON")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated subset of " + ",".join(SERVERS + OPTIONAL))
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 3, quick 1)")
    parser.add_argument("--driver", choices=sorted(DRIVERS), default="select",
                        help="select: one thread multiplexing non-blocking sockets (default); "
                             "threads: blocking sockets, one thread per client in flight")
    parser.add_argument("--driver-procs", type=int, default=1,
                        help="driver processes sharing the 8 concurrent clients (default 1)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run the seed server of the checkout in DIR, as 'baseline'")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the memory figures (bytes per trace event, 10,000 idle connections)")
    args = parser.parse_args(argv)
    if args.baseline:
        SOCKDEMO_ROOTS["baseline"] = Path(args.baseline).resolve()
        if "baseline" not in args.servers.split(","):
            args.servers += ",baseline"

    loads = quick_loads() if args.quick else full_loads()
    repeat = args.repeat or (1 if args.quick else 3)
    wanted = [n.strip() for n in args.servers.split(",") if n.strip()]
    names, skipped = [], {}
    for name in wanted:
        if name not in SERVERS + OPTIONAL:
            parser.error(f"unknown server {name!r}")
        if available(name):
            names.append(name)
        else:
            skipped[name] = ("mono/mcs not installed" if name == "csharp"
                             else "no --baseline DIR" if name not in SOCKDEMO_ROOTS
                             else f"{SOCKDEMO_ROOTS[name]}/sockdemo/__main__.py not found")
    for name, why in skipped.items():
        print(f"skipping {name}: {why}", file=sys.stderr)
    if "csharp" in names:
        mono.seed_server_exe()  # compile once, outside any measurement

    runs = {name: [] for name in names}
    failures = {}
    with tempfile.TemporaryDirectory(prefix="sockdemo-bench-") as workdir:
        for rep in range(repeat):
            # Rotate the order each repetition so drift (thermal, noisy
            # neighbours) spreads over all servers.
            order = names[rep % len(names):] + names[:rep % len(names)] if names else []
            for name in order:
                print(f"[{rep + 1}/{repeat}] {name} ...", file=sys.stderr, flush=True)
                try:
                    result = bench_server(name, loads_for(name, loads), workdir,
                                          procs=args.driver_procs, driver=args.driver)
                except Exception as exc:  # one broken server must not hide the others
                    failures.setdefault(name, []).append(repr(exc))
                    print(f"    {name} failed: {exc!r}", file=sys.stderr)
                    continue
                runs[name].append(result)
                for lname, r in result.items():
                    flag = "" if r["ok"] else f"  NOT OK {r['problems'] or r['errors'][:2]}"
                    print(f"    {lname}: {r['conn_per_s']:.0f} conn/s {r['mb_per_s']:.2f} MB/s "
                          f"server {r['server_util']:.0%} driver {r['driver_util']:.0%} "
                          f"drain {r['drain_util']:.0%} others {r['foreign_util']:.0%}{flag}",
                          file=sys.stderr, flush=True)

        memory, memory_text = (None, "") if args.no_memory else memory_report(args.quick, workdir)

    summary = summarize(runs, loads)
    bulk = [name for name in names if name in BULK_SERVERS]
    if len(bulk) < len(names):
        print(format_table(summary, [name for name in names if name not in bulk]))
    if bulk:
        print(format_bulk(summary, bulk, next(lo for lo in loads if lo.name == BULK_LOAD)))
    if memory_text:
        print("\n" + memory_text)
    if failures:
        print("\nfailures: " + json.dumps(failures, indent=1))
    if args.json:
        doc = dict(config=dict(loads=[load.as_dict() for load in loads], repeat=repeat,
                               driver=args.driver, driver_procs=args.driver_procs, quick=args.quick,
                               python=sys.version.split()[0], platform=platform.platform(),
                               cpus=os.cpu_count(), skipped=skipped),
                   summary=summary, runs=runs, failures=failures, memory=memory)
        Path(args.json).write_text(json.dumps(doc, indent=1))
    ok = (not failures and all(s.get("ok") for per in summary.values() for s in per.values())
          and (memory is None or memory["idle"]["ok"]))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_driver":
        sys.exit(driver_main())
    sys.exit(main())

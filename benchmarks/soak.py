"""Soak and fault benchmark: ``serve`` in each mode under the faults a public server meets.

    python benchmarks/soak.py [--quick] [--modes seed,fixed,echo] [--cases emfile,slow,...] [--json FILE]

Each case runs against a fresh ``python -m sockdemo serve --port 0`` on
127.0.0.1 (``--unhandled stop``, the default: an exception escaping a
callback ends the process, as it ends a .NET one), driven from this process:

- emfile:        the server's RLIMIT_NOFILE lowered (256) and 400 clients that
                 connect and hold; then relief: they leave, and 20 new clients
                 must be served (fixed and echo pause accepting and recover;
                 seed's EndAccept throws and the process ends)
- slow:          1,000 clients sending 1 byte a second; fixed and echo must close
                 each at its message timeout, seed holds them all
- idle:          10,000 connections that say nothing, held open together
                 (this process's and the server's RLIMIT_NOFILE raised)
- resets:        200 clients that send a little and reset (SO_LINGER 0 close)
- connect_close: 2,000 clients that connect and close at once
- big:           300 one-megabyte messages, 8 at a time (echo sends each back)
- sigterm:       SIGTERM under load with ``--trace``: time to exit, and the
                 trace must load with ``Trace.load``

A row per mode and case: how many clients were served and lost (what counts
as served is the case's, in its note), the server's file descriptors (from
/proc/PID/fd), threads and RSS (from /proc/PID/status) before the clients,
during (RSS: the highest sample) and after they left, whether a new client
is still served after the case ("after"), and how long the server took to
exit on SIGTERM. Every wait is bounded: a case that overruns its time ends
in a row that says FAILED and why, and so does a mode that does not behave
as it should ("expected"). Exit status 1 if any row failed.

Loopback only; every loop is bounded in count and time. ``--quick`` runs
every case at a tiny scale (tests/test_soak.py runs the cheap ones so).
"""

import argparse
import json
import os
import resource
import selectors
import signal
import socket
import struct
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
from bench_servers import Console  # noqa: E402

from oracle import mono  # noqa: E402
from sockdemo.trace.recording import Trace  # noqa: E402

HOST = "127.0.0.1"
MODES = ("seed", "fixed", "echo")
WAIT = 10.0        # seconds one client step, a start or an exit may take
POLL = 0.05        # seconds between looks at state no event reports (/proc, a client's socket)
# Connects under way at once, below serve's backlog of 128: past a full accept
# queue the kernel drops SYNs, and each client then waits a second to retry.
IN_FLIGHT = 100


class CaseFailed(Exception):
    """A case overran its time or its server misbehaved; the row says why."""


# -- the server under test ---------------------------------------------------------

def _nofile(limit):
    """preexec_fn for the child: RLIMIT_NOFILE set to ``limit`` (soft and hard)."""
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return set_limit


class Serve:
    """``python -m sockdemo serve`` in a child process, its console drained and counted."""

    def __init__(self, mode, *args, nofile=None):
        self.mode = mode
        argv = [sys.executable, "-m", "sockdemo", "serve", "--port", "0", "--mode", mode,
                "--backlog", "128", *args]
        self.proc = subprocess.Popen(argv, cwd=str(ROOT), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=None if nofile is None else _nofile(nofile))
        try:
            self.port, _ = mono.read_bound_port(self.proc.stdout, timeout=WAIT * 3)
        except (TimeoutError, RuntimeError) as exc:
            self.proc.kill()
            err = self.proc.communicate(timeout=WAIT)[1].decode(errors="replace")
            raise CaseFailed(f"serve did not start: {exc}; {err[-300:]}") from None
        self.console = Console(self.proc.stdout)
        self.stderr = []
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        self.address = (HOST, self.port)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def alive(self):
        return self.proc.poll() is None

    def status(self, field):
        """A number of /proc/PID/status (``Threads``, ``VmRSS`` in kB); None once it ended."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return None

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return None

    def sample(self):
        return {"fds": self.fds(), "threads": self.status("Threads"), "rss_kb": self.status("VmRSS")}

    def settle(self, fds_at_most, timeout=WAIT):
        """Wait until the server holds no more than ``fds_at_most`` descriptors
        (the clients' sockets closed), or it ended; its state then."""
        deadline = time.monotonic() + timeout
        while self.alive and time.monotonic() < deadline:
            fds = self.fds()
            if fds is not None and fds <= fds_at_most:
                break
            time.sleep(POLL)
        return self.sample()

    def said(self, start):
        """How many console lines so far (other than messages) begin with ``start``."""
        with self.console.cond:
            return sum(line.startswith(start) for line in self.console.other)

    def messages(self):
        """The ``Data`` text of every message the server printed so far."""
        with self.console.cond:
            return [content for _, content in self.console.reads]

    def wait_messages(self, count, timeout):
        self.console.wait_reads(count, timeout)
        return self.messages()

    def wait_if_ending(self, fds_at_start):
        """Fewer descriptors than it started with: serve closed its listener, so
        it is ending (an unhandled exception with ``--unhandled stop``); wait
        until it has, and return its state then."""
        fds = self.fds()
        if self.alive and fds is not None and fds < fds_at_start:
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                raise CaseFailed(f"serve closed its listener and went on for {WAIT:g} s") from None
        return self.sample()

    def stop(self):
        """SIGTERM, then the seconds it took to exit (None: it had ended already)."""
        if not self.alive:
            return None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)
            raise CaseFailed(f"serve did not exit within {WAIT:g} s of SIGTERM") from None
        return time.monotonic() - started

    def close(self):
        if self.alive:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.console.thread.join(WAIT)
        self._stderr_reader.join(WAIT)
        self.proc.stdout.close()
        self.proc.stderr.close()


class RssSampler:
    """The highest VmRSS of the server while the clients run, sampled in the background."""

    def __init__(self, server):
        self.server, self.peak_kb = server, 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            rss = self.server.status("VmRSS")
            if rss is not None:
                self.peak_kb = max(self.peak_kb, rss)
            if self._done.wait(POLL):
                return

    def stop(self):
        self._done.set()
        self._thread.join(WAIT)
        return self.peak_kb


# -- clients -----------------------------------------------------------------------

def payload(mode, tag, size=None):
    """What a client sends: its tag, padded to ``size`` bytes (echo ends it with <EOF>)."""
    end = b"<EOF>" if mode == "echo" else b""
    body = tag.encode()
    if size is not None:
        body += b"x" * (size - len(body) - len(end))
    return body + end


def exchange(mode, address, tag, size=None, timeout=WAIT):
    """One ordinary client: send, half-close, read until the server closes.
    True when it was served as its mode serves: the echo's reply came back
    whole; seed and fixed read to the end and close without a word (what they
    printed is in their console)."""
    data = payload(mode, tag, size)
    got = 0
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while True:
                piece = sock.recv(1 << 16)
                if not piece:
                    break
                got += len(piece)
    except OSError:
        return False
    return got == (len(data) if mode == "echo" else 0)


def run_clients(count, client, concurrency=8, deadline=None):
    """``client(i)`` for i in range(count), ``concurrency`` at a time; how many returned True.
    A client never raises: it returns False for a failure."""
    todo = iter(range(count))
    lock = threading.Lock()
    served = [0]

    def worker():
        while deadline is None or time.monotonic() < deadline:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            if client(i):
                with lock:
                    served[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()) + WAIT)
    return served[0]


def connect_many(address, count, deadline):
    """Open ``count`` connections, ``IN_FLIGHT`` at once; (those made, how many failed).
    A connect still pending at ``deadline`` fails (the server stopped taking them)."""
    sel = selectors.DefaultSelector()
    made, failed, started = [], 0, 0
    try:
        while (started < count or sel.get_map()) and time.monotonic() < deadline:
            while started < count and len(sel.get_map()) < IN_FLIGHT:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex(address)
                sel.register(sock, selectors.EVENT_WRITE)
                started += 1
            for key, _ in sel.select(POLL):
                sel.unregister(key.fileobj)
                if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    key.fileobj.close()
                    failed += 1
                else:
                    made.append(key.fileobj)
        for key in list(sel.get_map().values()):
            key.fileobj.close()
            failed += 1
    finally:
        sel.close()
    return made, failed + count - started


def closed_by_server(sock):
    """True if the server closed this connection (EOF or reset); never blocks."""
    try:
        return sock.recv(4096, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def close_all(socks):
    for sock in socks:
        sock.close()


# -- the cases ---------------------------------------------------------------------

class Scale:
    """How many clients each case runs: the full soak, or ``--quick``'s tiny one."""

    def __init__(self, quick):
        self.emfile_limit, self.holders, self.relief = (64, 100, 5) if quick else (256, 400, 20)
        self.slow, self.slow_limits = (20, (1, 2)) if quick else (1000, (3, 6))
        self.idle = 200 if quick else 10_000
        self.resets = 20 if quick else 200
        self.connect_close = 100 if quick else 2000
        self.big, self.big_size = (10, 100_000) if quick else (300, 1_000_000)
        self.load_seconds = 0.5 if quick else 2.0


def limits(mode, **values):
    """``serve`` options for the limits of fixed and echo; none for seed, which has none."""
    if mode == "seed":
        return []
    return [arg for name, value in values.items() for arg in (f"--{name.replace('_', '-')}", str(value))]


class Case:
    """One case: the server's options, its clients, and what each mode should show.

    ``run`` returns ``clients``, ``served``, ``lost`` and a ``note``, and may
    return ``exit_seconds`` (a case that stops the server itself)."""
    name = ""
    timeout = 60.0     # seconds for the clients; past it the row fails

    def options(self, mode, scale, workdir):
        return []

    def nofile(self, scale):
        """The server's RLIMIT_NOFILE, if the case sets one."""
        return None

    def run(self, server, scale, deadline, workdir):
        raise NotImplementedError

    def expected(self, mode, row):
        """None if the row is what ``mode`` should show, else what is wrong."""
        return None if row["lost"] == 0 and row["after"] == "ok" else "every client should be served"


class Emfile(Case):
    name = "emfile"
    timeout = 90.0

    def nofile(self, scale):
        return scale.emfile_limit

    def options(self, mode, scale, workdir):
        # Echo never closes a connection its peer closed before <EOF> (the
        # example's way): the idle timeout is what gives their descriptors back.
        return limits(mode, idle_timeout=2)

    def run(self, server, scale, deadline, workdir):
        holders, refused = connect_many(server.address, scale.holders, min(deadline, time.monotonic() + 3))
        try:
            # fixed and echo log the failed accept once; seed's EndAccept throws and it ends.
            until = min(deadline, time.monotonic() + WAIT)
            while server.alive and not server.said("Accept failed") and time.monotonic() < until:
                time.sleep(POLL)
        finally:
            close_all(holders)
        served = run_clients(scale.relief, lambda i: exchange(server.mode, server.address, f"relief-{i}"),
                             concurrency=1, deadline=deadline)
        # Logged once an episode: each "Accept failed" line has its "Accepting again" line.
        failed, recovered = server.said("Accept failed"), server.said("Accepting again after")
        seen = (f"accept failed in {failed} episode(s), each logged once and recovered"
                if failed and failed == recovered else f"accept failures logged {failed}, recoveries {recovered}")
        return dict(clients=len(holders) + scale.relief, served=served, lost=scale.relief - served,
                    note=f"{len(holders)} held ({refused} more never connected), then "
                         f"{scale.relief} after they left; {seen}")

    def expected(self, mode, row):
        if mode == "seed":
            return None if row["exit"] == "died" else "seed should end at the failed EndAccept"
        if row["lost"]:
            return "every client after the relief should be served"
        return None if "logged once" in row["note"] else "each episode of failed accepts should be logged once"


class Slow(Case):
    name = "slow"
    timeout = 120.0

    def options(self, mode, scale, workdir):
        idle, message = scale.slow_limits
        return limits(mode, idle_timeout=idle, message_timeout=message, max_connections=scale.slow * 2)

    def run(self, server, scale, deadline, workdir):
        window = 2 * scale.slow_limits[1] + 1   # seconds: twice the message timeout, and one
        socks, failed = connect_many(server.address, scale.slow, min(deadline, time.monotonic() + WAIT))
        # These clients never read: a socket turns readable only when the server closes it.
        sel = selectors.DefaultSelector()
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        until = min(deadline, time.monotonic() + window)
        try:
            while sel.get_map() and time.monotonic() < until:
                for key in list(sel.get_map().values()):   # a byte a second each
                    try:
                        key.fileobj.send(b"s")
                    except OSError:
                        pass
                second = time.monotonic() + 1.0
                while sel.get_map() and time.monotonic() < min(second, until):
                    for key, _ in sel.select(max(0.0, min(second, until) - time.monotonic())):
                        if closed_by_server(key.fileobj):
                            sel.unregister(key.fileobj)
            held = len(sel.get_map())
        finally:
            sel.close()
            close_all(socks)
        closed = len(socks) - held
        return dict(clients=scale.slow, served=closed, lost=scale.slow - closed,
                    note=f"served: closed by the server within {window} s ({failed} never connected)")

    def expected(self, mode, row):
        if mode == "seed":
            return None if row["served"] == 0 else "seed has no limits: it should hold every client"
        return None if row["lost"] == 0 else "every slow client should be closed at its message timeout"


class Idle(Case):
    name = "idle"
    timeout = 180.0

    def nofile(self, scale):
        return 2 * scale.idle

    def options(self, mode, scale, workdir):
        return limits(mode, idle_timeout=600, max_connections=scale.idle * 2)

    def run(self, server, scale, deadline, workdir):
        baseline = server.fds() or 0
        socks, _ = connect_many(server.address, scale.idle, deadline)
        try:
            # Accepted, every one: the server holds a descriptor for each.
            while server.alive and (server.fds() or 0) < baseline + len(socks) and time.monotonic() < deadline:
                time.sleep(POLL)
            during = server.fds()
            beside = exchange(server.mode, server.address, "beside-the-idle")
            dropped = sum(closed_by_server(sock) for sock in socks)
        finally:
            close_all(socks)
        held = len(socks) - dropped
        return dict(clients=scale.idle, served=held, lost=scale.idle - held,
                    note=f"served: held open together ({during} server fds then); a client beside them "
                         f"{'served' if beside else 'NOT served'}")

    def expected(self, mode, row):
        if "NOT served" in row["note"]:
            return "a client beside the idle connections should be served"
        return super().expected(mode, row)


class Resets(Case):
    name = "resets"

    def run(self, server, scale, deadline, workdir):
        def reset(i):
            try:
                sock = socket.create_connection(server.address, timeout=WAIT)
            except OSError:
                return False
            with sock:
                try:
                    sock.sendall(b"half a message")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass   # an earlier reset ended the server meanwhile
            return True
        made = run_clients(scale.resets, reset, concurrency=4, deadline=deadline)
        return dict(clients=scale.resets, served=made, lost=scale.resets - made,
                    note="served: found a server to connect to")

    def expected(self, mode, row):
        if mode == "fixed":
            return super().expected(mode, row)
        # The page's server and the echo example have no error handling: a reset ends them.
        return None if row["exit"] == "died" else f"{mode} should end at the first reset, as .NET does"


class ConnectClose(Case):
    name = "connect_close"

    def options(self, mode, scale, workdir):
        return limits(mode, idle_timeout=2)   # echo holds each one that long (see Emfile)

    def run(self, server, scale, deadline, workdir):
        def connect_close(i):
            try:
                socket.create_connection(server.address, timeout=WAIT).close()
            except OSError:
                return False
            return True
        made = run_clients(scale.connect_close, connect_close, concurrency=8, deadline=deadline)
        return dict(clients=scale.connect_close, served=made, lost=scale.connect_close - made,
                    note="served: connected")


class Big(Case):
    name = "big"
    timeout = 180.0

    def run(self, server, scale, deadline, workdir):
        answered = run_clients(scale.big, lambda i: exchange(server.mode, server.address, f"big-{i}",
                                                             size=scale.big_size, timeout=WAIT * 3),
                               concurrency=8, deadline=deadline)
        printed = server.wait_messages(scale.big, max(0.0, deadline - time.monotonic()))
        whole = sum(1 for text in printed if len(text or "") == scale.big_size and text.startswith("big-"))
        served = min(answered, whole)
        return dict(clients=scale.big, served=served, lost=scale.big - served,
                    note=f"{scale.big_size:,} bytes each; served: printed whole"
                         f"{' and echoed' if server.mode == 'echo' else ''}")


class Sigterm(Case):
    name = "sigterm"

    def options(self, mode, scale, workdir):
        return ["--trace", str(workdir / "run.json")]

    def run(self, server, scale, deadline, workdir):
        done, outcomes = threading.Event(), []   # (served, when it finished)

        def load():
            i = 0
            while not done.is_set() and time.monotonic() < deadline:
                served = exchange(server.mode, server.address, f"load-{threading.get_ident()}-{i}")
                outcomes.append((served, time.monotonic()))
                i += 1

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            server.wait_messages(50, WAIT)
            until = time.monotonic() + scale.load_seconds
            while time.monotonic() < until and server.alive:
                time.sleep(POLL)
            signalled = time.monotonic()
            exit_seconds = server.stop()
        finally:
            done.set()
            for thread in threads:
                thread.join(WAIT * 2)
        before = [served for served, when in outcomes if when < signalled]
        try:
            trace = Trace.load(workdir / "run.json")
            loaded = f"trace loads: {len(trace):,} events, {len(trace.of_kind('message')):,} messages"
        except ValueError as exc:
            loaded = f"trace does NOT load: {exc}"
        return dict(clients=len(before), served=sum(before), lost=len(before) - sum(before),
                    note=f"served: before the signal; {loaded}", exit_seconds=exit_seconds)

    def expected(self, mode, row):
        if row["status"] != 0:
            return f"SIGTERM should end serve with status 0, not {row['status']}"
        if "NOT" in row["note"]:
            return "the trace should load"
        return None if row["lost"] == 0 else "every client before the signal should be served"


CASES = {case.name: case for case in (Emfile(), Slow(), Idle(), Resets(), ConnectClose(), Big(), Sigterm())}
# The lines serve writes to stderr: whole reports of unhandled exceptions, and its own.
STDERR_LINES = ("Unhandled exception.", "  sockdemo serve: ", "sockdemo serve: ")


# -- running a case ----------------------------------------------------------------

def run_case(mode, case, scale):
    """One row: start a server, measure it, run the case's clients, measure again, stop it."""
    row = {"mode": mode, "case": case.name}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        workdir = Path(workdir)
        try:
            server = Serve(mode, *case.options(mode, scale, workdir), nofile=case.nofile(scale))
        except CaseFailed as exc:
            return dict(row, verdict=f"FAILED: {exc}", seconds=time.monotonic() - started)
        try:
            before = server.sample()
            sampler = RssSampler(server)
            deadline = time.monotonic() + case.timeout
            try:
                result = case.run(server, scale, deadline, workdir)
            finally:
                peak = sampler.stop()
            if time.monotonic() > deadline:
                raise CaseFailed(f"the clients took more than the case's {case.timeout:g} s")
            server.settle(before["fds"] or 0)
            after = server.wait_if_ending(before["fds"] or 0)
            if "exit_seconds" in result:     # the case stopped it itself
                served_after = "-"
            elif not server.alive:
                served_after = "died"
            else:
                served_after = "ok" if exchange(mode, server.address, "after") else "NOT served"
                result["exit_seconds"] = server.stop()
            row.update(result, before=before, after_state=after, rss_peak_kb=peak, after=served_after,
                       exit="died" if served_after == "died" else "sigterm", status=server.proc.returncode)
            problem = case.expected(mode, row)
            torn = [line for line in server.stderr if line and not line.startswith(STDERR_LINES)]
            if problem is None and torn:
                problem = f"stderr has a line that is no whole report: {torn[0][:80]!r}"
            row["verdict"] = "ok" if problem is None else f"FAILED: {problem}"
        except CaseFailed as exc:
            row["verdict"] = f"FAILED: {exc}"
        finally:
            server.close()
    row["seconds"] = time.monotonic() - started
    return row


def _mb(kb):
    return "-" if kb is None else f"{kb / 1024:.0f}"


def _was(before, after):
    return f"{before} → {'-' if after is None else after}"


def format_row(row):
    if "clients" not in row:
        return f"| {row['mode']} | {row['case']} |" + " |" * 9 + f" {row['verdict']} |"
    b, a = row["before"], row["after_state"]
    exit_ = (f"{row['exit_seconds']:.2f} s" if row["exit"] == "sigterm"
             else f"had ended (status {row['status']})")
    return (f"| {row['mode']} | {row['case']} | {row['clients']:,} | {row['served']:,} | {row['lost']:,} "
            f"| {row['after']} | {_was(b['fds'], a['fds'])} | {_was(b['threads'], a['threads'])} "
            f"| {_mb(b['rss_kb'])} / {_mb(row['rss_peak_kb'])} / {_mb(a['rss_kb'])} | {exit_} "
            f"| {row['verdict']}: {row['note']} |")


HEADER = ("| mode | case | clients | served | lost | after | fds | threads | RSS MB before / peak / after "
          "| exit on SIGTERM | verdict: note |\n|---|---|---|---|---|---|---|---|---|---|---|")


def raise_own_nofile(wanted):
    """This process holds the idle case's clients: let it have that many descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every case at a tiny scale")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated (default: all)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated (default: all)")
    parser.add_argument("--json", metavar="FILE", help="also write every row here")
    args = parser.parse_args(argv)
    unknown = [name for name in args.cases.split(",") if name not in CASES]
    if unknown or not set(args.modes.split(",")) <= set(MODES):
        parser.error(f"cases are {', '.join(CASES)}; modes are {', '.join(MODES)}")
    scale = Scale(args.quick)
    raise_own_nofile(scale.idle + 1000)
    print(HEADER, flush=True)
    rows, started = [], time.monotonic()
    for mode in args.modes.split(","):
        for name in args.cases.split(","):
            rows.append(run_case(mode, CASES[name], scale))
            print(format_row(rows[-1]), flush=True)
    print(f"\n{len(rows)} rows in {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 1 if any(row["verdict"] != "ok" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

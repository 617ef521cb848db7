"""The command line: ``python -m sockdemo serve | send | demo | lab``.

Mirrors the page's console program (``serve`` runs the server in the
foreground and prints its ``Console.WriteLine`` lines) and the companion client
(``send``, a whole fleet of them). ``demo`` puts both in one process and
summarises the trace; ``lab`` opens the lessons.

Errors a user can cause (a bad argument, a port in use, a missing optional
part) end in one line on stderr, never a traceback: exit 2 for bad arguments,
1 for everything else that failed.
"""
from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from ..apm.dotnet import PROFILES
from ..apm.state_object import BUFFER_SIZE
from ..servers.guards import DEFAULT_LIMITS
from ..servers.registry import SERVERS
from ..trace.text import format_endpoint

__all__ = ["main", "build_parser"]

PROG = "python -m sockdemo"
DEFAULT_PORT = 11000
DEFAULT_BACKLOG = 10
LIMIT_OPTIONS = ("idle_timeout", "message_timeout", "max_message", "max_connections")
_PROGRESS_MIN_CLIENTS = 50
_PROGRESS_INTERVAL = 0.1   # seconds between redraws of the progress line
FLUSH_EVERY = 0.05         # seconds a console line may wait in stdout's buffer when it is no terminal


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (argparse prints the whole usage first)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _Failure(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


# -- argument types ----------------------------------------------------------------

def _int_in(low: int, high: Optional[int] = None, what: str = "a number"):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be {bounds}")
        return value
    parse.__name__ = what  # argparse names the type in "invalid <name> value"
    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is out of range: must be >= 0 seconds")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def _writable_file(text: str) -> Path:
    """A file this process can create or replace, checked before any work is done."""
    path = Path(text)
    if not text or path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    if path.exists() and not path.is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular file")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
    return path


def _cpu(text: str):
    """``all``, or a CPU number this process may run on (Linux)."""
    if text == "all":
        return text
    if not hasattr(os, "sched_setaffinity"):
        raise argparse.ArgumentTypeError("choosing a CPU needs Linux; use 'all'")
    cpu = _int_in(0, None, "a CPU number")(text)
    allowed = sorted(os.sched_getaffinity(0))
    if cpu not in allowed:
        raise argparse.ArgumentTypeError(f"CPU {cpu} is not one this process may use: {allowed}")
    return cpu


_port = _int_in(0, 65535, "a port number")
_port_to_connect = _int_in(1, 65535, "a port number")
_positive = _int_in(1, None, "a positive integer")
_count = _int_in(0, None, "a non-negative integer")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A lab for the .NET asynchronous server socket pattern.")
    sub = parser.add_subparsers(dest="command", metavar="{serve,send,demo,lab,lessons}")
    sub.required = True

    p = sub.add_parser("serve", help="run a server in the foreground (Ctrl-C stops it)",
                       description="Run the page's server in the foreground, printing its console lines. "
                                   "SIGINT or SIGTERM stops it cleanly.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port to bind; 0 lets the system choose (default {DEFAULT_PORT})")
    p.add_argument("--backlog", type=_positive, default=DEFAULT_BACKLOG,
                   help=f"listen backlog (default {DEFAULT_BACKLOG})")
    p.add_argument("--pool", type=_positive, default=None, help="worker threads (default: CPU count)")
    p.add_argument("--mode", choices=tuple(SERVERS), default="seed", help="seed (the page), fixed or echo")
    p.add_argument("--buffer-size", type=_positive, metavar="BYTES",
                   help=f"bytes one receive asks for: the StateObject's buffer (default {BUFFER_SIZE}, the page's)")
    p.add_argument("--trace", metavar="FILE", type=_writable_file,
                   help="write the trace here as the server runs (Chrome trace JSON, array form: "
                        "readable even if the process is killed)")
    _dotnet_argument(p)
    p.add_argument("--unhandled", choices=("stop", "record"), default="stop",
                   help="an exception escaping a callback: 'stop' the server with exit status 1, "
                        "as it ends a .NET process (default), or 'record' it and go on; "
                        "either way it is printed to stderr as .NET 6+ prints it")
    limits = p.add_argument_group("limits of the fixed and echo servers (the page's seed has none)")
    limits.add_argument("--idle-timeout", type=_positive_seconds, metavar="S",
                        help=f"close a connection silent this long (default {DEFAULT_LIMITS.idle_timeout:g})")
    limits.add_argument("--message-timeout", type=_positive_seconds, metavar="S",
                        help="close a connection whose message is not complete this long after its "
                             f"accept (default {DEFAULT_LIMITS.message_timeout:g})")
    limits.add_argument("--max-message", type=_positive, metavar="BYTES",
                        help=f"close a connection whose message grows past this (default {DEFAULT_LIMITS.max_message})")
    limits.add_argument("--max-connections", type=_positive, metavar="N",
                        help="stop accepting while this many connections are open "
                             f"(default {DEFAULT_LIMITS.max_connections})")
    p.add_argument("--cpu", type=_cpu, default=None,
                   help="the one CPU to run on (Linux; default: the one it starts on); "
                        "'all' lets the system move its threads between CPUs")
    p.set_defaults(run=_cmd_serve, parser=p)

    p = sub.add_parser("send", help="run a fleet of clients against a server",
                       description="N clients, each sends TEXT in K-byte pieces with S seconds between "
                                   "pieces, then half-closes (or with --eof appends <EOF> and waits "
                                   "for the echo) and reads until the server closes.")
    p.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    p.add_argument("--port", type=_port_to_connect, required=True, help="server port")
    p.add_argument("-n", type=_count, default=1, dest="n", help="number of clients (default 1)")
    p.add_argument("--message", default="This is a test", metavar="TEXT",
                   help="text each client sends (default 'This is a test')")
    p.add_argument("--chunk", type=_positive, default=None, metavar="K",
                   help="send in K-byte pieces (default: all at once)")
    p.add_argument("--delay", type=_seconds, default=0.0, metavar="S", help="seconds between pieces")
    p.add_argument("--concurrency", type=_positive, default=8, metavar="C",
                   help="clients at a time (default 8)")
    p.add_argument("--eof", action="store_true",
                   help="append <EOF> and wait for the echo instead of half-closing")
    p.add_argument("--reset-after", type=_count, default=None, metavar="K",
                   help="reset the connection after K bytes (SO_LINGER 0)")
    p.add_argument("--timeout", type=_seconds, default=10.0, metavar="S",
                   help="seconds each client waits at most for each step (default 10)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per client")
    p.set_defaults(run=_cmd_send, parser=p)

    p = sub.add_parser("demo", help="server and clients in one process, then the trace",
                       description="Start a server on 127.0.0.1 (a free port), run a fleet of clients "
                                   "against it, print the console and a summary, save the trace.")
    p.add_argument("--clients", type=_count, default=5, metavar="N", help="number of clients (default 5)")
    p.add_argument("--pool", type=_positive, default=None, help="worker threads (default: CPU count)")
    p.add_argument("--mode", choices=tuple(SERVERS), default="seed", help="seed (the page), fixed or echo")
    p.add_argument("--message", default="This is a test", metavar="TEXT", help="text each client sends")
    p.add_argument("--chunk", type=_positive, default=None, metavar="K", help="client piece size")
    p.add_argument("--delay", type=_seconds, default=0.0, metavar="S", help="seconds between pieces")
    p.add_argument("--sim", action="store_true", help="run in the step-through simulator instead")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="simulator random seed (--sim)")
    p.add_argument("--scenario", metavar="NAME", help="simulator scenario (--sim)")
    p.add_argument("--trace", metavar="FILE", type=_writable_file,
                   help="also save the trace (Chrome trace JSON) here")
    p.add_argument("--png", metavar="FILE", type=_writable_file, help="also save the demo figures here")
    _dotnet_argument(p)
    p.set_defaults(run=_cmd_demo, parser=p)

    p = sub.add_parser("lab", help="open the lessons in JupyterLab",
                       description="Copy the lessons into a folder of yours (the first time only: "
                                   "your work is never overwritten) and open 00-start-here in "
                                   "JupyterLab; further arguments go to JupyterLab.")
    _edition_arguments(p)
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(run=_cmd_lab, parser=p)

    p = sub.add_parser("lessons", help="write the lessons into a folder",
                       description="Write the learner's edition of the lessons (answers blank) "
                                   "into DIR, or with --instructor the solved one.")
    p.add_argument("dir", metavar="DIR", nargs="?", type=Path,
                   help="where to write them (default: the folder `lab` uses)")
    _edition_arguments(p, folder=False)
    p.set_defaults(run=_cmd_lessons, parser=p)
    return parser


def _dotnet_argument(p) -> None:
    p.add_argument("--dotnet", choices=tuple(PROFILES), default="framework",
                   help="which .NET to behave as: 'framework', the page's .NET Framework 4.x (default), "
                        "or 'modern', .NET 6 and later (an operation done at once runs its callback "
                        "inline; a worker performs the I/O)")


def _edition_arguments(p, folder: bool = True) -> None:
    p.add_argument("--instructor", action="store_true",
                   help="the instructor's edition: answers filled in, outputs kept")
    p.add_argument("--refresh", action="store_true",
                   help="update the lessons you have not changed (a changed one is kept, and the new "
                        "version written beside it as 'NN-topic (new).ipynb')")
    if folder:
        p.add_argument("--dir", type=Path, default=None,
                       help="the folder of your copies (default ~/sockdemo-lessons, or "
                            "~/sockdemo-lessons-instructor; $SOCKDEMO_LESSONS moves the learner's)")


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    # `lab` hands everything it does not know to JupyterLab (`lab --no-browser`).
    args, unknown = parser.parse_known_args(argv)
    if unknown and getattr(args, "command", None) != "lab":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.jupyter_args = [*unknown, *args.jupyter_args]
    try:
        return args.run(args, args.parser)
    except _Failure as exc:
        print(f"sockdemo {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sockdemo {args.command}: interrupted", file=sys.stderr)
        return 130


# -- serve ---------------------------------------------------------------------------

class _StdoutSink:
    """Console lines to stdout, for ``serve`` and ``demo``; quiet once the reader left.

    A terminal gets every line at once. A pipe or a file gets them in batches
    at most ``FLUSH_EVERY`` seconds late: each flush is a ``write(2)``, and on
    every system call another thread may take the GIL and keep it, so flushing
    each line cost a server behind a pipe about a tenth of its pace
    (benchmarks/bench_servers.py). A line is flushed when the last flush is
    that old; ``flush()`` sends the rest (serve's wait loop calls it)."""

    def __init__(self, stream=None, clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stdout
        self._every = 0.0 if self.stream.isatty() else FLUSH_EVERY
        self._clock = clock
        self._flushed = clock()
        self._lock = threading.Lock()  # lines come from any pool thread; flushes from the CLI
        self._broken = False

    def __call__(self, line: str) -> None:
        with self._lock:
            if not self._broken:
                self._write(line + "\n", self._clock() - self._flushed >= self._every)

    def flush(self) -> None:
        with self._lock:
            if not self._broken:
                self._write("", True)

    def _write(self, text: str, flush: bool) -> None:  # holds the lock
        try:
            if text:
                self.stream.write(text)
            if flush:
                self.stream.flush()
                self._flushed = self._clock()
        except (BrokenPipeError, ValueError):
            self._broken = True


def _start(mode, host, port, backlog, pool, *, trace: bool, sink, **options):
    """A started ``ServerHandle``, or ``_Failure`` with the server's own reason."""
    from .handle import DidNotStart, ServerHandle

    handle = ServerHandle(mode, host, port, backlog, pool=pool, trace=trace, sink=sink, **options)
    try:
        return handle.start()
    except DidNotStart as failed:  # start() has stopped it; what it printed says why
        reason = next((line for line in reversed(failed.lines)
                       if line and not line.startswith(("Local address", "Closing", "Waiting"))),
                      "the server did not start")
        raise _Failure(f"cannot listen on {format_endpoint((host, port))}: {reason}") from None


def _cmd_serve(args, parser) -> int:
    from .tuning import server_process

    limits = {name: getattr(args, name) for name in LIMIT_OPTIONS if getattr(args, name) is not None}
    if limits and args.mode == "seed":
        given = ", ".join("--" + name.replace("_", "-") for name in limits)
        parser.error(f"{given}: the seed server is the page's and has no limits; use --mode fixed or echo")
    args.server_options = limits
    if args.buffer_size is not None:
        args.server_options["buffer_size"] = args.buffer_size
    warning = exposure_warning(args.host)
    if warning is not None:
        print(f"sockdemo serve: warning: {warning}", file=sys.stderr)

    with server_process(args.cpu):
        return _serve(args)


def exposure_warning(host: str) -> Optional[str]:
    """What a bind to ``host`` exposes beyond this machine, in words; None for loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a name: whatever it resolves to
        if host == "localhost":
            return None
        exposed = f"whatever {host} names (any address of this machine it resolves to)"
    else:
        if address.is_loopback:
            return None
        exposed = ("every network interface of this machine" if address.is_unspecified
                   else f"the network interface with address {host}")
    return (f"listening on {exposed}: any machine that can reach it can connect to this server "
            f"(use --host 127.0.0.1 to keep it private)")


def _serve(args) -> int:
    stop = threading.Event()
    received = []

    def on_signal(signum, frame):
        received.append(signum)
        # Event.set takes a lock the interrupted main thread may be holding
        # inside Event.wait; setting it from another thread cannot deadlock.
        threading.Thread(target=stop.set, name="signal", daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sink = _StdoutSink()
    # A long-running server keeps nothing it does not need: no console history
    # (its lines are on stdout), and a trace goes to its file as the run goes.
    stream = _open_stream(args.trace) if args.trace else None
    try:
        handle = _start(args.mode, args.host, args.port, args.backlog, args.pool,
                        trace=stream or False, sink=sink, dotnet=args.dotnet,
                        unhandled=args.unhandled, on_unhandled=_unhandled_printer(args.unhandled),
                        console_history=0, **args.server_options)
        try:
            # Signals set `stop`; meanwhile the loop sends the console lines
            # still buffered and notices a server that ended by itself (e.g.
            # an unhandled error with unhandled="stop").
            while not stop.wait(FLUSH_EVERY):
                sink.flush()
                if not handle.running:
                    break
        finally:
            handle.stop()
    finally:
        if stream is not None:
            stream.close()
        sink.flush()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received or handle.running:
        return 0
    if handle.unhandled_errors:
        raise _Failure("the server stopped: an exception escaped a callback, which ends a .NET process "
                       "(--unhandled record goes on instead)")
    raise _Failure("the server stopped by itself")


def _open_stream(path):
    from ..trace.stream import TraceStream
    try:
        return TraceStream(path).start()
    except OSError as exc:
        raise _Failure(f"cannot write the trace: {exc}") from None


def _unhandled_printer(policy: str):
    """Print an unhandled exception's line to stderr, as .NET 6+ does, and what happens next."""
    from .handle import write_whole

    after = ("the server stops, as the .NET process would end" if policy == "stop"
             else "recorded; the server goes on (--unhandled record)")

    def report(line: str) -> None:
        write_whole(f"{line}\n  sockdemo serve: {after}")
    return report


# -- send ----------------------------------------------------------------------------

class _ProgressLine:
    """``\\r  37/100 clients done``, redrawn at most every 0.1 s, on stderr."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < _PROGRESS_INTERVAL:
            return
        self._last = now
        self.stream.write(f"\r{done:>{len(str(total))}}/{total} clients done")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def _cmd_send(args, parser) -> int:
    from .clients import send

    progress = None
    if args.n > _PROGRESS_MIN_CLIENTS and sys.stderr.isatty():
        progress = _ProgressLine()
    if args.timeout == 0:
        parser.error("argument --timeout: must be > 0 seconds")
    started = time.monotonic()
    results = send((args.host, args.port), args.n, args.message, chunk=args.chunk, delay=args.delay,
                   concurrency=args.concurrency, eof=args.eof, reset_after=args.reset_after,
                   timeout=args.timeout, progress=progress)
    elapsed = time.monotonic() - started
    if args.verbose:
        for r in results:
            print(_client_line(r))
    failed = [r for r in results if r.error is not None]
    total = sum(r.sent for r in results)
    line = (f"{_plural(len(results), 'client')} to {format_endpoint((args.host, args.port))}: "
            f"{len(results) - len(failed)} ok, {len(failed)} failed, {total} bytes sent in {elapsed:.3f} s")
    if failed and not args.verbose:
        first = failed[0]
        line += f" (first failure: client {first.index}: {first.error})"
    print(line)
    return 1 if failed else 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _client_line(r) -> str:
    head = f"client {r.index}: port {r.port}, sent {r.sent} bytes"
    if r.error is not None:
        return f"{head}, FAILED after {r.elapsed * 1000:.1f} ms: {r.error}"
    reply = f", reply {len(r.reply)} bytes {r.reply[:60]!r}" if r.reply else ", no reply"
    return f"{head}{reply}, {r.elapsed * 1000:.1f} ms"


# -- demo ----------------------------------------------------------------------------

def _cmd_demo(args, parser) -> int:
    from .demo import ConsoleHead, console_rest, run_demo

    if args.scenario == "list":
        from ..sim.scenarios import describe
        print(describe())
        return 0
    if not args.sim and (args.seed is not None or args.scenario is not None):
        parser.error("--seed and --scenario need --sim")
    sink = _StdoutSink()
    head = ConsoleHead(sink)   # the first lines live; a big run's rest is cut short below
    try:
        demo = run_demo(args.clients, sim=args.sim, scenario=args.scenario, seed=args.seed,
                        pool=args.pool, mode=args.mode, message=args.message, chunk=args.chunk,
                        delay=args.delay, dotnet=args.dotnet, sink=head)
    except ValueError as exc:  # an unknown scenario
        parser.error(str(exc))
    finally:
        sink.flush()
    for line in console_rest(demo.console, head.passed):
        print(line)
    print()
    for line in demo.summary:
        print(line)
    if args.trace:
        try:
            demo.trace.save(args.trace)
        except OSError as exc:
            raise _Failure(f"cannot write the trace: {exc}") from None
        print(f"trace: {args.trace} (open it in https://ui.perfetto.dev)")
    if args.png:
        from ..views.plots import save_demo_figure
        save_demo_figure(demo.trace, args.png)
        print(f"figure: {args.png}")
    # In the simulator a deadlock or a refused client is what a scenario may be
    # for; only a simulated thread dying is a failure. On real sockets every
    # client should have been served.
    return 1 if demo.crashed or (demo.world == "real" and demo.failures) else 0


# -- lab and lessons ------------------------------------------------------------------

def _write_edition(folder, instructor: bool, refresh: bool):
    from .lessons import write_edition

    edition = "instructor's" if instructor else "learner's"
    try:
        done = write_edition(folder, instructor=instructor, refresh=refresh)
    except OSError as exc:
        raise _Failure(f"cannot write the lessons into {folder}: {exc}") from None
    print(f"sockdemo: the {edition} edition of the lessons is in {done.folder}")
    for line in done.lines:
        print(f"  {line}")
    return done


def _cmd_lessons(args, parser) -> int:
    from .lessons import default_folder

    _write_edition(args.dir or default_folder(args.instructor), args.instructor, args.refresh)
    return 0


def _cmd_lab(args, parser) -> int:
    from .lessons import START_LESSON, default_folder

    if importlib.util.find_spec("jupyterlab") is None:
        raise _Failure("JupyterLab is not installed for this Python; run `make lab` "
                       "(it installs it into .venv and opens the lessons), or "
                       "`pip install 'sockdemo[lab]'`")
    done = _write_edition(args.dir or default_folder(args.instructor), args.instructor, args.refresh)
    # The file browser shows only the lessons' folder, and the first lesson opens at once.
    argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={done.folder}",
            f"--LabApp.default_url=/lab/tree/{START_LESSON}", *args.jupyter_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in argv:
        argv.append("--allow-root")  # JupyterLab refuses root otherwise (containers, Binder, CI)
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached

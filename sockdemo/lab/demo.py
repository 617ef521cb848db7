"""``run_demo``: a server and a class of clients in one go, on real sockets or in the simulator.

Mirrors nothing in .NET; it is the lab's "show me" button, behind
``python -m sockdemo demo`` and usable from a notebook:

    demo = run_demo(12, pool=4, chunk=5)          # real sockets, 127.0.0.1, a free port
    demo = run_demo(sim=True, scenario="two_clients", seed=1)
    print("\\n".join(demo.summary)); save_demo_figure(demo.trace, "demo.png")

Either way the result is the same record: the trace, the console and what
the clients went through, so the command line prints and draws both alike.

A big run's console is thousands of lines; the command prints the first
``CONSOLE_HEAD`` as they come (``ConsoleHead``) and after the run the last
``CONSOLE_TAIL``, with the number left out between (``console_rest``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ..servers.registry import server_class
from ..sim.scenarios import Client, Scenario, get_scenario
from ..sim.simulation import run_scenario
from ..trace import kinds
from ..trace.lanes import lane_order
from ..trace.recording import Trace
from ..trace.text import format_endpoint
from .clients import send
from .handle import start_server

__all__ = ["DemoResult", "run_demo", "ConsoleHead", "console_rest", "CONSOLE_HEAD", "CONSOLE_TAIL"]

DEFAULT_BACKLOG = 10
DEMO_MESSAGE = "This is a test"
CONSOLE_HEAD = 10   # console lines a demo prints as they come
CONSOLE_TAIL = 10   # and the last ones, printed after the run


@dataclass(frozen=True)
class DemoResult:
    """What a demo ran and what came of it."""
    world: str                     # "real" or "sim"
    mode: str
    address: tuple
    trace: Trace
    console: list
    clients: int
    failures: list = field(default_factory=list)          # "client 3: ..." for each client that failed
    unhandled_errors: list = field(default_factory=list)  # exceptions that escaped a callback
    detail: str = ""               # the simulator's verdict ("finished at ...", "deadlock: ...")
    crashed: bool = False          # a simulated thread died: a bug, never a lesson
    results: list = field(default_factory=list)           # the real clients' ClientResults

    @property
    def summary(self) -> list[str]:
        trace = self.trace
        callbacks = trace.callback_threads()
        where = "simulated" if self.world == "sim" else format_endpoint(self.address)
        lines = [
            f"demo: {_plural(self.clients, 'client')} against the {self.mode} server ({where})",
            f"connections: {len(trace.of_kind(kinds.ACCEPT))}, messages: "
            f"{len(trace.of_kind(kinds.MESSAGE))}, client errors: {len(self.failures)}",
            "callbacks per thread: "
            + (", ".join(f"{t} {callbacks[t]}" for t in lane_order(callbacks)) or "none"),
        ]
        if self.detail:
            lines.append(f"simulation: {self.detail}")
        if self.failures:
            lines.append(f"first client error: {self.failures[0]}")
        return lines


def run_demo(clients: int = 5, *, sim: bool = False, scenario=None, seed: Optional[int] = None,
             pool: Optional[int] = None, mode: str = "seed", message=DEMO_MESSAGE,
             chunk: Optional[int] = None, delay: float = 0.0, timeout: float = 10.0,
             dotnet: str = "framework", sink: Optional[Callable[[str], None]] = None) -> DemoResult:
    """Run ``clients`` clients against a ``mode`` server and return what happened.

    Real (the default): a server on 127.0.0.1 (a free port), the client fleet,
    then the server stopped. The backlog is at least ``clients``, so nobody is
    refused; echo clients send ``<EOF>`` and wait for the echo, the others
    half-close. ``sim=True``: the same class of clients in the simulator, or
    the named ``scenario`` (with ``seed``). ``dotnet`` picks the .NET to behave
    as (``apm.dotnet``).
    """
    server_class(mode)  # an unknown mode fails here, before anything starts
    if sim:
        return _sim_demo(clients, scenario, seed, pool, mode, message, chunk, delay, dotnet, sink)
    if scenario is not None or seed is not None:
        raise ValueError("scenario and seed are for the simulator (sim=True)")
    handle = start_server(mode, "127.0.0.1", 0, max(DEFAULT_BACKLOG, clients), pool=pool, sink=sink,
                          dotnet=dotnet)
    try:
        address = handle.address
        results = send(address, clients, message, chunk=chunk, delay=delay,
                       concurrency=max(1, clients), eof=(mode == "echo"),
                       tracer=handle.runtime.tracer, timeout=timeout)
    finally:
        handle.stop()
    failures = [f"client {r.index}: {r.error}" for r in results if r.error is not None]
    return DemoResult("real", mode, address, handle.trace, list(handle.console), clients,
                      failures, list(handle.runtime.unhandled_errors), results=results)


def _sim_demo(clients, scenario, seed, pool, mode, message, chunk, delay, dotnet, sink) -> DemoResult:
    if scenario is not None:
        sc = get_scenario(scenario)
    else:
        sc = Scenario(name="demo", description=f"{clients} clients, one message each",
                      clients=tuple(Client.text(message, chunk=chunk, gap=delay, at=0.001 * i)
                                    for i in range(clients)),
                      mode=mode, backlog=max(DEFAULT_BACKLOG, clients))
    sc = sc.with_(dotnet=dotnet, **({"pool": pool} if pool else {}))
    run = run_scenario(sc, seed=seed, sink=sink)
    result = run.result
    failures = [f"{name}: {c.error}" for name, c in ((c.name, c) for c in run.clients) if c.error]
    crashed = any(st.failure is not None for st in run.kernel.threads.values())
    return DemoResult("sim", sc.mode if sc.server is None else sc.server.__name__,
                      (sc.host, sc.port), run.trace, list(run.console), len(sc.clients), failures,
                      list(run.runtime.unhandled_errors), str(result), crashed)


class ConsoleHead:
    """A console sink that passes on only the first ``head`` lines it is given."""

    def __init__(self, sink: Callable[[str], None], head: int = CONSOLE_HEAD):
        self.sink, self.head = sink, head
        self.passed = 0

    def __call__(self, line: str) -> None:
        # A Console calls its sink under its own lock, a line at a time, in order.
        if self.passed < self.head:
            self.passed += 1
            self.sink(line)


def console_rest(lines: list, shown: int, tail: int = CONSOLE_TAIL) -> list[str]:
    """The console lines after the first ``shown``: all of them when that is at most
    one more than ``tail``, else ``"... N lines ..."`` and the last ``tail``."""
    rest = lines[shown:]
    if len(rest) <= tail + 1:
        return list(rest)
    return [f"... {len(rest) - tail:,} lines ...", *rest[-tail:]]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"

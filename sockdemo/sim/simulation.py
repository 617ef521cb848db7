"""The step-through simulator: run a scenario one event at a time.

Mirrors no .NET piece: it is the debugger the page's reader never had.

    sim = Simulation("two_clients", seed=1)
    sim.step()            # performs one event and returns it
    sim.peek()            # what comes next: time, who, who else ties
    result = sim.run()    # to the end: finished, or deadlock with who waits on what
    sim.trace.save("two_clients.json")

The kernel runs a thread from one scheduling point to the next (the
primitives' checkpoints) and an actor one action at a time; either may emit
several events, which ``step`` hands out one per call, in order.

With ``choose=True`` the learner is the scheduler: ``runnable()`` lists the
threads (and network actors) that could go next, ``step(thread="pool-2")``
runs that one (the Deadlock Empire game), and ``replay(["client-1", "main"])``
runs a whole list of such choices. ``step()`` without a thread still lets the
seeded scheduler pick.

A simulation owns real (parked) Python threads; ``run`` to the end closes it,
otherwise use ``close()`` or ``with Simulation(...) as sim``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from ..trace import kinds
from ..trace.events import Event
from ..trace.recording import Trace
from ..trace.text import describe_error
from .choices import Choice, choice_of
from .kernel import us
from .network import ClientRun
from .runtime import SimRuntime
from .scenarios import get_scenario

__all__ = ["Simulation", "Result", "Upcoming", "run_scenario"]

MAX_EVENTS = 1_000_000


class Upcoming(NamedTuple):
    t: int            # virtual microseconds
    thread: str       # who goes next if nobody chooses (a tie is decided by the seed)
    tied: tuple       # everyone due at the same time
    done: bool = False   # already performed (handed out by the next step)


@dataclass
class Result:
    status: str                       # finished | deadlock | stopped | running
    detail: str
    time_us: int
    events: int
    messages: dict = field(default_factory=dict)   # conn -> [text, ...]
    console: list = field(default_factory=list)
    replies: dict = field(default_factory=dict)    # client name -> bytes the server sent back
    conns: dict = field(default_factory=dict)      # client name -> its server-side conn (None: refused)
    waiting: list = field(default_factory=list)    # "who waits on what", at the end
    open_conns: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def __str__(self) -> str:
        return self.detail

    @property
    def deadlock(self) -> bool:
        return self.status == "deadlock"


class Simulation:
    def __init__(self, scenario, seed: Optional[int] = None, *, choose: bool = False, sink=None):
        sc = get_scenario(scenario)
        self.scenario = sc
        self.seed = sc.seed if seed is None else seed
        self.choose = choose
        self.runtime = SimRuntime(seed=self.seed, pool=sc.pool, inject=sc.inject,
                                  latency_us=us(sc.latency), cpu_us=us(sc.cpu), rcvbuf=sc.rcvbuf,
                                  dotnet=sc.dotnet, unhandled=sc.unhandled,
                                  sink=sink)
        self.kernel = self.runtime.kernel
        # Uncapped: ``step`` hands out the events the trace holds past the
        # ``_given`` it handed out already, so it must hold every one (a run
        # stops at ``max_events`` of its own). The trace is a recorder: no
        # hook is called per event. ``_given`` counts from the tracer's
        # numbering, which may have begun before the trace did.
        self.trace = Trace(max_events=None)
        self._tracer = self.runtime.tracer
        self._tracer.subscribe(self.trace)
        self._before = self._given = self._tracer.logged
        self._messages_seen = self._tracer.subscribe(_Messages())   # the result's, without reading the trace
        self.server = sc.server_class()(self.runtime, sc.host, sc.port, sc.backlog,
                                        **sc.server_options)
        self.trace.name_server(type(self.server))
        self.kernel.start_thread("main", self.server.start_listening)
        self.clients = [ClientRun(self.runtime.network, i, script, (sc.host, sc.port))
                        for i, script in enumerate(sc.clients, 1)]
        for c in self.clients:
            c.start()
        self.result: Optional[Result] = None

    def __repr__(self) -> str:
        state = self.result.status if self.result else f"t={self.now} us"
        return f"<Simulation {self.scenario.name or 'scenario'} seed={self.seed} {state}, {self._performed()} events>"

    def __enter__(self) -> "Simulation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- looking ---------------------------------------------------------------

    @property
    def now(self) -> int:
        return self.kernel.now

    @property
    def console(self) -> list[str]:
        return self.runtime.console.lines

    @property
    def finished(self) -> bool:
        return self.result is not None and self.result.status != "running"

    def peek(self) -> Optional[Upcoming]:
        """What happens next (None: nothing more can happen)."""
        ev = self._next_waiting()
        if ev is not None:
            return Upcoming(ev.t, ev.thread, (ev.thread,), True)
        if self.kernel.closed:
            return None
        tied = self.kernel.candidates()
        if not tied:
            return None
        return Upcoming(tied[0].time, tied[0].name if len(tied) == 1 else "?",
                        tuple(e.name for e in tied))

    def choices(self) -> list[Choice]:
        """Who could go next and what each would do first, earliest first: one
        ``Choice`` per thread or actor that ``step(thread=...)`` can run."""
        if self.kernel.closed:
            return []
        firsts: dict = {}
        for entry in self.kernel.pending():
            firsts.setdefault(entry.name, entry)
        return [choice_of(entry) for entry in firsts.values()]

    def runnable(self) -> list[str]:
        """Threads and actors that could go next, earliest first."""
        if self.kernel.closed:
            return []
        return self.kernel.runnable_names()

    # -- doing -----------------------------------------------------------------

    def step(self, thread: Optional[str] = None) -> Optional[Event]:
        """Perform one event and return it (None: the simulation is over, or the
        chosen thread blocked or ended without an event)."""
        if self._waiting():
            return self._hand_out()
        if thread is not None and not self.choose:
            raise ValueError("choosing the next thread needs Simulation(..., choose=True)")
        if thread is None:
            self._perform(self._no_event_yet)
            return self._hand_out()
        k = self.kernel
        if k.closed:
            return None
        if self.runtime.stopping:
            self._finish("stopped")
        else:
            entry = k.pop_named(thread)
            try:
                k.perform(entry)
            except BaseException:
                self.close()
                raise
            if k.peek() is None:
                self._finish()  # the learner's last choice ended the run: say how, now
        return self._hand_out()

    def _performed(self) -> int:
        """How many events this run has performed (its trace's length, uncounted)."""
        return self._tracer.logged - self._before

    def _waiting(self) -> int:
        """How many events were performed and not handed out yet."""
        return self._tracer.logged - self._given

    def _not_handed_out(self) -> list[Event]:
        return self.trace.since(self._given - self._before)

    def _next_waiting(self) -> Optional[Event]:
        """The next event performed and not handed out yet (None: there is none)."""
        return self._not_handed_out()[0] if self._waiting() else None

    def _hand_out(self) -> Optional[Event]:
        ev = self._next_waiting()
        if ev is not None:
            self._given += 1
        return ev

    def _no_event_yet(self) -> bool:
        return not self._waiting()

    def _perform(self, keep_going) -> None:
        """Let the seeded scheduler perform entries while ``keep_going()`` says so
        (asked before each; a stop is asked too); then, with no event to hand
        out, end the run if it stopped or nothing is left to do."""
        k = self.kernel
        if k.closed:
            return
        try:
            k.run(lambda: keep_going() and not self.runtime.stopping)
        except BaseException:
            self.close()
            raise
        if not self._waiting():
            if self.runtime.stopping:
                self._finish("stopped")
            elif k.peek() is None:
                self._finish()

    def replay(self, choices) -> list[Event]:
        """Run the threads named in ``choices`` one step each, in order (needs
        ``choose=True``); return every event performed meanwhile, in order.

        One step can perform several events (a client writes and half-closes
        at one instant; a ``begin_receive`` finds its bytes there and completes
        at once); ``step`` then hands them out one per call and ignores any
        choice until they are out (``peek().done``).
        ``replay`` hands those out first, so each choice really runs its
        thread, and hands out what the last choice left too. A choice that
        cannot run at its turn raises ``ValueError`` naming it, its position and
        what could run; the events before it stay performed."""
        if not self.choose:
            raise ValueError("replaying choices needs Simulation(..., choose=True)")
        performed: list[Event] = []

        def drain() -> None:
            waiting = self._not_handed_out()
            performed.extend(waiting)
            self._given += len(waiting)

        for i, name in enumerate(choices):
            drain()
            runnable = self.runnable()
            if name not in runnable:
                raise ValueError(
                    f"choice {i} ({name!r}) cannot run now; runnable: {', '.join(runnable) or 'nothing'}"
                    + ("" if runnable else " (the simulation is over)")
                    + f"; {len(performed)} event(s) performed by this replay so far")
            ev = self.step(thread=name)
            if ev is not None:
                performed.append(ev)
        drain()
        return performed

    def run(self, until: Optional[int] = None, max_events: int = MAX_EVENTS) -> Result:
        """Run to the end (or to virtual time ``until``, microseconds); return the result.

        The same run as ``step()`` called over and over: an entry is performed
        once the events before it are handed out, ``max_events`` counts those,
        and ``until`` is looked at before each step (a step runs to its first
        event). The kernel is only asked to stop where one of those could."""
        k = self.kernel
        n = 0
        while n < max_events:
            waiting = self._waiting()
            if waiting:   # handed out, as step() would: counted, not looked at
                taken = min(waiting, max_events - n)
                self._given += taken
                n += taken
                continue
            if k.closed:
                break
            if until is not None:
                nxt = self.peek()
                if nxt is not None and nxt.t > until:
                    break
            self._perform(self._steps_until(until, max_events - n))
        else:
            self.result = self._analyse("running", f"stopped after {max_events} events (max_events)")
            return self.result
        if self.result is None or not k.closed:
            self.result = self._analyse("running", None)
        return self.result

    def _steps_until(self, until: Optional[int], room: int):
        """``run``'s question before each entry: go on? Where ``step()`` would
        return (the last entry gave events), stop once ``room`` events are
        waiting or the next entry is later than ``until``."""
        tracer, k = self._tracer, self.kernel
        given = self._given
        seen = tracer.logged

        def keep_going() -> bool:
            nonlocal seen
            logged = tracer.logged
            if logged == seen:
                return True    # inside a step: it runs to its first event
            seen = logged
            if seen - given >= room:
                return False
            nxt = None if until is None else k.peek()
            return nxt is None or nxt.time <= until
        return keep_going

    def close(self) -> None:
        """Stop every simulated thread and join them all; idempotent."""
        if not self.kernel.closed:
            if self.result is None:
                self.result = self._analyse("running", None)
            self.runtime.stop()

    # -- the end -----------------------------------------------------------------

    def _finish(self, status: Optional[str] = None) -> None:
        self.result = self._analyse(status, None)
        self.runtime.stop()

    def _analyse(self, status: Optional[str], detail: Optional[str]) -> Result:
        k, net, pool = self.kernel, self.runtime.network, self.runtime.pool
        pending_ops = net.pending_ops()
        waiting = []
        for st in k.threads.values():
            if st.done or st.entry is not None or st in pool.idle:
                continue
            waiting.append(f"{st.name} waits on {st.waiting_on or 'something'}")
        clients_waiting = [c.describe_wait() for c in self.clients if not c.done]
        if pool.queue:
            waiting.append(f"{len(pool.queue)} callback(s) queued with no pool thread free")
        failures = [f"{st.name} died: {type(st.failure).__name__}: {st.failure}"
                    for st in k.threads.values() if st.failure is not None]
        open_conns = [s.conn for s in net.sockets if s.conn is not None and not s.closed
                      and s.client is not None and s.client.server is s and s not in _backlogs(net)]
        if status is None:
            stuck_threads = waiting and not pending_ops
            status = "deadlock" if (stuck_threads or clients_waiting or pool.queue) else "finished"
        t = k.now
        if detail is None:
            if status == "deadlock":
                who = clients_waiting + waiting
                tail = f" (pending: {'; '.join(pending_ops)})" if pending_ops else " (nothing pending can wake them)"
                detail = f"deadlock: these threads wait on …: {'; '.join(who)}{tail}"
            elif status == "finished":
                detail = f"finished at {t / 1000:.3f} ms: {self._count_messages()} message(s)"
                idle = [w for w in waiting]
                if idle:
                    detail += f"; the server is idle ({'; '.join(idle)}, for the next connection)"
                if open_conns:
                    detail += f"; still open: {', '.join(f'conn {c}' for c in open_conns)}"
            elif status == "stopped":
                detail = f"stopped at {t / 1000:.3f} ms: {self.runtime.stop_reason or 'stopped'}"
            else:
                detail = f"running: paused at {t / 1000:.3f} ms"
        errors = [describe_error(e) for e in self.runtime.unhandled_errors]
        if errors:
            detail += f"; {len(errors)} unhandled error(s) in callbacks: {'; '.join(errors)}"
        if failures:
            detail += "; " + "; ".join(failures)
        return Result(status, detail, t, self._performed(), self._messages(), list(self.console),
                      {c.name: bytes(c.reply) for c in self.clients},
                      {c.name: c.conn for c in self.clients}, clients_waiting + waiting,
                      open_conns, errors + failures)

    def _messages(self) -> dict:
        self._tracer._hand_over()
        return {conn: list(texts) for conn, texts in self._messages_seen.by_conn.items()}

    def messages_by_client(self) -> dict:
        """client name -> the texts the server reported for its connection."""
        msgs = self._messages()
        return {c.name: msgs.get(c.conn, []) for c in self.clients}

    def _count_messages(self) -> int:
        return sum(map(len, self._messages().values()))


class _Messages:
    """A recorder (see ``Tracer.subscribe``) of the server's messages alone:
    conn -> the texts, in order. It looks at each raw record's kind only, so
    a run's result needs no Event made of the whole trace."""

    def __init__(self):
        self.by_conn: dict = {}

    def _receive(self, first: int, records: list, t0) -> bool:
        for _clock, kind, _thread, conn, _nbytes, info in records:
            if kind == kinds.MESSAGE:
                self.by_conn.setdefault(conn, []).append(info.get("text"))
        return True


def _backlogs(net) -> list:
    return [s for lst in net.listeners.values() for s in lst.backlog]


def run_scenario(name_or_scenario, seed: Optional[int] = None, **kw) -> Simulation:
    """Run a scenario to its end and return the (closed) simulation."""
    sim = Simulation(name_or_scenario, seed=seed, **kw)
    try:
        sim.run()
    finally:
        sim.close()
    return sim

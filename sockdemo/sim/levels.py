"""Scheduler levels: a goal, a scenario, and a learner who chooses who runs next.

Mirrors nothing in .NET; it is The Deadlock Empire's idea (deadlockempire.github.io)
applied to the page's server: the simulator's seeded scheduler is set aside
(``Simulation(..., choose=True)``) and the learner picks, step by step, which
thread or actor goes next, to make something happen that the default order
does not. Each level judges the run so far: won, lost (the goal can no longer
be reached), or still open. The judges read only the trace and the
simulation's result, so a level is played the same in a widget (the Stepper's
scheduler buttons) or as a list of choices (``play``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple, Optional

from ..servers.broken import LateResetServer, SleepyServer
from ..trace import kinds
from .scenarios import Client, Scenario
from .simulation import Simulation

__all__ = ["Level", "Verdict", "LEVELS", "play", "judge", "UNPLAYABLE"]

WAITING = "Waiting for a connection..."
UNPLAYABLE = "a choice cannot be played"


class Verdict(NamedTuple):
    won: bool
    text: str


@dataclass(frozen=True)
class Level:
    name: str
    title: str
    goal: str                      # what to make happen, in a sentence
    scenario: Scenario
    judge: Callable[[Simulation], Optional[Verdict]]   # None: not decided yet
    seed: int = 0

    def start(self) -> Simulation:
        """A fresh run of this level, waiting for the learner's first choice."""
        return Simulation(self.scenario, seed=self.seed, choose=True)

    def verdict(self, sim: Simulation) -> Optional[Verdict]:
        decided = self.judge(sim)
        if decided is None and sim.finished:
            return Verdict(False, "the run is over and the goal was not reached")
        return decided


def play(level: Level, choices: Iterable[str]) -> tuple[Simulation, Optional[Verdict]]:
    """Play ``level`` with ``choices`` (thread or actor names, one per step), stopping
    at the verdict; then let the default scheduler finish an undecided run.
    Returns the (closed) simulation and its verdict."""
    sim = level.start()
    try:
        for i, choice in enumerate(choices):
            if level.verdict(sim) is not None:
                break
            runnable = sim.runnable()
            if choice not in runnable:   # named by its place in the whole list, not in one replay
                raise ValueError(f"choice {i} ({choice!r}) cannot run at its turn; runnable: "
                                 f"{', '.join(runnable) or 'nothing (the run is over)'}")
            sim.replay([choice])
        while level.verdict(sim) is None and sim.step() is not None:
            pass
        return sim, level.verdict(sim)
    finally:
        sim.close()


def judge(level: Level, choices: Iterable[str]) -> Verdict:
    """The verdict of ``choices`` played on ``level`` (as ``play`` gives it), never
    an exception: a choice that cannot run at its turn loses, and the verdict's
    text (starting with ``UNPLAYABLE``) names it and what could run instead.
    For self-checks, which must answer a learner's list with a sentence."""
    try:
        _, verdict = play(level, choices)
    except ValueError as exc:
        return Verdict(False, f"{UNPLAYABLE}: {exc}")
    return verdict if verdict is not None else Verdict(False, "the run stopped before the level was decided")


# -- the judges ---------------------------------------------------------------------

def _callbacks_race_main(sim: Simulation) -> Optional[Verdict]:
    waiting = 0
    for ev in sim.trace.events:
        if ev.kind == kinds.CONSOLE and ev.get("text") == WAITING:
            waiting += 1
            if waiting == 2:
                return Verdict(False, "main printed its second 'Waiting for a connection...' "
                                      "before any ReadCallback ran")
        elif ev.kind == kinds.CALLBACK_START and ev.get("name") == "ReadCallback":
            return Verdict(True, f"{ev.thread} ran ReadCallback while main was still to print its "
                                 "second 'Waiting...': main and the callbacks run side by side")
    return None


def _late_reset(sim: Simulation) -> Optional[Verdict]:
    # Each round of main's loop: BeginAccept, Reset, WaitOne. A Set() that comes
    # between the BeginAccept and the Reset is wiped out: main's wait never ends.
    # A connection already waiting makes BeginAccept run AcceptCallback, Set()
    # and all, before it returns (both .NETs), so the default order loses.
    set_in_round, safe_rounds = False, 0
    for ev in sim.trace.events:
        if ev.thread == "main" and ev.kind == kinds.BEGIN and ev.get("op") == "accept":
            set_in_round = False
        elif ev.kind == kinds.SET and ev.get("event") == "allDone":
            set_in_round = True
        elif ev.thread == "main" and ev.kind == kinds.RESET:
            if set_in_round:
                return Verdict(False, "the accept callback's Set() came before main's Reset(), which "
                                      "wiped it out: main now waits on allDone forever, and accepts "
                                      "no one after")
            safe_rounds += 1
    # Won once main is safely waiting again after the last client's accept.
    if safe_rounds > len(sim.scenario.clients):
        return Verdict(True, "every client was accepted: no connection was waiting when main began "
                             "an accept, so each Set() came after the Reset() it could have hidden")
    return None


def _starve(client_name: str, wait_us: int):
    def judge(sim: Simulation) -> Optional[Verdict]:
        conn = next((c.conn for c in sim.clients if c.name == client_name), None)
        completed = {}
        for ev in sim.trace.events:
            if ev.kind in (kinds.CHUNK, kinds.EOF) and ev.get("id") is not None:
                completed[ev["id"]] = ev.t
            elif (ev.kind == kinds.CALLBACK_START and ev.get("name") == "ReadCallback"
                  and ev.conn == conn and ev.get("id") in completed):
                waited = ev.t - completed[ev["id"]]
                if waited > wait_us:
                    return Verdict(True, f"{client_name}'s ReadCallback waited {waited / 1e6:.3f} s in "
                                         "the pool's queue, behind a callback that blocked its only thread")
                return Verdict(False, f"{client_name}'s first ReadCallback ran after only "
                                      f"{waited / 1000:.3f} ms in the queue")
        return None
    return judge


LEVELS: dict[str, Level] = {level.name: level for level in (
    Level("callbacks_race_main", "Callbacks race main",
          "Make a ReadCallback run before main prints 'Waiting for a connection...' a second time.",
          Scenario(name="callbacks_race_main", clients=(Client.text("Hello, server!"),)),
          _callbacks_race_main),
    Level("late_reset", "The late Reset()",
          "This server calls allDone.Reset() after BeginAccept instead of before it. Left alone, "
          "main waits forever: a connection already waiting runs AcceptCallback, Set() included, "
          "inside BeginAccept, before the Reset(). Find an order in which every client is accepted "
          "and no Set() is lost.",
          Scenario(name="late_reset", server=LateResetServer,
                   clients=(Client.text("one"), Client.text("two"))),
          _late_reset),
    Level("starve", "Starve a client",
          "Each ReadCallback sleeps 2 s on a pool of one thread. Make client-1's first "
          "ReadCallback wait more than 1 s in the pool's queue (by default client-2 waits).",
          Scenario(name="starve", server=SleepyServer, pool=1,
                   clients=(Client.text("first"), Client.text("second"))),
          _starve("client-1", 1_000_000)),
)}

"""The simulator's kernel: a virtual clock, a heap of timed work, and a baton.

Mirrors no .NET piece; it is the deterministic stand-in for the operating
system's scheduler. Shaped after SimPy's ``core.py``: a heap of
``(time, seq, entry)``, ``step()``, ``peek()``, and after curio's kernel note:

- Every simulated *thread* (the server's ``main``, each ``pool-N`` worker) is
  a real Python thread, because the servers are ordinary blocking code that
  must run unchanged. Only one of them holds the *baton* at a time: the kernel
  hands it over (``_switch``) and waits until the thread hands it back at its
  next scheduling point (``checkpoint``, ``block``) or ends. So the real
  threads never race, and the order of everything is the kernel's choice.
- A thread just resumed keeps the baton through its first ``checkpoint``: it
  was resumed for that step (a thread started runs to its second checkpoint,
  a worker woken for a callback runs through the callback's entry). So a
  step of a thread is its code from one scheduling point to the next.
- The network and the scripted clients are *actions*: plain functions the
  kernel runs inline, on its own thread, under a name (``engine``,
  ``client-3``) that the tracer uses instead of the real thread's name.
- The next entry is the one with the smallest virtual time; entries that tie
  are chosen by a seeded ``random.Random``, except that entries of one
  *owner* (one thread, one direction of one connection) keep their order,
  as TCP keeps a stream's bytes in order.
- Stopping (``close``) hands the baton to every parked thread with the
  ``closing`` flag up: each raises ``ThreadInterrupted`` where it waits (and
  again at any checkpoint it reaches while unwinding, so it does nothing
  more), and is joined.

Times are integer microseconds.
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
from typing import Any, Callable, NamedTuple, Optional

from ..apm.errors import ThreadInterrupted
from ..trace import kinds

__all__ = ["Kernel", "SimThread", "Entry", "Action", "us", "START", "RESUME", "TAKE", "ACT"]

HANDOFF_TIMEOUT = 10.0   # real seconds a simulated thread may run between two scheduling points


def _closed_gate() -> threading.Lock:
    """A binary semaphore at 0: one thread waits with ``acquire``, another opens
    it with ``release``. A plain lock does that several times cheaper than
    ``threading.Semaphore`` (Python code around a Condition), and the baton
    changes hands on every step."""
    gate = threading.Lock()
    gate.acquire()
    return gate


def us(seconds: float) -> int:
    """Seconds (float) to integer virtual microseconds."""
    return int(round(seconds * 1_000_000))


class Action(NamedTuple):
    """What a thread or an actor does when it next runs: the event kind it is
    about to emit (``begin``, ``wake`` ...) and what about (an op, an event's
    name, a callback's name, a console line), for a learner choosing who goes
    next. Kinds that are no event: ``START``, ``RESUME`` (after a sleep), ``TAKE``
    (an idle worker takes a callback), ``ACT`` (an actor; ``detail`` says what)."""
    kind: str
    detail: Any = None
    conn: Optional[int] = None


START, RESUME, TAKE, ACT = kinds.START, kinds.RESUME, kinds.TAKE, kinds.ACT


class Entry:
    """One piece of timed work: resume a thread, or run an action inline."""
    __slots__ = ("time", "seq", "name", "owner", "thread", "value", "action", "cancelled", "label")

    def __init__(self, time, seq, name, owner, thread=None, value=None, action=None, label=None):
        self.time, self.seq, self.name, self.owner = time, seq, name, owner
        self.thread, self.value, self.action = thread, value, action
        self.cancelled = False
        self.label = label    # an actor's Action: what it will do

    @property
    def next_action(self) -> Action:
        """What performing this entry does first."""
        if self.thread is not None:
            return self.thread.next_action
        return self.label or Action(ACT, None)

    def __lt__(self, other: "Entry") -> bool:
        return (self.time, self.seq) < (other.time, other.seq)

    def __repr__(self) -> str:
        what = "resume" if self.thread is not None else "action"
        return f"<Entry t={self.time} {what} {self.name}>"


class SimThread:
    """A simulated thread: a real, named Python thread that runs only with the baton."""

    def __init__(self, kernel: "Kernel", name: str, target: Callable[[], None]):
        self.kernel = kernel
        self.name = name
        self.target = target
        self.go = _closed_gate()
        self.value: Any = None
        self.just_resumed = False   # its next checkpoint is the step it was resumed for
        self.entry: Optional[Entry] = None   # its pending resume, if runnable or timed
        self.done = False
        self.failure: Optional[BaseException] = None
        self.waiting_on: Optional[str] = None   # what it blocks on, for the deadlock report
        self.next_action = Action(START)        # what it does when it next runs
        self.thread = threading.Thread(target=self._bootstrap, name=name, daemon=True)

    def __repr__(self) -> str:
        return f"<SimThread {self.name}{' done' if self.done else ''}>"

    def _bootstrap(self) -> None:
        k = self.kernel
        self.go.acquire()
        try:
            if not k.closing:
                self.target()
        except ThreadInterrupted:
            pass
        except BaseException as exc:  # kept, reported by the simulation; never lost
            self.failure = exc
        finally:
            self.done = True
            self.entry = None
            k._back.release()


class Actor:
    """The name an inline action runs under (tracer thread name)."""
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class Kernel:
    def __init__(self, seed: int = 0, cpu_us: int = 10):
        self.now = 0
        self.cpu_us = cpu_us
        self.rng = random.Random(seed)
        self.threads: dict[str, SimThread] = {}
        self.current: Any = None          # the SimThread or Actor running now
        self.closing = False
        self.closed = False
        self._heap: list[Entry] = []
        self._seq = itertools.count()
        self._back = _closed_gate()   # a thread handing the baton back opens it

    # -- scheduling work ------------------------------------------------------

    def _push(self, entry: Entry) -> Entry:
        heapq.heappush(self._heap, entry)
        return entry

    def call_at(self, time: int, name: str, action: Callable[[], None], owner=None,
                label: Optional[str] = None) -> Entry:
        """Run ``action()`` inline at virtual ``time``, traced as thread ``name``;
        ``label`` says in words what it does (``"6 bytes arrive on conn 1"``)."""
        return self._push(Entry(max(time, self.now), next(self._seq), name, owner or name,
                                action=action, label=Action(ACT, label) if label else None))

    def call_later(self, delay: int, name: str, action, owner=None, label: Optional[str] = None) -> Entry:
        return self.call_at(self.now + delay, name, action, owner, label)

    def start_thread(self, name: str, target: Callable[[], None]) -> SimThread:
        if name in self.threads:
            raise ValueError(f"a simulated thread named {name!r} exists already")
        st = SimThread(self, name, target)
        self.threads[name] = st
        st.thread.start()
        self._resume_at(st, self.now + self.cpu_us, None)
        return st

    def _resume_at(self, st: SimThread, time: int, value) -> Entry:
        if st.entry is not None:
            st.entry.cancelled = True
        st.entry = self._push(Entry(time, next(self._seq), st.name, st.name, thread=st, value=value))
        return st.entry

    def wake(self, st: SimThread, value=None) -> None:
        """Make a blocked thread runnable (cancels its timeout, if any)."""
        if not st.done:
            self._resume_at(st, self.now + self.cpu_us, value)

    # -- called on a simulated thread -------------------------------------------

    def current_thread(self) -> Optional[SimThread]:
        cur = self.current
        return cur if isinstance(cur, SimThread) and cur.thread is threading.current_thread() else None

    def checkpoint(self, st: SimThread, action: Optional[Action] = None) -> None:
        """A scheduling point of ``st``, about to do ``action``: give the baton
        back and resume one step of cpu later (or later still), unless ``st``
        was just resumed."""
        if self.closing:
            raise ThreadInterrupted()
        if not st.just_resumed:
            st.next_action = action or Action("")
            self._resume_at(st, self.now + self.cpu_us, None)
            self._park(st)
        st.just_resumed = False

    def block(self, st: SimThread, timeout_us: Optional[int] = None, on_timeout=None,
              action: Optional[Action] = None):
        """Give the baton back until ``wake`` (its value is returned) or the timeout
        (``on_timeout`` is returned); ``action`` is what it does once woken."""
        if self.closing:
            raise ThreadInterrupted()
        st.next_action = action or Action(RESUME)
        if st.entry is not None:
            st.entry.cancelled = True
            st.entry = None
        if timeout_us is not None:
            self._resume_at(st, self.now + max(0, timeout_us), on_timeout)
        return self._park(st)

    def _park(self, st: SimThread):
        self._back.release()
        st.go.acquire()
        if self.closing:
            raise ThreadInterrupted()
        return st.value

    # -- choosing and performing ----------------------------------------------

    def _clean(self) -> None:
        heap = self._heap
        while heap and heap[0].cancelled:
            heapq.heappop(heap)

    def peek(self) -> Optional[Entry]:
        """The entry that runs next if nobody chooses (ties not yet broken)."""
        self._clean()
        return self._heap[0] if self._heap else None

    def candidates(self) -> list[Entry]:
        """Entries tied at the earliest time, first of each owner, in seq order."""
        self._clean()
        heap = self._heap
        if not heap:
            return []
        t = heap[0].time
        # A heap's children are no earlier than their parent: if neither child
        # of the root is due at t, nothing else is (the common case).
        if all(child.time != t for child in heap[1:3]):
            return [heap[0]]
        firsts: dict = {}
        for e in heap:
            if e.time == t and not e.cancelled:
                best = firsts.get(e.owner)
                if best is None or e.seq < best.seq:
                    firsts[e.owner] = e
        return sorted(firsts.values(), key=lambda e: e.seq)

    def pending(self) -> list[Entry]:
        """Every live entry, earliest first (for ``runnable`` and reports)."""
        return sorted(e for e in self._heap if not e.cancelled)

    def pop_next(self) -> Optional[Entry]:
        tied = self.candidates()
        if not tied:
            return None
        entry = tied[0] if len(tied) == 1 else tied[self.rng.randrange(len(tied))]
        self._remove(entry)
        return entry

    def pop_named(self, name: str) -> Entry:
        """The earliest entry of thread or actor ``name`` (the learner's choice)."""
        mine = [e for e in self.pending() if e.name == name]
        if not mine:
            raise ValueError(f"{name!r} cannot run now; runnable: {', '.join(self.runnable_names()) or 'nothing'}")
        self._remove(mine[0])
        return mine[0]

    def runnable_names(self) -> list[str]:
        return list(dict.fromkeys(e.name for e in self.pending()))

    def _remove(self, entry: Entry) -> None:
        entry.cancelled = True   # lazily dropped from the heap
        if entry.thread is not None and entry.thread.entry is entry:
            entry.thread.entry = None

    def perform(self, entry: Entry) -> None:
        self.now = max(self.now, entry.time)
        if entry.thread is not None:
            self._switch(entry.thread, entry.value)
        else:
            self.current = Actor(entry.name)
            try:
                entry.action()
            finally:
                self.current = None

    def _switch(self, st: SimThread, value) -> None:
        st.value = value
        st.just_resumed = True
        st.waiting_on = None
        self.current = st
        st.go.release()
        ok = self._back.acquire(timeout=HANDOFF_TIMEOUT)
        self.current = None
        if not ok:
            self.closing = True   # the baton is lost: the late thread must not take it again
            raise RuntimeError(f"simulated thread {st.name} ran {HANDOFF_TIMEOUT} s of real time without "
                               "reaching a scheduling point (does it block outside the runtime?)")

    # -- stopping ---------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Interrupt every parked thread and join them all; idempotent."""
        if self.closed:
            return
        self.closing = True
        self._heap.clear()
        for st in list(self.threads.values()):
            if st.done:
                continue
            st.go.release()
            self._back.acquire(timeout=timeout)
        stuck = []
        for st in self.threads.values():
            st.thread.join(timeout)
            if st.thread.is_alive():
                stuck.append(st.name)
        self.closed = True
        if stuck:
            raise RuntimeError(f"simulated threads did not stop: {', '.join(stuck)}")

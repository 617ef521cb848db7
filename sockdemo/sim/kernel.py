"""The simulator's kernel: a virtual clock, a heap of timed work, and a baton.

Mirrors no .NET piece; it is the deterministic stand-in for the operating
system's scheduler. Shaped after SimPy's ``core.py``: a heap of
``(time, seq, entry)``, ``step()``, ``peek()``, and after curio's kernel note:

- Every simulated *thread* (the server's ``main``, each ``pool-N`` worker) is
  a real Python thread, because the servers are ordinary blocking code that
  must run unchanged. Only one of them holds the *baton* at a time. So the
  real threads never race, and the order of everything is the kernel's choice.
  Taking turns, they share one CPU (``apm.affinity``), so a hand-over wakes
  the next thread where the last one ran.
- Whoever holds the baton picks what runs next. ``perform`` hands it to one
  thread and takes it back at that thread's next scheduling point
  (``checkpoint``, ``block``) or end: one step, for a learner. ``run`` lets
  the thread that reaches its scheduling point choose the next entry itself,
  run the actions that come first inline, and hand the baton straight to the
  next thread, or keep it when that is itself; the caller of ``run`` gets it
  back only when ``keep_going()`` says stop. Each hand-over between two real
  threads is an OS context switch, which is most of what a step costs, and
  this way a step costs one at most instead of two. The choices are the same
  either way: the same entries in the same order, the same seeded draws.
- A thread just resumed keeps the baton through its first ``checkpoint``: it
  was resumed for that step (a thread started runs to its second checkpoint,
  a worker woken for a callback runs through the callback's entry). So a
  step of a thread is its code from one scheduling point to the next.
- The network and the scripted clients are *actions*: plain functions run
  inline by whoever holds the baton (the caller of ``perform`` or ``run``, or
  a simulated thread inside ``run``), under a name (``engine``,
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
import sys
import threading
from typing import Any, Callable, NamedTuple, Optional

from ..apm.affinity import current_cpu, run_on_one_cpu
from ..apm.errors import ThreadInterrupted
from ..trace import kinds

__all__ = ["Kernel", "SimThread", "Entry", "Action", "us", "START", "RESUME", "TAKE", "ACT"]

HANDOFF_TIMEOUT = 10.0   # real seconds a simulated thread may run between two scheduling points

STACK_HEADROOM = 100     # frames a thread must have left to choose the next entry itself (actions run)
_STEP = None   # ``Kernel._keep_going`` while ``perform`` runs one thread for one step


def _closed_gate() -> threading.Lock:
    """A binary semaphore at 0: one thread waits with ``acquire``, another opens
    it with ``release``. A plain lock does that several times cheaper than
    ``threading.Semaphore`` (Python code around a Condition), and the baton
    changes hands on every step."""
    gate = threading.Lock()
    gate.acquire()
    return gate


def _near_recursion_limit() -> bool:
    """Whether the calling thread has fewer than ``STACK_HEADROOM`` frames left
    before Python's recursion limit."""
    try:
        sys._getframe(sys.getrecursionlimit() - STACK_HEADROOM)
    except ValueError:   # the stack is not that deep
        return False
    return True


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
        if k.cpu is not None:
            run_on_one_cpu(k.cpu)
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
            k._pass_baton(None)


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
        # (time, seq, entry): tuples compare in C, and seq is unique, so an
        # entry is never compared itself.
        self._heap: list[tuple] = []
        self._seq = itertools.count()
        self._back = _closed_gate()   # a thread handing the baton back to the caller opens it
        self._keep_going: Optional[Callable[[], bool]] = _STEP   # ``run``'s, while it runs
        self._handovers = 0   # the baton's hand-overs to threads, for the stuck-thread check
        self._error: Optional[BaseException] = None   # an action's, raised to ``run``'s caller
        self._relayed = False   # a thread left the choice to ``run``'s caller (``_pass_baton``)
        # Its threads take turns and never run at once, so they share one CPU:
        # the one it was made on. Left to the OS, each hand-over of the baton
        # would wake a thread on another CPU, which costs as much as the step
        # (bench_stepper.py: about 1.7x the events a second with this).
        self.cpu = current_cpu()

    # -- scheduling work ------------------------------------------------------

    def _push(self, entry: Entry) -> Entry:
        heapq.heappush(self._heap, (entry.time, entry.seq, entry))
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
        if not self._pass_baton(st):
            st.go.acquire()
        if self.closing:
            raise ThreadInterrupted()
        return st.value

    def _pass_baton(self, me: Optional[SimThread]) -> bool:
        """On a simulated thread at its scheduling point (``me``) or at its end
        (None): inside ``run``, perform the entries that come next up to the
        next thread's, and hand the baton to that thread; otherwise, or when
        ``run`` should stop, hand it back to the caller. True: the next thread
        is ``me``, which keeps the baton."""
        if me is not None and self._keep_going is not _STEP and _near_recursion_limit():
            # Choosing runs actions, which need stack that a thread deep in nested
            # callbacks may not have left: run's caller chooses, on its own stack.
            self._relayed = True
            nxt = None
        else:
            try:
                nxt = self._advance()
            except BaseException as exc:  # an action's error belongs to run's caller
                self._error, nxt = exc, None
        if me is not None and nxt is me:
            return True
        (self._back if nxt is None else nxt.go).release()
        return False

    # -- choosing and performing ----------------------------------------------

    def _clean(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)

    def peek(self) -> Optional[Entry]:
        """The entry that runs next if nobody chooses (ties not yet broken)."""
        self._clean()
        return self._heap[0][2] if self._heap else None

    def candidates(self) -> list[Entry]:
        """Entries tied at the earliest time, first of each owner, in seq order."""
        self._clean()
        heap = self._heap
        if not heap:
            return []
        t = heap[0][0]
        n = len(heap)
        # A heap's children are no earlier than their parent: every entry due at
        # t is in the root's subtree of entries due at t, and when neither child
        # of the root is, the root is alone (the common case).
        if (n < 2 or heap[1][0] != t) and (n < 3 or heap[2][0] != t):
            return [heap[0][2]]
        firsts: dict = {}
        below = [0]
        while below:
            i = below.pop()
            e = heap[i][2]
            if not e.cancelled:
                best = firsts.get(e.owner)
                if best is None or e.seq < best.seq:
                    firsts[e.owner] = e
            child = 2 * i + 1
            if child < n and heap[child][0] == t:
                below.append(child)
            child += 1
            if child < n and heap[child][0] == t:
                below.append(child)
        return sorted(firsts.values(), key=lambda e: e.seq)

    def pending(self) -> list[Entry]:
        """Every live entry, earliest first (for ``runnable`` and reports)."""
        return [e for _, _, e in sorted(self._heap) if not e.cancelled]

    def pop_next(self) -> Optional[Entry]:
        tied = self.candidates()
        if not tied:
            return None
        if len(tied) == 1:
            entry = heapq.heappop(self._heap)[2]   # the root: no need to leave it for _clean
        else:
            entry = tied[self.rng.randrange(len(tied))]
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
        """Perform one entry: run an action, or resume a thread for one step."""
        self.now = max(self.now, entry.time)
        if entry.thread is None:
            self._act(entry)
        else:
            self._resume(entry).go.release()
            self._wait_for_baton()

    def run(self, keep_going: Callable[[], bool]) -> None:
        """Perform entries while ``keep_going()`` says so (asked before each) and
        any is left; the threads pass the baton among themselves meanwhile (see
        the module's note) and it comes back here at the end."""
        if self.closing:
            return
        self._keep_going = keep_going
        try:
            st = self._advance()
            while st is not None:
                self._relayed = False
                st.go.release()
                self._wait_for_baton()
                st = self._advance() if self._relayed else None
        finally:
            self._keep_going = _STEP
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _advance(self) -> Optional[SimThread]:
        """Inside ``run``: perform entries while ``keep_going()`` says so, up to
        one that resumes a thread; return that thread, made ready to take the
        baton (None: hand it back to ``run``'s caller)."""
        keep_going = self._keep_going
        while keep_going is not _STEP and not self.closing and keep_going():
            entry = self.pop_next()
            if entry is None:
                return None
            self.now = max(self.now, entry.time)
            if entry.thread is None:
                self._act(entry)
            else:
                return self._resume(entry)
        return None

    def _act(self, entry: Entry) -> None:
        self.current = Actor(entry.name)
        try:
            entry.action()
        finally:
            self.current = None

    def _resume(self, entry: Entry) -> SimThread:
        """Make ``entry``'s thread the one holding the baton (the hand-over is the caller's)."""
        st = entry.thread
        st.value = entry.value
        st.just_resumed = True
        st.waiting_on = None
        self.current = st
        self._handovers += 1
        return st

    def _wait_for_baton(self) -> None:
        """Wait until a thread hands the baton back to this caller. A thread that
        keeps it for ``HANDOFF_TIMEOUT`` with no hand-over meanwhile is stuck."""
        handovers = self._handovers
        while not self._back.acquire(timeout=HANDOFF_TIMEOUT):
            if self._handovers == handovers:
                self.closing = True   # the baton is lost: the late thread must not take it again
                who = getattr(self.current, "name", "?")   # None while a thread chooses the next entry
                raise RuntimeError(f"simulated thread {who} ran {HANDOFF_TIMEOUT} s of real time without "
                                   "reaching a scheduling point (does it block outside the runtime?)")
            handovers = self._handovers
        self.current = None

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

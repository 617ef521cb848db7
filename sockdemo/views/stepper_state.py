"""What the stepper shows at step k: ``state_at(trace, k)``.

Mirrors what a debugger paused in the page's server would show: every thread
and what it is doing (running ``ReadCallback`` for conn 2, waiting on
``allDone``, idle in the pool, blocked in ``end_receive``), the operations
begun and not yet called back, each connection's ``StateObject``, ``allDone``,
the console, and the line of the sample (the Python port and the page's C#)
that produced the last event.

The state at step k is a pure function of the first k events: stepping back
is as cheap as stepping forward, and a trace recorded on real sockets steps
exactly like a simulated one. Replaying k events each time would make a step
on a long run cost O(k), so a ``StepperModel`` replays the trace once and
keeps a checkpoint every ``EVERY`` events; ``state_at`` restores the nearest
one and replays at most ``EVERY - 1`` events. The checkpoints are cheap
because every record is immutable: a checkpoint shares them and copies only
the small dicts that index them. ``state_at(trace, k)`` keeps one model per
``Trace`` (weakly), and picks up events a live trace gains; given a plain list
of events it simply replays them.

What the events cannot say is left out rather than guessed: a pool thread
appears when it first does something (the pool creates threads silently),
and a connection's text is made of the chunk events' previews (each at most
``PREVIEW_BYTES`` bytes, bytes above 0x7F shown as ``\\xNN``) until its
``message`` event gives the whole text.
"""
from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Optional

from ..trace.events import Event
from ..trace.text import PREVIEW_BYTES, callback_name, format_endpoint
from .source_map import (COMPLETIONS, MAIN, NOWHERE, RUNTIME, SourceRef, console_key,
                         locate)
from ..trace.lanes import lane_order
from ..trace import kinds

__all__ = ["state_at", "StepperModel", "StepState", "ThreadState", "Frame",
           "PendingOp", "ConnState", "describe_event", "model_for", "EVERY"]

STOPPED = "(stopped)"  # what a thread interrupted by the runtime's stop waits on
EVERY = 64           # events between checkpoints
RECENT = 256         # states kept for stepping back over what was just shown

_HANDLE = re.compile(r"(\w+)#(\d+)")   # an AsyncResult's wait handle, named "<op>#<id>"
_POOL = re.compile(r"pool-(\d+)")


# -- the records ---------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """A callback on a thread's stack."""
    name: str
    id: Optional[int]
    conn: Optional[int]
    since: int                       # the step that entered it


@dataclass(frozen=True)
class ThreadState:
    name: str
    role: str                        # main | engine | pool | client | other
    activity: str                    # running | waiting | blocked | sleeping | idle | polling
    frames: tuple = ()               # callbacks on the stack, outermost first
    waiting_on: Optional[str] = None  # the ManualResetEvent's name ("allDone", "receive#5"),
                                      # or "sleep"
    since: int = 0                   # the step this activity began
    note: Optional[str] = None       # a client's latest action ("send 5 bytes")

    @property
    def callback(self) -> Optional[str]:
        return self.frames[-1].name if self.frames else None

    @property
    def conn(self) -> Optional[int]:
        return self.frames[-1].conn if self.frames else None

    @property
    def describe(self) -> str:
        top = self.frames[-1] if self.frames else None
        inside = f" in {top.name}" if top else ""
        if self.activity == "blocked":
            m = _HANDLE.fullmatch(self.waiting_on or "")
            op, op_id = (m.group(1), m.group(2)) if m else ("?", "?")
            return f"blocked in end_{op} (#{op_id}){inside}"
        if self.activity == "sleeping":
            return f"sleeping (Thread.Sleep){inside}"
        if self.activity == "waiting":
            return f"waiting on {self.waiting_on} (WaitOne){inside}"
        if self.activity == "running" and top is not None:
            text = f"running {top.name}"
            if top.conn is not None:
                text += f" for conn {top.conn}"
            if len(self.frames) > 1:
                text += " (nested in " + ", ".join(f.name for f in self.frames[-2::-1]) + ")"
            return text
        if self.activity == "idle":
            return "idle in the pool"
        if self.activity == "stopped":
            return "stopped (interrupted when the server stopped)"
        if self.activity == "polling":
            return "polling the sockets (selector loop)"
        if self.role == "main":
            return "running the main loop"
        if self.role == "client":
            return f"a client: {self.note}" if self.note else "a client"
        return "running outside the server"


@dataclass(frozen=True)
class PendingOp:
    """A ``begin_*`` whose callback has not started yet."""
    id: Optional[int]
    op: str
    conn: Optional[int]              # None: the listener
    thread: str                      # who called begin_*
    callback: Optional[str]          # "ReadCallback"
    origin: Optional[str]            # callback the begin ran in (None: the main loop)
    since: int                       # step of the begin
    since_t: int
    completed: Optional[int] = None  # step of the completion
    result: Optional[str] = None     # "7 bytes", "0 bytes (eof)", "conn 2", "error: ..."
    new_conn: Optional[int] = None   # an accept's connection

    @property
    def status(self) -> str:
        if self.completed is None:
            return "pending"
        return "completed, waiting for a pool thread"

    @property
    def describe(self) -> str:
        where = "the listener" if self.conn is None else f"conn {self.conn}"
        text = f"begin_{self.op} #{self.id} on {where} (by {self.thread}, step {self.since})"
        if self.completed is not None:
            text += f": {self.result}, completed at step {self.completed}, waiting for a pool thread"
        else:
            text += ": pending"
        return text


@dataclass(frozen=True)
class ConnState:
    """A connection's ``StateObject`` as far as the events tell."""
    conn: int
    peer: Optional[tuple] = None
    since: int = 0                   # step of the accept
    received: int = 0                # bytes received so far (sum of chunks)
    chunks: int = 0
    text: str = ""                   # the chunks' previews joined (the whole text once printed)
    partial: bool = False            # text is missing bytes beyond a chunk's preview
    eof: bool = False                # a receive returned 0: the peer closed its side
    message: Optional[str] = None    # the text the server printed
    sent: int = 0
    client_sent: int = 0
    error: Optional[str] = None
    shutdown: Optional[str] = None
    closed: bool = False

    @property
    def printed(self) -> bool:
        return self.message is not None

    @property
    def status(self) -> str:
        if self.closed:
            return "closed"
        if self.error:
            return "error"
        if self.eof:
            return "peer closed its side"
        return "open"


@dataclass(frozen=True)
class StepState:
    k: int
    event: Optional[Event]           # event k-1, the one just stepped over
    summary: str                     # that event in words
    t: int                           # its time (µs); 0 at k=0
    threads: tuple = ()
    pending: tuple = ()
    conns: tuple = ()
    signals: tuple = ()              # ((name, is_set), ...) of every ManualResetEvent seen
    console: tuple = ()
    listening: Optional[str] = None  # "127.0.0.1:11000" once the listener listens
    source: SourceRef = NOWHERE      # the line behind the event

    @property
    def all_done(self) -> bool:
        """``allDone`` is set (it starts reset, as the sample makes it)."""
        return dict(self.signals).get("allDone", False)

    def thread(self, name: str) -> Optional[ThreadState]:
        return next((t for t in self.threads if t.name == name), None)

    def conn(self, conn: int) -> Optional[ConnState]:
        return next((c for c in self.conns if c.conn == conn), None)

    def waiters(self, signal: str) -> list:
        return [t.name for t in self.threads if t.waiting_on == signal]


# -- events in words -------------------------------------------------------------

def _on(conn) -> str:
    return "the listener" if conn is None else f"conn {conn}"


def describe_event(ev: Optional[Event]) -> str:
    if ev is None:
        return "the start: nothing has happened yet"
    i, k = ev.info, ev.kind
    who = ev.thread
    if k == "begin":
        return f"{who} calls begin_{i.get('op')} (#{i.get('id')}) on {_on(ev.conn)}"
    if k == "accept":
        peer = i.get("peer")
        peer = f" from {peer[0]}:{peer[1]}" if isinstance(peer, (list, tuple)) and len(peer) >= 2 else ""
        return f"accept #{i.get('id')} completed: conn {ev.conn}{peer}; its callback is queued to the pool"
    if k == "chunk":
        return (f"receive #{i.get('id')} on conn {ev.conn} completed with {ev.nbytes} bytes "
                f"{i.get('data', '')!r}; its callback is queued to the pool")
    if k == "eof":
        return f"receive #{i.get('id')} on conn {ev.conn} completed with 0 bytes: the peer closed its side"
    if k == "sent":
        return f"send #{i.get('id')} on conn {ev.conn} completed: {ev.nbytes} bytes sent"
    if k == "connected":
        return f"connect #{i.get('id')} completed"
    if k == "op_error":
        return f"{i.get('op')} #{i.get('id')} on {_on(ev.conn)} failed: {i.get('error')}"
    if k == "callback_start":
        return f"{who} enters {i.get('name')} (#{i.get('id')})"
    if k == "callback_end":
        return f"{i.get('name')} (#{i.get('id')}) returns on {who}"
    if k == "end":
        return f"end_{i.get('op')} (#{i.get('id')}) returns on {who}"
    if k == "set":
        return f"{who} sets {i.get('event')}"
    if k == "reset":
        return f"{who} resets {i.get('event')}"
    if k == "wait":
        return f"{who} waits on {i.get('event')}"
    if k == "wake":
        return f"{who} wakes from {i.get('event')} (signaled: {i.get('signaled')})"
    if k == "console":
        return f"Console.WriteLine: {i.get('text', '')}"
    if k == "message":
        return f"conn {ev.conn}: the whole message ({ev.nbytes} bytes) was printed"
    if k == "close":
        return f"{who} closes {_on(ev.conn)}"
    if k == "shutdown":
        return f"{who} shuts down {_on(ev.conn)} ({i.get('how')})"
    if k == "listen":
        return f"the listener listens (backlog {i.get('backlog')})"
    if k == "error":
        where = f" in {i['where']}" if i.get("where") else ""
        return f"error{where}: {i.get('error')}"
    if k.startswith("client_"):
        size = f" ({ev.nbytes} bytes)" if ev.nbytes is not None else ""
        return f"a client {k[7:]}{size} on {_on(ev.conn)}"
    if k == "hook_error":
        return f"a trace hook failed and was removed: {i.get('error')}"
    return k


# -- replaying -------------------------------------------------------------------

def replace(record, **changes):
    """``dataclasses.replace`` for these records, without re-running ``__init__``
    (a third of the replay's time went there on long traces)."""
    new = object.__new__(type(record))
    fields = dict(record.__dict__)
    fields.update(changes)
    object.__setattr__(new, "__dict__", fields)
    return new


def _role(name: str) -> str:
    if name == "main":
        return "main"
    if name == "engine":
        return "engine"
    if _POOL.fullmatch(name):
        return "pool"
    return "client" if name.startswith("client") else "other"


def _activity(role: str, frames: tuple, waiting: Optional[str]) -> str:
    if waiting == "sleep":
        return "sleeping"
    if waiting == STOPPED:
        return "stopped"
    if waiting is not None:
        return "blocked" if _HANDLE.fullmatch(waiting) else "waiting"
    if frames:
        return "running"
    return {"pool": "idle", "engine": "polling"}.get(role, "running")


def _callback_name(fn_name) -> Optional[str]:
    return callback_name(str(fn_name)) if fn_name else None


def _op_of(kind: str) -> str:
    return {"accept": "accept", "chunk": "receive", "eof": "receive",
            "sent": "send", "connected": "connect"}.get(kind, "?")


class _Builder:
    """The mutable replay; ``copy`` shares every (immutable) record."""

    __slots__ = ("mode", "k", "threads", "pending", "conns", "signals", "console",
                 "counts", "early", "listening", "last", "last_scope", "last_nth")

    def __init__(self, mode):
        self.mode = mode
        self.k = 0
        self.threads: dict = {}
        self.pending: dict = {}
        self.conns: dict = {}
        self.signals: dict = {}
        self.console: list = []
        self.counts: dict = {}       # console template -> lines printed with it
        self.early: dict = {}        # conn -> client bytes written before its accept
        self.listening = None
        self.last = None
        self.last_scope = MAIN
        self.last_nth = 0

    def copy(self) -> "_Builder":
        b = _Builder.__new__(_Builder)
        b.mode, b.k, b.listening = self.mode, self.k, self.listening
        b.last, b.last_scope, b.last_nth = self.last, self.last_scope, self.last_nth
        b.threads, b.pending, b.conns = dict(self.threads), dict(self.pending), dict(self.conns)
        b.signals, b.counts, b.early = dict(self.signals), dict(self.counts), dict(self.early)
        b.console = list(self.console)
        return b

    def _conn(self, conn: int, step: int) -> ConnState:
        c = self.conns.get(conn)
        if c is None:
            c = self.conns[conn] = ConnState(conn, since=step, client_sent=self.early.pop(conn, 0))
        return c

    def apply(self, ev: Event) -> None:
        self.k += 1
        step, kind, info = self.k, ev.kind, ev.info
        th = self.threads.get(ev.thread)
        role = th.role if th else _role(ev.thread)
        frames = th.frames if th else ()
        waiting = th.waiting_on if th else None
        if waiting == "sleep":  # no event marks the end of a sleep: the thread's next one does
            waiting = None
        note = th.note if th else None
        if frames:
            scope = frames[-1].name
        else:
            scope = MAIN if role == "main" else RUNTIME
        nth = 0

        if kind == kinds.BEGIN:
            op_id = info.get("id")
            self.pending[op_id] = PendingOp(
                op_id, str(info.get("op")), ev.conn, ev.thread, _callback_name(info.get("callback")),
                None if scope in (MAIN, RUNTIME) else scope, step, ev.t)
        elif kind in COMPLETIONS:
            op_id = info.get("id")
            p = self.pending.get(op_id)
            if p is None:  # the trace began after the begin_*: make up what it tells
                p = PendingOp(op_id, str(info.get("op") or _op_of(kind)), None if kind == kinds.ACCEPT
                              else ev.conn, "?", None, None, step, ev.t)
            scope = p.origin if p.origin is not None else (MAIN if p.thread == "main" else scope)
            new_conn = None
            if kind == kinds.ACCEPT:
                result, new_conn = f"conn {ev.conn}", ev.conn
                peer = info.get("peer")
                c = self._conn(ev.conn, step)
                self.conns[ev.conn] = replace(c, since=step, peer=tuple(peer) if peer else None)
            elif kind == kinds.CHUNK:
                result = f"{ev.nbytes} bytes"
                c = self._conn(ev.conn, step)
                n = ev.nbytes or 0
                self.conns[ev.conn] = replace(
                    c, received=c.received + n, chunks=c.chunks + 1,
                    text=c.text + str(info.get("data", "")),
                    partial=c.partial or n > PREVIEW_BYTES or "data" not in info)
            elif kind == kinds.EOF:
                result = "0 bytes (eof)"
                if ev.conn is not None:
                    self.conns[ev.conn] = replace(self._conn(ev.conn, step), eof=True)
            elif kind == kinds.SENT:
                result = f"{ev.nbytes} bytes sent"
                if ev.conn is not None:
                    c = self._conn(ev.conn, step)
                    self.conns[ev.conn] = replace(c, sent=c.sent + (ev.nbytes or 0))
            elif kind == kinds.OP_ERROR:
                result = f"error: {info.get('error')}"
                if ev.conn is not None:
                    self.conns[ev.conn] = replace(self._conn(ev.conn, step), error=info.get("error"))
            else:
                result = "connected"
            self.pending[op_id] = replace(p, completed=step, result=result, new_conn=new_conn)
        elif kind == kinds.CALLBACK_START:
            p = self.pending.pop(info.get("id"), None)
            conn = ev.conn if ev.conn is not None else (p.new_conn if p else None)
            frames = frames + (Frame(str(info.get("name")), info.get("id"), conn, step),)
        elif kind == kinds.CALLBACK_END:
            for i in range(len(frames) - 1, -1, -1):
                if frames[i].id == info.get("id"):
                    frames = frames[:i] + frames[i + 1:]
                    break
            else:
                frames = frames[:-1]
        elif kind == kinds.END:
            self.pending.pop(info.get("id"), None)  # ended without a callback
            if waiting is not None and _HANDLE.fullmatch(waiting):
                waiting = None
        elif kind == kinds.WAIT:
            waiting = str(info.get("event"))
        elif kind == kinds.WAKE:
            waiting = STOPPED if info.get("interrupted") else None
        elif kind in (kinds.SET, kinds.RESET):
            self.signals[str(info.get("event"))] = kind == kinds.SET
        elif kind == kinds.CONSOLE:
            text = str(info.get("text", ""))
            self.console.append(text)
            key = console_key(text, self.mode)
            nth = self.counts.get(key, 0)
            self.counts[key] = nth + 1
        elif kind == kinds.MESSAGE:
            if ev.conn is not None:
                text = str(info.get("text", ""))
                self.conns[ev.conn] = replace(self._conn(ev.conn, step), message=text,
                                              text=text, partial=False)
        elif kind == kinds.CLOSE:
            if ev.conn is not None:
                self.conns[ev.conn] = replace(self._conn(ev.conn, step), closed=True)
        elif kind == kinds.SHUTDOWN:
            if ev.conn is not None:
                self.conns[ev.conn] = replace(self._conn(ev.conn, step), shutdown=info.get("how"))
        elif kind == kinds.ERROR:
            if ev.conn is not None:
                self.conns[ev.conn] = replace(self._conn(ev.conn, step), error=info.get("error"))
        elif kind == kinds.LISTEN:
            ep = info.get("endpoint")
            if isinstance(ep, (list, tuple)) and len(ep) >= 2:
                self.listening = format_endpoint((str(ep[0]), ep[1]))
        elif kind == kinds.SLEEP:
            waiting = "sleep"
        if kind.startswith("client_"):
            note = kind[7:] + (f" {ev.nbytes} bytes" if ev.nbytes else "")
        if kind == kinds.CLIENT_SEND and ev.nbytes and ev.conn is not None:
            if ev.conn in self.conns:
                c = self.conns[ev.conn]
                self.conns[ev.conn] = replace(c, client_sent=c.client_sent + ev.nbytes)
            else:
                self.early[ev.conn] = self.early.get(ev.conn, 0) + ev.nbytes

        activity = _activity(role, frames, waiting)
        if th is None or th.frames is not frames or th.waiting_on != waiting or th.note != note:
            self.threads[ev.thread] = ThreadState(ev.thread, role, activity, frames, waiting,
                                                  step if th is None or th.activity != activity
                                                  or th.frames != frames else th.since, note)
        self.last, self.last_scope, self.last_nth = ev, scope, nth

    def freeze(self) -> StepState:
        ev = self.last
        source = NOWHERE if ev is None else locate(ev, self.last_scope, self.mode, self.last_nth)
        return StepState(
            k=self.k, event=ev, summary=describe_event(ev), t=ev.t if ev else 0,
            threads=tuple(self.threads[name] for name in lane_order(self.threads)),
            pending=tuple(self.pending.values()),
            conns=tuple(self.conns.values()),
            signals=tuple(self.signals.items()),
            console=tuple(self.console),
            listening=self.listening,
            source=source)


# -- the model -------------------------------------------------------------------

class StepperModel:
    """A trace replayed once, with checkpoints: ``state_at(k)`` in O(EVERY)."""

    def __init__(self, source, mode="seed", every: int = EVERY):
        if every < 1:
            raise ValueError("every must be at least 1")
        self.source, self.mode, self.every = source, mode, every
        self._events: list = []
        self._checkpoints: list = [_Builder(mode)]   # at k = 0, every, 2 every, ...
        self._live = _Builder(mode)                 # at k = len(self._events)
        self._cursor: Optional[_Builder] = None     # where the last state_at stood
        self._recent: dict = {}                     # k -> StepState, the last RECENT asked for
        self.sync()

    def __len__(self) -> int:
        if len(self.source) != len(self._events):
            self.sync()
        return len(self._events)

    @property
    def events(self) -> list:
        return self._events

    def sync(self) -> int:
        """Take in what the source gained since; returns the number of events."""
        events = self.source.events if hasattr(self.source, "events") else list(self.source)
        old = self._events
        # A trace may insert an event out of order, or fill in a client event's
        # conn when its accept arrives: replay from the first difference.
        same = next((i for i, (a, b) in enumerate(zip(old, events)) if a is not b),
                    min(len(old), len(events)))
        self._events = list(events)
        self._recent = {k: st for k, st in self._recent.items() if k <= same}
        if same < self._live.k:
            del self._checkpoints[same // self.every + 1:]
            self._live = self._checkpoints[-1].copy()
            self._cursor = None
        live = self._live
        for ev in self._events[live.k:]:
            live.apply(ev)
            if live.k % self.every == 0:
                self._checkpoints.append(live.copy())
        return len(self._events)

    def state_at(self, k: int) -> StepState:
        if len(self.source) != len(self._events):
            self.sync()
        if not 0 <= k <= len(self._events):
            raise IndexError(f"step {k} is outside 0..{len(self._events)}")
        st = self._recent.get(k)
        if st is not None:  # Back after Step: the state just shown, immutable, as it was
            return st
        cur = self._cursor
        if cur is None or not (cur.k <= k < cur.k + self.every):
            cur = self._checkpoints[k // self.every].copy()
        for ev in self._events[cur.k:k]:
            cur.apply(ev)
        self._cursor = cur
        st = self._recent[k] = cur.freeze()
        if len(self._recent) > RECENT:
            del self._recent[next(iter(self._recent))]
        return st


_MODELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def model_for(trace, mode="seed") -> StepperModel:
    """The cached model of a ``Trace`` (or of any weakly referable event source)."""
    per_trace = _MODELS.get(trace)
    if per_trace is None:
        per_trace = _MODELS[trace] = {}
    model = per_trace.get(mode)
    if model is None:
        model = per_trace[mode] = StepperModel(trace, mode)
    return model


def state_at(trace, k: int, mode="seed") -> StepState:
    """What the stepper shows after the first ``k`` events of ``trace``.

    ``trace`` is a ``Trace`` (replayed once, then every step is cheap) or a
    sequence of ``Event`` (replayed each call). The result depends only on
    the first ``k`` events and ``mode`` (which server's source to point at: a
    mode name or the server class itself).
    """
    if isinstance(trace, (list, tuple)):
        if not 0 <= k <= len(trace):
            raise IndexError(f"step {k} is outside 0..{len(trace)}")
        b = _Builder(mode)
        for ev in trace[:k]:
            b.apply(ev)
        return b.freeze()
    return model_for(trace, mode).state_at(k)


"""What the stepper shows at step k: ``state_at(trace, k)``.

Mirrors what a debugger paused in the page's server would show: every thread
and what it is doing (running ``ReadCallback`` for conn 2, waiting on
``allDone``, idle in the pool, blocked in ``end_receive``), the operations
begun and not yet called back, each connection's ``StateObject``, ``allDone``,
the console, and the line of the sample (the Python port and the page's C#)
that produced the last event.

The state at step k is a pure function of the first k events (and of the
server whose source is shown): stepping back is as cheap as stepping forward,
and a trace recorded on real sockets steps exactly like a simulated one. It
is built by replaying the events one by one, each kind of event changing the
state through its own small handler (``_HANDLERS``). Replaying k events each
time would make a step on a long run cost O(k), so a ``StepperModel`` replays
the trace once and keeps a checkpoint every ``EVERY`` events; ``state_at``
restores the nearest one and replays at most ``EVERY - 1`` events. The
checkpoints are cheap because every record is immutable: a checkpoint shares
them and copies only the small dicts that index them. A trace only grows at
its end, so a model takes in what a live trace gained and never replays what
it has seen. ``state_at(trace, k)`` keeps one model per ``Trace`` (weakly);
given a plain list of events it simply replays them.

What the events cannot say is left out rather than guessed: a pool thread
appears when it first does something (the pool creates threads silently),
a client's bytes count for its connection once the accept of its port is
seen (``trace.join``), and a connection's text is made of the chunk events'
previews (each at most ``PREVIEW_BYTES`` bytes, bytes above 0x7F shown as
``\\xNN``) until its ``message`` event gives the whole text.
"""
from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Callable, Optional

from ..trace import kinds
from ..trace.callbacks import is_cut, pop_callback
from ..trace.events import Event
from ..trace.join import accepted_port, joined_conn
from ..trace.lanes import lane_order
from ..trace.text import PREVIEW_BYTES, callback_name, format_endpoint
from .source_map import MAIN, NOWHERE, RUNTIME, SourceRef, console_key, locate, op_of, server_of, wait_handle

__all__ = ["state_at", "StepperModel", "StepState", "ThreadState", "Frame",
           "PendingOp", "ConnState", "describe_event", "model_for", "EVERY"]

STOPPED = "(stopped)"  # what a thread interrupted by the runtime's stop waits on
SLEEP = "sleep"        # what a sleeping thread waits on
EVERY = 64           # events between checkpoints
RECENT = 256         # states kept for stepping back over what was just shown

_POOL = re.compile(r"pool-(\d+)")


# -- the records ---------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """A callback on a thread's stack."""
    name: str
    id: Optional[int]
    conn: Optional[int]


@dataclass(frozen=True)
class ThreadState:
    name: str
    role: str                        # main | engine | pool | client | other
    activity: str                    # running | waiting | blocked | sleeping | idle | polling
                                     # | stopped
    frames: tuple = ()               # callbacks on the stack, outermost first
    waiting_on: Optional[str] = None  # the ManualResetEvent's name ("allDone", "receive#5"),
                                      # SLEEP or STOPPED
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
        text = _DOING[self.activity](self, top)
        if top is not None and self.activity not in ("running", "stopped"):
            text += f" in {top.name}"
        return text


def _running(t: ThreadState, top: Optional[Frame]) -> str:
    if top is None:
        if t.role == "main":
            return "running the main loop"
        if t.role == "client":
            return f"a client: {t.note}" if t.note else "a client"
        return "running outside the server"
    text = f"running {top.name}"
    if top.conn is not None:
        text += f" for conn {top.conn}"
    if len(t.frames) > 1:
        text += " (nested in " + ", ".join(f.name for f in t.frames[-2::-1]) + ")"
    return text


def _blocked(t: ThreadState, top) -> str:
    op, op_id = wait_handle(t.waiting_on) or ("?", "?")
    return f"blocked in end_{op} (#{op_id})"


# activity -> what the thread panel says
_DOING: dict[str, Callable] = {
    "running": _running,
    "blocked": _blocked,
    "sleeping": lambda t, top: "sleeping (Thread.Sleep)",
    "waiting": lambda t, top: f"waiting on {t.waiting_on} (WaitOne)",
    "idle": lambda t, top: "idle in the pool",
    "polling": lambda t, top: "polling the sockets (selector loop)",
    "stopped": lambda t, top: "stopped (interrupted when the server stopped)",
}


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
    completed: Optional[int] = None  # step of the completion
    result: Optional[str] = None     # "7 bytes", "0 bytes (eof)", "conn 2", "error: ..."
    new_conn: Optional[int] = None   # an accept's connection

    @property
    def status(self) -> str:
        return "pending" if self.completed is None else "completed, waiting for a pool thread"

    @property
    def describe(self) -> str:
        text = f"begin_{self.op} #{self.id} on {_on(self.conn)} (by {self.thread}, step {self.since})"
        if self.completed is None:
            return text + ": pending"
        return text + f": {self.result}, completed at step {self.completed}, waiting for a pool thread"


@dataclass(frozen=True)
class ConnState:
    """A connection's ``StateObject`` as far as the events tell."""
    conn: int
    peer: Optional[tuple] = None
    received: int = 0                # bytes received so far (sum of chunks)
    chunks: int = 0
    text: str = ""                   # the chunks' previews joined (the whole text once printed)
    partial: bool = False            # text is missing bytes beyond a chunk's preview
    eof: bool = False                # a receive returned 0: the peer closed its side
    message: Optional[str] = None    # the text the server printed
    sent: int = 0
    client_sent: int = 0             # what its client wrote, counted from its accept on
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
        if self.shutdown:
            return f"shut down ({self.shutdown})"
        if self.eof:
            return "peer closed its side"
        return "open"


@dataclass(frozen=True)
class StepState:
    k: int
    event: Optional[Event]           # event k-1, the one just stepped over, as recorded
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


def _callback_next(ev) -> str:
    """Where the callback of the operation ``ev`` completed goes, by who completed it:
    the engine queues it; a thread that performed it, or finished it inside its
    ``begin_*``, runs it itself."""
    if ev.thread == "engine":
        return "its callback is queued to the pool"
    return f"{ev.thread} runs its callback itself"


def _said_accept(ev, i, conn) -> str:
    peer = i.get("peer")
    peer = f" from {peer[0]}:{peer[1]}" if isinstance(peer, (list, tuple)) and len(peer) >= 2 else ""
    return f"accept #{i.get('id')} completed: conn {ev.conn}{peer}; {_callback_next(ev)}"


def _said_callback_end(ev, i, conn) -> str:
    if is_cut(ev):
        return f"{i.get('name')} (#{i.get('id')}) was cut short on {ev.thread}: the run stopped"
    return f"{i.get('name')} (#{i.get('id')}) returns on {ev.thread}"


def _said_client(ev, i, conn) -> str:
    size = f" ({ev.nbytes} bytes)" if ev.nbytes is not None else ""
    port = i.get("port")
    where = f"from port {port}" if conn is None and isinstance(port, int) else f"on {_on(conn)}"
    return f"a client {ev.kind[len(kinds.CLIENT_PREFIX):]}{size} {where}"


def _said_error(ev, i, conn) -> str:
    where = f" in {i['where']}" if i.get("where") else ""
    return f"error{where}: {i.get('error')}"


# kind -> (event, its info, its connection) -> the event in words
_SAID: dict[str, Callable] = {
    kinds.BEGIN: lambda ev, i, conn: f"{ev.thread} calls begin_{i.get('op')} (#{i.get('id')}) on {_on(conn)}",
    kinds.ACCEPT: _said_accept,
    kinds.CHUNK: lambda ev, i, conn: (
        f"receive #{i.get('id')} on conn {ev.conn} completed with {ev.nbytes} bytes "
        f"{i.get('data', '')!r}; {_callback_next(ev)}"),
    kinds.EOF: lambda ev, i, conn: (
        f"receive #{i.get('id')} on conn {ev.conn} completed with 0 bytes: the peer closed its side"),
    kinds.SENT: lambda ev, i, conn: f"send #{i.get('id')} on conn {ev.conn} completed: {ev.nbytes} bytes sent",
    kinds.CONNECTED: lambda ev, i, conn: f"connect #{i.get('id')} completed",
    kinds.READY: lambda ev, i, conn: (
        f"the engine sees {_on(conn)} ready for {i.get('op')} #{i.get('id')}: "
        "a pool worker will perform it and run its callback"),
    kinds.OP_ERROR: lambda ev, i, conn: f"{i.get('op')} #{i.get('id')} on {_on(conn)} failed: {i.get('error')}",
    kinds.CALLBACK_START: lambda ev, i, conn: f"{ev.thread} enters {i.get('name')} (#{i.get('id')})",
    kinds.CALLBACK_END: _said_callback_end,
    kinds.END: lambda ev, i, conn: f"end_{i.get('op')} (#{i.get('id')}) returns on {ev.thread}",
    kinds.SET: lambda ev, i, conn: f"{ev.thread} sets {i.get('event')}",
    kinds.RESET: lambda ev, i, conn: f"{ev.thread} resets {i.get('event')}",
    kinds.WAIT: lambda ev, i, conn: f"{ev.thread} waits on {i.get('event')}",
    kinds.WAKE: lambda ev, i, conn: f"{ev.thread} wakes from {i.get('event')} (signaled: {i.get('signaled')})",
    kinds.CONSOLE: lambda ev, i, conn: f"Console.WriteLine: {i.get('text', '')}",
    kinds.MESSAGE: lambda ev, i, conn: f"conn {ev.conn}: the whole message ({ev.nbytes} bytes) was printed",
    kinds.CLOSE: lambda ev, i, conn: f"{ev.thread} closes {_on(conn)}",
    kinds.SHUTDOWN: lambda ev, i, conn: f"{ev.thread} shuts down {_on(conn)} ({i.get('how')})",
    kinds.LISTEN: lambda ev, i, conn: f"the listener listens (backlog {i.get('backlog')})",
    kinds.ERROR: _said_error,
    kinds.HOOK_ERROR: lambda ev, i, conn: f"a trace hook failed and was removed: {i.get('error')}",
}


def describe_event(ev: Optional[Event], conn: Optional[int] = None) -> str:
    """The event in words. ``conn`` is the connection a reader joined it to (a real
    client's step carries none of its own; see ``trace.join``)."""
    if ev is None:
        return "the start: nothing has happened yet"
    said = _SAID.get(ev.kind) or (_said_client if kinds.is_client(ev.kind) else None)
    if said is None:
        return ev.kind
    return said(ev, ev.info, ev.conn if conn is None else conn)


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
    if name in ("main", "engine"):
        return name
    if _POOL.fullmatch(name):
        return "pool"
    return "client" if name.startswith("client") else "other"


def _activity(role: str, frames: tuple, waiting: Optional[str]) -> str:
    if waiting == SLEEP:
        return "sleeping"
    if waiting == STOPPED:
        return "stopped"
    if waiting is not None:
        return "blocked" if wait_handle(waiting) else "waiting"
    if frames:
        return "running"
    return {"pool": "idle", "engine": "polling"}.get(role, "running")


class _Step:
    """What one event does to its thread, as its handler works it out."""
    __slots__ = ("k", "frames", "waiting", "note", "scope", "nth", "conn")

    def __init__(self, k: int, th: Optional[ThreadState], role: str, conn: Optional[int]):
        self.k = k
        self.conn = conn                     # the event's connection, a client's step joined
        self.frames = th.frames if th else ()
        waiting = th.waiting_on if th else None
        # No event marks the end of a sleep: the thread's next event does.
        self.waiting = None if waiting == SLEEP else waiting
        self.note = th.note if th else None
        # Where the thread stands in the source: its callback, or outside every one.
        self.scope = self.frames[-1].name if self.frames else (MAIN if role == "main" else RUNTIME)
        self.nth = 0                         # which of several writes of one console text


class _Builder:
    """The mutable replay; ``copy`` shares every (immutable) record."""

    __slots__ = ("server", "k", "threads", "pending", "conns", "signals", "console",
                 "counts", "ports", "early", "listening", "last", "last_step")

    def __init__(self, server):
        self.server = server
        self.k = 0
        self.threads: dict = {}
        self.pending: dict = {}
        self.conns: dict = {}
        self.signals: dict = {}
        self.console: list = []
        self.counts: dict = {}       # console template -> lines printed with it
        self.ports: dict = {}        # client port -> conn of its latest accept
        self.early: dict = {}        # client port -> bytes it wrote before its accept
        self.listening = None
        self.last: Optional[Event] = None
        self.last_step: Optional[_Step] = None

    def copy(self) -> "_Builder":
        b = _Builder.__new__(_Builder)
        b.server, b.k, b.listening = self.server, self.k, self.listening
        b.last, b.last_step = self.last, self.last_step   # never changed once applied
        b.threads, b.pending, b.conns = dict(self.threads), dict(self.pending), dict(self.conns)
        b.signals, b.counts = dict(self.signals), dict(self.counts)
        b.ports, b.early = dict(self.ports), dict(self.early)
        b.console = list(self.console)
        return b

    def conn_state(self, conn: int) -> ConnState:
        c = self.conns.get(conn)
        if c is None:
            c = self.conns[conn] = ConnState(conn)
        return c

    def change_conn(self, conn: Optional[int], **changes) -> None:
        if conn is not None:
            self.conns[conn] = replace(self.conn_state(conn), **changes)

    def apply(self, ev: Event) -> None:
        self.k += 1
        th = self.threads.get(ev.thread)
        role = th.role if th else _role(ev.thread)
        s = _Step(self.k, th, role, joined_conn(ev, self.ports))
        handler = _HANDLERS.get(ev.kind) or (_on_client if kinds.is_client(ev.kind) else None)
        if handler is not None:
            handler(self, ev, s)
        activity = _activity(role, s.frames, s.waiting)
        if th is None or th.frames is not s.frames or th.waiting_on != s.waiting or th.note != s.note:
            since = s.k if th is None or th.activity != activity or th.frames != s.frames else th.since
            self.threads[ev.thread] = ThreadState(ev.thread, role, activity, s.frames, s.waiting,
                                                  since, s.note)
        self.last, self.last_step = ev, s

    def freeze(self) -> StepState:
        ev, s = self.last, self.last_step
        return StepState(
            k=self.k, event=ev, summary=describe_event(ev, s and s.conn), t=ev.t if ev else 0,
            threads=tuple(self.threads[name] for name in lane_order(self.threads)),
            pending=tuple(self.pending.values()),
            conns=tuple(self.conns.values()),
            signals=tuple(self.signals.items()),
            console=tuple(self.console),
            listening=self.listening,
            source=NOWHERE if ev is None else locate(ev, s.scope, self.server, s.nth))


# -- what each kind of event changes: handler(builder, event, step) --------------------

def _on_begin(b: _Builder, ev: Event, s: _Step) -> None:
    op_id = ev.info.get("id")
    b.pending[op_id] = PendingOp(
        op_id, str(ev.info.get("op")), ev.conn, ev.thread,
        callback_name(str(ev.info["callback"])) if ev.info.get("callback") else None,
        None if s.scope in (MAIN, RUNTIME) else s.scope, s.k)


def _completed(b: _Builder, ev: Event, s: _Step, result: str, new_conn=None) -> None:
    """An operation finished: its begin waits for a pool thread, and the line behind
    the completion is that begin's (the kernel, not the server, completed it)."""
    op_id = ev.info.get("id")
    p = b.pending.get(op_id)
    if p is None:  # the trace began after the begin_*: make up what it tells
        p = PendingOp(op_id, str(op_of(ev) or "?"), None if ev.kind == kinds.ACCEPT else ev.conn,
                      "?", None, None, s.k)
    s.scope = p.origin if p.origin is not None else (MAIN if p.thread == "main" else s.scope)
    b.pending[op_id] = replace(p, completed=s.k, result=result, new_conn=new_conn)


def _on_accept(b: _Builder, ev: Event, s: _Step) -> None:
    _completed(b, ev, s, f"conn {ev.conn}", ev.conn)
    if ev.conn is None:
        return
    port = accepted_port(ev)
    if port is not None:
        b.ports[port] = ev.conn
    peer = ev.info.get("peer")
    c = b.conn_state(ev.conn)
    b.conns[ev.conn] = replace(c, peer=tuple(peer) if peer else None,
                               client_sent=c.client_sent + b.early.pop(port, 0))


def _on_chunk(b: _Builder, ev: Event, s: _Step) -> None:
    _completed(b, ev, s, f"{ev.nbytes} bytes")
    if ev.conn is None:
        return
    c, n = b.conn_state(ev.conn), ev.nbytes or 0
    b.conns[ev.conn] = replace(c, received=c.received + n, chunks=c.chunks + 1,
                               text=c.text + str(ev.info.get("data", "")),
                               partial=c.partial or n > PREVIEW_BYTES or "data" not in ev.info)


def _on_eof(b: _Builder, ev: Event, s: _Step) -> None:
    _completed(b, ev, s, "0 bytes (eof)")
    b.change_conn(ev.conn, eof=True)


def _on_sent(b: _Builder, ev: Event, s: _Step) -> None:
    _completed(b, ev, s, f"{ev.nbytes} bytes sent")
    if ev.conn is not None:
        c = b.conn_state(ev.conn)
        b.conns[ev.conn] = replace(c, sent=c.sent + (ev.nbytes or 0))


def _on_connected(b: _Builder, ev: Event, s: _Step) -> None:
    _completed(b, ev, s, "connected")


def _on_op_error(b: _Builder, ev: Event, s: _Step) -> None:
    _completed(b, ev, s, f"error: {ev.info.get('error')}")
    b.change_conn(ev.conn, error=ev.info.get("error"))


def _on_callback_start(b: _Builder, ev: Event, s: _Step) -> None:
    p = b.pending.pop(ev.info.get("id"), None)
    conn = ev.conn if ev.conn is not None else (p.new_conn if p else None)
    s.frames = s.frames + (Frame(str(ev.info.get("name")), ev.info.get("id"), conn),)


def _on_callback_end(b: _Builder, ev: Event, s: _Step) -> None:
    s.frames, _ = pop_callback(s.frames, ev)
    if is_cut(ev):
        s.waiting = STOPPED


def _on_end(b: _Builder, ev: Event, s: _Step) -> None:
    b.pending.pop(ev.info.get("id"), None)  # ended without a callback
    if wait_handle(s.waiting):
        s.waiting = None


def _on_wait(b: _Builder, ev: Event, s: _Step) -> None:
    s.waiting = str(ev.info.get("event"))


def _on_wake(b: _Builder, ev: Event, s: _Step) -> None:
    s.waiting = STOPPED if ev.info.get("interrupted") else None


def _on_signal(b: _Builder, ev: Event, s: _Step) -> None:
    b.signals[str(ev.info.get("event"))] = ev.kind == kinds.SET


def _on_console(b: _Builder, ev: Event, s: _Step) -> None:
    text = str(ev.info.get("text", ""))
    b.console.append(text)
    key = console_key(text, b.server)
    s.nth = b.counts.get(key, 0)
    b.counts[key] = s.nth + 1


def _on_message(b: _Builder, ev: Event, s: _Step) -> None:
    text = str(ev.info.get("text", ""))
    b.change_conn(ev.conn, message=text, text=text, partial=False)


def _on_close(b: _Builder, ev: Event, s: _Step) -> None:
    b.change_conn(ev.conn, closed=True)


def _on_shutdown(b: _Builder, ev: Event, s: _Step) -> None:
    b.change_conn(ev.conn, shutdown=ev.info.get("how"))


def _on_error(b: _Builder, ev: Event, s: _Step) -> None:
    b.change_conn(ev.conn, error=ev.info.get("error"))


def _on_listen(b: _Builder, ev: Event, s: _Step) -> None:
    ep = ev.info.get("endpoint")
    if isinstance(ep, (list, tuple)) and len(ep) >= 2:
        b.listening = format_endpoint((str(ep[0]), ep[1]))


def _on_sleep(b: _Builder, ev: Event, s: _Step) -> None:
    s.waiting = SLEEP


def _on_client(b: _Builder, ev: Event, s: _Step) -> None:
    s.note = ev.kind[len(kinds.CLIENT_PREFIX):] + (f" {ev.nbytes} bytes" if ev.nbytes else "")


def _on_client_send(b: _Builder, ev: Event, s: _Step) -> None:
    _on_client(b, ev, s)
    if not ev.nbytes:
        return
    c = b.conns.get(s.conn) if s.conn is not None else None
    if c is not None:
        b.conns[s.conn] = replace(c, client_sent=c.client_sent + ev.nbytes)
    elif isinstance(port := ev.info.get("port"), int):  # counted when its accept comes
        b.early[port] = b.early.get(port, 0) + ev.nbytes


_HANDLERS: dict[str, Callable[[_Builder, Event, _Step], None]] = {
    kinds.BEGIN: _on_begin,
    kinds.ACCEPT: _on_accept,
    kinds.CHUNK: _on_chunk,
    kinds.EOF: _on_eof,
    kinds.SENT: _on_sent,
    kinds.CONNECTED: _on_connected,
    kinds.OP_ERROR: _on_op_error,
    kinds.CALLBACK_START: _on_callback_start,
    kinds.CALLBACK_END: _on_callback_end,
    kinds.END: _on_end,
    kinds.WAIT: _on_wait,
    kinds.WAKE: _on_wake,
    kinds.SET: _on_signal,
    kinds.RESET: _on_signal,
    kinds.CONSOLE: _on_console,
    kinds.MESSAGE: _on_message,
    kinds.CLOSE: _on_close,
    kinds.SHUTDOWN: _on_shutdown,
    kinds.ERROR: _on_error,
    kinds.LISTEN: _on_listen,
    kinds.SLEEP: _on_sleep,
    kinds.CLIENT_SEND: _on_client_send,
    # every other client_* kind: _on_client (see _Builder.apply); hook_error changes nothing
}


# -- the model -------------------------------------------------------------------

def _since(source, n: int) -> list:
    """The events of ``source`` (a Trace, or a sequence of events) after the first ``n``."""
    since = getattr(source, "since", None)
    return since(n) if since is not None else list(source)[n:]


class StepperModel:
    """A trace replayed once, with checkpoints: ``state_at(k)`` in O(EVERY).

    ``server`` is the server class whose source the states point at (or its
    dotted name); by default the trace's ``meta["server"]``, else the page's."""

    def __init__(self, source, server=None, every: int = EVERY):
        if every < 1:
            raise ValueError("every must be at least 1")
        self.source, self.every = source, every
        self.server = server_of(source, server)
        self._events: list = []
        self._checkpoints: list = [_Builder(self.server)]   # at k = 0, every, 2 every, ...
        self._live = _Builder(self.server)                 # at k = len(self._events)
        self._cursor: Optional[_Builder] = None            # where the last state_at stood
        self._recent: dict = {}                            # k -> StepState, the last RECENT asked for
        self.sync()

    def __len__(self) -> int:
        return self.sync()

    def sync(self) -> int:
        """Take in what the source gained at its end since; returns the number of events."""
        live = self._live
        for ev in _since(self.source, len(self._events)):
            self._events.append(ev)
            live.apply(ev)
            if live.k % self.every == 0:
                self._checkpoints.append(live.copy())
        return len(self._events)

    def state_at(self, k: int) -> StepState:
        if k > len(self._events):
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


def model_for(trace, server=None) -> StepperModel:
    """The cached model of a ``Trace`` (or of any weakly referable event source),
    one per server class shown."""
    server = server_of(trace, server)
    per_trace = _MODELS.get(trace)
    if per_trace is None:
        per_trace = _MODELS[trace] = {}
    model = per_trace.get(server)
    if model is None:
        model = per_trace[server] = StepperModel(trace, server)
    return model


def state_at(trace, k: int, server=None) -> StepState:
    """What the stepper shows after the first ``k`` events of ``trace``.

    ``trace`` is a ``Trace`` (replayed once, then every step is cheap) or a
    sequence of ``Event`` (replayed each call). The result depends only on
    the first ``k`` events and on ``server``: the server class whose source
    the state points at, or its dotted name; by default the one the trace's
    ``meta["server"]`` names, else the page's (``source_map.server_of``).
    """
    if isinstance(trace, (list, tuple)):
        if not 0 <= k <= len(trace):
            raise IndexError(f"step {k} is outside 0..{len(trace)}")
        b = _Builder(server_of(trace, server))
        for ev in trace[:k]:
            b.apply(ev)
        return b.freeze()
    return model_for(trace, server).state_at(k)

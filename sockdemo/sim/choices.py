"""What each thread that could run next would do, in words: the scheduler's menu.

Mirrors nothing in .NET; it is the view The Deadlock Empire gives its player.
A simulated thread is parked at a scheduling point, just before an action of
the .NET API (``Runtime.checkpoint`` told the kernel which); an actor (the
network, a client, a timer) carries a label saying what it will do. A
``Choice`` puts that into a record a widget can show: the thread, when it
would run, the event it would emit first (with the info the source map needs
to find its line) and a sentence.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from ..trace import kinds
from .kernel import ACT, RESUME, START, TAKE, Entry

__all__ = ["Choice", "choice_of"]

# Which info key the checkpoint's detail fills, per event kind.
_INFO_KEY = {kinds.BEGIN: "op", kinds.END: "op", kinds.SET: "event", kinds.RESET: "event",
             kinds.WAIT: "event", kinds.WAKE: "event", kinds.CALLBACK_START: "name",
             kinds.CALLBACK_END: "name", kinds.CONSOLE: "text", kinds.SLEEP: "seconds"}

_WORDS = {
    kinds.BEGIN: "calls begin_{detail} on {on}",
    kinds.END: "calls end_{detail} on {on}",
    kinds.SET: "calls {detail}.Set()",
    kinds.RESET: "calls {detail}.Reset()",
    kinds.WAIT: "calls {detail}.WaitOne()",
    kinds.WAKE: "wakes up in {detail}.WaitOne()",
    kinds.CALLBACK_START: "enters {detail} for {on}",
    kinds.CALLBACK_END: "returns from {detail}",
    kinds.CONSOLE: "prints {text}",
    kinds.SLEEP: "calls Thread.Sleep({detail} s)",
    kinds.CLOSE: "closes {on}",
    kinds.SHUTDOWN: "shuts down {on}",
    kinds.LISTEN: "starts listening",
    START: "starts",
    RESUME: "goes on",
    TAKE: "takes the next callback from the pool's queue",
    kinds.PERFORM: "performs the {detail} on {on} (.NET 6+: the worker does the I/O)",
    ACT: "{detail}",
}


class Choice(NamedTuple):
    thread: str              # who would run: a thread (main, pool-1) or an actor (engine, client-2)
    t: int                   # when, in virtual µs
    kind: str                # the event it would emit first, or START, RESUME, TAKE, ACT
    info: dict               # that event's info as far as known: {"op": "receive"}, {"event": "allDone"}
    conn: Optional[int]
    text: str                # "calls begin_receive on conn 1"


def choice_of(entry: Entry) -> Choice:
    """The choice a pending kernel entry offers."""
    kind, detail, conn = entry.next_action
    info = {_INFO_KEY[kind]: detail} if kind in _INFO_KEY and detail is not None else {}
    on = "the listener" if conn is None else f"conn {conn}"
    if kind == RESUME and detail == "sleep":
        text = "wakes from Thread.Sleep"
    elif kind == START and entry.name.startswith("pool-"):
        text = "starts (the pool just made it) and takes the next callback"
    else:
        text = _WORDS.get(kind, kind or "goes on").format(
            detail=detail, on=on, text=repr(_short(str(detail))))
    return Choice(entry.name, entry.time, kind, info, conn, text)


def _short(text: str, width: int = 40) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width and "\n" not in text else line[:width - 1] + "…"

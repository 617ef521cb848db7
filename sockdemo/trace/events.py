"""Trace events: one small immutable record per step of the server.

Mirrors nothing in .NET directly; it is what the page would show if every
``Begin*``, ``End*``, callback entry and ``ManualResetEvent`` call left a note.
Modelled on CPython's ``selectors.SelectorKey``: a frozen record, no behaviour.

Times are integer microseconds since the runtime started (virtual microseconds
in the simulator), so a trace is the same bytes whichever world produced it.

The kinds and what each carries are in ``kinds``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

__all__ = ["Event"]


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    t: int
    kind: str
    thread: str
    conn: Optional[int] = None
    nbytes: Optional[int] = None
    info: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def make(cls, seq, t, kind, thread, conn, nbytes, info) -> "Event":
        """The tracer's constructor: fills the slots directly, skipping the
        frozen ``__init__`` (an ``object.__setattr__`` per field), because a
        traced server builds an event for every step of every connection.
        Slots, not a ``__dict__``: one object fewer per event for the garbage
        collector to walk, which a 100,000-event trace feels."""
        event = _new(cls)
        _set_seq(event, seq)
        _set_t(event, t)
        _set_kind(event, kind)
        _set_thread(event, thread)
        _set_conn(event, conn)
        _set_nbytes(event, nbytes)
        _set_info(event, info)
        return event

    def __getitem__(self, key: str) -> Any:
        """``event["text"]`` reads the payload, for short view code."""
        return self.info[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.info.get(key, default)


_new = object.__new__
(_set_seq, _set_t, _set_kind, _set_thread, _set_conn, _set_nbytes, _set_info) = (
    Event.__dict__[name].__set__ for name in ("seq", "t", "kind", "thread", "conn", "nbytes", "info"))

"""The trace: every event of a run, in order, never rewritten; saved as a Chrome trace.

Mirrors no .NET type; it is the recording a profiler keeps. A ``Trace`` is a
tracer's *recorder*: subscribed, it is handed the tracer's raw records in
batches and keeps each batch packed (``pack``: marshal bytes, a few dozen a
record, where a record as tuples and dicts would take several hundred), and
builds the ``Event`` records, in ``seq`` order, only when someone reads it.
Recording is then an append, which is what lets a traced server keep its
pace. Called with an ``Event`` (``trace(event)``), it records that too,
provided it comes after every event recorded so far.

A trace only grows at its end, and an event, once recorded, stays as it was:
a reader that has seen the first k events (the stepper, a live picture) never
has to look at them again. What a reader derives from several events is
derived when it reads: which connection a client's step belongs to
(``trace.join``), which callback end closes which start (``trace.callbacks``).

One normalisation happens when a record becomes an event, so that saving and
loading give back equal events: the payload becomes plain JSON data (tuples
become lists, unknown objects their ``str``).

``meta`` is a small dict of JSON values about the run, saved with it (in the
Chrome file's ``otherData``): ``meta["server"]`` is the dotted name of the
server class that ran (``"sockdemo.servers.seed.SeedServer"``), which is how
a view of a loaded trace finds the server's source, as a debugger finds a
program's source through the paths in its debug info.
"""
from __future__ import annotations

import dataclasses
import marshal
import os
import stat
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional

from . import chrome
from .events import Event
from .join import join_conns
from .kinds import CALLBACK_START
from .text import dotted_name

__all__ = ["Trace", "events_of", "to_event", "pack", "unpack"]

_SCALARS = frozenset((str, int, float, bool, type(None), list))
MAX_EVENTS = 1_000_000   # what an in-memory trace keeps at most, by default


class Trace:
    """A recorded run: a tracer's recorder, a list of events, a Chrome trace file."""

    def __init__(self, events: Iterable[Event] = (), meta: Optional[Mapping[str, Any]] = None,
                 max_events: Optional[int] = MAX_EVENTS):
        """``max_events``: the most a trace recorded by a tracer keeps (None: no
        cap); past it, it records nothing more and says so (``truncated_at``)."""
        # What the tracer handed over, packed: (first seq, clock origin, count,
        # bytes) a batch (see Tracer.subscribe); turned into Events when read.
        self._packed: list[tuple] = []
        self._source = None              # the tracer it is subscribed to, set by the tracer
        self.max_events = max_events
        self._room = max_events          # how many more events it may keep (None: no cap)
        self.truncated_at: Optional[int] = (meta or {}).get("truncated_at")
        self._events: list[Event] = []
        self._taking = threading.Lock()
        self._joined: tuple[int, list] = (0, [])   # (events it covers, join_conns of them)
        self.meta: dict[str, Any] = dict(meta or {})
        for ev in sorted(events, key=lambda ev: ev.seq):
            self(ev)

    # -- recording ---------------------------------------------------------

    def name_server(self, server_class: type) -> None:
        """Record which server class produced this run (its views find its source by it)."""
        self.meta["server"] = dotted_name(server_class)

    def __call__(self, ev: Event) -> None:
        """Record one Event (a hand-built one); it must come after every one recorded."""
        events = self._take()
        with self._taking:
            if events and ev.seq <= events[-1].seq:
                raise ValueError(f"event seq {ev.seq} after seq {events[-1].seq}: "
                                 "a Trace only grows at its end")
            self._events.append(to_event((ev.seq, ev.t, ev.kind, ev.thread, ev.conn, ev.nbytes, ev.info)))
            if self._room is not None:
                self._room -= 1

    def _receive(self, first: int, records: list, t0: Optional[int]) -> bool:
        """The tracer's hand-over (see Tracer.subscribe): keep the batch packed,
        up to the cap; False once at the cap, to be unsubscribed."""
        with self._taking:
            room = self._room
            kept = records if room is None or len(records) <= room else records[:room]
            if kept:
                self._packed.append((first, t0, pack(kept)))
                if room is not None:
                    self._room = room - len(kept)
            if kept is records:
                return True
        self._truncated(first + len(kept))
        return False

    def _take(self) -> list[Event]:
        """Turn what was handed over so far into events; return the events."""
        source = self._source
        if source is not None:   # before our own lock: a hand-over takes the tracer's, then ours
            source._hand_over()
        with self._taking:
            packed, self._packed = self._packed, []
            for first, t0, data in packed:
                self._events.extend(events_of(first, t0, unpack(data)))
            return self._events

    def _truncated(self, seq: int) -> None:
        """The tracer's word that the cap was reached: ``seq`` was the first event not kept."""
        self.truncated_at = seq
        self.meta["truncated_at"] = seq

    @property
    def truncation_note(self) -> str:
        """A sentence for a view of a truncated trace; empty when it is whole."""
        if self.truncated_at is None:
            return ""
        return (f"the trace stopped recording at its cap of {self.max_events or len(self):,} events "
                f"(event {self.truncated_at:,} and later are missing)")

    # -- reading -----------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        return list(self._take())

    def since(self, k: int) -> list[Event]:
        """The events after the first ``k`` (what a reader that has seen ``k`` is missing)."""
        return self._take()[k:]

    def __len__(self) -> int:
        return len(self._take())

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __repr__(self) -> str:
        return f"<Trace {len(self)} events>"

    @property
    def threads(self) -> list[str]:
        """Thread names in order of first appearance."""
        return list(dict.fromkeys(ev.thread for ev in self.events))

    @property
    def connections(self) -> list[int]:
        return sorted({ev.conn for ev in self.events if ev.conn is not None})

    def of_kind(self, *kinds: str) -> list[Event]:
        return [ev for ev in self.events if ev.kind in kinds]

    def callback_starts(self, name: Optional[str] = None) -> list[Event]:
        """The ``callback_start`` events in order, one a callback run: its
        ``thread``, its ``conn`` and its ``["name"]``; only the runs of callbacks
        called ``name`` if given (``"ReadCallback"``). Which ``callback_end``
        closes each is ``trace.callbacks.pair_callbacks``' business."""
        return [ev for ev in self.of_kind(CALLBACK_START) if name is None or ev.get("name") == name]

    def callback_threads(self, name: Optional[str] = None) -> Counter:
        """Thread -> how many callbacks (called ``name``, if given) it started:
        ``trace.callback_threads("ReadCallback")["main"]``, or 0."""
        return Counter(ev.thread for ev in self.callback_starts(name))

    def first_callback_threads(self, name: str) -> dict[int, str]:
        """Connection -> the thread that ran that connection's first callback
        called ``name``, sorted by connection (a run without a connection,
        such as a timer's callback, is left out)."""
        first: dict[int, str] = {}
        for ev in self.callback_starts(name):
            if ev.conn is not None:
                first.setdefault(ev.conn, ev.thread)
        return dict(sorted(first.items()))

    def for_conn(self, conn: int) -> list[Event]:
        """The events of one connection: the server's, and the client's steps joined to
        it through its accept (they keep ``conn`` None; see ``trace.join``)."""
        events = self.events
        return [ev for ev, c in zip(events, self._conns(events)) if c == conn]

    def _conns(self, events: list) -> list[Optional[int]]:
        """``join_conns(events)`` of ``events``, this trace's events: kept for the
        length it covers, because a trace that only grows gives the same answer
        for the same number of events."""
        n, joined = self._joined
        if n != len(events):
            joined = join_conns(events)
            self._joined = (len(events), joined)
        return joined

    # -- Chrome trace event format -------------------------------------------
    def to_chrome(self) -> dict:
        return chrome.to_chrome(self.events, self.meta)

    @classmethod
    def from_chrome(cls, data: Any) -> "Trace":
        try:
            events, meta = chrome.from_chrome(data)
        except (TypeError, AttributeError, KeyError) as exc:
            raise ValueError(f"not a sockdemo trace: {exc!r}") from exc
        return cls(events, meta)

    def dumps(self) -> str:
        """The file's text: one trace event a line, so simulated traces diff well."""
        return chrome.dumps(self.events, self.meta)

    def save(self, path) -> None:
        """Write the trace to ``path`` through a temporary file renamed into place,
        so a failure (a full disk, a bad payload) never leaves an existing file empty."""
        text = self.dumps()
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    @classmethod
    def load(cls, path) -> "Trace":
        """Read a trace file (``save``'s, or ``serve --trace``'s streamed one, even
        cut short by a killed process). Anything malformed raises ``ValueError``
        naming the file."""
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise ValueError(f"{path}: cannot read a trace: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(mode):
            raise ValueError(f"{path}: not a trace file (not a regular file)")
        try:
            with open(path, encoding="utf-8") as f:
                data = chrome.parse(f.read())
            return cls.from_chrome(data)
        except RecursionError:
            raise ValueError(f"{path}: not a sockdemo trace file: nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
            raise ValueError(f"{path}: not a sockdemo trace file: {exc}") from exc


def events_of(first: int, t0: Optional[int], records: list) -> list[Event]:
    """A batch of tracer records (see Tracer.subscribe) as Events: the first
    is number ``first``; a clock is made µs since ``t0`` (None: it is µs)."""
    if t0 is None:
        return [to_event((first + i,) + record) for i, record in enumerate(records)]
    return [to_event((first + i, (record[0] - t0) // 1000) + record[1:])
            for i, record in enumerate(records)]


def to_event(record: tuple) -> Event:
    """A tracer's record as an Event, its payload plain JSON data (see the module's note)."""
    ev = Event.make(*record)
    for value in ev.info.values():
        if type(value) not in _SCALARS:
            return dataclasses.replace(ev, info=chrome.plain(dict(ev.info)))
    return ev


def pack(records: list) -> bytes:
    """Tracer records (see Tracer.subscribe) as marshal bytes, a few dozen a
    record (``unpack`` gives them back). Marshal takes only plain data: a batch with a payload of other
    objects has its payloads made plain first, as ``to_event`` would."""
    try:
        return marshal.dumps(records)
    except ValueError:
        return marshal.dumps([record[:5] + (chrome.plain(dict(record[5])),) for record in records])


def unpack(data: bytes) -> list:
    return marshal.loads(data)

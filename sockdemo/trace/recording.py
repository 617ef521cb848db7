"""The trace: every event of a run, kept in order, saved as a Chrome trace.

Mirrors no .NET type; it is what Perfetto (https://ui.perfetto.dev) and
``chrome://tracing`` read. A ``Trace`` is a tracer's *recorder*: subscribed,
it has each event appended to it as a plain tuple, and builds the ``Event``
records, in ``seq`` order, only when someone reads it. Recording is then an
append, which is what lets a traced server keep its pace. Called with an
``Event`` (``trace(event)``), it records that too. The views (plots, the stepper) only ever read a ``Trace``,
so a run recorded on real sockets and one replayed in the simulator look the
same to them.

Why Chrome trace event JSON: a learner can drop the file into Perfetto and see
the pool lanes, each callback as a slice and an arrow from every ``begin_*``
to the callback it caused, with no tool of ours; and it is plain JSON, so a
simulated trace can be committed and diffed. It is also the only format: the
file carries every event exactly (``seq``, ``t``, thread, conn, nbytes,
payload), and ``Trace.load`` rebuilds the same event list from it. The
metadata and the flow arrows are derived, so loading ignores them.

Two normalisations happen when a record becomes an event, so that saving and
loading give back equal events: the payload becomes plain JSON data (tuples
become lists, unknown objects their ``str``), and a client event (kind
``client_*``, ``conn`` None, ``info["port"]`` its local port) gets the
server's connection number from the ``accept`` whose peer has that port,
even when the client wrote before the server accepted.
"""
from __future__ import annotations

import bisect
import dataclasses
import json
import threading
from typing import Any, Iterable, Iterator, Mapping

from .events import Event
from .lanes import lane_order
from . import kinds

__all__ = ["Trace"]

FORMAT = "sockdemo-trace"
VERSION = 1
PID = 1
# Argument names taken by Event fields; payload keys that collide go under "info".
_FIELDS = ("conn", "nbytes", "seq")
_RESERVED = frozenset(_FIELDS + ("info", "end"))
_SEPARATORS = (",", ":")


def _plain(value: Any) -> Any:
    """The value as JSON gives it back, so that a loaded event compares equal."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


_SCALARS = frozenset((str, int, float, bool, type(None), list))


def _seq(ev: Event) -> int:
    return ev.seq


def _args(ev: Event) -> dict:
    args = {"conn": ev.conn, "nbytes": ev.nbytes, "seq": ev.seq}
    clashing = {}
    for k, v in ev.info.items():
        (clashing if k in _RESERVED else args)[k] = v
    if clashing:
        args["info"] = clashing
    return args


def _from_args(args: Mapping, kind: str, t: int, thread: str) -> Event:
    info = {k: v for k, v in args.items() if k not in _RESERVED}
    info.update(args.get("info") or {})
    seq = args.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError(f"event {kind!r} at ts={t} has no integer args.seq")
    return Event(seq, t, kind, thread, args.get("conn"), args.get("nbytes"), info)


class Trace:
    """A recorded run: a tracer's recorder, a list of events, a Chrome trace file."""

    def __init__(self, events: Iterable[Event] = ()):
        # What a tracer appends, one plain tuple per event (see Tracer.subscribe);
        # turned into Events only when someone reads the trace.
        self._records: list[tuple] = []
        self._events: list[Event] = []
        self._taking = threading.Lock()
        self._conn_of_port: dict[int, int] = {}
        self._waiting: dict[int, list[int]] = {}   # port -> seqs not yet resolved
        for ev in events:
            self(ev)

    # -- recording ---------------------------------------------------------
    def __call__(self, ev: Event) -> None:
        """Record one Event (a hand-built one, or from a tracer's hook)."""
        self._records.append((ev.seq, ev.t, ev.kind, ev.thread, ev.conn, ev.nbytes, ev.info))

    def _take(self) -> list[Event]:
        """Turn the records appended so far into events; return the events."""
        with self._taking:
            records = self._records
            n = len(records)
            if n:
                batch = records[:n]
                del records[:n]  # a tracer may append meanwhile: only these n go
                for record in batch:
                    self._add(Event.make(*record))
            return self._events

    def _add(self, ev: Event) -> None:
        for value in ev.info.values():
            if type(value) not in _SCALARS:
                ev = dataclasses.replace(ev, info=_plain(dict(ev.info)))
                break
        if ev.conn is None and ev.kind.startswith("client_"):
            ev = self._client_event(ev)
        events = self._events
        if not events or ev.seq > events[-1].seq:
            events.append(ev)
        else:  # a record that lost a race to its successor, or a hand-built list
            events.insert(bisect.bisect(events, ev.seq, key=_seq), ev)
        if ev.kind == kinds.ACCEPT and ev.conn is not None:
            peer = ev.info.get("peer")
            if isinstance(peer, list) and len(peer) >= 2 and isinstance(peer[1], int):
                self._resolve(peer[1], ev.conn)

    def _client_event(self, ev: Event) -> Event:
        port = ev.info.get("port")
        if not isinstance(port, int):
            return ev
        if port in self._conn_of_port:
            return dataclasses.replace(ev, conn=self._conn_of_port[port])
        self._waiting.setdefault(port, []).append(ev.seq)
        return ev

    def _resolve(self, port: int, conn: int) -> None:
        # Latest accept wins: a port reused by a later client maps to its conn.
        self._conn_of_port[port] = conn
        events = self._events
        for seq in self._waiting.pop(port, ()):
            i = bisect.bisect_left(events, seq, key=_seq)
            events[i] = dataclasses.replace(events[i], conn=conn)

    # -- reading -----------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        return list(self._take())

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

    def for_conn(self, conn: int) -> list[Event]:
        return [ev for ev in self.events if ev.conn == conn]

    # -- Chrome trace event format -------------------------------------------
    def to_chrome(self) -> dict:
        events = self.events
        tids = {name: i + 1 for i, name in enumerate(dict.fromkeys(e.thread for e in events))}
        out: list[dict] = [{"args": {"name": "sockdemo"}, "name": "process_name",
                            "ph": "M", "pid": PID, "tid": 0}]
        lanes = lane_order(tids)
        for name in lanes:
            out.append({"args": {"name": name}, "name": "thread_name",
                        "ph": "M", "pid": PID, "tid": tids[name]})
        for rank, name in enumerate(lanes):
            out.append({"args": {"sort_index": rank}, "name": "thread_sort_index",
                        "ph": "M", "pid": PID, "tid": tids[name]})

        ends = _match_callbacks(events)
        # s and f must share id, cat and name for the viewer to join them.
        flows = {e.info["id"]: f"begin_{e.info.get('op', '')}" for e in events
                 if e.kind == kinds.BEGIN and e.info.get("id") is not None}
        skip = {end.seq for end in ends.values()}
        for ev in events:
            if ev.seq in skip:
                continue
            base = {"pid": PID, "tid": tids[ev.thread], "ts": ev.t}
            if ev.kind == kinds.CALLBACK_START:
                name = str(ev.info.get("name", "callback"))
                end = ends.get(ev.seq)
                if end is not None:
                    args = _args(ev)
                    args["end"] = _args(end)
                    out.append({**base, "args": args, "cat": "callback",
                                "dur": end.t - ev.t, "name": name, "ph": "X"})
                else:  # cut while running: an unterminated slice, shown to the end
                    out.append({**base, "args": _args(ev), "cat": "callback",
                                "name": name, "ph": "B"})
                fid = ev.info.get("id")
                if fid is not None and fid in flows:
                    out.append({**base, "bp": "e", "cat": "flow", "id": fid,
                                "name": flows[fid], "ph": "f"})
                continue
            out.append({**base, "args": _args(ev), "cat": "sockdemo",
                        "name": ev.kind, "ph": "i", "s": "t"})
            if ev.kind == kinds.BEGIN and ev.info.get("id") is not None:
                out.append({**base, "cat": "flow", "id": ev.info["id"],
                            "name": flows[ev.info["id"]], "ph": "s"})
        return {"displayTimeUnit": "ms",
                "otherData": {"format": FORMAT, "version": VERSION,
                              "events": len(events), "clock": "us"},
                "traceEvents": out}

    @classmethod
    def from_chrome(cls, data: Any) -> "Trace":
        try:
            return cls(_parse_chrome(data))
        except (TypeError, AttributeError, KeyError) as exc:
            raise ValueError(f"not a sockdemo trace: {exc!r}") from exc

    def dumps(self) -> str:
        """The file's text: one trace event a line, so simulated traces diff well."""
        data = self.to_chrome()
        head = {k: v for k, v in data.items() if k != "traceEvents"}
        lines = [json.dumps(e, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False)
                 for e in data["traceEvents"]]
        text = json.dumps(head, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False)
        return text[:-1] + ',"traceEvents":[\n' + ",\n".join(lines) + "\n]}\n"

    def save(self, path) -> None:
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(self.dumps())

    @classmethod
    def load(cls, path) -> "Trace":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return cls.from_chrome(data)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError too
            raise ValueError(f"{path}: not a sockdemo trace file: {exc}") from exc


def _parse_chrome(data: Any) -> list[Event]:
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ValueError("not a Chrome trace: expected an object with a traceEvents list")
    raw = data["traceEvents"]
    names = {}
    for e in raw:
        if isinstance(e, dict) and e.get("ph") == "M" and e.get("name") == "thread_name":
            names[e.get("tid")] = (e.get("args") or {}).get("name")
    events = []
    for e in raw:
        if not isinstance(e, dict):
            raise ValueError(f"trace event is not an object: {e!r:.60}")
        ph = e.get("ph")
        if ph in ("M", "s", "f"):
            continue
        if ph not in ("X", "B", "i"):
            raise ValueError(f"not a sockdemo trace: unexpected phase {ph!r}")
        thread = names.get(e.get("tid"))
        if not isinstance(thread, str):
            raise ValueError(f"no thread_name for tid {e.get('tid')!r}")
        ts, args = e.get("ts"), e.get("args")
        if not isinstance(ts, int) or not isinstance(args, dict):
            raise ValueError(f"not a sockdemo trace: bad ts or args in {e!r:.80}")
        if ph == "i":
            events.append(_from_args(args, str(e.get("name")), ts, thread))
            continue
        args = dict(args)
        end = args.pop("end", None)
        events.append(_from_args(args, "callback_start", ts, thread))
        if ph == "X":
            dur = e.get("dur")
            if not isinstance(dur, int) or not isinstance(end, dict):
                raise ValueError(f"not a sockdemo trace: bad X slice {e!r:.80}")
            events.append(_from_args(end, "callback_end", ts + dur, thread))
    events.sort(key=lambda ev: ev.seq)
    return events


def _match_callbacks(events: list[Event]) -> dict[int, Event]:
    """start seq -> its callback_end (same thread, same id; innermost first)."""
    open_: dict[tuple, list[Event]] = {}
    ends: dict[int, Event] = {}
    for ev in events:
        key = (ev.thread, ev.info.get("id"))
        if ev.kind == kinds.CALLBACK_START:
            open_.setdefault(key, []).append(ev)
        elif ev.kind == kinds.CALLBACK_END and open_.get(key):
            ends[open_[key].pop().seq] = ev
    return ends

"""A trace as Chrome trace event JSON, the file Perfetto opens, and back.

Mirrors no .NET type; it is what Perfetto (https://ui.perfetto.dev) and
``chrome://tracing`` read. Why this format: a learner can drop the file into
Perfetto and see the pool lanes, each callback as a slice and an arrow from
every ``begin_*`` to the callback it caused, with no tool of ours; and it is
plain JSON, so a simulated trace can be committed and diffed.

It is also the only format, so it keeps everything: each event's ``seq``,
``t``, thread, conn, nbytes and payload (in ``args``), and the trace's
``meta`` (in ``otherData``). ``from_chrome`` rebuilds the same events from
them. The thread metadata and the flow arrows are derived, so loading
ignores them.

A callback run is one ``X`` slice (its end's args under ``args.end``), or a
``B`` slice when nothing ended it; every other event is an instant (``i``).

Threads are numbered in lane order (``trace.lanes``: main, engine, pool-1 …
pool-N, any other thread, the clients), tid 1 upwards, so that a viewer that
sorts threads by tid shows them as the plots do; Perfetto did so for JSON
traces until it learned to read ``thread_sort_index`` (google/perfetto#3273,
October 2025), which is written too, for it and for ``chrome://tracing``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from . import kinds
from .callbacks import pair_callbacks
from .events import Event
from .lanes import lane_order

__all__ = ["FORMAT", "VERSION", "plain", "to_chrome", "from_chrome", "dumps", "parse"]

FORMAT = "sockdemo-trace"
VERSION = 1
PID = 1
# Argument names taken by Event fields; payload keys that collide go under "info".
_FIELDS = ("conn", "nbytes", "seq")
_RESERVED = frozenset(_FIELDS + ("info", "end"))
_SEPARATORS = (",", ":")


def plain(value: Any) -> Any:
    """The value as JSON gives it back (tuples as lists, other objects as their
    ``str``), so that what is loaded compares equal to what was saved."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


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


def _thread_metadata(tids: dict) -> list[dict]:
    """Name each thread and rank it; ``tids`` maps thread names to tids, in lane order."""
    return ([{"args": {"name": "sockdemo"}, "name": "process_name", "ph": "M", "pid": PID, "tid": 0}]
            + [{"args": {"name": name}, "name": "thread_name", "ph": "M", "pid": PID, "tid": tid}
               for name, tid in tids.items()]
            + [{"args": {"sort_index": rank}, "name": "thread_sort_index", "ph": "M", "pid": PID,
                "tid": tid} for rank, tid in enumerate(tids.values())])


def to_chrome(events: list[Event], meta: Mapping) -> dict:
    """The Chrome trace of ``events`` (in seq order), with ``meta`` in ``otherData``."""
    tids = {name: i + 1 for i, name in enumerate(lane_order(e.thread for e in events))}
    out = _thread_metadata(tids)
    ends = {run.start.seq: run.end for run in pair_callbacks(events)}
    paired = {end.seq for end in ends.values() if end is not None}
    # s and f must share id, cat and name for the viewer to join them.
    flows = {e.info["id"]: f"begin_{e.info.get('op', '')}" for e in events
             if e.kind == kinds.BEGIN and e.info.get("id") is not None}
    for ev in events:
        if ev.seq in paired:
            continue  # inside its start's X slice
        base = {"pid": PID, "tid": tids[ev.thread], "ts": ev.t}
        if ev.kind == kinds.CALLBACK_START:
            slice_ = {**base, "args": _args(ev), "cat": "callback",
                      "name": str(ev.info.get("name", "callback"))}
            end = ends[ev.seq]
            if end is None:  # still running where the trace stops: open to the end
                out.append({**slice_, "ph": "B"})
            else:
                slice_["args"]["end"] = _args(end)
                out.append({**slice_, "dur": end.t - ev.t, "ph": "X"})
            if ev.info.get("id") in flows:
                out.append({**base, "bp": "e", "cat": "flow", "id": ev.info["id"],
                            "name": flows[ev.info["id"]], "ph": "f"})
            continue
        out.append({**base, "args": _args(ev), "cat": "sockdemo", "name": ev.kind,
                    "ph": "i", "s": "t"})
        if ev.kind == kinds.BEGIN and ev.info.get("id") is not None:
            out.append({**base, "cat": "flow", "id": ev.info["id"],
                        "name": flows[ev.info["id"]], "ph": "s"})
    return {"displayTimeUnit": "ms",
            "otherData": {"format": FORMAT, "version": VERSION, "events": len(events),
                          "clock": "us", "meta": plain(dict(meta))},
            "traceEvents": out}


def from_chrome(data: Any) -> tuple[list[Event], dict]:
    """``(events in seq order, meta)`` of a Chrome trace written by ``to_chrome``."""
    if isinstance(data, list):  # the array form: the trace events alone
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ValueError("not a Chrome trace: expected an object with a traceEvents list")
    meta = (data.get("otherData") or {}).get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError(f"otherData.meta is not an object: {meta!r:.60}")
    raw = data["traceEvents"]
    names = {e.get("tid"): (e.get("args") or {}).get("name") for e in raw
             if isinstance(e, dict) and e.get("ph") == "M" and e.get("name") == "thread_name"}
    events = [ev for e in raw for ev in _events_of(e, names)]
    events.sort(key=lambda ev: ev.seq)
    return events, meta


def _events_of(e: Any, names: dict) -> list[Event]:
    """The events one trace entry holds: none (metadata, flows), one, or a slice's two."""
    if not isinstance(e, dict):
        raise ValueError(f"trace event is not an object: {e!r:.60}")
    ph = e.get("ph")
    if ph in ("M", "s", "f"):
        return []
    if ph not in ("X", "B", "i"):
        raise ValueError(f"not a sockdemo trace: unexpected phase {ph!r}")
    thread = names.get(e.get("tid"))
    if not isinstance(thread, str):
        raise ValueError(f"no thread_name for tid {e.get('tid')!r}")
    ts, args = e.get("ts"), e.get("args")
    if not isinstance(ts, int) or not isinstance(args, dict):
        raise ValueError(f"not a sockdemo trace: bad ts or args in {e!r:.80}")
    if ph == "i":
        return [_from_args(args, str(e.get("name")), ts, thread)]
    args = dict(args)
    end = args.pop("end", None)
    start = _from_args(args, kinds.CALLBACK_START, ts, thread)
    if ph == "B":
        return [start]
    dur = e.get("dur")
    if not isinstance(dur, int) or not isinstance(end, dict):
        raise ValueError(f"not a sockdemo trace: bad X slice {e!r:.80}")
    return [start, _from_args(end, kinds.CALLBACK_END, ts + dur, thread)]


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a trace may hold")


def parse(text: str) -> Any:
    """The JSON of a trace file: an object (``dumps``'s), or the array form that a
    streamed trace has, whose closing bracket may be missing when the process
    writing it was killed (the Chrome trace format allows that). ``NaN`` and
    ``Infinity`` are refused: a trace holds integers and plain text."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        body = text.rstrip().rstrip(",")
        if not body.lstrip().startswith("[") or body.endswith("]"):
            raise
        return json.loads(body + "]", parse_constant=_no_constant)


def dumps(data: dict) -> str:
    """The file's text: one trace event a line, keys sorted, so simulated traces diff well."""
    head = {k: v for k, v in data.items() if k != "traceEvents"}
    lines = [json.dumps(e, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False)
             for e in data["traceEvents"]]
    text = json.dumps(head, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False)
    return text[:-1] + ',"traceEvents":[\n' + ",\n".join(lines) + "\n]}\n"

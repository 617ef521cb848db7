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

A callback run is a ``B``/``E`` pair of duration entries, each with its
event's args; every other event is an instant (``i``). Threads get ids in
lane order (``lane_tid``). The trace's ``meta`` travels in a metadata entry
of its own, so the array form that ``serve --trace`` streams keeps it too.

Threads are numbered in lane order (``trace.lanes``: main, engine, pool-1 …
pool-N, any other thread, the clients), tid 1 upwards, so that a viewer that
sorts threads by tid shows them as the plots do; Perfetto did so for JSON
traces until it learned to read ``thread_sort_index`` (google/perfetto#3273,
October 2025), which is written too, for it and for ``chrome://tracing``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from . import kinds
from .events import Event
from .lanes import NUMBERED as _NUMBERED

__all__ = ["FORMAT", "VERSION", "Entries", "lane_tid", "plain", "to_chrome", "from_chrome", "dumps",
           "dumps_entry", "parse"]

FORMAT = "sockdemo-trace"
VERSION = 2        # 2: callbacks as B/E pairs, meta in a metadata entry, tids by lane
META = "sockdemo_trace"   # the metadata entry with the format, its version and the trace's meta
MAX_OPEN_FLOWS = 10_000
PID = 1
# Argument names taken by Event fields; payload keys that collide go under "info".
_FIELDS = ("conn", "nbytes", "seq")
_RESERVED = frozenset(_FIELDS + ("info",))
_SEPARATORS = (",", ":")
_encode = json.JSONEncoder(sort_keys=True, separators=_SEPARATORS, ensure_ascii=False).encode
_json_string = json.encoder.encode_basestring   # what _encode writes a str with (C where there is C)
_SORTED: dict = {}     # an object's keys, as given -> in sorted order (objects of a few shapes recur)
_LAYOUTS: dict = {}    # a payload's keys, as given -> its args' layout (``_layout``)
_MAX_SHAPES = 10_000   # shapes kept at most, each (the rest are worked out each time)


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


def _args(ev: Event) -> str:
    """The entry's ``args``, as JSON text (``_json``'s): the fields, then the
    payload, keys sorted. A payload's keys come in a few shapes, one for each
    place that emits, so each shape's sorted layout is worked out once."""
    info = ev.info
    layout = _LAYOUTS.get(tuple(info)) or _layout(info)
    if layout is None:   # a key that clashes with a field's, or that is no string
        args = {"conn": ev.conn, "nbytes": ev.nbytes, "seq": ev.seq}
        clashing = {}
        for k, v in info.items():
            (clashing if k in _RESERVED else args)[k] = v
        if clashing:
            args["info"] = clashing
        return _json(args)
    template, order = layout
    values = (ev.conn, ev.nbytes, ev.seq, *info.values())
    return template % tuple([_WRITERS.get(type(v), _json)(v) for v in map(values.__getitem__, order)])


def _layout(info: Mapping) -> Optional[tuple]:
    """``(template, order)`` for a payload of ``info``'s keys: the args' JSON
    with a ``%s`` a value, and where each value is in (conn, nbytes, seq,
    *info.values()); kept while there is room. None for a key that is no
    string or clashes with a field's."""
    keys = tuple(info)
    if not all(type(k) is str for k in keys) or _RESERVED.intersection(keys):
        return None
    names = sorted(enumerate(_FIELDS + keys), key=lambda item: item[1])
    template = "{" + ",".join(_json_string(name).replace("%", "%%") + ":%s" for _, name in names) + "}"
    layout = (template, [i for i, _ in names])
    if len(_LAYOUTS) < _MAX_SHAPES:
        _LAYOUTS[keys] = layout
    return layout


def _json(value: Any) -> str:
    """``value`` as ``dumps_entry`` writes it, to the byte. The values an event
    carries are written here, without the generic encoder: its sorting of every
    object's keys and its setting up for each call were most of the time a
    streamed trace took; anything else goes to it."""
    kind = type(value)
    if kind is str:
        return _json_string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is dict:
        order = _SORTED.get(tuple(value)) or _sorted_keys(value)
        if order is not None:
            return "{" + ",".join([_json_string(k) + ":" + _json(value[k]) for k in order]) + "}"
    return _encode(value)


def _sorted_keys(obj: dict) -> Optional[list]:
    """``obj``'s keys in sorted order, kept for its shape while there is room;
    None when they are not all strings (the generic encoder knows what to do)."""
    keys = tuple(obj)
    if not all(type(k) is str for k in keys):
        return None
    order = sorted(keys)
    if len(_SORTED) < _MAX_SHAPES:
        _SORTED[keys] = order
    return order


def _from_args(args: Mapping, kind: str, t: int, thread: str) -> Event:
    info = {k: v for k, v in args.items() if k not in _RESERVED}
    info.update(args.get("info") or {})
    seq = args.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError(f"event {kind!r} at ts={t} has no integer args.seq")
    return Event(seq, t, kind, thread, args.get("conn"), args.get("nbytes"), info)


# How _json writes the scalars, by type, called straight from a comprehension:
# each a C function, no Python frame a value. Anything else goes to _json.
_WRITERS = {str: _json_string, int: int.__repr__, type(None): "null".format,
            bool: {True: "true", False: "false"}.__getitem__}


def lane_tid(name: str, others: int) -> int:
    """The thread id a lane gets: ``main`` 1, ``engine`` 2, ``pool-N`` 10 + N, any
    other thread 1,000 + its rank among them (``others``: how many came before),
    ``client-N`` 100,000 + N. So sorting by tid (what Perfetto did before it read
    ``thread_sort_index``) gives the lane order of ``trace.lanes``, and a streamed
    trace can number a thread the moment it first appears."""
    m = _NUMBERED.fullmatch(name)
    if m:
        return (10 if m.group(1) == "pool" else 100_000) + int(m.group(2))
    return {"main": 1, "engine": 2}.get(name, 1_000 + others)


class Entries:
    """Chrome trace entries of events given one at a time, in seq order: the same
    code writes a saved trace (``to_chrome``) and a streamed one (``trace.stream``).

    A thread's metadata (``thread_name``, ``thread_sort_index``) comes with its
    first event; a callback is a ``B``/``E`` pair of duration entries (Perfetto
    nests them per thread, innermost last, as inline callbacks nest); every
    other event an instant; a flow arrow runs from a ``begin_*`` with a
    callback to the callback's start."""

    def __init__(self, meta: Mapping):
        self.meta = plain(dict(meta))
        self.tids: dict = {}
        self._others = 0
        self._flows: dict = {}       # begin id -> flow name, until its callback starts

    def head(self) -> list[dict]:
        return [{"args": {"name": "sockdemo"}, "name": "process_name", "ph": "M", "pid": PID, "tid": 0},
                {"args": {"format": FORMAT, "version": VERSION, "meta": self.meta}, "name": META,
                 "ph": "M", "pid": PID, "tid": 0}]

    def of(self, ev: Event) -> list[str]:
        """The entries of one event, each as a line of the file (``dumps_entry``'s text)."""
        out = []
        tid = self.tids.get(ev.thread)
        if tid is None:
            tid = self.tids[ev.thread] = lane_tid(ev.thread, self._others)
            self._others += tid >= 1_000 and tid < 100_000
            out += [dumps_entry({"args": {"name": ev.thread}, "name": "thread_name", "ph": "M",
                                 "pid": PID, "tid": tid}),
                    dumps_entry({"args": {"sort_index": tid}, "name": "thread_sort_index", "ph": "M",
                                 "pid": PID, "tid": tid})]
        # Each line spells out its keys in sorted order, as dumps_entry sorts them.
        where = f'"pid":{PID},"tid":{tid},"ts":{_json(ev.t)}}}'
        op_id = ev.info.get("id")
        if ev.kind in (kinds.CALLBACK_START, kinds.CALLBACK_END):
            phase = "B" if ev.kind == kinds.CALLBACK_START else "E"
            out.append(f'{{"args":{_args(ev)},"cat":"callback",'
                       f'"name":{_json(str(ev.info.get("name", "callback")))},"ph":"{phase}",{where}')
            flow = self._flows.pop(op_id, None) if phase == "B" else None
            if flow is not None:  # s and f must share id, cat and name for the viewer to join them
                out.append(f'{{"bp":"e","cat":"flow","id":{_json(op_id)},"name":{_json(flow)},"ph":"f",{where}')
        else:
            out.append(f'{{"args":{_args(ev)},"cat":"sockdemo","name":{_json(ev.kind)},"ph":"i","pid":{PID},'
                       f'"s":"t","tid":{tid},"ts":{_json(ev.t)}}}')
            if ev.kind == kinds.BEGIN and op_id is not None and ev.info.get("callback", True):
                flow = self._flows[op_id] = f"begin_{ev.info.get('op', '')}"
                out.append(f'{{"cat":"flow","id":{_json(op_id)},"name":{_json(flow)},"ph":"s",{where}')
                if len(self._flows) > MAX_OPEN_FLOWS:  # begins whose callback never ran: forget the oldest
                    del self._flows[next(iter(self._flows))]
        return out


def to_chrome(events: list[Event], meta: Mapping) -> dict:
    """The Chrome trace of ``events`` (in seq order), with ``meta`` beside them."""
    return json.loads(dumps(events, meta))


def from_chrome(data: Any) -> tuple[list[Event], dict]:
    """``(events in seq order, meta)`` of a Chrome trace written by ``to_chrome``."""
    if isinstance(data, list):  # the array form: the trace events alone
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ValueError("not a Chrome trace: expected an object with a traceEvents list")
    raw = data["traceEvents"]
    heads = [e for e in raw if isinstance(e, dict) and e.get("ph") == "M" and e.get("name") == META]
    meta = ((heads[0].get("args") or {}).get("meta", {})) if heads else {}
    if not isinstance(meta, dict):
        raise ValueError(f"the trace's meta is not an object: {meta!r:.60}")
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
    if ph not in _KINDS_OF_PHASE:
        raise ValueError(f"not a sockdemo trace: unexpected phase {ph!r}")
    thread = names.get(e.get("tid"))
    if not isinstance(thread, str):
        raise ValueError(f"no thread_name for tid {e.get('tid')!r}")
    ts, args = e.get("ts"), e.get("args")
    if not isinstance(ts, int) or isinstance(ts, bool) or not isinstance(args, dict):
        raise ValueError(f"not a sockdemo trace: bad ts or args in {e!r:.80}")
    return [_from_args(args, _KINDS_OF_PHASE[ph] or str(e.get("name")), ts, thread)]


# B and E are a callback's start and end; an instant's name is its kind.
_KINDS_OF_PHASE = {"B": kinds.CALLBACK_START, "E": kinds.CALLBACK_END, "i": None}


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
        if not text.lstrip().startswith("[") or text.rstrip().endswith("]"):
            raise
    # Cut short: close the array after the last whole entry (one entry a line).
    lines = text.rstrip().split("\n")
    for end in (len(lines), len(lines) - 1):
        body = "\n".join(lines[:end]).rstrip().rstrip(",")
        try:
            return json.loads(body + "]", parse_constant=_no_constant)
        except json.JSONDecodeError:
            continue
    raise ValueError("a trace cut short, and not at the end of an entry")


def dumps_entry(entry: dict) -> str:
    """One trace entry as one line of the file: keys sorted, so simulated traces diff well."""
    return _encode(entry)


def dumps(events: list[Event], meta: Mapping) -> str:
    """The file's text of ``events`` (in seq order) and ``meta``: one trace event a
    line, keys sorted, so simulated traces diff well."""
    entries = Entries(meta)
    lines = [dumps_entry(e) for e in entries.head()]
    for ev in events:
        lines += entries.of(ev)
    head = dumps_entry({"displayTimeUnit": "ms",
                        "otherData": {"format": FORMAT, "version": VERSION, "events": len(events), "clock": "us"}})
    return head[:-1] + ',"traceEvents":[\n' + ",\n".join(lines) + "\n]}\n"

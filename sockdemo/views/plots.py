"""The pictures of the lab: who ran each callback, and how the bytes arrived.

Mirrors what a profiler's timeline shows, for what the page "Using an
Asynchronous Server Socket" only tells. Every picture reads a trace (a
``Trace`` or a list of ``Event``), so a run on real sockets and a simulated
run look the same.

* ``plot_lanes``: one row per thread (``main``, ``engine``, ``pool-1`` ...).
  Each callback run is a bar on the pool thread that ran it, coloured by its
  connection, so a learner sees that consecutive ``ReadCallback``s of one
  connection hop between threads, that the main thread spends its life
  blocked in ``allDone.WaitOne()`` (hatched), that the engine only completes
  operations (ticks) and never runs a callback, and how long each completed
  operation sat in the pool's queue before a worker took it (the thin line
  ending where the bar starts). A run that never returned (the run stopped
  inside it, or it was still running where the trace ends) ends in a ``>``.
  When a lane would hold more than ``MAX_LANE_RUNS`` bars they are a barcode,
  so each lane becomes a heat strip instead: the share of each moment the
  thread spent running callbacks (main: blocked in ``WaitOne``).
* ``plot_chunks``: one row per connection, the client's ``send`` pieces above
  and the server's receives below on one time axis, each marker sized by its
  bytes: TCP is a byte stream, so the two rows rarely match (pieces coalesce
  into one receive, or one piece arrives in two). Accept, end of stream,
  message and close are marked on the server's row. A big run shows an even
  sample of its connections.
* ``plot_summary``: for big runs, callbacks per thread and bytes per receive.
* ``save_demo_figure``: both pictures (and the summary for big runs) in one
  PNG, for ``python -m sockdemo demo --png`` and the README.

The time axis shows the run, not the server's age (``time_window``): it
starts at the first client activity (or at ``since=``, µs of the trace's
clock) and ends at the last event, so a server that idled for minutes before
its clients came does not squeeze them into a sliver. Its numbers stay the
trace's own (ms since the server started), the ones a lesson prints.

Each picture is a pure model first (``lane_model``, ``chunk_model``: plain
data saying what is drawn where, no matplotlib), then a few small drawing
functions. Every plot function takes ``(trace, ax=None, ...)``, a ``title=``
that names the run in front of the picture's own headline, and returns what
it drew on; the main artists carry a gid (``callbacks``, ``cut``, ``waits``,
``queued``, ``completions``, ``busy``, ``bar_labels``; ``client_send``,
``chunk``, ``accept``, ``byte_labels`` ...) so lessons and tests can find
them. Labels are placed when the figure is drawn (``views.labels``): a name
only where it fits, byte counts grouped where they would collide. Colours are
the Okabe-Ito palette (safe for colour-blind readers). Many events are drawn
as a few collections, never one artist per event, so a 10,000-event trace
draws in about a second.
"""
from __future__ import annotations

import dataclasses
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, NamedTuple, Optional

from ..trace import kinds
from ..trace.callbacks import pair_callbacks
from ..trace.join import join_conns
from ..trace.lanes import lane_order

__all__ = ["plot_lanes", "plot_chunks", "plot_summary", "save_demo_figure", "demo_figure",
           "lane_model", "chunk_model", "time_window", "LaneModel", "ChunkModel",
           "OKABE_ITO", "CONN_COLOURS", "MAX_LANE_RUNS"]

OKABE_ITO = {"orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
             "reddish purple": "#CC79A7", "black": "#000000"}
# Yellow last: it is the hardest to see on white.
CONN_COLOURS = tuple(OKABE_ITO[name] for name in ("orange", "sky blue", "bluish green", "blue",
                                                  "vermillion", "reddish purple", "yellow"))
NO_CONN = "#BBBBBB"
WAIT_FACE, WAIT_EDGE = "#E8E8E8", "#8C8C8C"
QUEUE = "#333333"
CLIENT, SERVER = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
ERROR = OKABE_ITO["vermillion"]

SHORT_NAMES = {"AcceptCallback": "Accept", "ReadCallback": "Read", "SendCallback": "Send"}
ERROR_KINDS = (kinds.ERROR, kinds.OP_ERROR, kinds.HOOK_ERROR)

MAX_LABELS = 150        # bars offered a label (the widest): text is the slow part of a figure
MAX_WAIT_LABELS = 30
MAX_BYTE_LABELS = 400   # plot_chunks: the byte counts are the point, so allow more
MAX_CHUNK_ROWS = 40     # connections drawn by plot_chunks before it samples
SUMMARY_CONNECTIONS = 30  # save_demo_figure adds the summary above this
# Bars on one lane before plot_lanes draws busy shares instead (_draw_busy):
# 150 bars across an axis of about 800 pixels are some 5 pixels each, about
# where neighbours stop looking apart. A connection of the page's server is at
# least three runs (accept, a read, the read that sees the end of the stream),
# so the switch comes past about 100 connections on two pool threads, 200 on
# four, 400 on eight: the few hundred where the lanes became a barcode.
MAX_LANE_RUNS = 150
BUSY_BINS = 160         # time bins of the busy strips: 5 pixels each on a 10-inch figure
BUSY_LEVELS = (0.25, 0.5, 0.75, 1.0)   # shades of the strips: each a quarter of the time
LEAD_SHOWN = 0.25       # see time_window
FONT = 8


def _events(trace) -> list:
    return list(trace.events) if hasattr(trace, "events") else list(trace)


def _ms(t: int) -> float:
    return t / 1000.0


def _span(events) -> tuple[int, int]:
    return (min(e.t for e in events), max(e.t for e in events)) if events else (0, 1)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def conn_colour(conn: Optional[int]) -> str:
    return NO_CONN if conn is None else CONN_COLOURS[(conn - 1) % len(CONN_COLOURS)]


def _conn_rgba(conns):
    """``conn_colour`` of each, as RGBA rows: a collection takes them without parsing
    a colour string per item, which was a tenth of a live frame's time."""
    from matplotlib.colors import to_rgba_array
    palette = to_rgba_array((NO_CONN,) + CONN_COLOURS)
    return palette[[0 if c is None else 1 + (c - 1) % len(CONN_COLOURS) for c in conns]]


# -- the time shown ----------------------------------------------------------------

def _first_client_activity(events) -> Optional[int]:
    """When a client first did something: its own step, or the server's accept."""
    return min((ev.t for ev in events if ev.conn is not None or kinds.is_client(ev.kind)),
               default=None)


def time_window(trace, since: Optional[int] = None) -> tuple[int, int]:
    """``(t0, t1)``, µs of the trace's clock: the time the pictures show.

    From ``since`` if given, else from the first client activity (a client's
    step or an accept), to the last event. When the server started only a
    little before its clients (less than ``LEAD_SHOWN`` of their time), the
    window starts at the server's first event instead, so the picture also
    shows it listen and begin waiting. A server that idled before the clients
    came, for seconds at a student's pace or for minutes, is left out: it
    would squeeze their milliseconds into a sliver."""
    events = _events(trace)
    first, last = _span(events)
    if since is not None:
        return since, max(last, since)
    clients = _first_client_activity(events)
    if clients is None or clients - first <= LEAD_SHOWN * (last - clients):
        return first, last
    return clients, last


# -- the lane model ----------------------------------------------------------------

class Run(NamedTuple):
    """A callback run on a thread, from its start to its end (µs)."""
    thread: str
    t0: int
    t1: int
    name: str
    conn: Optional[int]
    depth: int           # callbacks of its thread it ran inside (inline completion)


class Wait(NamedTuple):
    thread: str
    t0: int
    t1: int
    event: str           # the ManualResetEvent waited on


class Queued(NamedTuple):
    """A completed operation waiting in the pool's queue for a worker."""
    thread: str          # the worker that took it
    t0: int              # completed
    t1: int              # its callback started
    conn: Optional[int]


class Completion(NamedTuple):
    thread: str
    t: int
    kind: str
    conn: Optional[int]


class Problem(NamedTuple):
    thread: str
    t: int
    text: str


@dataclass(frozen=True)
class LaneModel:
    """What ``plot_lanes`` draws, as plain data: each list holds only its lanes' items.

    ``model["runs"]`` reads ``model.runs``, as the lessons index it."""
    lanes: tuple                 # thread names, top to bottom
    runs: tuple                  # Run per callback run, in start order
    cut: tuple                   # the Runs that never returned: they end where the run
                                 # stopped (a ``cut`` end) or where the trace ends
    waits: tuple                 # Wait per wait_one, an unended one to the trace's end
    queued: tuple                # Queued per completion a callback took from the queue
    completions: tuple           # Completion per operation the runtime completed
    errors: tuple                # Problem per error, failed operation or broken hook
    span: tuple                  # (first t, last t) of the trace

    def __getitem__(self, key: str):
        return getattr(self, key)


def lane_names(trace) -> list[str]:
    """The threads ``plot_lanes`` shows, top to bottom: every thread but the clients'."""
    return lane_order(ev.thread for ev in _events(trace) if not kinds.is_client(ev.kind))


def _waits(events, lanes: set, t_end: int) -> list:
    opened: dict[tuple, int] = {}
    waits = []
    for ev in events:
        if ev.thread not in lanes:
            continue
        if ev.kind == kinds.WAIT:
            opened[(ev.thread, ev.info.get("event"))] = ev.t
        elif ev.kind == kinds.WAKE:
            t0 = opened.pop((ev.thread, ev.info.get("event")), None)
            if t0 is not None:
                waits.append(Wait(ev.thread, t0, ev.t, ev.info.get("event")))
    return waits + [Wait(thread, t0, t_end, name) for (thread, name), t0 in opened.items()]


def lane_model(trace, *, since: Optional[int] = None) -> LaneModel:
    """What ``plot_lanes`` draws (also handy in lessons and tests): the whole trace,
    or from ``since`` (µs) on."""
    events = _events(trace)
    lanes = lane_names(events)
    shown = set(lanes)
    span = _span(events)
    completed = {ev.info["id"]: ev for ev in events
                 if ev.kind in kinds.COMPLETIONS and ev.info.get("id") is not None}
    # Where a worker performs the operation (.NET 6+; the Framework's accept begun
    # off the pool), what waits in the pool's queue is the readiness the engine
    # found, not a finished operation: the wait starts there.
    ready = {ev.info["id"]: ev for ev in events if ev.kind == kinds.READY and ev.info.get("id") is not None}
    runs, cut, queued = [], [], []
    for cb in pair_callbacks(events):
        if cb.thread not in shown:
            continue
        done = completed.get(cb.id)
        # An accept's callback starts before it knows its socket: the accept's conn.
        conn = cb.start.conn if cb.start.conn is not None else (done.conn if done else None)
        run = Run(cb.thread, cb.start.t, cb.end.t if cb.end else span[1], cb.name, conn, cb.depth)
        runs.append(run)
        if cb.end is None or cb.cut:
            cut.append(run)
        waited_from = ready.get(cb.id, done)
        if waited_from is not None and waited_from.t <= run.t0:
            queued.append(Queued(run.thread, waited_from.t, run.t0, conn))
    m = LaneModel(
        lanes=tuple(lanes), runs=tuple(runs), cut=tuple(cut),
        waits=tuple(_waits(events, shown, span[1])), queued=tuple(queued),
        completions=tuple(Completion(ev.thread, ev.t, ev.kind, ev.conn) for ev in events
                          if (ev.kind in kinds.COMPLETIONS or ev.kind == kinds.READY)
                          and ev.thread in shown),
        errors=tuple(Problem(ev.thread, ev.t, str(ev.info.get("error", ev.kind))) for ev in events
                     if ev.kind in ERROR_KINDS and ev.thread in shown),
        span=span)
    return m if since is None else _clip(m, since)


def _clip(m: LaneModel, since: int) -> LaneModel:
    """The lane model from ``since`` (µs) on: older spans dropped, straddling ones cut."""
    def spans(items):
        return tuple(type(x)(x[0], max(x[1], since), *x[2:]) for x in items if x[2] >= since)

    def points(items):
        return tuple(x for x in items if x.t >= since)
    return dataclasses.replace(
        m, runs=spans(m.runs), cut=spans(m.cut), waits=spans(m.waits), queued=spans(m.queued),
        completions=points(m.completions), errors=points(m.errors),
        span=(max(m.span[0], since), max(m.span[1], since)))


# -- drawing helpers -----------------------------------------------------------------

def _new_axes(ax, size):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only here, so Figure-based callers never touch pyplot
    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _truncated(trace) -> str:
    """A word in the title when the trace hit its cap: the picture is not the whole run."""
    return " (the trace stopped at its cap: the rest is missing)" if getattr(trace, "truncated_at", None) else ""


def _set_title(ax, headline: str, detail: str, title: Optional[str], size: int = FONT + 3) -> None:
    """The picture's own title; a caller's ``title`` (the run's name) goes in front of it."""
    text = f"{headline}: {detail}"
    ax.set_title(f"{title} · {text}" if title else text, loc="left", fontsize=size)


def _set_time_axis(ax, events, t0: int, t1: int, since: Optional[int]) -> None:
    """x from t0 to t1 in ms of the trace's clock, saying where it starts when that
    is not the trace's start. On an axis shared with a picture drawn before, the
    limits become the union of both: sharing may squeeze a panel, never cut one."""
    pad = max(t1 - t0, 1000) * 0.01
    lo, hi = _ms(t0 - pad), _ms(t1 + pad)
    if any(not other.get_autoscalex_on()
           for other in ax.get_shared_x_axes().get_siblings(ax) if other is not ax):
        drawn = ax.get_xlim()
        lo, hi = min(lo, drawn[0]), max(hi, drawn[1])
    ax.set_xlim(lo, hi)
    ax.ticklabel_format(axis="x", useOffset=False)   # 3001.2, never "+3e3" and 1.2
    label = "time since the server started (ms)"
    if events and t0 > _span(events)[0]:
        label += f"; shown from {_ms(t0):,.1f} ms" + (
            "" if since is not None else ", the first client activity")
    ax.set_xlabel(label, fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)


def _rects(spans: Iterable[tuple[float, float, float, float]]) -> list:
    """(x0, x1, y_centre, height) -> polygon vertices for a PolyCollection."""
    return [[(x0, y - h / 2), (x0, y + h / 2), (x1, y + h / 2), (x1, y - h / 2)]
            for x0, x1, y, h in spans]


def _legend(ax, handles) -> None:
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT,
              frameon=False, borderaxespad=0)


def _marker_handle(colour, marker, label, edge="black", width=0.5, size=8, line=False):
    from matplotlib.lines import Line2D
    return Line2D([], [], color=colour, marker=marker, linestyle="-" if line else "none",
                  markersize=size, markeredgewidth=width, markeredgecolor=edge, label=label)


def _text_handle(label: str):
    """A legend line that is only words."""
    from matplotlib.lines import Line2D
    return Line2D([], [], linestyle="none", label=label)


def _conn_legend(conns: list[int]) -> list:
    from matplotlib.patches import Patch
    if len(conns) <= len(CONN_COLOURS):
        return [Patch(color=conn_colour(c), label=f"conn {c}") for c in conns]
    by_colour = defaultdict(list)
    for c in conns:
        by_colour[conn_colour(c)].append(c)
    out = []
    for colour, cs in by_colour.items():
        more = ", …" if len(cs) > 3 else ""
        out.append(Patch(color=colour, label="conn " + ", ".join(map(str, cs[:3])) + more))
    return out


def _rows(ax, names: list, label: str, every: int = 1) -> None:
    ax.set_ylim(len(names) - 0.5 if names else 0.5, -0.5)
    ax.set_yticks(range(0, len(names), every), names[::every], fontsize=FONT + 1)
    ax.set_ylabel(label, fontsize=FONT + 1)


def _say_empty(ax, what: str) -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", color="#777777")


def _label_bars(ax, bars: list, limit: int, gid: str, **style) -> None:
    """Offer the ``limit`` widest bars a label; each is written when drawn, if it fits."""
    from .labels import BarLabels
    if bars:
        widest = sorted(bars, key=lambda b: b.x1 - b.x0, reverse=True)[:limit]
        ax.add_artist(BarLabels(widest, gid=gid, fontsize=FONT - 1, **style))


# -- drawing the lanes -----------------------------------------------------------------

class _LaneGeometry(NamedTuple):
    row: dict            # thread -> y
    span_ms: float
    min_w: float         # the narrowest bar, in ms

    def box(self, thread, t0, t1, height):
        """(x0, x1, y, height) of a span, at least min_w wide."""
        return (_ms(t0), max(_ms(t1), _ms(t0) + self.min_w), self.row[thread], height)


def _hatch(n: int) -> Optional[str]:
    # Hatching is drawn path by path: costly, and a blur when there are hundreds.
    return "///" if n <= 100 else None


def _draw_waits(ax, m: LaneModel, g: _LaneGeometry) -> list:
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    from .labels import Bar
    boxes = [g.box(w.thread, w.t0, w.t1, 0.5) for w in m.waits]
    if not boxes:
        return []
    ax.add_collection(PolyCollection(_rects(boxes), facecolors=WAIT_FACE, edgecolors=WAIT_EDGE,
                                     linewidths=0.6, zorder=1, hatch=_hatch(len(boxes)),
                                     gid="waits"))
    _label_bars(ax, [Bar(x0, x1, y, (f"WaitOne({w.event})", "WaitOne"))
                     for w, (x0, x1, y, _) in zip(m.waits, boxes)], MAX_WAIT_LABELS, "wait_labels",
                color="#444444", bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.8))
    return [Patch(facecolor=WAIT_FACE, edgecolor=WAIT_EDGE, hatch=_hatch(len(boxes)),
                  label="blocked in WaitOne")]


def _draw_queued(ax, m: LaneModel, g: _LaneGeometry) -> list:
    from matplotlib.collections import LineCollection
    lines = [[(_ms(q.t0), g.row[q.thread] + 0.36), (_ms(q.t1), g.row[q.thread] + 0.36)]
             for q in m.queued]
    if not lines:
        return []
    ax.add_collection(LineCollection(lines, colors=QUEUE, linewidths=1.2, zorder=2, gid="queued"))
    ax.scatter([a[0] for a, _ in lines], [a[1] for a, _ in lines], s=6, c=QUEUE, marker="o",
               linewidths=0, zorder=2)
    return [_marker_handle(QUEUE, "o", "waiting in the pool's queue", edge=QUEUE, size=2, line=True)]


def _draw_runs(ax, m: LaneModel, g: _LaneGeometry) -> list:
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    from .labels import Bar
    boxes = [g.box(r.thread, r.t0, r.t1, 0.56 * 0.7 ** r.depth) for r in m.runs]
    if boxes:
        faces = _conn_rgba([r.conn for r in m.runs])
        # A black outline would swallow the colour of a sliver: outline only wide bars.
        edges = faces.copy()
        edges[[x1 - x0 > g.span_ms / 300 for x0, x1, _, _ in boxes]] = (0, 0, 0, 1)
        ax.add_collection(PolyCollection(_rects(boxes), facecolors=faces, edgecolors=edges,
                                         linewidths=0.4, zorder=3, gid="callbacks"))
        # A bar too narrow for its name may have it above, up to the queue line
        # of the lane before (0.36 below that lane's centre).
        _label_bars(ax, [Bar(x0, x1, y, (r.name, SHORT_NAMES.get(r.name, r.name)),
                             top=y - h / 2, above=1 - 0.36 - h / 2)
                         for r, (x0, x1, y, h) in zip(m.runs, boxes) if r.depth == 0],
                    MAX_LABELS, "bar_labels")
    conns = sorted({r.conn for r in m.runs if r.conn is not None})
    handles = [Patch(facecolor="white", edgecolor="black", linewidth=0.4,
                     label="callback run (colour = connection)")] + _conn_legend(conns)
    if any(r.conn is None for r in m.runs):
        handles.append(Patch(color=NO_CONN, label="no connection"))
    return handles + _draw_cut(ax, m, g)


def _draw_cut(ax, m: LaneModel, g: _LaneGeometry) -> list:
    if not m.cut:
        return []
    ax.scatter([_ms(r.t1) for r in m.cut], [g.row[r.thread] for r in m.cut], marker=">",
               s=40, c="black", zorder=4, gid="cut")
    return [_marker_handle("black", ">", "did not return (cut, or still running)", size=6)]


def _draw_completions(ax, m: LaneModel, g: _LaneGeometry) -> list:
    if not m.completions:
        return []
    ax.scatter([_ms(c.t) for c in m.completions], [g.row[c.thread] for c in m.completions],
               c=_conn_rgba([c.conn for c in m.completions]), marker="|", s=120,
               linewidths=1.6, zorder=4, gid="completions")
    return [_marker_handle("#555555", "|", "operation completed, or its socket\nfound ready (a worker performs it)",
                           edge="#555555", width=1.6, size=10)]


def _draw_errors(ax, m: LaneModel, g: _LaneGeometry) -> list:
    if not m.errors:
        return []
    ax.scatter([_ms(e.t) for e in m.errors], [g.row[e.thread] for e in m.errors], c=ERROR,
               marker="X", s=70, edgecolors="black", linewidths=0.5, zorder=5)
    return [_marker_handle(ERROR, "X", "error")]


def _covered(edges, starts, ends):
    """How much of each bin between ``edges`` the spans [start, end) cover, summed.

    The covered time up to t is sum((t - start)+) - sum((t - end)+); with the
    starts and the ends sorted, both are prefix sums, so this is O(n log n)
    whatever the number of bins."""
    import numpy as np

    def upto(points):
        points = np.sort(np.asarray(points, dtype=float))
        sums = np.concatenate(([0.0], np.cumsum(points)))
        n = np.searchsorted(points, edges)
        return n * edges - sums[n]
    return np.diff(upto(starts) - upto(ends))


def _shades(colour: str) -> list:
    """``colour`` at each of BUSY_LEVELS' strengths, over white."""
    from matplotlib.colors import to_hex, to_rgb
    rgb = to_rgb(colour)
    return [to_hex([1 - level * (1 - c) for c in rgb]) for level in BUSY_LEVELS]


def _draw_busy(ax, m: LaneModel, g: _LaneGeometry) -> list:
    """Each lane as a strip of BUSY_BINS cells, shaded by the share of the cell's time
    its thread spent in callbacks (a thread that ran none, by its time blocked in
    WaitOne, in grey): a thousand connections read as load, not as a barcode."""
    import numpy as np
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch
    t0, t1 = m.span
    edges = np.linspace(t0, max(t1, t0 + 1), BUSY_BINS + 1)
    width = np.diff(edges)
    cells = {"busy": ([], []), "waits": ([], [])}
    for lane in m.lanes:
        runs = [r for r in m.runs if r.thread == lane and r.depth == 0]
        spans = runs or [w for w in m.waits if w.thread == lane]
        if not spans:
            continue
        share = _covered(edges, [s.t0 for s in spans], [s.t1 for s in spans]) / width
        gid, colour = ("busy", CLIENT) if runs else ("waits", WAIT_EDGE)
        level = np.searchsorted(BUSY_LEVELS, np.clip(share, 0, 1) - 1e-9)
        boxes, faces = cells[gid]
        shades = _shades(colour)
        for i in np.flatnonzero(share > 0):
            boxes.append((_ms(edges[i]), _ms(edges[i + 1]), g.row[lane], 0.6))
            faces.append(shades[level[i]])
    for gid, (boxes, faces) in cells.items():
        if boxes:
            ax.add_collection(PolyCollection(_rects(boxes), facecolors=faces, edgecolors="none",
                                             zorder=2, gid=gid))
    bin_ms = _ms(t1 - t0) / BUSY_BINS
    shares = ("up to 25%", "25 to 50%", "50 to 75%", "over 75%")
    return ([_text_handle(f"share of each {bin_ms:.3g} ms\nspent running callbacks:")]
            + [Patch(color=shade, label=share) for shade, share in zip(_shades(CLIENT), shares)]
            + [Patch(color=_shades(WAIT_EDGE)[2], label="(grey: blocked in WaitOne)")])


def _lane_labels(m: LaneModel, busy: bool) -> list:
    """The lane names; on busy strips with each thread's callbacks (or its waiting)."""
    if not busy:
        return list(m.lanes)
    runs = Counter(r.thread for r in m.runs)
    waited = Counter()
    for w in m.waits:
        waited[w.thread] += w.t1 - w.t0
    total = max(m.span[1] - m.span[0], 1)
    out = []
    for lane in m.lanes:
        if runs[lane]:
            out.append(f"{lane}\n{_plural(runs[lane], 'callback')}")
        elif waited[lane]:
            out.append(f"{lane}\nwaits {100 * waited[lane] / total:.0f}%")
        else:
            out.append(lane)
    return out


def plot_lanes(trace, ax=None, *, since: Optional[int] = None, title: Optional[str] = None,
               aggregate: Optional[bool] = None):
    """Thread-pool lanes: which thread ran each callback, and what main waited for.

    The time axis is ``time_window(trace, since)``: from the first client
    activity (or ``since``, µs of the trace's clock) to the last event.
    ``title`` names the run in front of the picture's headline. ``aggregate``
    draws each thread's busy share instead of one bar per run; by default it
    does so when a lane would hold more than ``MAX_LANE_RUNS`` bars.
    """
    events = _events(trace)
    t0, t1 = time_window(events, since)
    m = lane_model(events, since=t0)
    ax = _new_axes(ax, (11, min(1.6 + 0.45 * max(len(m.lanes), 3), 8)))
    span_ms = _ms(max(t1 - t0, 1000))
    # a 20 µs callback in a 2 s run still shows as a sliver
    g = _LaneGeometry({name: i for i, name in enumerate(m.lanes)}, span_ms, span_ms / 1500)
    if aggregate is None:
        aggregate = max(Counter(r.thread for r in m.runs).values(), default=0) > MAX_LANE_RUNS
    draws = ((_draw_busy, _draw_cut, _draw_errors) if aggregate else
             (_draw_runs, _draw_waits, _draw_completions, _draw_queued, _draw_errors))
    handles = [h for draw in draws for h in draw(ax, m, g)]
    _rows(ax, _lane_labels(m, aggregate), "thread")
    _set_time_axis(ax, events, t0, t1, since)
    pool = {r.thread for r in m.runs}
    detail = f"{_plural(len(m.runs), 'callback')} on {_plural(len(pool), 'thread')}"
    if aggregate:
        conns = {r.conn for r in m.runs if r.conn is not None}
        detail += f" ({_plural(len(conns), 'connection')}: how busy each thread was)"
    _set_title(ax, "Who ran each callback", detail + _truncated(trace), title)
    _legend(ax, handles)
    if not m.lanes:
        _say_empty(ax, "no events yet")
    return ax


# -- the chunk model -----------------------------------------------------------------

class Piece(NamedTuple):
    conn: int
    t: int
    nbytes: int


class Mark(NamedTuple):
    kind: str
    conn: int
    t: int


class Life(NamedTuple):
    conn: int
    t0: int
    t1: int


@dataclass(frozen=True)
class ChunkModel:
    """What ``plot_chunks`` draws, as plain data; client steps are joined to their
    connection through its accept (``trace.join``)."""
    conns: tuple                 # the rows, top to bottom (at most MAX_CHUNK_ROWS, sampled)
    total: int                   # connections with something to show
    sends: tuple                 # Piece per client send() piece (the upper dots)
    receives: tuple              # Piece per receive that returned bytes (the lower squares)
    marks: tuple                 # Mark per accept, end of stream, message, close and error
    client_life: tuple           # Life: a client from its first piece to its last
    conn_life: tuple             # Life: a connection from accept to close (or the trace's end)
    span: tuple                  # (first t, last t) shown: the trace's, or from since


# kind -> (marker, colour, size, legend); where on its row: see _mark_dy
_MARKS = {
    kinds.ACCEPT: (">", OKABE_ITO["bluish green"], 45, "accepted (dashes: connection open)"),
    kinds.EOF: ("|", "black", 110, "end of stream (receive got 0 bytes)"),
    kinds.MESSAGE: ("*", OKABE_ITO["reddish purple"], 140, "message printed"),
    kinds.CLOSE: ("x", "black", 45, "server closed the socket"),
    kinds.OP_ERROR: ("X", ERROR, 70, "error"),
    kinds.ERROR: ("X", ERROR, 70, "error"),
    kinds.CLIENT_RESET: ("X", ERROR, 70, "error"),
    kinds.CLIENT_ERROR: ("X", ERROR, 70, "error"),
}
_PIECES = (kinds.CLIENT_SEND, kinds.CHUNK)
CLIENT_DY, SERVER_DY = -0.2, 0.2  # the y axis points down: client above server


def _sample(conns: list[int], limit: int) -> list[int]:
    if len(conns) <= limit:
        return conns
    step = (len(conns) - 1) / (limit - 1)
    return sorted({conns[round(i * step)] for i in range(limit)})


def chunk_model(trace, *, since: Optional[int] = None) -> ChunkModel:
    """What ``plot_chunks`` draws (also handy in lessons and tests): the whole trace,
    or from ``since`` (µs) on (a connection open across ``since`` keeps its line)."""
    events = _events(trace)
    span = _span(events)
    start = span[0] if since is None else since
    span = (max(span[0], start), max(span[1], start))
    joined = [(ev, conn) for ev, conn in zip(events, join_conns(events))
              if conn is not None and (ev.kind in _PIECES or ev.kind in _MARKS)]
    accepted, closed = {}, {}
    for ev, conn in joined:
        if ev.kind == kinds.ACCEPT:
            accepted.setdefault(conn, ev.t)
        elif ev.kind == kinds.CLOSE:
            closed[conn] = ev.t
    shown = [(ev, conn) for ev, conn in joined if ev.t >= start]
    every = sorted({conn for _, conn in shown})
    conns = _sample(every, MAX_CHUNK_ROWS)
    rows = set(conns)
    mine = [(ev, conn) for ev, conn in shown if conn in rows]
    sends = [Piece(conn, ev.t, ev.nbytes or 0) for ev, conn in mine if ev.kind == kinds.CLIENT_SEND]
    first_send, last_send = {}, {}
    for p in sends:
        first_send.setdefault(p.conn, p.t)
        last_send[p.conn] = p.t
    return ChunkModel(
        conns=tuple(conns), total=len(every), sends=tuple(sends),
        receives=tuple(Piece(conn, ev.t, ev.nbytes or 0) for ev, conn in mine
                       if ev.kind == kinds.CHUNK),
        marks=tuple(Mark(ev.kind, conn, ev.t) for ev, conn in mine if ev.kind in _MARKS),
        client_life=tuple(Life(c, t, last_send[c]) for c, t in first_send.items()),
        conn_life=tuple(Life(c, max(t, start), closed.get(c, span[1]))
                        for c, t in accepted.items() if c in rows),
        span=span)


# -- drawing the chunks -----------------------------------------------------------------

def _mark_dy(kind: str) -> float:
    """Accept and close sit on the connection's line; the client's marks above it."""
    if kind in (kinds.ACCEPT, kinds.CLOSE):
        return 0.0
    return CLIENT_DY if kinds.is_client(kind) else SERVER_DY


def _draw_lives(ax, m: ChunkModel, row: dict) -> None:
    from matplotlib.collections import LineCollection
    if m.client_life:
        ax.add_collection(LineCollection(
            [[(_ms(a), row[c] + CLIENT_DY), (_ms(b), row[c] + CLIENT_DY)] for c, a, b in m.client_life],
            colors="#9CC3E0", linewidths=1.0, zorder=1))
    if m.conn_life:
        ax.add_collection(LineCollection(
            [[(_ms(a), row[c]), (_ms(b), row[c])] for c, a, b in m.conn_life],
            colors="#BBBBBB", linewidths=1.0, linestyles=(0, (3, 2)), zorder=1))


def _draw_pieces(ax, m: ChunkModel, row: dict, size) -> list:
    for pieces, dy, colour, marker, gid in ((m.sends, CLIENT_DY, CLIENT, "o", kinds.CLIENT_SEND),
                                            (m.receives, SERVER_DY, SERVER, "s", kinds.CHUNK)):
        if pieces:
            ax.scatter([_ms(p.t) for p in pieces], [row[p.conn] + dy for p in pieces],
                       s=[size(p.nbytes) for p in pieces], c=colour, marker=marker, alpha=0.85,
                       edgecolors="white", linewidths=0.5, zorder=3, gid=gid)
    return [_marker_handle(CLIENT, "o", "client send() piece (upper dot)", edge=CLIENT, size=7),
            _marker_handle(SERVER, "s", "server receive (lower square)", edge=SERVER, size=7)]


def _draw_marks(ax, m: ChunkModel, row: dict) -> list:
    handles, legends = [], set()
    for kind, (marker, colour, s, legend) in _MARKS.items():
        marks = [k for k in m.marks if k.kind == kind]
        if not marks:
            continue
        stroke = marker in "|x"   # a line marker: no edge of its own
        ax.scatter([_ms(k.t) for k in marks], [row[k.conn] + _mark_dy(kind) for k in marks],
                   s=s, c=colour, marker=marker, linewidths=1.4 if stroke else 0.5,
                   edgecolors=None if stroke else "black", zorder=4, gid=kind)
        if legend not in legends:
            legends.add(legend)
            handles.append(_marker_handle(colour, marker, legend, edge=colour if stroke else "black",
                                          width=1.4 if stroke else 0.5))
    return handles


def _draw_byte_labels(ax, m: ChunkModel, row: dict) -> list:
    """Each piece's bytes beside it; pieces too close to label apart get one label
    for the group (``20×2``: twenty pieces of 2 bytes), decided when drawn."""
    from .labels import Count, CountLabels
    for pieces, dy, va, gid in ((m.sends, CLIENT_DY - 0.13, "bottom", "send_bytes"),
                                (m.receives, SERVER_DY + 0.13, "top", "receive_bytes")):
        if pieces:
            ax.add_artist(CountLabels([Count(p.conn, _ms(p.t), row[p.conn] + dy, p.nbytes)
                                       for p in pieces], gid=gid, va=va, fontsize=FONT - 1,
                                      color="#333333"))
    several = any(n > 1 for n in Counter(p.conn for p in m.sends).values()) or any(
        n > 1 for n in Counter(p.conn for p in m.receives).values())
    return [_text_handle("numbers: bytes" + ("\n(20×2: 20 pieces of 2 bytes,\ntoo close to label apart)"
                                             if several else ""))]


def plot_chunks(trace, ax=None, *, since: Optional[int] = None, title: Optional[str] = None):
    """Client pieces above, server receives below, one row per connection.

    The time axis is ``time_window(trace, since)``, as in ``plot_lanes``;
    ``title`` names the run in front of the picture's headline.
    """
    events = _events(trace)
    t0, t1 = time_window(events, since)
    m = chunk_model(events, since=t0)
    ax = _new_axes(ax, (11, min(1.8 + 0.42 * max(len(m.conns), 3), 9)))
    row = {c: i for i, c in enumerate(m.conns)}
    # Marker area grows with the bytes, its biggest diameter with the row's height.
    row_pts = ax.get_position().height * ax.figure.get_figheight() * 72 / max(len(m.conns), 1)
    big = min(15.0, 0.34 * row_pts)
    biggest = max([p.nbytes for p in m.sends + m.receives] + [1])

    def size(nbytes):
        return (0.3 * big) ** 2 + (big ** 2 - (0.3 * big) ** 2) * nbytes / biggest

    _draw_lives(ax, m, row)
    handles = _draw_pieces(ax, m, row, size) + _draw_marks(ax, m, row)
    if len(m.sends) + len(m.receives) <= MAX_BYTE_LABELS and row_pts >= 26:
        handles += _draw_byte_labels(ax, m, row)
    _rows(ax, [f"conn {c}" for c in m.conns], "connection", every=max(1, len(m.conns) // 30))
    _set_time_axis(ax, events, t0, t1, since)
    note = (f" (showing {len(m.conns)} of {m.total:,} connections)"
            if len(m.conns) < m.total else "")
    _set_title(ax, "How the bytes arrived", f"{_plural(len(m.sends), 'client piece')}, "
               f"{_plural(len(m.receives), 'server receive')}{note}{_truncated(trace)}", title)
    _legend(ax, handles)
    if not m.conns:
        _say_empty(ax, "no connections yet")
    return ax


# -- summary ---------------------------------------------------------------------

def plot_summary(trace, axes=None, *, title: Optional[str] = None):
    """Callbacks per thread (stacked by callback name) and bytes per receive;
    ``title`` names the run in front of each panel's headline."""
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    events = _events(trace)
    _plot_callbacks_per_thread(lane_model(events), axes[0], title)
    _plot_bytes_per_receive([e.nbytes for e in events if e.kind == kinds.CHUNK and e.nbytes],
                            axes[1], title)
    return axes


def _integer_ticks(axis) -> None:
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True))


def _plot_callbacks_per_thread(m: LaneModel, ax, title: Optional[str]) -> None:
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in m.runs:
        counts[r.thread][r.name] += 1
    threads = [t for t in m.lanes if t in counts]
    names = sorted({n for c in counts.values() for n in c},
                   key=lambda n: (list(SHORT_NAMES).index(n) if n in SHORT_NAMES else 9, n))
    colours = ("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#0072B2", "#D55E00")
    left = [0] * len(threads)
    for i, name in enumerate(names):
        widths = [counts[t][name] for t in threads]
        ax.barh(range(len(threads)), widths, left=left, color=colours[i % len(colours)],
                label=name, height=0.6)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(threads)), threads, fontsize=FONT)
    ax.invert_yaxis()
    _integer_ticks(ax.xaxis)
    ax.set_xlabel("callbacks run", fontsize=FONT + 1)
    _set_title(ax, "Callbacks per thread", f"{sum(left):,} on {_plural(len(threads), 'thread')}",
               title, FONT + 2)
    ax.tick_params(labelsize=FONT)
    if names:
        ax.legend(fontsize=FONT, loc="lower right", framealpha=0.9)


MAX_SIZE_BARS = 12   # distinct receive sizes drawn one bar each; more make a histogram


def _plot_bytes_per_receive(sizes: list, ax, title: Optional[str]) -> None:
    """One bar per distinct size when there are few (the sizes are the point:
    "every receive was 14 bytes"), else a histogram on whole bytes."""
    if sizes:
        label = f"receives (mean {sum(sizes) / len(sizes):,.0f} bytes)"
        counts = sorted(Counter(sizes).items())
        if len(counts) <= MAX_SIZE_BARS:
            ax.bar(range(len(counts)), [n for _, n in counts], width=0.6, color=SERVER,
                   label=label)
            ax.set_xticks(range(len(counts)), [f"{size:,}" for size, _ in counts])
            # A lone bar would fill the axes: keep room for about four.
            room = max(0.0, (4 - len(counts)) / 2)
            ax.set_xlim(-0.5 - room, len(counts) - 0.5 + room)
        else:
            lo, hi = counts[0][0], counts[-1][0]
            bins = [b - 0.5 for b in range(lo, hi + 2)] if hi - lo <= 60 else 40
            ax.hist(sizes, bins=bins, color=SERVER, edgecolor="white", linewidth=0.5, label=label)
            _integer_ticks(ax.xaxis)
        ax.legend(fontsize=FONT, framealpha=0.9)
    _integer_ticks(ax.yaxis)
    ax.set_xlabel("bytes per receive (what end_receive returned)", fontsize=FONT + 1)
    ax.set_ylabel("receives", fontsize=FONT + 1)
    _set_title(ax, "Bytes per receive", _plural(len(sizes), "receive"), title, FONT + 2)
    ax.tick_params(labelsize=FONT)


# -- one PNG ---------------------------------------------------------------------

def demo_figure(trace, summary: Optional[bool] = None, *, since: Optional[int] = None,
                title: Optional[str] = None):
    """A ``Figure`` (no pyplot) with lanes, chunks and, for big runs, the summary.

    Lanes and chunks show the same ``time_window`` and share their x axis, so
    zooming one zooms both; ``title`` heads the figure."""
    from matplotlib.figure import Figure

    events = _events(trace)
    n_lanes = max(len(lane_names(events)), 3)
    n_conns = len({e.conn for e in events if e.conn is not None})
    if summary is None:
        summary = n_conns > SUMMARY_CONNECTIONS
    # Chunk rows need ~0.5 in each for their byte labels; above 20 rows they go without.
    rows = min(max(n_conns, 3), MAX_CHUNK_ROWS)
    heights = [1.2 + 0.42 * n_lanes, 1.2 + (0.5 if rows <= 20 else 0.2) * rows]
    if summary:
        heights.append(3.2)
    fig = Figure(figsize=(12, min(sum(heights) + 0.4, 24)), layout="constrained")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=FONT + 5, fontweight="bold")
    grid = fig.add_gridspec(len(heights), 2 if summary else 1, height_ratios=heights)
    lanes_ax = fig.add_subplot(grid[0, :])
    chunks_ax = fig.add_subplot(grid[1, :], sharex=lanes_ax)
    plot_lanes(events, lanes_ax, since=since)
    plot_chunks(events, chunks_ax, since=since)
    if summary:
        plot_summary(events, [fig.add_subplot(grid[2, 0]), fig.add_subplot(grid[2, 1])])
    return fig


def save_demo_figure(trace, path, *, dpi: int = 100, summary: Optional[bool] = None,
                     since: Optional[int] = None, title: Optional[str] = None) -> None:
    """Write the lanes and chunks pictures (and the summary for big runs) to a PNG,
    through a temporary file renamed into place: a failure never leaves an
    existing picture half written."""
    fig = demo_figure(trace, summary, since=since, title=title)
    # savefig would run the constrained layout on a dry draw and again on the
    # real one; lay out once, freeze, and draw once (a third off a big trace).
    fig.set_dpi(dpi)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

"""The two pictures of the lab: who ran each callback, and how the bytes arrived.

Mirrors nothing in .NET; it draws what the page "Using an Asynchronous Server
Socket" only tells. Both pictures read a trace (a ``Trace`` or a list of
``Event``), so a run on real sockets and a simulated run look the same.

* ``plot_lanes``: one row per thread (``main``, ``engine``, ``pool-1`` ...).
  Each callback run is a bar on the pool thread that ran it, coloured by its
  connection, so a learner sees that consecutive ``ReadCallback``s of one
  connection hop between threads, that the main thread spends its life
  blocked in ``allDone.WaitOne()`` (hatched), that the engine only completes
  operations (ticks) and never runs a callback, and how long each completed
  operation sat in the pool's queue before a worker took it (the thin line
  ending where the bar starts).
* ``plot_chunks``: one row per connection, the client's ``send`` pieces above
  and the server's receives below on one time axis, each marker sized by its
  bytes: TCP is a byte stream, so the two rows rarely match (pieces coalesce
  into one receive, or one piece arrives in two). Accept, end of stream,
  message and close are marked on the server's row.
* ``plot_summary``: for big runs, callbacks per thread and bytes per receive.
* ``save_demo_figure``: both pictures (and the summary for big runs) in one
  PNG, for ``python -m sockdemo demo --png`` and the README.

Every function takes ``(trace, ax=None)`` and returns what it drew on; the
main artists carry a gid (``callbacks``, ``waits``, ``queued``, ``completions``;
``client_send``, ``chunk``, ``accept`` ...) so lessons and tests can find them,
and ``lane_model`` gives what the lanes show as plain data. Colours
are the Okabe-Ito palette (safe for colour-blind readers). Many events are
drawn as a few collections, never one artist per event, so a 10,000-event
trace draws in about a second; labels are capped.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable, Optional

from ..trace.lanes import lane_order
from ..trace import kinds

__all__ = ["plot_lanes", "plot_chunks", "plot_summary", "save_demo_figure",
           "OKABE_ITO", "CONN_COLOURS"]

OKABE_ITO = {"orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
             "reddish purple": "#CC79A7", "black": "#000000"}
# Yellow last: it is the hardest to see on white.
CONN_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442")
NO_CONN = "#BBBBBB"
WAIT_FACE, WAIT_EDGE = "#E8E8E8", "#8C8C8C"
QUEUE = "#333333"
CLIENT, SERVER = "#0072B2", "#D55E00"
ERROR = "#D55E00"

COMPLETIONS = ("accept", "chunk", "eof", "sent", "connected", "op_error")
SHORT_NAMES = {"AcceptCallback": "Accept", "ReadCallback": "Read", "SendCallback": "Send"}

MAX_LABELS = 150        # text artists are the slow part of a big figure
MAX_BYTE_LABELS = 400   # plot_chunks: the byte counts are the point, so allow more
MAX_CHUNK_ROWS = 40     # connections drawn by plot_chunks before it samples
SUMMARY_CONNECTIONS = 30  # save_demo_figure adds the summary above this
FONT = 8


def _events(trace) -> list:
    return list(trace.events) if hasattr(trace, "events") else list(trace)


def _ms(t: int) -> float:
    return t / 1000.0


def conn_colour(conn: Optional[int]) -> str:
    return NO_CONN if conn is None else CONN_COLOURS[(conn - 1) % len(CONN_COLOURS)]


def _new_axes(ax, size):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only here, so Figure-based callers never touch pyplot
    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _span(events) -> tuple[int, int]:
    return (min(e.t for e in events), max(e.t for e in events)) if events else (0, 1)


def _set_time_axis(ax, t0: int, t1: int) -> None:
    pad = max(t1 - t0, 1000) * 0.01
    ax.set_xlim(_ms(t0 - pad), _ms(t1 + pad))
    ax.set_xlabel("time since the server started (ms)", fontsize=FONT + 1)
    ax.tick_params(labelsize=FONT)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)


def _label_room(ax, span_ms: float) -> float:
    """Points per millisecond along the x axis (approximate: before layout)."""
    fig = ax.figure
    return ax.get_position().width * fig.get_figwidth() * 72 / max(span_ms, 1e-9)


def _text_pts(text: str) -> float:
    return len(text) * FONT * 0.62 + 4


def _rects(spans: Iterable[tuple[float, float, float, float]]) -> list:
    """(x0, x1, y_centre, height) -> polygon vertices for a PolyCollection."""
    return [[(x0, y - h / 2), (x0, y + h / 2), (x1, y + h / 2), (x1, y - h / 2)]
            for x0, x1, y, h in spans]


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


# -- lanes -----------------------------------------------------------------------

def lane_names(trace) -> list[str]:
    """The threads ``plot_lanes`` shows, top to bottom: every thread but the clients'."""
    return lane_order(ev.thread for ev in _events(trace) if not ev.kind.startswith("client_"))


def lane_model(trace) -> dict:
    """What ``plot_lanes`` draws, as plain data (also handy in tests and the stepper).

    ``lanes``: thread names top to bottom; ``runs``: (thread, t0, t1, name, conn,
    depth) per callback run, cut-off runs end at the last event; ``waits``:
    (thread, t0, t1, event); ``queued``: (thread, t_completed, t_started, conn);
    ``completions``: (thread, t, kind, conn); ``errors``: (thread, t, text).
    """
    events = _events(trace)
    t_end = _span(events)[1]
    completed: dict[Any, tuple] = {}
    for ev in events:
        if ev.kind in COMPLETIONS and ev.info.get("id") is not None:
            completed[ev.info["id"]] = (ev.t, ev.conn)

    def conn_of(start) -> Optional[int]:
        if start.conn is not None:
            return start.conn
        return completed.get(start.info.get("id"), (None, None))[1]

    runs, waits = [], []
    stacks: dict[str, list] = defaultdict(list)
    open_waits: dict[tuple, int] = {}
    completions, errors = [], []
    for ev in events:
        k = ev.kind
        if k == "callback_start":
            stacks[ev.thread].append(ev)
        elif k == "callback_end":
            stack = stacks[ev.thread]
            for depth in range(len(stack) - 1, -1, -1):  # innermost first (inline recursion)
                if stack[depth].info.get("id") == ev.info.get("id"):
                    start = stack.pop(depth)
                    runs.append((ev.thread, start.t, ev.t, start.info.get("name", "callback"),
                                 conn_of(start), depth, start.info.get("id")))
                    break
        elif k == "wait":
            open_waits[(ev.thread, ev.info.get("event"))] = ev.t
        elif k == "wake":
            t0 = open_waits.pop((ev.thread, ev.info.get("event")), None)
            if t0 is not None:
                waits.append((ev.thread, t0, ev.t, ev.info.get("event")))
        if k in COMPLETIONS:
            completions.append((ev.thread, ev.t, k, ev.conn))
        if k in ("error", "op_error", "hook_error"):
            errors.append((ev.thread, ev.t, str(ev.info.get("error", k))))
    for thread, stack in stacks.items():  # trace cut while these were running
        for depth, start in enumerate(stack):
            runs.append((thread, start.t, t_end, start.info.get("name", "callback"),
                         conn_of(start), depth, start.info.get("id")))
    for (thread, name), t0 in open_waits.items():
        waits.append((thread, t0, t_end, name))
    queued = [(thread, completed[fid][0], t0, conn)
              for thread, t0, _, _, conn, _, fid in runs
              if fid in completed and completed[fid][0] <= t0]
    return {"lanes": lane_names(events), "runs": [r[:6] for r in runs], "waits": waits, "queued": queued,
            "completions": completions, "errors": errors, "span": _span(events)}


def _clip(m: dict, since: int) -> dict:
    """The lane model from ``since`` (µs) on: older runs dropped, straddling ones cut."""
    def spans(items):
        return [(th, max(a, since), b, *rest) for th, a, b, *rest in items if b >= since]
    return {**m, "runs": spans(m["runs"]), "waits": spans(m["waits"]),
            "queued": spans(m["queued"]),
            "completions": [c for c in m["completions"] if c[1] >= since],
            "errors": [e for e in m["errors"] if e[1] >= since],
            "span": (max(m["span"][0], since), max(m["span"][1], since))}


def plot_lanes(trace, ax=None, *, since: Optional[int] = None):
    """Thread-pool lanes: which thread ran each callback, and what main waited for.

    ``since`` (µs, the trace's clock) starts the picture there: the live view
    uses it so a server that idled before the clients came does not squeeze
    their callbacks into the right edge.
    """
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    m = lane_model(trace)
    if since is not None:
        m = _clip(m, since)
    lanes = m["lanes"]
    ax = _new_axes(ax, (11, min(1.6 + 0.45 * max(len(lanes), 3), 8)))
    row = {name: i for i, name in enumerate(lanes)}
    t0, t1 = m["span"]
    span_ms = _ms(max(t1 - t0, 1000))
    min_w = span_ms / 1500  # a 20 µs callback in a 2 s run still shows as a sliver

    waits = [(_ms(a), max(_ms(b), _ms(a) + min_w), row[th], 0.5)
             for th, a, b, _ in m["waits"] if th in row]
    if waits:
        # Hatching is drawn path by path: costly, and a blur when there are hundreds.
        ax.add_collection(PolyCollection(_rects(waits), facecolors=WAIT_FACE,
                                         edgecolors=WAIT_EDGE, linewidths=0.6, zorder=1,
                                         hatch="///" if len(waits) <= 100 else None,
                                         gid="waits"))
    queued = [[(_ms(a), row[th] + 0.36), (_ms(b), row[th] + 0.36)]
              for th, a, b, _ in m["queued"] if th in row]
    if queued:
        ax.add_collection(LineCollection(queued, colors=QUEUE, linewidths=1.2, zorder=2,
                                         gid="queued"))
        ax.scatter([q[0][0] for q in queued], [q[0][1] for q in queued], s=6, c=QUEUE,
                   marker="o", linewidths=0, zorder=2)
    runs = m["runs"]
    bars = [(_ms(a), max(_ms(b), _ms(a) + min_w), row[th], 0.56 * 0.7 ** depth)
            for th, a, b, _, _, depth in runs]
    if bars:
        faces = [conn_colour(r[4]) for r in runs]
        # A black outline would swallow the colour of a sliver: outline only wide bars.
        edges = [("black" if x1 - x0 > span_ms / 300 else face)
                 for (x0, x1, _, _), face in zip(bars, faces)]
        ax.add_collection(PolyCollection(_rects(bars), facecolors=faces, edgecolors=edges,
                                         linewidths=0.4, zorder=3, gid="callbacks"))
    ticks = [(th, t, c) for th, t, _, c in m["completions"] if th in row]
    if ticks:
        ax.scatter([_ms(t) for _, t, _ in ticks], [row[th] for th, _, _ in ticks],
                   c=[conn_colour(c) for _, _, c in ticks], marker="|", s=120,
                   linewidths=1.6, zorder=4, gid="completions")
    if m["errors"]:
        ax.scatter([_ms(t) for _, t, _ in m["errors"]], [row[th] for th, _, _ in m["errors"]],
                   c=ERROR, marker="X", s=70, edgecolors="black", linewidths=0.5, zorder=5)

    labels = 0
    per_ms = _label_room(ax, span_ms)
    shortest = _text_pts("Read")
    for (th, a, b, name, _, depth), (x0, x1, y, _) in zip(runs, bars):
        room = (x1 - x0) * per_ms
        if labels >= MAX_LABELS:
            break
        if depth or room < shortest:
            continue
        for text in (name, SHORT_NAMES.get(name)):
            if text and room > _text_pts(text):
                ax.text((x0 + x1) / 2, y, text, ha="center", va="center", fontsize=FONT - 1,
                        clip_on=True, zorder=6)
                labels += 1
                break
    for (th, a, b, name), (x0, x1, y, _) in zip(m["waits"], waits):
        text = f"WaitOne({name})"
        if labels < MAX_LABELS and (x1 - x0) * per_ms > _text_pts(text):
            ax.text((x0 + x1) / 2, y, text, ha="center", va="center", fontsize=FONT - 1,
                    color="#444444", clip_on=True, zorder=6,
                    bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.8))
            labels += 1

    ax.set_ylim(len(lanes) - 0.5 if lanes else 0.5, -0.5)
    ax.set_yticks(range(len(lanes)), lanes, fontsize=FONT + 1)
    ax.set_ylabel("thread", fontsize=FONT + 1)
    _set_time_axis(ax, t0, t1)
    pool = {r[0] for r in runs}
    ax.set_title(f"Who ran each callback: {len(runs)} callbacks on {len(pool)} "
                 f"thread{'s' if len(pool) != 1 else ''}", fontsize=FONT + 3, loc="left")

    conns = sorted({r[4] for r in runs if r[4] is not None})
    handles = [Patch(facecolor="white", edgecolor="black", linewidth=0.4,
                     label="callback run (colour = connection)")] + _conn_legend(conns)
    if any(r[4] is None for r in runs):
        handles.append(Patch(color=NO_CONN, label="no connection"))
    if waits:
        handles.append(Patch(facecolor=WAIT_FACE, edgecolor=WAIT_EDGE,
                             hatch="///" if len(waits) <= 100 else None,
                             label="blocked in WaitOne"))
    if ticks:
        handles.append(Line2D([], [], color="#555555", marker="|", linestyle="none",
                              markersize=10, markeredgewidth=1.6,
                              label="operation completed\n(accept / receive / send)"))
    if queued:
        handles.append(Line2D([], [], color=QUEUE, linewidth=1.2, marker="o", markersize=2,
                              label="waiting in the pool's queue"))
    if m["errors"]:
        handles.append(Line2D([], [], color=ERROR, marker="X", linestyle="none",
                              markeredgecolor="black", label="error"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize=FONT, frameon=False, borderaxespad=0)
    if not lanes:
        ax.text(0.5, 0.5, "no events yet", transform=ax.transAxes, ha="center", color="#777777")
    return ax


# -- chunks ----------------------------------------------------------------------

def _sample(conns: list[int], limit: int) -> list[int]:
    if len(conns) <= limit:
        return conns
    step = (len(conns) - 1) / (limit - 1)
    return sorted({conns[round(i * step)] for i in range(limit)})


def plot_chunks(trace, ax=None):
    """Client pieces above, server receives below, one row per connection."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    events = _events(trace)
    shown = (kinds.CLIENT_SEND, kinds.CHUNK, kinds.ACCEPT, kinds.EOF, kinds.MESSAGE, kinds.CLOSE,
             kinds.OP_ERROR, kinds.ERROR, kinds.CLIENT_RESET, kinds.CLIENT_ERROR)
    mine = [e for e in events if e.conn is not None and e.kind in shown]
    all_conns = sorted({e.conn for e in mine})
    conns = _sample(all_conns, MAX_CHUNK_ROWS)
    row = {c: i for i, c in enumerate(conns)}
    ax = _new_axes(ax, (11, min(1.8 + 0.42 * max(len(conns), 3), 9)))
    t0, t1 = _span(events)
    CLIENT_DY, SERVER_DY = -0.2, 0.2  # the y axis points down: client above server

    sends = [e for e in mine if e.kind == kinds.CLIENT_SEND and e.conn in row]
    chunks = [e for e in mine if e.kind == kinds.CHUNK and e.conn in row]
    biggest = max([e.nbytes or 0 for e in sends + chunks] + [1])

    # Marker area grows with the bytes, its biggest diameter with the row's height.
    fig = ax.figure
    row_pts = ax.get_position().height * fig.get_figheight() * 72 / max(len(conns), 1)
    big = min(15.0, 0.34 * row_pts)

    def size(e):
        return (0.3 * big) ** 2 + (big ** 2 - (0.3 * big) ** 2) * (e.nbytes or 0) / biggest

    # Lifetimes: the client from its first to its last piece (on its row); the
    # connection from accept to close on the middle line, where accept and close sit.
    first_send, last_send, accepted, closed = {}, {}, {}, {}
    for e in mine:
        if e.conn not in row:
            continue
        if e.kind == kinds.CLIENT_SEND:
            first_send.setdefault(e.conn, e.t)
            last_send[e.conn] = e.t
        elif e.kind == kinds.ACCEPT:
            accepted.setdefault(e.conn, e.t)
        elif e.kind == kinds.CLOSE:
            closed[e.conn] = e.t
    client_life = [[(_ms(first_send[c]), row[c] + CLIENT_DY), (_ms(last_send[c]), row[c] + CLIENT_DY)]
                   for c in first_send]
    if client_life:
        ax.add_collection(LineCollection(client_life, colors="#9CC3E0", linewidths=1.0, zorder=1))
    conn_life = [[(_ms(accepted[c]), row[c]), (_ms(closed.get(c, t1)), row[c])] for c in accepted]
    if conn_life:
        ax.add_collection(LineCollection(conn_life, colors="#BBBBBB", linewidths=1.0,
                                         linestyles=(0, (3, 2)), zorder=1))

    if sends:
        ax.scatter([_ms(e.t) for e in sends], [row[e.conn] + CLIENT_DY for e in sends],
                   s=[size(e) for e in sends], c=CLIENT, marker="o", alpha=0.85,
                   edgecolors="white", linewidths=0.5, zorder=3, gid="client_send")
    if chunks:
        ax.scatter([_ms(e.t) for e in chunks], [row[e.conn] + SERVER_DY for e in chunks],
                   s=[size(e) for e in chunks], c=SERVER, marker="s", alpha=0.85,
                   edgecolors="white", linewidths=0.5, zorder=3, gid="chunk")
    markers = {  # kind: (marker, colour, size, legend)
        "accept": (">", "#009E73", 45, "accepted (dashes: connection open)"),
        "eof": ("|", "black", 110, "end of stream (receive got 0 bytes)"),
        "message": ("*", "#CC79A7", 140, "message printed"),
        "close": ("x", "black", 45, "server closed the socket"),
        "op_error": ("X", ERROR, 70, "error"),
        "error": ("X", ERROR, 70, "error"),
        "client_reset": ("X", ERROR, 70, "error"),
        "client_error": ("X", ERROR, 70, "error"),
    }
    handles = [
        Line2D([], [], color=CLIENT, marker="o", linestyle="none", markersize=7,
               label="client send() piece (upper dot)"),
        Line2D([], [], color=SERVER, marker="s", linestyle="none", markersize=7,
               label="server receive (lower square)"),
    ]
    seen = set()
    for kind, (marker, colour, s, legend) in markers.items():
        evs = [e for e in mine if e.kind == kind and e.conn in row]
        if not evs:
            continue
        dy = {"accept": 0.0, "close": 0.0}.get(kind, CLIENT_DY if kind.startswith("client_")
                                                 else SERVER_DY)
        ax.scatter([_ms(e.t) for e in evs], [row[e.conn] + dy for e in evs], s=s, c=colour,
                   marker=marker, linewidths=1.4 if marker in "|x" else 0.5,
                   edgecolors=None if marker in "|x" else "black", zorder=4, gid=kind)
        if legend not in seen:
            seen.add(legend)
            handles.append(Line2D([], [], color=colour, marker=marker, linestyle="none",
                                  markersize=8, markeredgewidth=1.4 if marker in "|x" else 0.5,
                                  markeredgecolor=colour if marker in "|x" else "black",
                                  label=legend))
    if len(sends) + len(chunks) <= MAX_BYTE_LABELS and row_pts >= 26:
        for e, dy, va in [(e, CLIENT_DY - 0.13, "bottom") for e in sends] + \
                         [(e, SERVER_DY + 0.13, "top") for e in chunks]:
            ax.text(_ms(e.t), row[e.conn] + dy, str(e.nbytes), ha="center", va=va,
                    fontsize=FONT - 2, color="#333333", zorder=5, clip_on=True)
        handles.append(Line2D([], [], linestyle="none", label="numbers: bytes"))

    ax.set_ylim(len(conns) - 0.5 if conns else 0.5, -0.5)
    every = max(1, len(conns) // 30)
    ax.set_yticks(range(0, len(conns), every), [f"conn {c}" for c in conns[::every]],
                  fontsize=FONT + 1)
    ax.set_ylabel("connection", fontsize=FONT + 1)
    _set_time_axis(ax, t0, t1)
    note = f" (showing {len(conns)} of {len(all_conns)} connections)" \
        if len(conns) < len(all_conns) else ""
    ax.set_title(f"How the bytes arrived: {len(sends)} client pieces, {len(chunks)} server "
                 f"receives{note}", fontsize=FONT + 3, loc="left")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT,
              frameon=False, borderaxespad=0)
    if not conns:
        ax.text(0.5, 0.5, "no connections yet", transform=ax.transAxes, ha="center",
                color="#777777")
    return ax


# -- summary ---------------------------------------------------------------------

def plot_summary(trace, axes=None):
    """Callbacks per thread (stacked by callback name) and bytes per receive."""
    if axes is None:
        import matplotlib.pyplot as plt
        _, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    ax_threads, ax_bytes = axes[0], axes[1]
    events = _events(trace)
    m = lane_model(events)
    counts: dict[str, Counter] = defaultdict(Counter)
    for th, _, _, name, _, _ in m["runs"]:
        counts[th][name] += 1
    threads = [t for t in m["lanes"] if t in counts]
    names = sorted({n for c in counts.values() for n in c},
                   key=lambda n: (list(SHORT_NAMES).index(n) if n in SHORT_NAMES else 9, n))
    colours = ("#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#0072B2", "#D55E00")
    left = [0] * len(threads)
    for i, name in enumerate(names):
        widths = [counts[t][name] for t in threads]
        ax_threads.barh(range(len(threads)), widths, left=left, color=colours[i % len(colours)],
                        label=name, height=0.6)
        left = [a + b for a, b in zip(left, widths)]
    ax_threads.set_yticks(range(len(threads)), threads, fontsize=FONT)
    ax_threads.invert_yaxis()
    ax_threads.set_xlabel("callbacks run", fontsize=FONT + 1)
    ax_threads.set_title(f"Callbacks per thread ({sum(left)} on {len(threads)} threads)",
                         fontsize=FONT + 2, loc="left")
    ax_threads.tick_params(labelsize=FONT)
    if names:
        ax_threads.legend(fontsize=FONT, loc="lower right", framealpha=0.9)

    sizes = [e.nbytes for e in events if e.kind == kinds.CHUNK and e.nbytes]
    if sizes:
        lo, hi = min(sizes), max(sizes)
        # Byte counts are integers: one bar per count when the range is small.
        bins = [b - 0.5 for b in range(lo, hi + 2)] if hi - lo <= 60 else 40
        ax_bytes.hist(sizes, bins=bins, color=SERVER, edgecolor="white", linewidth=0.5,
                      label=f"receives (mean {sum(sizes) / len(sizes):.0f} bytes)")
    ax_bytes.set_xlabel("bytes per receive (what end_receive returned)", fontsize=FONT + 1)
    ax_bytes.set_ylabel("receives", fontsize=FONT + 1)
    ax_bytes.set_title(f"Bytes per receive ({len(sizes)} receives)", fontsize=FONT + 2,
                       loc="left")
    ax_bytes.tick_params(labelsize=FONT)
    if sizes:
        ax_bytes.legend(fontsize=FONT, framealpha=0.9)
    return axes


# -- one PNG ---------------------------------------------------------------------

def demo_figure(trace, summary: Optional[bool] = None):
    """A ``Figure`` (no pyplot) with lanes, chunks and, for big runs, the summary."""
    from matplotlib.figure import Figure

    events = _events(trace)
    n_lanes = max(len(lane_names(events)), 3)
    n_conns = len({e.conn for e in events if e.conn is not None})
    if summary is None:
        summary = n_conns > SUMMARY_CONNECTIONS
    # Chunk rows need ~0.5 in each for their byte labels; above 20 rows they go without.
    rows = min(max(n_conns, 3), MAX_CHUNK_ROWS)
    heights = [1.2 + 0.42 * n_lanes, 1.2 + (0.5 if rows <= 20 else 0.25) * rows]
    if summary:
        heights.append(3.2)
    fig = Figure(figsize=(12, min(sum(heights) + 0.4, 24)), layout="constrained")
    grid = fig.add_gridspec(len(heights), 2 if summary else 1, height_ratios=heights)
    lanes_ax = fig.add_subplot(grid[0, :])
    chunks_ax = fig.add_subplot(grid[1, :], sharex=lanes_ax)
    plot_lanes(events, lanes_ax)
    plot_chunks(events, chunks_ax)
    if summary:
        plot_summary(events, [fig.add_subplot(grid[2, 0]), fig.add_subplot(grid[2, 1])])
    return fig


def save_demo_figure(trace, path, *, dpi: int = 100, summary: Optional[bool] = None) -> None:
    """Write the lanes and chunks pictures (and the summary for big runs) to a PNG."""
    fig = demo_figure(trace, summary)
    # savefig would run the constrained layout on a dry draw and again on the
    # real one; lay out once, freeze, and draw once (a third off a big trace).
    fig.set_dpi(dpi)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    fig.savefig(path, dpi=dpi, format="png")

"""``Stepper``: step through a run, forward and back, and see the server's state.

Mirrors a debugger paused in the page's server, which .NET cannot give for a
server driven by the thread pool: at each step, every thread and what it
does, the pending ``Begin*`` operations, each connection's ``StateObject``,
``allDone``, the console, and the line of the Python port and of the page's C#
that produced the event, side by side.

The widget holds no logic of its own: every panel is ``state_at(trace, k)``
put into HTML. Give it a ``Trace`` (real or simulated: they step alike), a
``ServerHandle`` (its trace) or a simulation (anything with ``.trace`` and
``.step()``): stepping past the recorded end of a simulation calls
``sim.step()`` until the trace grows.

The code panel shows the source of the server that ran: ``server=`` (a
class, or its dotted name), else the source's own ``.server`` (a simulation's
or a handle's), else the one the trace's ``meta["server"]`` names, else the
page's (``source_map.server_of``).

    Stepper(server.trace)            # in a notebook cell
"""
from __future__ import annotations

import html
import math
from typing import Optional

import ipywidgets as widgets

from .source_map import context, server_of
from .stepper_state import StepState, model_for, state_at

__all__ = ["Stepper", "render_header", "render_threads", "render_pending", "render_conns",
           "render_signals", "render_console", "render_code"]

CONSOLE_LINES = 30      # the console panel shows its tail
CLOSED_SHOWN = 6        # closed connections listed after the open ones
PENDING_SHOWN = 30
_SIM_STEPS = 10_000     # sim.step() calls tried for one more event before giving up

_CSS = ("<style>.sd-table td,.sd-table th{padding:1px 8px;text-align:left;vertical-align:top}"
        ".sd-code{font-family:monospace;white-space:pre;font-size:12px;overflow-x:auto}"
        ".sd-current{background:#ffe680;font-weight:bold}"
        ".sd-dim{color:#888}</style>")


def _e(value) -> str:
    return html.escape(str(value))


def _table(head, rows) -> str:
    out = ['<table class="sd-table"><tr>'] + [f"<th>{_e(h)}</th>" for h in head] + ["</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


# -- the panels: a StepState in HTML -------------------------------------------------

def render_header(st: StepState, total: int) -> str:
    ev = st.event
    where = "" if ev is None else f" · t = {st.t} µs · {_e(ev.thread)} · <code>{_e(ev.kind)}</code>"
    return (f"{_CSS}<b>step {st.k} / {total}</b>{where}<br>"
            f'<span class="sd-summary">{_e(st.summary)}</span>')


def render_threads(st: StepState) -> str:
    if not st.threads:
        return "<b>Threads</b><br><i>none yet</i>"
    rows = [(f"<b>{_e(t.name)}</b>", _e(t.describe), f"since step {t.since}") for t in st.threads]
    return "<b>Threads</b>" + _table(("thread", "doing", ""), rows)


def render_pending(st: StepState) -> str:
    if not st.pending:
        return "<b>Pending operations</b><br><i>none</i>"
    rows = []
    for p in st.pending[:PENDING_SHOWN]:
        callback = f" → {_e(p.callback)}" if p.callback else ""
        rows.append((f"#{_e(p.id)}", f"begin_{_e(p.op)}{callback}",
                     "listener" if p.conn is None else f"conn {p.conn}",
                     f"step {p.since} by {_e(p.thread)}",
                     _e(p.status if p.result is None else f"{p.result}: {p.status}")))
    more = len(st.pending) - PENDING_SHOWN
    tail = f'<span class="sd-dim">… {more} more</span>' if more > 0 else ""
    return "<b>Pending operations</b>" + _table(("id", "op", "on", "begun", "status"), rows) + tail


def render_conns(st: StepState) -> str:
    if not st.conns:
        return "<b>Connections (StateObject)</b><br><i>none yet</i>"
    open_ = [c for c in st.conns if not c.closed]
    closed = [c for c in st.conns if c.closed]
    shown = open_ + closed[-CLOSED_SHOWN:]
    shown.sort(key=lambda c: c.conn)
    rows = []
    for c in shown:
        text = _e(c.text) + ("…" if c.partial else "")
        peer = f"{c.peer[0]}:{c.peer[1]}" if c.peer else ""
        sent = f", sent {c.sent} B" if c.sent else ""
        rows.append((f"<b>{c.conn}</b>", _e(peer), f"{c.received} B in {c.chunks}{sent}",
                     f"<code>{text}</code>", "printed" if c.printed else "",
                     _e(c.status) + (f": {_e(c.error)}" if c.error else "")))
    hidden = len(st.conns) - len(shown)
    tail = f'<span class="sd-dim">… {hidden} more closed</span>' if hidden > 0 else ""
    return ("<b>Connections (StateObject)</b>"
            + _table(("conn", "peer", "received", "sb (text so far)", "message", "socket"), rows)
            + tail)


def render_signals(st: StepState) -> str:
    names = dict(st.signals)
    names.setdefault("allDone", False)
    parts = []
    for name, is_set in names.items():
        waiters = st.waiters(name)
        who = f" (waiting: {_e(', '.join(waiters))})" if waiters else ""
        parts.append(f"<b>{_e(name)}</b>: {'set ●' if is_set else 'reset ○'}{who}")
    listening = f"<br>listening on {_e(st.listening)}" if st.listening else ""
    return "<b>ManualResetEvent</b><br>" + "<br>".join(parts) + listening


def render_console(st: StepState) -> str:
    lines = st.console[-CONSOLE_LINES:]
    more = len(st.console) - len(lines)
    head = f'<span class="sd-dim">… {more} earlier lines</span>\n' if more > 0 else ""
    body = "\n".join(_e(line) for line in lines)
    return f'<b>Console</b><div class="sd-code sd-console">{head}{body}</div>'


def _code_column(title: str, line, around: int, missing: str) -> str:
    if line is None:
        return f"<b>{_e(title)}</b><div class=\"sd-code sd-dim\">{_e(missing)}</div>"
    out = []
    for n, text, current in context(line, around):
        row = f"{n:4d}  {_e(text)}"
        out.append(f'<div class="sd-current">{row}</div>' if current else f"<div>{row}</div>")
    return f"<b>{_e(line.file)}:{line.line}</b><div class=\"sd-code\">{''.join(out)}</div>"


def render_code(st: StepState, around: int = 3) -> tuple:
    """(Python port, page's C#) around the line behind the event."""
    py, cs = st.source.python, st.source.csharp
    return (_code_column("Python", py, around,
                         "(runtime)" if cs is None else "(no such line in this server's source)"),
            _code_column("C# (the page)", cs, around,
                         "(runtime)" if py is None else "(no such line in the page's C#)"))


# -- the widget ------------------------------------------------------------------------

class Stepper(widgets.VBox):
    """Step, Back, Play/Pause, a slider over every event, Reset; the panels below."""

    def __init__(self, source, server=None, around: int = 3, speed: int = 5):
        self.source = source
        self._sim = source if callable(getattr(source, "step", None)) and hasattr(source, "trace") else None
        self.server = server_of(source, server)   # whose Python source the code panel shows
        self.around = around
        self.ended: Optional[str] = None   # why a simulation gave no more events
        self.state: Optional[StepState] = None
        n = len(self.trace)

        self.reset_button = widgets.Button(description="Reset", icon="fast-backward",
                                           layout=widgets.Layout(width="90px"))
        self.back_button = widgets.Button(description="Back", icon="step-backward",
                                          layout=widgets.Layout(width="90px"))
        self.step_button = widgets.Button(description="Step", icon="step-forward",
                                          layout=widgets.Layout(width="90px"))
        self.play = widgets.Play(min=0, max=n, value=0, step=1, interval=1000 // speed,
                                 description="Play")
        self.speed = widgets.IntSlider(value=speed, min=1, max=60, description="steps/s",
                                       continuous_update=False, layout=widgets.Layout(width="240px"))
        self.slider = widgets.IntSlider(min=0, max=n, value=0, description="step",
                                        continuous_update=True, layout=widgets.Layout(width="100%"))
        widgets.link((self.play, "value"), (self.slider, "value"))
        widgets.link((self.play, "max"), (self.slider, "max"))

        self.header = widgets.HTML()
        self.threads_panel = widgets.HTML()
        self.signals_panel = widgets.HTML()
        self.pending_panel = widgets.HTML()
        self.conns_panel = widgets.HTML()
        self.python_panel = widgets.HTML(layout=widgets.Layout(width="50%"))
        self.csharp_panel = widgets.HTML(layout=widgets.Layout(width="50%"))
        self.console_panel = widgets.HTML()

        self.reset_button.on_click(lambda _: self.reset())
        self.back_button.on_click(lambda _: self.back())
        self.step_button.on_click(lambda _: self.step())
        self.speed.observe(self._on_speed, names="value")
        self.slider.observe(self._on_value, names="value")

        controls = widgets.HBox([self.reset_button, self.back_button, self.step_button,
                                 self.play, self.speed])
        left = widgets.VBox([self.threads_panel, self.signals_panel, self.pending_panel],
                            layout=widgets.Layout(width="45%"))
        right = widgets.VBox([self.conns_panel], layout=widgets.Layout(width="55%"))
        super().__init__([controls, self.slider, self.header, widgets.HBox([left, right]),
                          widgets.HBox([self.python_panel, self.csharp_panel]),
                          self.console_panel])
        self.show(0)

    # -- what the buttons do -----------------------------------------------------------

    @property
    def trace(self):
        """The trace stepped (a simulation's, re-read in case it grew)."""
        src = self.source
        return src.trace if hasattr(src, "trace") else src

    @property
    def value(self) -> int:
        return self.slider.value

    def step(self) -> None:
        k = self.slider.value
        if k >= self.slider.max:
            self.refresh()
        if k >= self.slider.max and self._sim is not None:
            self._extend()
        if k < self.slider.max:
            self.slider.value = k + 1
        else:
            self.show(k)  # nothing further: the header says why

    def back(self) -> None:
        self.play.playing = False
        if self.slider.value > 0:
            self.slider.value -= 1

    def reset(self) -> None:
        self.play.playing = False
        if self.slider.value == 0:
            self.show(0)
        self.slider.value = 0

    def goto(self, k: int) -> None:
        self.slider.value = max(0, min(k, self.slider.max))

    def refresh(self) -> None:
        """Take in events a live trace recorded since (the slider grows)."""
        n = len(model_for(self.trace, self.server))
        if n != self.slider.max:
            self.slider.max = n
            self.show(self.slider.value)

    def show(self, k: int) -> None:
        st = state_at(self.trace, k, self.server)
        self.state = st
        total = self.slider.max
        self.header.value = render_header(st, total) + (
            f"<br><i>simulation ended: {html.escape(self.ended)}</i>" if self.ended and k == total else "")
        self.threads_panel.value = render_threads(st)
        self.signals_panel.value = render_signals(st)
        self.pending_panel.value = render_pending(st)
        self.conns_panel.value = render_conns(st)
        self.python_panel.value, self.csharp_panel.value = render_code(st, self.around)
        self.console_panel.value = render_console(st)

    # -- plumbing ----------------------------------------------------------------------

    def _extend(self) -> None:
        """Advance the simulation until its trace has at least one more event."""
        sim, before = self._sim, len(self.trace)
        for _ in range(_SIM_STEPS):
            peek = getattr(sim, "peek", None)
            if peek is not None:
                try:
                    if peek() in (None, math.inf):
                        self.ended = "nothing left to run"
                        break
                except Exception as exc:  # noqa: BLE001 - shown, not hidden
                    self.ended = f"{type(exc).__name__}: {exc}"
                    break
            try:
                if sim.step() is False:
                    self.ended = "nothing left to run"
                    break
            except Exception as exc:  # noqa: BLE001 - an empty schedule ends the run
                self.ended = f"{type(exc).__name__}: {exc}"
                break
            if len(self.trace) > before:
                break
        self.refresh()

    def _on_value(self, change) -> None:
        k = change["new"]
        self.show(k)
        if (k == self.slider.max and self._sim is not None and self.play.playing
                and self.ended is None):
            self._extend()

    def _on_speed(self, change) -> None:
        self.play.interval = max(1, 1000 // max(1, change["new"]))


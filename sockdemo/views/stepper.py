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
``sim.step()`` until the trace grows. Every Step, Back, slider move or Reset
first takes in what the trace recorded meanwhile, so a simulation that a
later cell ran, stepped or closed is stepped to the end of what it recorded,
and the header says honestly why nothing follows: the run is over (the
simulation's verdict), or the simulation was closed before it finished.

The code panel shows the source of the server that ran: ``server=`` (a
class, or its dotted name), else the source's own ``.server`` (a simulation's
or a handle's), else the one the trace's ``meta["server"]`` names, else the
page's (``source_map.server_of``).

Layout: made to show the buttons, the state tables, the code and the console
at once on a 1440×900 laptop, about 650 pixels in all: small fonts at a
normal line height, fixed-height boxes that scroll (the state tables, the
code, the console, which keeps its last line in view), columns that clip or
scroll their long lines instead of running into each other. The parts carry
stable CSS classes (``sd-stepper``, ``sd-header``, ``sd-state``, ``sd-col``,
``sd-threads``, ``sd-conns``, ``sd-source``, ``sd-code``, ``sd-console`` ...),
for the stylesheet below and for a browser test that measures them. A
notebook saved without its widget state still shows the last frame: the
display carries ``text/html`` of the current panels beside the widget view.

    Stepper(server.trace)            # in a notebook cell

**The learner as scheduler.** Given a simulation made with ``choose=True``
(``Level.start()`` makes one), the widget adds one button per thread or actor
that could run next, each saying what it would do first and beside it the
line of the server behind that action (``sd-scheduler``: ``sd-choice``
buttons); a click runs that one step. With a ``level`` (anything with a
``goal`` sentence and ``verdict(sim)`` giving ``None`` while undecided, else
a record with ``won`` and ``text``) it shows the goal, and the verdict
(``sd-verdict``) once the goal is reached or can no longer be; the buttons
then stop. ``choices_made`` lists the clicks, a solution to write down.
Step (and Play) at the live end of such a run takes the first choice offered
(the top button) as a click would: it is recorded in ``choices_made`` and the
buttons follow, so the list always replays the run shown.
"""
from __future__ import annotations

import html
from typing import Optional

import ipywidgets as widgets

from .source_map import MAIN, RUNTIME, context, locate, server_of
from .stepper_state import StepState, model_for, state_at

__all__ = ["Stepper", "render_header", "render_threads", "render_pending", "render_conns",
           "render_signals", "render_console", "render_code", "STYLE"]

CONSOLE_LINES = 200     # the console panel keeps its tail (it scrolls)
CLOSED_SHOWN = 6        # closed connections listed after the open ones
PENDING_SHOWN = 30
_SIM_STEPS = 10_000     # sim.step() calls tried for one more event before giving up

# Scoped to .sd-stepper. JupyterLab gives a widget's HTML a 28 px line height
# (its inline-widget height) and lets flex items grow to their content, which
# made the panel 940 px tall and ran long code lines into the next column.
STYLE = """<style>
.sd-stepper{font-size:12px;line-height:1.35;color:#222}
.sd-stepper .widget-html>.widget-html-content,
.sd-stepper .jupyter-widget-html>.jupyter-widget-html-content{line-height:1.35;min-width:0}
.sd-stepper .sd-row{display:flex;flex-direction:row;gap:12px;width:100%;margin:2px 0}
.sd-stepper .sd-col{flex:1 1 0;min-width:0;overflow:auto}
.sd-stepper .sd-header{height:54px;overflow:hidden}
.sd-stepper .sd-summary,.sd-stepper .sd-ended{display:block;white-space:nowrap;overflow:hidden;
 text-overflow:ellipsis}
.sd-stepper .sd-ended{color:#8a4b00}
.sd-stepper .sd-panel,.sd-stepper .sd-header{font-size:12px}
.sd-stepper .sd-state{height:240px}
.sd-stepper .sd-source{height:132px}
.sd-stepper .sd-source .sd-col{overflow:hidden}
.sd-stepper .sd-code{font-family:monospace;font-size:11px;line-height:1.3;white-space:pre;
 overflow-x:auto;overflow-y:hidden}
.sd-stepper .sd-console{height:108px;box-sizing:border-box;overflow:auto;display:flex;
 flex-direction:column-reverse;font-family:monospace;font-size:11px;line-height:1.3;white-space:pre;
 background:#fafafa;border:1px solid #ddd;padding:2px 4px}
.sd-stepper .sd-table{border-collapse:collapse}
.sd-stepper .sd-table td,.sd-stepper .sd-table th{padding:0 6px;text-align:left;vertical-align:top}
.sd-stepper .sd-table th{white-space:nowrap}
.sd-stepper .sd-text{display:inline-block;max-width:12em;overflow:hidden;text-overflow:ellipsis;
 white-space:nowrap;vertical-align:bottom}
.sd-stepper .sd-current{background:#ffe680;font-weight:bold}
.sd-stepper .sd-dim{color:#888}
.sd-stepper .sd-scheduler{border:1px solid #ddd;padding:2px 6px;margin:2px 0}
.sd-stepper .sd-choices{max-height:132px;overflow:auto}
.sd-stepper .sd-choice-row{display:flex;align-items:center;gap:6px}
.sd-stepper .sd-choice-line{font-family:monospace;font-size:11px;color:#555;white-space:pre;overflow:hidden}
.sd-stepper .sd-won{color:#006d2c;font-weight:bold}
.sd-stepper .sd-lost{color:#b30000;font-weight:bold}
</style>"""


def _e(value) -> str:
    return html.escape(str(value))


def _panel(name: str, title: str, body: str) -> str:
    return f'<div class="sd-panel sd-{name}"><b>{_e(title)}</b>{body}</div>'


def _table(head, rows) -> str:
    out = ['<table class="sd-table"><tr>'] + [f"<th>{_e(h)}</th>" for h in head] + ["</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    out.append("</table>")
    return "".join(out)


# -- the panels: a StepState in HTML -------------------------------------------------

def render_header(st: StepState, total: int, note: str = "") -> str:
    """Where the step stands, the event in words, and ``note`` (why nothing follows)."""
    ev = st.event
    where = "" if ev is None else f" · t = {st.t} µs · {_e(ev.thread)} · <code>{_e(ev.kind)}</code>"
    tail = f'<span class="sd-ended">{_e(note)}</span>' if note else ""
    return (f"<b>step {st.k} / {total}</b>{where}"
            f'<span class="sd-summary" title="{_e(st.summary)}">{_e(st.summary)}</span>{tail}')


def render_threads(st: StepState) -> str:
    if not st.threads:
        return _panel("threads", "Threads", "<br><i>none yet</i>")
    rows = [(f"<b>{_e(t.name)}</b>", _e(t.describe), f"since step {t.since}") for t in st.threads]
    return _panel("threads", "Threads", _table(("thread", "doing", ""), rows))


def render_pending(st: StepState) -> str:
    if not st.pending:
        return _panel("pending", "Pending operations", "<br><i>none</i>")
    rows = []
    for p in st.pending[:PENDING_SHOWN]:
        callback = f" → {_e(p.callback)}" if p.callback else ""
        rows.append((f"#{_e(p.id)}", f"begin_{_e(p.op)}{callback}",
                     "listener" if p.conn is None else f"conn {p.conn}",
                     f"step {p.since} by {_e(p.thread)}",
                     _e(p.status if p.result is None else f"{p.result}: {p.status}")))
    more = len(st.pending) - PENDING_SHOWN
    tail = f'<span class="sd-dim">… {more} more</span>' if more > 0 else ""
    return _panel("pending", "Pending operations",
                  _table(("id", "op", "on", "begun", "status"), rows) + tail)


def render_conns(st: StepState) -> str:
    title = "Connections (StateObject)"
    if not st.conns:
        return _panel("conns", title, "<br><i>none yet</i>")
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
                     f'<code class="sd-text" title="{text}">{text}</code>',
                     "printed" if c.printed else "",
                     _e(c.status) + (f": {_e(c.error)}" if c.error else "")))
    hidden = len(st.conns) - len(shown)
    tail = f'<span class="sd-dim">… {hidden} more closed</span>' if hidden > 0 else ""
    return _panel("conns", title, _table(("conn", "peer", "received", "sb (text so far)", "message",
                                          "socket"), rows) + tail)


def render_signals(st: StepState) -> str:
    names = dict(st.signals)
    names.setdefault("allDone", False)
    parts = []
    for name, is_set in names.items():
        waiters = st.waiters(name)
        who = f" (waiting: {_e(', '.join(waiters))})" if waiters else ""
        parts.append(f"<b>{_e(name)}</b>: {'set ●' if is_set else 'reset ○'}{who}")
    listening = f"<br>listening on {_e(st.listening)}" if st.listening else ""
    return _panel("signals", "ManualResetEvent", "<br>" + "<br>".join(parts) + listening)


def render_console(st: StepState) -> str:
    lines = st.console[-CONSOLE_LINES:]
    more = len(st.console) - len(lines)
    head = f'<span class="sd-dim">… {more} earlier lines</span>\n' if more > 0 else ""
    body = "\n".join(_e(line) for line in lines)
    # The box lays its one child out bottom-up: it opens scrolled to the last line.
    return _panel("console-panel", "Console", f'<div class="sd-console"><div>{head}{body}</div></div>')


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


def _why_over(sim) -> Optional[str]:
    """Why a simulation will record no more events; None while it may.

    Reads what ``sim.simulation.Simulation`` offers: its ``result`` (a status
    other than "running" once the run is over) and its kernel's ``closed``
    (``close()`` before the end)."""
    result = getattr(sim, "result", None)
    if result is not None and getattr(result, "status", "running") != "running":
        return f"the run is over: {result}"
    if getattr(getattr(sim, "kernel", None), "closed", False):
        return ("the simulation was closed before it finished: its recorded trace ends here, "
                "as each thread then stood")
    return None


def _box(children, *classes) -> widgets.Box:
    box = widgets.Box(children)
    for name in classes:
        box.add_class(name)
    return box


# -- the widget ------------------------------------------------------------------------

class Stepper(widgets.VBox):
    """Step, Back, Play/Pause, a slider over every event, Reset; the panels below."""

    def __init__(self, source, server=None, around: int = 3, speed: int = 5, level=None):
        self.source = source
        self._sim = source if callable(getattr(source, "step", None)) and hasattr(source, "trace") else None
        self.level = level
        self.choices_made: list[str] = []
        self.server = server_of(source, server)   # whose Python source the code panel shows
        self.around = around
        self.ended: Optional[str] = None   # why a simulation gives no more events
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
                                        continuous_update=True, layout=widgets.Layout(width="auto"))
        widgets.link((self.play, "value"), (self.slider, "value"))
        widgets.link((self.play, "max"), (self.slider, "max"))

        self.style_sheet = widgets.HTML(STYLE)
        self.header = widgets.HTML().add_class("sd-header")
        self.threads_panel = widgets.HTML()
        self.signals_panel = widgets.HTML()
        self.pending_panel = widgets.HTML()
        self.conns_panel = widgets.HTML().add_class("sd-col")
        self.python_panel = widgets.HTML().add_class("sd-col")
        self.csharp_panel = widgets.HTML().add_class("sd-col")
        self.console_panel = widgets.HTML()

        self.reset_button.on_click(lambda _: self.reset())
        self.back_button.on_click(lambda _: self.back())
        self.step_button.on_click(lambda _: self.step())
        self.speed.observe(self._on_speed, names="value")
        self.slider.observe(self._on_value, names="value")

        controls = widgets.HBox([self.reset_button, self.back_button, self.step_button,
                                 self.play, self.speed]).add_class("sd-controls")
        left = widgets.VBox([self.threads_panel, self.signals_panel, self.pending_panel]).add_class("sd-col")
        parts = [self.style_sheet, controls, self.slider, self.header]
        self.scheduler = None
        if self._sim is not None and getattr(self._sim, "choose", False):
            self.goal = widgets.HTML().add_class("sd-goal")
            self.verdict = widgets.HTML().add_class("sd-verdict")
            self.choice_box = widgets.VBox().add_class("sd-choices")
            self.scheduler = widgets.VBox([self.goal, self.choice_box, self.verdict]).add_class("sd-scheduler")
            parts.append(self.scheduler)
        parts += [_box([left, self.conns_panel], "sd-row", "sd-state"),
                  _box([self.python_panel, self.csharp_panel], "sd-row", "sd-source"),
                  self.console_panel]
        super().__init__(parts)
        self.add_class("sd-stepper")
        self.show(0)
        if self.scheduler is not None:
            self.goto(self.slider.max)   # the scheduler plays at the live end of the run
            self._offer_choices()

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
        self._take_in()
        k = self.slider.value
        if k >= self.slider.max and self._sim is not None and self.ended is None:
            self._extend()
            self._take_in()
        if k < self.slider.max:
            self.slider.value = k + 1
        else:
            self.show(k)  # nothing further: the header says why

    def back(self) -> None:
        self.play.playing = False
        if self.slider.value > 0:
            self.slider.value -= 1
        else:
            self.show(0)

    def reset(self) -> None:
        self.play.playing = False
        if self.slider.value == 0:
            self.show(0)
        self.slider.value = 0

    def goto(self, k: int) -> None:
        self._take_in()
        k = max(0, min(k, self.slider.max))
        if k == self.slider.value:
            self.show(k)   # the slider does not move: redraw what may have changed
        else:
            self.slider.value = k

    def choose(self, thread: str) -> None:
        """Run one step of ``thread`` (a scheduler button's click), then show the end."""
        if self.scheduler is None or self._decided() is not None:
            return
        self._play_choice(thread)
        self.goto(self.slider.max)
        self._offer_choices()

    def _play_choice(self, thread: str) -> None:
        """One step of ``thread``, recorded as the learner's choice."""
        self._sim.replay([thread])
        self.choices_made.append(thread)
        self._take_in()

    def _decided(self):
        return None if self.level is None else self.level.verdict(self._sim)

    def _offer_choices(self) -> None:
        """One button per thread that could go next, with what it would do and the line behind it."""
        decided = self._decided()
        level = self.level
        self.goal.value = ("" if level is None else
                           f"<b>Goal: {_e(getattr(level, 'title', ''))}</b> {_e(level.goal)}")
        if decided is not None:
            mark = "sd-won" if decided.won else "sd-lost"
            word = "Won" if decided.won else "Lost"
            self.verdict.value = (f'<span class="{mark}">{word}:</span> {_e(decided.text)} '
                                  f'<span class="sd-dim">({len(self.choices_made)} choices)</span>')
        else:
            self.verdict.value = ""
        rows = []
        for choice in ([] if decided is not None else self._sim.choices()):
            button = widgets.Button(description=f"{choice.thread}: {choice.text}",
                                    tooltip=f"run one step of {choice.thread}",
                                    layout=widgets.Layout(width="auto"))
            button.add_class("sd-choice")
            button.on_click(lambda _, name=choice.thread: self.choose(name))
            line = self._line_of(choice)
            rows.append(widgets.HBox([button, widgets.HTML(
                f'<span class="sd-choice-line">{_e(line)}</span>' if line else "")]).add_class("sd-choice-row"))
        self.choice_box.children = rows

    def _line_of(self, choice) -> str:
        """The server's line behind what a choice would do (nothing for the network's actions)."""
        from ..trace.events import Event
        # The choice is made at the live end of the run, whatever step is shown.
        end = state_at(self.trace, self.slider.max, self.server)
        thread = end.thread(choice.thread)
        if thread is None and not choice.thread.startswith(("main", "pool-")):
            return ""
        scope = thread.callback if thread is not None and thread.callback else (
            MAIN if choice.thread == "main" else RUNTIME)
        ref = locate(Event(0, choice.t, choice.kind, choice.thread, choice.conn, None, choice.info),
                     scope, self.server)
        return "" if ref.python is None else f"{ref.python.file}:{ref.python.line}  {ref.python.text.strip()}"

    def refresh(self) -> None:
        """Take in events the trace recorded since (the slider grows) and redraw."""
        self.show(self.slider.value)

    def show(self, k: int) -> None:
        """Put ``state_at(trace, k)`` into the panels (after taking in what was recorded)."""
        self._take_in()
        st = state_at(self.trace, k, self.server)
        self.state = st
        total = self.slider.max
        self.header.value = render_header(st, total, self._note(k, total))
        self.threads_panel.value = render_threads(st)
        self.signals_panel.value = render_signals(st)
        self.pending_panel.value = render_pending(st)
        self.conns_panel.value = render_conns(st)
        self.python_panel.value, self.csharp_panel.value = render_code(st, self.around)
        self.console_panel.value = render_console(st)

    def html(self) -> str:
        """The current panels as a static page: what a notebook saved without its
        widget state shows (the same classes, so the same layout)."""
        state = "".join(p.value for p in (self.threads_panel, self.signals_panel, self.pending_panel))
        return (f'<div class="sd-stepper sd-static">{STYLE}'
                f'<div class="sd-dim">Stepper, saved at step {self.value}: run the notebook to step</div>'
                f'<div class="sd-header">{self.header.value}</div>'
                f'<div class="sd-row sd-state"><div class="sd-col">{state}</div>'
                f'<div class="sd-col">{self.conns_panel.value}</div></div>'
                f'<div class="sd-row sd-source"><div class="sd-col">{self.python_panel.value}</div>'
                f'<div class="sd-col">{self.csharp_panel.value}</div></div>'
                f"{self.console_panel.value}</div>")

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.html()
        return bundle

    # -- plumbing ----------------------------------------------------------------------

    def _take_in(self) -> None:
        """Grow the slider to what the trace holds now; notice a simulation that is over."""
        n = len(model_for(self.trace, self.server))
        if self._sim is not None and self.ended is None:
            self.ended = _why_over(self._sim)
        if n != self.slider.max:
            self.slider.max = n

    def _note(self, k: int, total: int) -> str:
        if k < total:
            return ""
        truncated = getattr(self.trace, "truncation_note", "")
        if truncated:
            return f"end of the recorded run: {truncated}"
        decided = self._decided() if self.scheduler is not None else None
        if decided is not None:
            return f"end of the level: {'won' if decided.won else 'lost'} (see the verdict below)"
        if self.ended:
            return f"end of the recorded run: {self.ended}"
        if self.scheduler is not None:
            return "the live end of the run: choose who runs next below (Step takes the top choice)"
        if self._sim is not None:
            return "the last step recorded so far: Step asks the simulation for the next"
        return ""

    def _extend(self) -> None:
        """Run the simulation until its trace has one more event, or it is over."""
        sim, before = self._sim, len(self.trace)
        if self.scheduler is not None:
            self._extend_by_choice(before)
            return
        for _ in range(_SIM_STEPS):
            try:
                event = sim.step()
            except Exception as exc:  # noqa: BLE001 - shown in the header, not lost in a log
                self.ended = f"the simulation stopped: {type(exc).__name__}: {exc}"
                return
            if len(self.trace) > before:
                return
            self.ended = _why_over(sim)
            if self.ended is None and event is None:
                self.ended = "the simulation's step() gave no event"
            if self.ended is not None:
                return

    def _extend_by_choice(self, before: int) -> None:
        """The scheduler's Step at the live end: the first choice offered, as if
        clicked, until the trace has one more event or the level is decided."""
        try:
            for _ in range(_SIM_STEPS):
                if self._decided() is not None:
                    break
                choices = self._sim.choices()
                if not choices:
                    self.ended = _why_over(self._sim) or "nothing can run any more"
                    break
                self._play_choice(choices[0].thread)
                if len(self.trace) > before:
                    break
        except Exception as exc:  # noqa: BLE001 - shown in the header, not lost in a log
            self.ended = f"the simulation stopped: {type(exc).__name__}: {exc}"
        self._offer_choices()

    def _on_value(self, change) -> None:
        k = change["new"]
        self.show(k)
        if (k == self.slider.max and self._sim is not None and self.play.playing
                and self.ended is None):
            self._extend()
            self._take_in()

    def _on_speed(self, change) -> None:
        self.play.interval = max(1, 1000 // max(1, change["new"]))

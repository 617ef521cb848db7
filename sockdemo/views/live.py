"""``LiveView``: watch a server's thread-pool lanes while a fleet of clients runs.

Mirrors nothing in .NET; it is a notebook's window onto a running server.
A progress bar ("k / n clients") and the ``plot_lanes`` picture update while
the clients run, then once more at ``close()``:

    server = start_server("seed")
    view = LiveView(server, total=20)
    display(view.widget)
    send(server.address, n=20, progress=view.progress, tracer=server.runtime.tracer)
    view.close()

Why it is shaped like this: the server's engine and pool threads emit the
events, and nothing may slow them down, so the view's tracer hook only counts.
Drawing happens on a thread of its own, at most ``1 / interval`` times a second
and only when something changed, into an ``ipywidgets.Image`` (a PNG drawn
with Agg, no pyplot), which can be updated from any thread. The label ticks
on every pass (events, seconds), so the view never looks frozen while a
redraw of a big trace takes its time. The picture reads ``handle.trace``,
which the handle records anyway, from a little before the view's first event.
"""
from __future__ import annotations

import io
import threading
import time
from typing import Optional

from .plots import plot_lanes

__all__ = ["LiveView"]


class LiveView:
    def __init__(self, handle, total: int, *, interval: float = 0.25, start: bool = True,
                 figsize: tuple = (10, 3.6), dpi: int = 80):
        import ipywidgets as widgets
        import matplotlib.figure  # noqa: F401  (here, not on the first redraw: it is slow)

        self.handle = handle
        self.total = total
        self.done = 0
        self.events = 0          # events seen by the hook since the view opened
        self.first_t: Optional[int] = None  # the trace time of the first of them
        self.redraws = 0
        self.interval = interval
        self.figsize, self.dpi = figsize, dpi
        self.closed = False
        self._started = time.monotonic()
        self._drawn_at = (-1, -1)   # (events, done) at the last redraw
        self._lock = threading.Lock()
        self._stop = threading.Event()

        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1),
                                       description="clients", bar_style="info")
        self.label = widgets.Label(self._text())
        self.image = widgets.Image(format="png")
        self.widget = widgets.VBox([widgets.HBox([self.bar, self.label]), self.image])

        # Keep the bound method: unsubscribe compares by identity.
        self._hook = self._on_event
        handle.runtime.tracer.subscribe(self._hook)
        self._thread: Optional[threading.Thread] = None
        if start:
            self._thread = threading.Thread(target=self._loop, name="live-view", daemon=True)
            self._thread.start()

    # -- called from other threads ---------------------------------------------

    def _on_event(self, event) -> None:
        # Called on the server's own threads, outside every lock: an increment lost
        # to a race only makes a redraw wait for the next event.
        if self.first_t is None:
            self.first_t = event.t
        self.events += 1

    def progress(self, done: int, total: int) -> None:
        """The fleet's ``progress`` callback: ``done`` of ``total`` clients finished."""
        with self._lock:
            self.done, self.total = done, total
            self.bar.max = max(total, 1)
            self.bar.value = min(done, total)
            self.label.value = self._text()

    # -- drawing -----------------------------------------------------------------

    def _text(self) -> str:
        return (f"{self.done} / {self.total} clients · {self.events} events · "
                f"{time.monotonic() - self._started:.1f} s")

    def refresh(self, force: bool = False) -> bool:
        """Redraw the lanes if anything changed (or ``force``); True if it drew."""
        from matplotlib.figure import Figure

        now = (self.events, self.done)
        with self._lock:
            self.label.value = self._text()
        if now == self._drawn_at and not force:
            return False
        fig = Figure(figsize=self.figsize, dpi=self.dpi, layout="constrained")
        # Start the picture a little before the view's first event: a server that
        # idled for a minute before the clients came would squeeze them to the right.
        since = None if self.first_t is None else max(self.first_t - 5_000, 0)
        plot_lanes(self.handle.trace, fig.add_subplot(), since=since)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        self.image.value = buf.getvalue()
        self._drawn_at = now
        self.redraws += 1
        return True

    def _loop(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            began = time.monotonic()
            try:
                self.refresh()
            except Exception as exc:  # a view must never take the notebook down
                self.label.value = f"live view stopped: {type(exc).__name__}: {exc}"
                return
            # A slow redraw (a big trace) spaces the next one out, so drawing
            # takes at most about half the time the server could use.
            pause = max(self.interval, time.monotonic() - began)

    # -- life cycle --------------------------------------------------------------

    def close(self) -> None:
        """Stop listening and redrawing, then draw the final picture; idempotent."""
        if self.closed:
            return
        self.closed = True
        self.handle.runtime.tracer.unsubscribe(self._hook)
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.bar.bar_style = "success" if self.done >= self.total else "warning"
        self.refresh(force=True)

    def __enter__(self) -> "LiveView":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "live"
        return f"<LiveView {self.done} / {self.total} clients, {self.events} events, {state}>"

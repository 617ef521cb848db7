"""``LiveView``: watch a server's thread-pool lanes while a fleet of clients runs.

Mirrors nothing in .NET; it is a notebook's window onto a running server.
A progress bar ("k / n clients") and the ``plot_lanes`` picture update while
the clients run, then once more at ``close()``:

    server = start_server("seed")
    view = LiveView(server, total=20).show()
    send(server.address, n=20, progress=view.progress, tracer=server.runtime.tracer)
    view.close()

What a learner sees: a picture at once ("waiting for the first event"), the
lanes as soon as the first event comes, a new frame every ``interval``
seconds (0.2) while events keep coming, and at ``close()`` the picture of the
final trace. The picture starts at the view's first event, so a server that
idled, or served other clients before, does not squeeze this run.

Why it is shaped like this: the server's engine and pool threads emit the
events, and nothing may slow them down, so the view's tracer hook only counts
(and, at the first event, wakes the drawing thread). Drawing happens on a
thread of its own, into an ``ipywidgets.Image`` (a PNG drawn with Agg, no
pyplot), which can be updated from any thread. A frame has fixed margins: the
constrained layout would draw each frame twice, and a frame must take well
under the interval on a busy machine. The label ticks on every pass (events,
seconds), so the view never looks frozen while a big frame takes its time.

``show()`` displays the view and keeps its display, which ``close()`` updates:
besides the widget, the display carries the last frame as ``image/png``, so a
notebook saved without widget state still shows the final picture.
"""
from __future__ import annotations

import base64
import io
import threading
import time
from collections import deque
from typing import Optional

from .plots import plot_lanes

__all__ = ["LiveView"]

# Fixed margins for figsize (10, 3.6): room for the lane names (two lines on
# busy strips) on the left and the legend on the right.
_MARGINS = dict(left=0.11, right=0.73, top=0.89, bottom=0.15)
_PAUSE = 0.02   # the least pause after a frame slower than the interval


def pause_after(interval: float, took: float) -> float:
    """How long the drawing thread waits after a frame that took ``took`` seconds:
    a frame begins every ``interval``; after a slower one, only a short pause,
    so the server's threads get the interpreter in between."""
    return max(interval - took, _PAUSE)


class LiveView:
    def __init__(self, handle, total: int, *, interval: float = 0.2, start: bool = True,
                 figsize: tuple = (10, 3.6), dpi: int = 80, aggregate: Optional[bool] = None):
        import ipywidgets as widgets
        import matplotlib.figure  # noqa: F401  (here, not on the first frame: it is slow)

        self.handle = handle
        self.total = total
        self.done = 0
        self.events = 0          # events seen by the hook since the view opened
        self.first_t: Optional[int] = None  # the trace time of the first of them
        self.redraws = 0         # frames drawn since the waiting one
        self.frame_times: deque = deque(maxlen=1000)   # (began, ended) of each, monotonic s
        self.interval = interval
        self.figsize, self.dpi = figsize, dpi
        # plot_lanes' aggregate: None switches to busy strips (once) when a lane fills up
        self.aggregate = aggregate
        self.closed = False
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = threading.Condition()
        self._stop = threading.Event()
        self._nudge = threading.Event()   # the first event, or close(): draw now
        self._display = None

        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1),
                                       description="clients", bar_style="info")
        self.label = widgets.Label(self._text())
        # Never an empty image (a broken-image icon): the waiting frame at once.
        self.image = widgets.Image(value=self.frame(), format="png")
        self._drawn_at = (0, 0)   # (events, done) at the last frame
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
        # to a race only makes a frame wait for the next event.
        if self.first_t is None:
            self.first_t = event.t
            self._nudge.set()
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

    def frame(self, trace=None) -> bytes:
        """The PNG the view shows for ``trace`` (by default the handle's, as it is
        now): its lanes from the view's first event on, or, before that event,
        a picture that says the view is waiting for it."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=self.figsize, dpi=self.dpi)
        fig.subplots_adjust(**_MARGINS)
        ax = fig.add_subplot()
        if self.first_t is None:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "waiting for the first event …", ha="center", va="center",
                    color="#777777", fontsize=11, transform=ax.transAxes)
        else:
            plot_lanes(self.handle.trace if trace is None else trace, ax, since=self.first_t,
                       aggregate=self.aggregate)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def refresh(self, force: bool = False) -> bool:
        """Draw a new frame if anything changed (or ``force``); True if it drew."""
        now = (self.events, self.done)
        with self._lock:
            self.label.value = self._text()
        if now == self._drawn_at and not force:
            return False
        began = time.monotonic()
        self.image.value = self.frame()
        self._drawn_at = now
        with self._drawn:
            self.redraws += 1
            self.frame_times.append((began, time.monotonic()))
            self._drawn.notify_all()
        return True

    def wait_for_frames(self, count: int, timeout: float) -> bool:
        """Block until ``count`` frames have been drawn since the waiting one, at most
        ``timeout`` seconds; True if they were (for a lesson or a test that wants the
        picture to have caught up)."""
        with self._drawn:
            return self._drawn.wait_for(lambda: self.redraws >= count, timeout)

    def _loop(self) -> None:
        pause = self.interval
        while not self._stop.is_set():
            self._nudge.wait(pause)
            self._nudge.clear()
            if self._stop.is_set():
                return
            began = time.monotonic()
            try:
                self.refresh()
            except Exception as exc:  # a view must never take the notebook down
                self.label.value = f"live view stopped: {type(exc).__name__}: {exc}"
                return
            pause = pause_after(self.interval, time.monotonic() - began)

    # -- life cycle --------------------------------------------------------------

    def show(self) -> "LiveView":
        """Display the view in the notebook and keep the display, so that ``close()``
        can put the final frame into it; returns the view."""
        from IPython.display import display
        self._display = display(self, display_id=True)
        return self

    def close(self) -> None:
        """Stop listening and redrawing, then draw the final picture; idempotent."""
        if self.closed:
            return
        self.closed = True
        self.handle.runtime.tracer.unsubscribe(self._hook)
        self._stop.set()
        self._nudge.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self.bar.bar_style = "success" if self.done >= self.total else "warning"
        self.refresh(force=True)
        if self._display is not None:
            self._display.update(self)

    def __enter__(self) -> "LiveView":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _repr_mimebundle_(self, **kwargs):
        """The widget, and the last frame as a PNG for a notebook saved without widget state."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        state = "closed" if self.closed else "live"
        return f"<LiveView {self.done} / {self.total} clients, {self.events} events, {state}>"

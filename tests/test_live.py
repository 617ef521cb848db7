import socket
import threading
import time

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from sockdemo.lab.clients import send  # noqa: E402
from sockdemo.lab.handle import start_server  # noqa: E402
from sockdemo.views.live import _PAUSE, LiveView, pause_after  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def server():
    handle = start_server("seed", pool=2)
    yield handle
    handle.stop()


@pytest.fixture
def view(server):
    """A view without its redraw thread: the tests drive it by hand, on a
    server already quiet (started, its main thread waits for a connection)."""
    v = LiveView(server, total=5, start=False)
    yield v
    v.close()


def test_widget_holds_the_bar_the_label_and_the_picture(view):
    header, image = view.widget.children
    assert list(header.children) == [view.bar, view.label]
    assert image is view.image


def test_progress_moves_the_bar(view):
    view.progress(3, 5)
    assert (view.bar.value, view.bar.max) == (3, 5)


def test_progress_writes_k_of_n_clients_in_the_label(view):
    view.progress(3, 5)
    assert view.label.value.startswith("3 / 5 clients")


def test_the_hook_counts_the_servers_events(view, server):
    before = view.events
    for _ in range(4):
        server.runtime.tracer.emit("console", text="x")
    assert view.events == before + 4


def test_refresh_draws_a_png(view):
    assert view.refresh(force=True)
    assert view.image.value[:8] == PNG_MAGIC


def test_refresh_skips_when_nothing_changed(view):
    view.refresh(force=True)
    assert not view.refresh()


def test_refresh_draws_again_after_a_new_event(view, server):
    view.refresh(force=True)
    server.runtime.tracer.emit("console", text="x")
    assert view.refresh()


def test_close_unsubscribes_the_hook(view, server):
    view.close()
    assert view._hook not in server.runtime.tracer.hooks


def test_close_stops_counting(view, server):
    view.close()
    seen = view.events
    server.runtime.tracer.emit("console", text="x")
    assert view.events == seen


def test_close_draws_the_final_picture(view):
    view.close()
    assert view.redraws == 1 and view.image.value[:8] == PNG_MAGIC


def test_close_turns_the_bar_green_when_every_client_finished(view):
    view.progress(5, 5)
    view.close()
    assert view.bar.bar_style == "success"


def test_close_is_idempotent(view):
    view.close()
    view.close()
    assert view.redraws == 1


def test_the_redraw_thread_redraws_while_events_arrive(server):
    with LiveView(server, total=1, interval=0.02) as v:
        for k in range(1, 4):
            server.runtime.tracer.emit("console", text="tick")
            assert v.wait_for_frames(k, timeout=30)
    assert not v._thread.is_alive()


def test_the_picture_is_never_empty(server):
    v = LiveView(server, total=1, start=False)
    try:
        assert v.image.value[:8] == PNG_MAGIC and v.redraws == 0
        assert v.image.value == v.frame()            # the waiting frame, before any event
    finally:
        v.close()


def test_the_first_event_draws_a_frame_at_once(server):   # started: main waits, quiet
    with LiveView(server, total=1, interval=60) as v:   # only the first event can wake it
        emitted = time.monotonic()
        server.runtime.tracer.emit("console", text="first")
        assert v.wait_for_frames(1, timeout=30)
        began, _ = v.frame_times[0]
        assert began - emitted < 30 and v.first_t == server.trace.events[-1].t


def slow_fleet(server, view, n=6):
    """A fleet that keeps the server busy for about a second: 2-byte pieces every 20 ms."""
    return send(server.address, n=n, message="x" * 30, chunk=2, delay=0.02, concurrency=2,
                tracer=server.runtime.tracer, progress=view.progress, timeout=20)


def test_frames_keep_coming_while_a_fleet_runs(server):
    interval = 0.2
    with LiveView(server, total=6, interval=interval) as v:
        began = time.monotonic()
        results = slow_fleet(server, v)
        ended = time.monotonic()
        frames = [f for f in v.frame_times if began <= f[0] <= ended]
    assert all(r.ok for r in results), [r.error for r in results]
    assert ended - began > 4 * interval and len(frames) >= 3
    assert all(b2 > e1 for (_, e1), (b2, _) in zip(frames, frames[1:])), "frames overlap"


@pytest.mark.parametrize("took, pause", [(0.05, 0.15), (0.2, _PAUSE), (0.9, _PAUSE), (0.0, 0.2)])
def test_a_frame_begins_every_interval_or_shortly_after_a_slow_one(took, pause):
    # The cadence itself, without a clock: how long the drawing thread waits next.
    assert pause_after(0.2, took) == pytest.approx(pause)


def test_the_final_frame_is_the_picture_of_the_final_trace(server):
    v = LiveView(server, total=6, interval=0.2)
    slow_fleet(server, v)
    server.stop()                                    # the trace is final
    v.close()
    assert v.first_t is not None and v.image.value == v.frame(server.trace)
    assert v.bar.bar_style == "success"


def test_the_display_carries_the_last_frame_as_a_png(view):
    import base64
    view.refresh(force=True)
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == view.image.value
    assert bundle["text/plain"].startswith("<LiveView")


def test_show_puts_the_final_frame_into_its_display(view, monkeypatch):
    import IPython.display

    class Handle:
        updates = []

        def update(self, obj):
            self.updates.append(obj._repr_mimebundle_()["image/png"])

    shown = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda obj, display_id=False: shown.append(obj) or Handle())
    assert view.show() is view and shown == [view]
    view.close()
    import base64
    assert [base64.b64decode(png) for png in Handle.updates] == [view.image.value]


def test_a_fleet_of_real_clients_fills_the_bar(server):
    n = 4
    done = 0
    lock = threading.Lock()
    with LiveView(server, total=n, start=False) as v:
        def client():
            nonlocal done
            with socket.create_connection(server.address, timeout=10) as s:
                s.sendall(b"hello")
                s.shutdown(socket.SHUT_WR)
                s.recv(16)
            with lock:  # the fleet calls progress one call at a time
                done += 1
                v.progress(done, n)

        threads = [threading.Thread(target=client) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert v.bar.value == n and v.label.value.startswith(f"{n} / {n} clients")
    assert v.events > 0


def test_the_view_remembers_when_its_first_event_happened(view, server):
    server.runtime.tracer.emit("console", text="first")
    server.runtime.tracer.emit("console", text="second")
    assert view.first_t == server.trace.events[-2].t


def test_the_view_hands_its_aggregate_choice_to_the_lanes(view, server, monkeypatch):
    import sockdemo.views.live as live
    seen = []
    real = live.plot_lanes
    monkeypatch.setattr(live, "plot_lanes", lambda *a, **kw: seen.append(kw) or real(*a, **kw))
    server.runtime.tracer.emit("console", text="x")
    view.aggregate = False                           # bars, however many connections come
    assert view.frame()[:8] == PNG_MAGIC
    assert seen == [{"since": view.first_t, "aggregate": False}]

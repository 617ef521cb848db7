import socket
import threading
import time

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from sockdemo.lab.handle import start_server  # noqa: E402
from sockdemo.views.live import LiveView  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def server():
    handle = start_server("seed", pool=2)
    yield handle
    handle.stop()


@pytest.fixture
def view(server):
    """A view without its redraw thread: the tests drive it by hand, on a
    server already quiet (its main thread waits for a connection)."""
    server.wait_for(lambda e: e.kind == "wait" and e.thread == "main")
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
        deadline = time.monotonic() + 60
        while v.redraws == 0 and time.monotonic() < deadline:
            server.runtime.tracer.emit("console", text="tick")
            time.sleep(0.02)
        assert v.redraws >= 1
    assert not v._thread.is_alive()


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

import socket
import threading
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from sockdemo.lab.handle import start_server  # noqa: E402
from sockdemo.trace.events import Event  # noqa: E402
from sockdemo.trace.recording import Trace  # noqa: E402
from sockdemo.views import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def ev(seq, t, kind, thread="main", conn=None, nbytes=None, **info):
    return Event(seq, t, kind, thread, conn, nbytes, info)


def small_run():
    """Two connections on a seed server: one sends 5+4 bytes that coalesce, one is reset."""
    return Trace([
        ev(1, 0, "reset", event="allDone"),
        ev(2, 10, "begin", op="accept", id=1),
        ev(3, 20, "wait", event="allDone"),
        ev(4, 900, "client_send", "client-1", None, 5, port=50001),
        ev(5, 1000, "accept", "engine", 1, id=1, peer=["127.0.0.1", 50001]),
        ev(6, 1300, "callback_start", "pool-1", None, name="AcceptCallback", id=1),
        ev(7, 1350, "set", "pool-1", event="allDone"),
        ev(8, 1400, "wake", "main", event="allDone", signaled=True),
        ev(9, 1450, "begin", "pool-1", 1, 1024, op="receive", id=2),
        ev(10, 1500, "callback_end", "pool-1", None, name="AcceptCallback", id=1),
        ev(11, 1600, "client_send", "client-1", None, 4, port=50001),
        ev(12, 1700, "chunk", "engine", 1, 9, id=2),
        ev(13, 2000, "callback_start", "pool-2", 1, name="ReadCallback", id=2),
        ev(14, 2100, "begin", "pool-2", 1, 1024, op="receive", id=3),
        ev(15, 2200, "callback_end", "pool-2", 1, name="ReadCallback", id=2),
        ev(16, 2300, "eof", "engine", 1, 0, id=3),
        ev(17, 2400, "callback_start", "pool-10", 1, name="ReadCallback", id=3),
        ev(18, 2450, "message", "pool-10", 1, 9, text="hellohell"),
        ev(19, 2500, "close", "pool-10", 1),
        ev(20, 2600, "callback_end", "pool-10", 1, name="ReadCallback", id=3),
        ev(21, 3000, "accept", "engine", 2, id=4, peer=["127.0.0.1", 50002]),
        ev(22, 3100, "callback_start", "pool-2", None, name="AcceptCallback", id=4),
        ev(23, 3200, "callback_end", "pool-2", None, name="AcceptCallback", id=4),
        ev(24, 3300, "op_error", "engine", 2, op="receive", id=5,
           error="ConnectionResetError: reset"),
        ev(25, 3400, "callback_start", "pool-1", 2, name="ReadCallback", id=5),
        ev(26, 3500, "error", "pool-1", 2, error="ConnectionResetError: reset"),
        ev(27, 3600, "callback_end", "pool-1", 2, name="ReadCallback", id=5),
        ev(28, 3700, "wait", event="allDone"),
    ])


def synthetic(n_events=10_000, pool=4):
    """A seed-shaped trace of about ``n_events`` events: many short connections."""
    out, t, fid, conn = [], 0, 0, 0

    def add(kind, thread, c=None, nbytes=None, **info):
        out.append(Event(len(out) + 1, t, kind, thread, c, nbytes, info))

    while len(out) < n_events:
        conn += 1
        fid += 1
        worker = f"pool-{conn % pool + 1}"
        add("wait", "main", event="allDone")
        t += 40
        add("accept", "engine", conn, id=fid)
        add("callback_start", worker, None, name="AcceptCallback", id=fid)
        t += 10
        add("wake", "main", event="allDone", signaled=True)
        add("callback_end", worker, None, name="AcceptCallback", id=fid)
        for k in range(3):
            t += 30
            add("client_send", "client-1", conn, 7)
            fid += 1
            add("chunk", "engine", conn, 7 if k else 14, id=fid)
            t += 5
            add("callback_start", worker, conn, name="ReadCallback", id=fid)
            t += 25
            add("callback_end", worker, conn, name="ReadCallback", id=fid)
        fid += 1
        add("eof", "engine", conn, 0, id=fid)
        add("callback_start", worker, conn, name="ReadCallback", id=fid)
        add("close", worker, conn)
        t += 10
        add("callback_end", worker, conn, name="ReadCallback", id=fid)
    return Trace(out)


def artist(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"expected one artist {gid!r}, found {len(found)}"
    return found[0]


def drawn(ax, gid):
    """The texts a label artist writes when its figure is drawn."""
    ax.figure.canvas.draw()
    return [text for _, _, text in artist(ax, gid).placed(ax.figure.canvas.get_renderer())]


def ytick_labels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


# -- plot_lanes ------------------------------------------------------------------

def test_lanes_one_row_per_thread_in_natural_order():
    ax = plots.plot_lanes(small_run())
    assert ytick_labels(ax) == ["main", "engine", "pool-1", "pool-2", "pool-10"]


def test_lanes_leave_client_threads_out():
    assert "client-1" not in ytick_labels(plots.plot_lanes(small_run()))


def test_lanes_draw_one_bar_per_callback_run():
    ax = plots.plot_lanes(small_run())
    assert len(artist(ax, "callbacks").get_paths()) == 5


def test_lanes_bar_spans_the_callback_on_its_thread():
    runs = plots.lane_model(small_run())["runs"]
    assert ("pool-2", 2000, 2200, "ReadCallback", 1, 0) in runs


def test_accept_callback_takes_the_accepted_connection():
    runs = plots.lane_model(small_run())["runs"]
    accepts = [r for r in runs if r[3] == "AcceptCallback"]
    assert [r[4] for r in accepts] == [1, 2]


def test_lanes_show_main_waiting_from_wait_to_wake():
    waits = plots.lane_model(small_run())["waits"]
    assert ("main", 20, 1400, "allDone") in waits


def test_a_wait_never_woken_lasts_to_the_end_of_the_trace():
    waits = plots.lane_model(small_run())["waits"]
    assert ("main", 3700, 3700, "allDone") in waits


def test_lanes_draw_the_waits():
    ax = plots.plot_lanes(small_run())
    assert len(artist(ax, "waits").get_paths()) == 2


def test_queue_wait_runs_from_completion_to_callback_start():
    queued = plots.lane_model(small_run())["queued"]
    assert ("pool-2", 1700, 2000, 1) in queued


def test_lanes_draw_one_queue_line_per_completed_operation():
    ax = plots.plot_lanes(small_run())
    assert len(artist(ax, "queued").get_segments()) == 5


def test_a_callback_cut_by_the_end_of_the_trace_runs_to_the_end():
    events = small_run().events[:-2]  # cut inside the last ReadCallback
    runs = plots.lane_model(events)["runs"]
    assert ("pool-1", 3400, 3500, "ReadCallback", 2, 0) in runs


def test_an_inline_callback_is_drawn_nested_inside_its_caller():
    trace = [ev(1, 0, "callback_start", "pool-1", 1, name="ReadCallback", id=1),
             ev(2, 10, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
             ev(3, 20, "callback_end", "pool-1", 1, name="ReadCallback", id=2),
             ev(4, 30, "callback_end", "pool-1", 1, name="ReadCallback", id=1)]
    depths = sorted(r[5] for r in plots.lane_model(trace)["runs"])
    assert depths == [0, 1]


def test_lanes_have_title_axis_labels_and_legend():
    ax = plots.plot_lanes(small_run())
    assert "5 callbacks" in ax.get_title(loc="left")
    assert "ms" in ax.get_xlabel()
    assert "conn 1" in legend_texts(ax)


def test_lanes_time_axis_is_in_milliseconds():
    lo, hi = plots.plot_lanes(small_run(), since=0).get_xlim()
    assert lo < 0.0 and 3.7 < hi < 4.0


def test_lanes_mark_errors():
    ax = plots.plot_lanes(small_run())
    assert "error" in legend_texts(ax)


def test_lanes_draw_an_empty_trace():
    ax = plots.plot_lanes(Trace())
    assert ytick_labels(ax) == []


# -- plot_chunks -----------------------------------------------------------------

def test_chunks_one_row_per_connection():
    assert ytick_labels(plots.plot_chunks(small_run())) == ["conn 1", "conn 2"]


def test_chunks_draw_every_client_piece_and_every_receive():
    ax = plots.plot_chunks(small_run())
    assert len(artist(ax, "client_send").get_offsets()) == 2
    assert len(artist(ax, "chunk").get_offsets()) == 1


def test_chunks_put_the_client_above_the_server():
    ax = plots.plot_chunks(small_run())
    client_y = artist(ax, "client_send").get_offsets()[0][1]
    server_y = artist(ax, "chunk").get_offsets()[0][1]
    assert client_y < server_y  # the y axis points down


def test_chunks_label_each_marker_with_its_bytes():
    ax = plots.plot_chunks(small_run())
    assert artist(ax, "send_bytes").texts == ["5", "4"]
    assert artist(ax, "receive_bytes").texts == ["9"]
    assert sorted(drawn(ax, "send_bytes") + drawn(ax, "receive_bytes")) == ["4", "5", "9"]


def test_chunk_markers_grow_with_their_bytes():
    ax = plots.plot_chunks(small_run())
    small, big = artist(ax, "client_send").get_sizes()  # 5 then 4 bytes
    assert small > big


def test_chunks_mark_accept_eof_message_and_close():
    ax = plots.plot_chunks(small_run())
    for gid in ("accept", "eof", "message", "close"):
        artist(ax, gid)


def test_chunks_have_title_and_legend():
    ax = plots.plot_chunks(small_run())
    assert "2 client pieces, 1 server receive" in ax.get_title(loc="left")
    assert "server receive (lower square)" in legend_texts(ax)


def test_chunks_sample_many_connections_and_say_so():
    ax = plots.plot_chunks(synthetic(5000))
    assert f"showing {plots.MAX_CHUNK_ROWS} of" in ax.get_title(loc="left")


# -- plot_summary ----------------------------------------------------------------

def test_summary_counts_callbacks_per_thread():
    ax_threads, _ = plots.plot_summary(small_run())
    per_thread = [0.0] * 3
    for bar in ax_threads.patches:  # stacked: one bar per (callback name, thread)
        per_thread[round(bar.get_y() + bar.get_height() / 2)] += bar.get_width()
    assert ytick_labels(ax_threads) == ["pool-1", "pool-2", "pool-10"]
    assert per_thread == [2, 2, 1]


def test_summary_histograms_bytes_per_receive():
    _, ax_bytes = plots.plot_summary(small_run())
    assert sum(p.get_height() for p in ax_bytes.patches) == 1


# -- big traces and the PNG ------------------------------------------------------

def test_a_10000_event_trace_draws():
    trace = synthetic(10_000)
    fig = plots.demo_figure(trace, summary=True)
    fig.canvas.draw()
    assert len(fig.axes) == 4


def test_save_demo_figure_writes_a_png(tmp_path):
    path = tmp_path / "demo.png"
    plots.save_demo_figure(small_run(), path)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_demo_figure_adds_the_summary_for_big_runs():
    assert len(plots.demo_figure(synthetic(2000)).axes) == 4


def test_demo_figure_leaves_the_summary_out_for_small_runs():
    assert len(plots.demo_figure(small_run()).axes) == 2


# -- a real run --------------------------------------------------------------------

def _client(address, pieces, emit):
    with socket.create_connection(address, timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = s.getsockname()[1]
        for piece in pieces:
            s.sendall(piece)
            emit("client_send", None, len(piece), port=port)
            time.sleep(0.002)
        s.shutdown(socket.SHUT_WR)
        s.recv(16)  # the seed server closes without a reply


@pytest.fixture(scope="module")
def real_trace():
    with start_server("seed", pool=2) as server:
        clients = [threading.Thread(target=_client,
                                    args=(server.address, [b"hello ", b"world"],
                                          server.runtime.tracer.emit))
                   for _ in range(3)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(10)
        server.wait_for("close", count=3, timeout=10)
    return server.trace


def test_real_run_lanes_start_with_main_engine_and_the_pool(real_trace):
    lanes = ytick_labels(plots.plot_lanes(real_trace))
    assert lanes[0] == "main" and "engine" in lanes
    assert {name for name in lanes if name.startswith("pool-")} <= {"pool-1", "pool-2"}


def test_real_run_lanes_draw_every_callback(real_trace):
    ax = plots.plot_lanes(real_trace)
    starts = len(real_trace.of_kind("callback_start"))
    assert len(artist(ax, "callbacks").get_paths()) == starts


def test_real_run_chunks_have_a_row_per_client(real_trace):
    assert len(ytick_labels(plots.plot_chunks(real_trace))) == 3


def test_real_run_chunks_draw_every_client_piece(real_trace):
    ax = plots.plot_chunks(real_trace)
    assert len(artist(ax, "client_send").get_offsets()) == 6


def test_lanes_since_leaves_earlier_callbacks_out():
    ax = plots.plot_lanes(small_run(), since=2300)
    assert len(artist(ax, "callbacks").get_paths()) == 3


def test_lanes_since_cuts_a_wait_that_began_earlier():
    waits = plots._clip(plots.lane_model(small_run()), 1000)["waits"]
    assert ("main", 1000, 1400, "allDone") in waits


# -- the models ----------------------------------------------------------------------

def test_the_lane_model_is_plain_data_read_by_name():
    m = plots.lane_model(small_run())
    assert m["runs"] is m.runs and m["waits"] is m.waits
    assert m.lanes == ("main", "engine", "pool-1", "pool-2", "pool-10")
    assert [r.name for r in m.runs][:2] == ["AcceptCallback", "ReadCallback"]   # start order


def test_a_run_that_never_returned_is_marked_where_it_stopped():
    events = small_run().events[:-2] + [
        ev(27, 3550, "callback_end", "pool-1", 2, name="ReadCallback", id=5, cut=True)]
    m = plots.lane_model(events)
    assert m.cut == (("pool-1", 3400, 3550, "ReadCallback", 2, 0),)
    ax = plots.plot_lanes(events)
    assert len(artist(ax, "cut").get_offsets()) == 1
    assert "did not return (cut, or still running)" in legend_texts(ax)
    assert plots.lane_model(small_run()).cut == ()
    assert not [a for a in plots.plot_lanes(small_run()).get_children() if a.get_gid() == "cut"]


def test_a_callback_still_running_where_the_trace_ends_counts_as_cut():
    events = small_run().events[:-2]
    assert [r.t1 for r in plots.lane_model(events).cut] == [3500]


def test_the_chunk_model_joins_client_pieces_to_their_connection():
    m = plots.chunk_model(small_run())
    assert m.conns == (1, 2) and m.total == 2
    assert m.sends == ((1, 900, 5), (1, 1600, 4))       # both recorded with conn None
    assert m.receives == ((1, 1700, 9),)
    assert m.client_life == ((1, 900, 1600),)
    assert m.conn_life == ((1, 1000, 2500), (2, 3000, 3700))
    assert [(k.kind, k.conn) for k in m.marks] == [
        ("accept", 1), ("eof", 1), ("message", 1), ("close", 1), ("accept", 2),
        ("op_error", 2), ("error", 2)]


# -- the time shown ------------------------------------------------------------------

def idle_then_clients(idle_us=300_000_000):
    """A server that listened at 0 and waited five minutes before its one client came."""
    t = idle_us
    return Trace([
        ev(1, 0, "listen", endpoint=["127.0.0.1", 11000], backlog=10),
        ev(2, 10, "begin", op="accept", id=1),
        ev(3, 20, "wait", event="allDone"),
        ev(4, t, "client_connect", "client-1", port=50001),
        ev(5, t + 100, "accept", "engine", 1, id=1, peer=["127.0.0.1", 50001]),
        ev(6, t + 150, "callback_start", "pool-1", None, name="AcceptCallback", id=1),
        ev(7, t + 200, "set", "pool-1", event="allDone"),
        ev(8, t + 210, "wake", "main", event="allDone", signaled=True),
        ev(9, t + 300, "callback_end", "pool-1", None, name="AcceptCallback", id=1),
        ev(10, t + 400, "client_send", "client-1", None, 14, port=50001),
        ev(11, t + 500, "chunk", "engine", 1, 14, id=2),
        ev(12, t + 600, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
        ev(13, t + 900, "callback_end", "pool-1", 1, name="ReadCallback", id=2),
        ev(14, t + 950, "wait", event="allDone"),
    ])


def test_the_window_starts_at_the_first_client_activity_after_an_idle_server():
    assert plots.time_window(idle_then_clients()) == (300_000_000, 300_000_950)


def test_the_window_keeps_the_servers_start_when_it_came_just_before_the_clients():
    assert plots.time_window(idle_then_clients(idle_us=200)) == (0, 1150)


def test_since_starts_the_window_where_asked():
    assert plots.time_window(idle_then_clients(), since=5) == (5, 300_000_950)


def test_pictures_of_an_idle_server_show_the_clients_not_the_wait():
    trace = idle_then_clients()
    for ax in (plots.plot_lanes(trace), plots.plot_chunks(trace)):
        lo, hi = ax.get_xlim()
        assert 299_999.9 < lo < 300_000.0 and 300_000.9 < hi < 300_001.0
        assert "shown from 300,000.0 ms, the first client activity" in ax.get_xlabel()
        assert all("e" not in t.get_text() for t in ax.get_xticklabels())   # no offset notation


def test_a_wait_begun_before_the_window_is_drawn_from_its_start():
    waits = plots.lane_model(idle_then_clients(), since=300_000_000).waits
    assert waits[0] == ("main", 300_000_000, 300_000_210, "allDone")


def test_a_shared_x_axis_widens_to_every_panel_never_cuts_one():
    long_run = [ev(1, 0, "callback_start", "pool-1", 1, name="ReadCallback", id=1),
                ev(2, 12_000_000, "callback_end", "pool-1", 1, name="ReadCallback", id=1)]
    short_run = [ev(1, 0, "callback_start", "pool-1", 1, name="ReadCallback", id=1),
                 ev(2, 5_000_000, "callback_end", "pool-1", 1, name="ReadCallback", id=1)]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True)
    plots.plot_lanes(long_run, top)
    plots.plot_lanes(short_run, bottom)
    assert top.get_xlim()[1] >= 12_000 and bottom.get_xlim() == top.get_xlim()


# -- titles --------------------------------------------------------------------------

def test_a_title_names_the_run_in_front_of_the_plots_own():
    assert plots.plot_lanes(small_run(), title="starved").get_title(loc="left") == (
        "starved · Who ran each callback: 5 callbacks on 3 threads")
    assert plots.plot_chunks(small_run(), title="fast").get_title(loc="left").startswith(
        "fast · How the bytes arrived: ")
    threads, sizes = plots.plot_summary(small_run(), title="crowd")
    assert threads.get_title(loc="left").startswith("crowd · Callbacks per thread")
    assert sizes.get_title(loc="left").startswith("crowd · Bytes per receive")
    fig = plots.demo_figure(small_run(), title="demo")
    assert fig.get_suptitle() == "demo"


def test_titles_say_one_thing_in_the_singular():
    one = idle_then_clients()
    assert plots.plot_chunks(one).get_title(loc="left") == (
        "How the bytes arrived: 1 client piece, 1 server receive")
    assert plots.plot_lanes(one).get_title(loc="left") == (
        "Who ran each callback: 2 callbacks on 1 thread")


# -- labels ---------------------------------------------------------------------------

def test_a_callback_bar_is_labelled_with_its_name_where_it_fits():
    fig, ax = plt.subplots(figsize=(10, 3))
    plots.plot_lanes(idle_then_clients(), ax)
    assert sorted(drawn(ax, "bar_labels")) == ["AcceptCallback", "ReadCallback"]


def test_a_bar_label_never_is_a_cut_word():
    """A shared axis cut at 5 s used to cut the 12 s bar's label to "ReadCal"."""
    fig, ax = plt.subplots(figsize=(6, 2))
    plots.plot_lanes([ev(1, 0, "callback_start", "pool-1", 1, name="ReadCallback", id=1),
                      ev(2, 12_000_000, "callback_end", "pool-1", 1, name="ReadCallback", id=1)], ax)
    ax.set_xlim(-100, 5_000)
    assert drawn(ax, "bar_labels") == ["ReadCallback"]
    for right in (30, 2):
        ax.set_xlim(-100, right)
        assert set(drawn(ax, "bar_labels")) <= {"ReadCallback", "Read"}
    placed = list(artist(ax, "bar_labels").placed(fig.canvas.get_renderer()))
    assert placed == [] or -100 < placed[0][0] < 2   # inside the part in view


def test_a_narrow_bar_falls_back_to_its_short_name():
    fig, ax = plt.subplots(figsize=(10, 2))
    trace = [ev(1, 0, "callback_start", "pool-1", 1, name="ReadCallback", id=1),
             ev(2, 3_000, "callback_end", "pool-1", 1, name="ReadCallback", id=1),
             ev(3, 3_000, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
             ev(4, 100_000, "callback_end", "pool-1", 1, name="ReadCallback", id=2)]
    plots.plot_lanes(trace, ax)
    assert sorted(drawn(ax, "bar_labels")) == ["Read", "ReadCallback"]


def test_byte_counts_of_many_small_pieces_are_grouped_not_smeared():
    events, t = [], 0
    add = lambda kind, *a, **kw: events.append(ev(len(events) + 1, t, kind, *a, **kw))  # noqa: E731
    add("accept", "engine", 1, id=1, peer=["127.0.0.1", 50001])
    for _ in range(20):
        t += 10
        add("client_send", "client-1", None, 2, port=50001)
    t += 1000
    add("chunk", "engine", 1, 40, id=2)
    t += 100_000
    add("close", "pool-1", 1)
    fig, ax = plt.subplots(figsize=(10, 2.5))
    plots.plot_chunks(events, ax)
    assert drawn(ax, "send_bytes") == ["20×2"]
    assert drawn(ax, "receive_bytes") == ["40"]
    assert "20×2" in " ".join(legend_texts(ax))


def test_count_text_names_a_group():
    from sockdemo.views.labels import count_text
    assert count_text([7]) == "7"
    assert count_text([2] * 20) == "20×2"
    assert count_text([5, 4, 3]) == "12 in 3"


# -- big runs ------------------------------------------------------------------------

def test_a_crowded_lane_becomes_a_busy_strip():
    ax = plots.plot_lanes(synthetic(10_000))
    gids = {a.get_gid() for a in ax.get_children()}
    assert "busy" in gids and "waits" in gids and "callbacks" not in gids
    assert "how busy each thread was" in ax.get_title(loc="left")
    assert any("callbacks" in label for label in ytick_labels(ax))


def test_aggregate_can_be_forced_either_way():
    assert "busy" in {a.get_gid() for a in plots.plot_lanes(small_run(), aggregate=True).get_children()}
    ax = plots.plot_lanes(synthetic(2000), aggregate=False)
    assert len(artist(ax, "callbacks").get_paths()) == len(plots.lane_model(synthetic(2000)).runs)


def test_busy_share_is_the_time_covered_in_each_bin():
    import numpy as np
    share = plots._covered(np.array([0.0, 10.0, 20.0, 30.0]), [5, 12], [15, 13])
    assert list(share) == [5.0, 6.0, 0.0]


def test_the_summary_of_one_receive_size_is_one_bar_with_whole_numbers():
    _, ax = plots.plot_summary(idle_then_clients())
    assert len(ax.patches) == 1 and ax.patches[0].get_height() == 1
    assert [t.get_text() for t in ax.get_xticklabels()] == ["14"]
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_yticks())


def test_demo_figure_panels_show_the_same_window_to_the_last_event():
    trace = idle_then_clients()
    lanes_ax, chunks_ax = plots.demo_figure(trace).axes
    assert lanes_ax.get_xlim() == chunks_ax.get_xlim()
    assert lanes_ax.get_xlim()[0] > 299_999 and lanes_ax.get_xlim()[1] > 300_000.95

"""``TraceStream``: a trace written as the run goes, whole after close, readable after a kill."""
import signal
import threading
import time

from conftest import WAIT, Client, start_serve
from sockdemo.trace.recording import Trace
from sockdemo.trace.stream import TraceStream
from sockdemo.trace.tracer import Tracer


def test_a_closed_stream_holds_the_same_events_as_a_trace(tmp_path):
    tracer = Tracer(lambda: 7)
    memory = tracer.subscribe(Trace())
    stream = TraceStream(tmp_path / "run.json", flush_every=0.01)
    stream.meta["server"] = "sockdemo.servers.seed.SeedServer"
    tracer.subscribe(stream.start())
    for i in range(50):
        tracer.emit("begin", 1, op="receive", id=i, callback="read_callback")
        tracer.emit("callback_start", 1, name="ReadCallback", id=i)
        tracer.emit("callback_end", 1, name="ReadCallback", id=i)
    stream.close()
    loaded = Trace.load(tmp_path / "run.json")
    assert loaded.events == memory.events and stream.events == 150
    assert loaded.meta == {"server": "sockdemo.servers.seed.SeedServer"}


def test_a_stream_that_saw_nothing_is_still_a_trace_file(tmp_path):
    TraceStream(tmp_path / "empty.json").start().close()
    assert Trace.load(tmp_path / "empty.json").events == []


def test_a_traced_serve_killed_under_load_leaves_a_readable_file(tmp_path):
    path = tmp_path / "killed.json"
    proc, port = start_serve("--trace", str(path))
    try:
        for i in range(30):
            with Client(("127.0.0.1", port)) as client:
                client.send(f"message {i}".encode()).half_close()
                client.closed_by_server()
        # Wait until the writer has put the messages in the file, then kill without warning.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and path.read_text(encoding="utf-8").count('"name":"message"') < 30:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    text = path.read_text(encoding="utf-8")
    assert not text.rstrip().endswith("]"), "a killed process never wrote the closing bracket"
    loaded = Trace.load(path)
    assert len(loaded.of_kind("message")) == 30
    assert loaded.meta["server"] == "sockdemo.servers.seed.SeedServer"


def _emit_from_a_thread(tracer, n):
    def emit_all():
        for i in range(n):
            tracer.emit("chunk", 1, 1, id=i)
    thread = threading.Thread(target=emit_all, name="emitter")
    thread.start()
    return thread

"""The source map: each event of a run points at the right line of the Python port and of
the page's C#, for the server the trace names, and never at a line it made up."""
import linecache
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sockdemo.lab.clients import send
from sockdemo.lab.handle import start_server
from sockdemo.servers.echo import EchoServer
from sockdemo.servers.fixed import FixedServer
from sockdemo.servers.seed import SeedServer
from sockdemo.sim.simulation import Simulation
from sockdemo.trace.events import Event
from sockdemo.trace.recording import Trace
from sockdemo.views.source_map import (
    MAIN,
    NOWHERE,
    PAGE_SERVER,
    RUNTIME,
    context,
    csharp_lines,
    locate,
    server_class,
    server_of,
    snake_case,
)
from sockdemo.views.stepper_state import state_at

ROOT = Path(__file__).resolve().parent.parent
WAIT = 5.0


def ev(seq, kind, thread="main", conn=None, nbytes=None, **info):
    return Event(seq, seq * 10, kind, thread, conn, nbytes, info)


def steps(trace):
    """The state at every step of ``trace`` but the start."""
    return [state_at(trace, k) for k in range(1, len(trace) + 1)]


@pytest.fixture(scope="module")
def real_trace():
    with start_server("seed") as server:
        results = send(server.address, n=3, message="hello, source", chunk=5,
                       tracer=server.runtime.tracer, timeout=WAIT)
        server.wait_for("close", count=3, timeout=WAIT)
    assert all(r.ok for r in results), [r.error for r in results]
    return server.trace


@pytest.fixture(scope="module")
def sim_trace():
    with Simulation("two_clients", seed=1) as sim:
        sim.run()
    return sim.trace


@pytest.fixture(params=["real", "simulated"])
def run(request, real_trace, sim_trace):
    return real_trace if request.param == "real" else sim_trace


def _op(st):
    op = st.event.info.get("op") or {"accept": "accept", "chunk": "receive",
                                     "eof": "receive"}[st.event.kind]
    return op, op.capitalize()


# kind -> (state -> (what the Python line holds, what the C# line holds))
EXPECTED = {
    "console": lambda st: ("write_line(", "Console.WriteLine("),
    "listen": lambda st: ("listener.listen(", "listener.Listen("),
    "reset": lambda st: ("self.all_done.reset()", "allDone.Reset();"),
    "set": lambda st: ("self.all_done.set()", "allDone.Set();"),
    "wait": lambda st: ("self.all_done.wait_one()", "allDone.WaitOne();"),
    "wake": lambda st: ("self.all_done.wait_one()", "allDone.WaitOne();"),
    "begin": lambda st: (".begin_%s(" % _op(st)[0], ".Begin%s(" % _op(st)[1]),
    "end": lambda st: (".end_%s(" % _op(st)[0], ".End%s(" % _op(st)[1]),
    # a completion: the begin_* that asked for it
    "accept": lambda st: ("listener.begin_accept(", "listener.BeginAccept("),
    "chunk": lambda st: ("handler.begin_receive(", "handler.BeginReceive("),
    "eof": lambda st: ("handler.begin_receive(", "handler.BeginReceive("),
    "callback_start": lambda st: (f"def {snake_case(st.event['name'])}(",
                                  f"public static void {st.event['name']}("),
    "callback_end": lambda st: (f"def {snake_case(st.event['name'])}(",
                                f"public static void {st.event['name']}("),
    "message": lambda st: ('write_line(f"Read', 'Console.WriteLine($"Read'),
    "close": lambda st: ("handler.close()", "handler.Close();"),
}


def test_each_event_kind_of_a_run_maps_to_its_python_and_csharp_line(run):
    seen = set()
    for st in steps(run):
        kind = st.event.kind
        py, cs = st.source.python, st.source.csharp
        if kind.startswith("client_") or kind == "ready" or (kind == "close" and st.event.conn is None):
            # a client, the engine seeing a socket ready, or the listener closed
            # by the runtime's stop: no line of the server
            assert st.source == NOWHERE, st.event
            continue
        py_text, cs_text = EXPECTED[kind](st)
        assert py is not None and py.file == "seed.py" and py_text in py.text, (st.event, py)
        assert cs is not None and cs.file == "SeedServer.cs" and cs_text in cs.text, (st.event, cs)
        seen.add(kind)
    assert seen == set(EXPECTED)


def test_each_console_line_maps_to_the_write_that_printed_it(real_trace):
    console = [st for st in steps(real_trace) if st.event.kind == "console"]
    for st in console:
        text = st.event["text"]
        literal = text.split(" ")[0]   # "Local", "Waiting", "Read": the write's own words
        assert literal in st.source.python.text and literal in st.source.csharp.text, text
    local = [st.source for st in console if st.event["text"].startswith("Local address")]
    assert len({ref.python.line for ref in local}) == len({ref.csharp.line for ref in local}) == 2


def test_no_line_is_invented(run):
    page = dict(csharp_lines())
    for st in steps(run):
        py, cs = st.source.python, st.source.csharp
        if py is not None:
            assert linecache.getline(py.path, py.line).rstrip() == py.text
        if cs is not None:
            assert page[cs.line] == cs.text
            assert {n for n, _, _ in context(cs, 3)} <= set(page)


def test_the_csharp_shown_is_only_the_page_s():
    page = "\n".join(text for _, text in csharp_lines())
    for not_the_page in ("Where(", "showThreads", "SOCKDEMO_THREADS", "Deviations"):
        assert not_the_page not in page
    for the_page in ("allDone.WaitOne();", "public static void ReadCallback(IAsyncResult ar)",
                     "int read = handler.EndReceive(ar);", "handler.Close();"):
        assert the_page in page
    start = locate(ev(1, "callback_start", "pool-1", 1, name="ReadCallback", id=2),
                   RUNTIME, SeedServer)
    shown = [text for _, text, _ in context(start.csharp, 3)]
    assert "StateObject state = (StateObject) ar.AsyncState;" in "\n".join(shown)
    assert not any("Where(" in text for text in shown)


def test_statements_the_page_lacks_have_no_csharp():
    sent = locate(ev(1, "console", "pool-1", text="Sent 19 bytes to client."),
                  "SendCallback", EchoServer)
    assert sent.csharp is None and "Sent " in sent.python.text
    shutdown = locate(ev(1, "shutdown", "pool-1", 1, how="Both"), "ReadCallback", FixedServer)
    assert shutdown.csharp is None and "handler.shutdown(" in shutdown.python.text
    wait = locate(ev(1, "wait", event="shutdownRequested"), MAIN, FixedServer)
    assert wait.csharp is None and "self.shutdown_requested.wait_one()" in wait.python.text


def test_events_of_nobody_s_line_map_to_nothing():
    assert locate(ev(1, "hook_error", hook="x", error="y"), MAIN, SeedServer) == NOWHERE
    assert locate(ev(1, "client_send", "client-1", 1, 3, port=5), RUNTIME, SeedServer) == NOWHERE
    assert locate(ev(1, "close", "MainThread"), RUNTIME, SeedServer) == NOWHERE
    assert locate(ev(1, "begin", op="teleport", id=1), MAIN, SeedServer) == NOWHERE
    ref = locate(ev(1, "begin", op="accept"), MAIN, None)   # no server given: no Python
    assert ref.python is None and "BeginAccept(" in ref.csharp.text


class ExplodingServer(SeedServer):
    """The seed server whose ReadCallback throws: the runtime records it and goes on."""

    def read_callback(self, ar):
        raise RuntimeError("boom")


def test_an_error_that_escaped_a_callback_maps_to_that_callback_s_definition():
    with start_server("seed", server=ExplodingServer) as server:
        # the server never closes this connection: the client gives up at once
        send(server.address, message="x", timeout=0.2, tracer=server.runtime.tracer)
        server.wait_for("error", timeout=WAIT)
    trace = server.trace
    k = next(i for i, e in enumerate(trace.events, 1) if e.kind == "error")
    source = state_at(trace, k).source
    py, cs = source.python, source.csharp
    assert py.path == __file__ and py.text.strip() == "def read_callback(self, ar):"
    assert cs.text.strip() == "public static void ReadCallback(IAsyncResult ar)"


# -- which server --------------------------------------------------------------------

def test_the_server_comes_from_the_trace_s_meta_after_save_and_load(tmp_path):
    with start_server("fixed") as server:
        send(server.address, message="fixed", timeout=WAIT, tracer=server.runtime.tracer)
        server.wait_for("close", timeout=WAIT)
    assert server.trace.meta == {"server": "sockdemo.servers.fixed.FixedServer"}
    server.trace.save(tmp_path / "fixed.json")
    loaded = Trace.load(tmp_path / "fixed.json")
    assert loaded.meta == server.trace.meta and server_of(loaded) is FixedServer
    # fixed prints "Waiting" from begin_next_accept; the page's server from its accept loop
    k = next(i for i, e in enumerate(loaded.events, 1) if e.kind == "console"
             and e["text"] == "Waiting for a connection...")
    assert state_at(loaded, k).source.python.file == "fixed.py"
    assert state_at(loaded.events, k).source.python.file == "seed.py"   # no meta: the page's
    assert state_at(loaded.events, k, FixedServer) == state_at(loaded, k)


def test_a_simulation_names_its_server_too():
    with Simulation("one_client", seed=0) as sim:
        assert sim.trace.meta == {"server": PAGE_SERVER}
        assert server_of(sim) is SeedServer


def test_a_stepper_takes_the_server_from_its_source_or_the_trace():
    pytest.importorskip("ipywidgets")
    from sockdemo.views.stepper import Stepper
    trace = Trace([ev(1, "console", text="Waiting for a connection...")],
                  meta={"server": "sockdemo.servers.fixed.FixedServer"})
    assert Stepper(trace).server is FixedServer
    assert Stepper(trace, server=EchoServer).server is EchoServer
    assert Stepper(trace, server="sockdemo.servers.echo.EchoServer").server is EchoServer


def test_server_class_resolves_classes_and_dotted_names_only():
    assert server_class(EchoServer) is EchoServer
    assert server_class("sockdemo.servers.echo.EchoServer") is EchoServer
    assert server_class(None) is None
    with pytest.raises(ValueError, match="dotted name"):
        server_class("seed")
    with pytest.raises(ValueError, match="no server class"):
        server_class("sockdemo.servers.nowhere.Server")


def test_a_server_that_cannot_be_found_shows_no_python_but_the_page():
    trace = Trace([ev(1, "begin", op="accept", id=1)], meta={"server": "elsewhere.Server"})
    assert server_of(trace) is None
    st = state_at(trace, 1)
    assert st.source.python is None and "BeginAccept(" in st.source.csharp.text
    pytest.importorskip("ipywidgets")
    from sockdemo.views.stepper import render_code
    python, csharp = render_code(st)
    assert "no such line in this server" in python and "BeginAccept(" in csharp


# -- an installed copy ------------------------------------------------------------------

PROBE = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from sockdemo.views import source_map
    from sockdemo.trace.events import Event
    assert source_map.__file__.startswith(sys.argv[1]), source_map.__file__
    begin = Event(1, 0, "begin", "pool-1", 1, None, {"op": "receive", "id": 2})
    ref = source_map.locate(begin, "ReadCallback", source_map.server_of([]))
    assert ref.csharp.path.startswith(sys.argv[1]), ref.csharp.path
    print(ref.csharp.text.strip())
    print(len(source_map.context(ref.csharp, 3)))
""")


def test_the_csharp_is_found_in_an_installed_copy(installed_copy, tmp_path):
    """Installed without the repository beside it, the C# comes from the package's data."""
    target = installed_copy
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run([sys.executable, "-I", "-c", PROBE, str(target)], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    line, shown = probe.stdout.splitlines()
    assert line.startswith("handler.BeginReceive(") and int(shown) == 7

"""``python -m sockdemo``: serve, send, demo and lab, as a user runs them."""
import importlib.util
import io
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sockdemo.apm.affinity import run_on_one_cpu
from sockdemo.lab.cli import FLUSH_EVERY, _StdoutSink, _unhandled_printer, exposure_warning, main
from sockdemo.lab.demo import CONSOLE_HEAD, CONSOLE_TAIL, ConsoleHead, console_rest, run_demo
from sockdemo.trace.recording import Trace

REPO = Path(__file__).resolve().parent.parent
WAIT = 10.0  # seconds any wait may take before the test fails
BOUND = re.compile(r"^Local address and port : 127\.0\.0\.1:([1-9]\d*)$")


def sockdemo_command(*args):
    return [sys.executable, "-m", "sockdemo", *args]


def environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.pop("PYTHONUNBUFFERED", None)  # the server must flush per line by itself
    return env


def run(*args, timeout=WAIT):
    return subprocess.run(sockdemo_command(*args), capture_output=True, text=True,
                          timeout=timeout, env=environment(), cwd=REPO)


class Serve:
    """``python -m sockdemo serve`` in a subprocess, its stdout read line by line."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(sockdemo_command("serve", *args), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=environment(), cwd=REPO)
        self.lines = []
        self._queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.expect(BOUND).group(1))

    def _read(self):
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern, timeout=WAIT):
        """The first new stdout line matching ``pattern``; fails after ``timeout`` s."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                pytest.fail(f"serve printed no line matching {pattern.pattern!r} within {timeout} s; "
                            f"so far: {self.lines}")
            if line is None:
                pytest.fail(f"serve ended before printing {pattern.pattern!r}; stdout: {self.lines}, "
                            f"stderr: {self.proc.stderr.read()!r}")
            self.lines.append(line)
            m = pattern.search(line)
            if m:
                return m

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"serve did not exit within {WAIT} s of {sig.name}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def serve():
    servers = []

    def start(*args):
        server = Serve("--port", "0", "--pool", "2", *args)
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.close()


def send_plain(port, data: bytes):
    """One plain client: send, half-close, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(1024):
            pass


def test_serve_prints_the_console_and_sigterm_writes_the_trace(serve, tmp_path):
    path = tmp_path / "serve.json"
    server = serve("--trace", str(path))
    assert server.lines == ["Local address and port : 127.0.0.1:0",
                            f"Local address and port : 127.0.0.1:{server.port}"]
    server.expect("^Waiting for a connection...$")
    send_plain(server.port, b"hello there")
    server.expect(r"^Read 11 bytes from socket\.$")
    assert server.expect("Data").string == " Data : hello there"
    assert server.stop(signal.SIGTERM) == 0
    trace = Trace.load(path)
    assert len(trace.of_kind("accept")) == 1
    assert [e["text"] for e in trace.of_kind("message")] == ["hello there"]
    assert server.proc.stderr.read() == ""


def test_serve_stops_cleanly_on_sigint(serve):
    server = serve()
    server.expect("^Waiting for a connection...$")
    assert server.stop(signal.SIGINT) == 0
    assert server.proc.stderr.read() == ""


def cpus_allowed(*statuses: Path) -> set[str]:
    """The ``Cpus_allowed_list`` lines (Linux) of these status files, e.g. {"1"} or {"0-1"}."""
    return {line.split(":", 1)[1].strip() for status in statuses
            for line in status.read_text().splitlines() if line.startswith("Cpus_allowed_list:")}


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and two CPUs to choose from")
@pytest.mark.parametrize("cpu_args", [[], ["--cpu", "all"]])
def test_serve_keeps_every_thread_on_one_cpu_unless_told_all(serve, cpu_args):
    server = serve(*cpu_args)
    server.expect("^Waiting for a connection...$")
    send_plain(server.port, b"wake the pool")  # so the pool threads exist too
    server.expect(r"^Read 13 bytes from socket\.$")
    cpus = cpus_allowed(*Path(f"/proc/{server.proc.pid}/task").glob("*/status"))
    if cpu_args:
        assert cpus == cpus_allowed(Path("/proc/self/status"))
    else:
        assert len(cpus) == 1 and next(iter(cpus)).isdigit(), cpus
    assert server.stop() == 0


def test_serve_runs_unpinned_where_a_sandbox_forbids_choosing_a_cpu(monkeypatch):
    def forbidden(pid, cpus):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "sched_setaffinity", forbidden, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert run_on_one_cpu(None) is None


def test_serve_on_a_port_in_use_fails_with_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], result.stderr


@pytest.mark.parametrize("args", [
    ["serve", "--port", "99999"],
    ["serve", "--port", "http"],
    ["serve", "--pool", "0"],
    ["serve", "--mode", "nope"],
    ["serve", "--cpu", "first"],
    ["serve", "--cpu", "100000"],
    ["send"],
    ["send", "--port", "1", "--chunk", "0"],
    ["demo", "--seed", "1"],
    ["frobnicate"],
    [],
])
def test_bad_arguments_give_one_line_and_exit_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "error" in result.stderr and result.stdout == ""


def test_send_runs_the_fleet_against_serve(serve):
    server = serve()
    result = run("send", "--port", str(server.port), "-n", "3", "--message", "hi there",
                 "--chunk", "3", "-v")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith(f"client {i}:") for i, line in enumerate(lines[:3]))
    assert "3 ok, 0 failed, 24 bytes sent" in lines[3]
    for _ in range(3):
        server.expect("^ Data : hi there$")


def test_send_prints_only_the_total_without_verbose(serve):
    server = serve()
    result = run("send", "--port", str(server.port), "-n", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"2 clients to 127.0.0.1:{server.port}: 2 ok, 0 failed, "
                                          f"28 bytes sent in " + result.stdout.split(" in ")[-1].strip()]


def test_send_exits_1_when_a_client_fails():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # released at once: nobody listens there
    result = run("send", "--port", str(port))
    assert result.returncode == 1
    assert "0 ok, 1 failed" in result.stdout and "ConnectionRefusedError" in result.stdout


def test_run_demo_serves_every_client_and_records_the_trace():
    demo = run_demo(4, pool=2)
    assert all(r.error is None for r in demo.results)
    assert len(demo.trace.of_kind("accept")) == 4
    assert len(demo.trace.of_kind("message")) == 4
    assert demo.console.count("Read 14 bytes from socket.\n Data : This is a test") == 4
    [per_thread] = [line for line in demo.summary if line.startswith("callbacks per thread: ")]
    assert "pool-1 " in per_thread


def test_demo_command_writes_a_trace_file(tmp_path):
    path = tmp_path / "demo.json"
    result = run("demo", "--clients", "3", "--pool", "2", "--trace", str(path))
    assert result.returncode == 0, result.stderr
    assert "connections: 3, messages: 3, client errors: 0" in result.stdout
    assert len(Trace.load(path).of_kind("accept")) == 3


def test_demo_in_process_through_main(tmp_path, capsys):
    path = tmp_path / "demo.json"
    assert main(["demo", "--clients", "2", "--mode", "echo", "--trace", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("Sent 19 bytes to client.") == 2
    assert len(Trace.load(path).of_kind("message")) == 2


def test_a_big_demo_prints_the_first_and_last_console_lines_and_the_summary(capsys):
    assert main(["demo", "--sim", "--clients", "60"]) == 0
    out = capsys.readouterr().out
    console, summary = out.split("\n\n", 1)
    entries = console.replace("\n Data :", " Data :").splitlines()   # WriteLine's two-line text
    assert len(entries) == CONSOLE_HEAD + 1 + CONSOLE_TAIL
    assert re.fullmatch(r"\.\.\. \d+ lines \.\.\.", entries[CONSOLE_HEAD])
    hidden = int(entries[CONSOLE_HEAD].split()[1])
    assert hidden + CONSOLE_HEAD + CONSOLE_TAIL == len(run_demo(60, sim=True).console)
    assert summary.startswith("demo: 60 clients against the seed server (simulated)")


def test_console_rest_keeps_a_small_run_whole():
    lines = [f"line {i}" for i in range(25)]
    assert console_rest(lines[:20], 10, tail=10) == lines[10:20]
    assert console_rest(lines[:21], 10, tail=10) == lines[10:21]      # one hidden: shown instead
    assert console_rest(lines, 3, tail=10) == ["... 12 lines ...", *lines[15:]]


def test_console_head_passes_on_only_the_first_lines():
    got = []
    head = ConsoleHead(got.append, head=2)
    for line in "abc":
        head(line)
    assert got == ["a", "b"] and head.passed == 2


def test_lab_without_jupyterlab_says_make_lab(monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "jupyterlab" else real_find_spec(name, *a))
    assert main(["lab"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "make lab" in err


def fake_execv(monkeypatch):
    started = []

    def execv(path, argv):  # stands in for the process JupyterLab would become
        started.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", execv)
    return started


def test_lab_copies_the_learners_edition_and_opens_the_first_lesson(monkeypatch, tmp_path, capsys):
    started = fake_execv(monkeypatch)
    monkeypatch.setenv("SOCKDEMO_LESSONS", str(tmp_path / "mine"))
    with pytest.raises(SystemExit):
        main(["lab", "--no-browser"])
    argv = started[0]
    assert argv[1:3] == ["-m", "jupyterlab"] and "--no-browser" in argv
    assert f"--ServerApp.root_dir={tmp_path / 'mine'}" in argv
    assert "--LabApp.default_url=/lab/tree/00-start-here.ipynb" in argv
    assert (tmp_path / "mine" / "00-start-here.ipynb").is_file()
    assert str(tmp_path / "mine") in capsys.readouterr().out


def test_lab_never_overwrites_a_lesson_the_learner_changed(monkeypatch, tmp_path):
    fake_execv(monkeypatch)
    folder = tmp_path / "mine"
    with pytest.raises(SystemExit):
        main(["lab", "--dir", str(folder)])
    lesson = folder / "00-start-here.ipynb"
    lesson.write_text(lesson.read_text(encoding="utf-8").replace("Start here", "My notes"), encoding="utf-8")
    mine = lesson.read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["lab", "--dir", str(folder), "--refresh"])
    assert lesson.read_text(encoding="utf-8") == mine
    assert (folder / "00-start-here (new).ipynb").is_file()


def test_lessons_writes_either_edition(tmp_path, capsys):
    assert main(["lessons", str(tmp_path / "learner")]) == 0
    assert main(["lessons", str(tmp_path / "instructor"), "--instructor"]) == 0
    names = sorted(p.name for p in (tmp_path / "learner").glob("*.ipynb"))
    assert names and names == sorted(p.name for p in (tmp_path / "instructor").glob("*.ipynb"))
    assert "learner's edition" in capsys.readouterr().out


class FakeStdout(io.StringIO):
    """A stdout that says whether it is a terminal and counts its flushes."""

    def __init__(self, tty: bool):
        super().__init__()
        self.tty, self.flushes = tty, 0

    def isatty(self):
        return self.tty

    def flush(self):
        self.flushes += 1


def test_console_lines_reach_a_terminal_one_by_one():
    out = FakeStdout(tty=True)
    sink = _StdoutSink(out)
    sink("Waiting for a connection...")
    sink("Read 5 bytes from socket.")
    assert out.getvalue() == "Waiting for a connection...\nRead 5 bytes from socket.\n"
    assert out.flushes == 2


def test_console_lines_to_a_pipe_wait_at_most_flush_every():
    now = [0.0]
    out = FakeStdout(tty=False)
    sink = _StdoutSink(out, clock=lambda: now[0])
    sink("one")
    sink("two")
    assert out.flushes == 0  # both wait in the buffer
    now[0] += FLUSH_EVERY
    sink("three")  # the oldest line has waited long enough: all go
    assert out.flushes == 1
    sink("four")
    sink.flush()  # what serve's wait loop does
    assert out.flushes == 2 and out.getvalue() == "one\ntwo\nthree\nfour\n"


def test_a_closed_pipe_makes_the_console_quiet_not_the_server_fail():
    class ClosedPipe(FakeStdout):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    sink = _StdoutSink(ClosedPipe(tty=False))
    sink("lost")
    sink("lost too")
    sink.flush()


# -- bad paths and exposed addresses fail early, in one line ---------------------

@pytest.mark.parametrize("args, says", [
    (["serve", "--trace", "no/such/dir/run.json"], "does not exist"),
    (["demo", "--png", "no/such/dir/x.png"], "does not exist"),
    (["demo", "--trace", "."], "is a folder"),
    (["serve", "--trace", "/dev/null"], "not a regular file"),
    (["serve", "--idle-timeout", "5"], "no limits"),
    (["serve", "--mode", "fixed", "--idle-timeout", "0"], "more than 0"),
    (["serve", "--mode", "echo", "--max-connections", "0"], "out of range"),
])
def test_bad_paths_and_options_fail_before_anything_starts(args, says):
    result = run(*args)
    assert result.returncode == 2, result
    assert len(result.stderr.splitlines()) == 1 and says in result.stderr, result.stderr
    assert result.stdout == ""


def test_serve_takes_the_limits_of_the_fixed_server(serve):
    server = serve("--mode", "fixed", "--idle-timeout", "0.2", "--max-message", "8")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
        server.expect(r"^Connection \d+ closed: idle for 0.2 s$")
        assert idle.recv(16) == b""
    assert server.stop() == 0


def test_serve_takes_the_buffer_size(serve, tmp_path):
    trace = tmp_path / "run.json"
    server = serve("--buffer-size", "4", "--trace", str(trace))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as client:
        client.sendall(b"hello, buffer")
        client.shutdown(socket.SHUT_WR)
        server.expect(r"^Read 13 bytes from socket\.")
        assert client.recv(16) == b""
    assert server.stop() == 0
    chunks = [ev.nbytes for ev in Trace.load(trace).of_kind("chunk")]
    assert sum(chunks) == 13 and max(chunks) == 4, chunks


@pytest.mark.parametrize("host, exposed", [
    ("0.0.0.0", "every network interface"), ("::", "every network interface"),
    ("192.0.2.7", "the network interface with address 192.0.2.7"),
    ("example.test", "whatever example.test names"),
])
def test_a_bind_beyond_loopback_is_named_in_a_warning(host, exposed):
    # Only the words are tested: tests never bind anything but loopback.
    warning = exposure_warning(host)
    assert warning is not None and exposed in warning and "--host 127.0.0.1" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_binds_need_no_warning(host):
    assert exposure_warning(host) is None


# -- unhandled means loud ----------------------------------------------------------

def reset_client(port):
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(b"half a mess")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST: the seed's EndReceive throws, and nothing catches it


def test_serve_seed_ends_loudly_on_an_unhandled_exception_as_dotnet_does(serve):
    server = serve()
    reset_client(server.port)
    assert server.proc.wait(WAIT) == 1
    err = server.proc.stderr.read()
    assert "Unhandled exception. System.Net.Sockets.SocketException (104): Connection reset by peer" in err
    assert "the server stops, as the .NET process would end" in err
    assert "exception escaped a callback" in err.splitlines()[-1]


def test_serve_unhandled_record_says_so_and_goes_on(serve):
    server = serve("--unhandled", "record")
    reset_client(server.port)
    send_plain(server.port, b"still here")
    server.expect("^ Data : still here$")
    assert server.stop() == 0
    err = server.proc.stderr.read()
    assert "Unhandled exception. System.Net.Sockets.SocketException (104)" in err
    assert "recorded; the server goes on" in err


def test_serve_takes_the_dotnet_profile(serve):
    server = serve("--dotnet", "modern")
    send_plain(server.port, b"modern times")
    server.expect("^ Data : modern times$")
    assert server.stop() == 0


class _Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, text):
        self.writes.append(text)
        return super().write(text)


@pytest.mark.parametrize("policy", ["stop", "record"])
def test_an_unhandled_report_is_one_write_of_whole_lines(monkeypatch, policy):
    # Pool threads report at once; a report in two writes (print writes its
    # end apart) lets another thread's text fall between its line and its end.
    stream = _Writes()
    monkeypatch.setattr(sys, "stderr", stream)
    _unhandled_printer(policy)("Unhandled exception. System.Net.Sockets.SocketException (104): reset")
    [report] = stream.writes
    assert report.startswith("Unhandled exception.") and report.endswith("\n") and report.count("\n") == 2


def test_serve_reports_many_unhandled_exceptions_in_whole_lines(serve):
    server = serve("--unhandled", "record", "--backlog", "64")
    threads = [threading.Thread(target=reset_client, args=(server.port,)) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    send_plain(server.port, b"still here")
    server.expect("^ Data : still here$")
    assert server.stop() == 0
    lines = server.proc.stderr.read().splitlines()
    reports = [line for line in lines if line.startswith("Unhandled exception.")]
    assert reports and all(line == "Unhandled exception. System.Net.Sockets.SocketException (104): "
                                   "Connection reset by peer" for line in reports), lines
    assert lines == [line for report in reports
                     for line in (report, "  sockdemo serve: recorded; the server goes on (--unhandled record)")]

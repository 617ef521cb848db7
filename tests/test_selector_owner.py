"""One owner per selector: only the engine thread calls it, and the suite passes on ``SelectSelector``.

No selector may be changed while another thread sits in ``select`` (on
``SelectSelector`` the change is never seen and the server hangs), and a file
descriptor number is reused as soon as it is closed, so a registration must
never outlive its socket's descriptor.
"""
from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import WAIT, Lab, send_message, wait_for, wait_until
from sockdemo.apm.errors import ObjectDisposedError, ThreadInterrupted
from sockdemo.real.runtime import SELECTOR_VARIABLE, RealRuntime, selector_from_environment
from sockdemo.servers.registry import server_class

ROOT = Path(__file__).resolve().parent.parent
# The modules that run real sockets, run again on SelectSelector.
REAL_SOCKET_MODULES = ["test_real_runtime.py", "test_seed_server.py", "test_fixed_server.py",
                       "test_echo_server.py", "test_faults.py", "test_handle.py", "test_clients.py",
                       "test_stress.py", "test_reset_event.py", "test_pool_rules.py", "test_selector_owner.py"]
SUBPROCESS_TIMEOUT = 180


def recording(base: type) -> type:
    """A subclass of selector class ``base`` that records every call: (method, thread, fd, fd open then)."""
    calls: list = []

    def record(method, fileobj=None):
        fd = fileobj if fileobj is None or isinstance(fileobj, int) else fileobj.fileno()
        calls.append((method, threading.current_thread().name, fd, fd is not None and _is_open(fd)))

    class Recording(base):
        def register(self, fileobj, events, data=None):
            record("register", fileobj)
            return super().register(fileobj, events, data)

        def modify(self, fileobj, events, data=None):
            record("modify", fileobj)
            return super().modify(fileobj, events, data)

        def unregister(self, fileobj):
            record("unregister", fileobj)
            return super().unregister(fileobj)

        def select(self, timeout=None):
            record("select")
            return super().select(timeout)

        def close(self):
            record("close")
            return super().close()

    Recording.calls = calls
    return Recording


def listen_until_stopped(server) -> None:
    try:
        server.start_listening()
    except ThreadInterrupted:
        pass


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


@pytest.fixture
def recorded_lab(lab):
    """``lab``'s factory, on a selector that records who calls it (``.calls``)."""
    def factory(base=selectors.SelectSelector, **options) -> Lab:
        selector = recording(base)
        lb = lab(selector=selector, **options)
        lb.calls = selector.calls
        return lb
    return factory


@pytest.mark.parametrize("base", [selectors.SelectSelector, selectors.DefaultSelector],
                         ids=["select", "default"])
def test_only_the_engine_ever_calls_the_selector(recorded_lab, base):
    lb = recorded_lab(base, pool=2)
    rt = lb.runtime
    server = server_class("seed")(rt, "127.0.0.1", 0, 10)
    main = threading.Thread(target=listen_until_stopped, args=(server,), name="main", daemon=True)
    main.start()
    wait_for(lb, lambda e: e.kind == "listen", "the seed server's listen")
    address = server.listener.local_endpoint
    for i in range(5):  # accepts begun on main, receives begun and sockets closed on pool threads
        send_message(address, b"message %d" % i)
    wait_for(lb, lambda e: e.kind == "message", "5 messages", count=5)
    _, handler, _ = lb.accept_pair(lb.listener())
    handler.begin_receive(bytearray(8), 0, 8, 0, None)  # pending, from this thread
    handler.close()
    rt.stop()  # closes the listener, watched, from this thread
    main.join(WAIT)
    methods = {method for method, *_ in lb.calls}
    assert {"register", "unregister", "select", "close"} <= methods, methods
    callers = {thread for _, thread, *_ in lb.calls}
    assert callers == {"engine"}, f"selector called from {sorted(callers - {'engine'})}"


def test_a_socket_closed_while_watched_is_unregistered_before_its_fd_is_closed(recorded_lab):
    lb = recorded_lab()
    _, handler, _ = lb.accept_pair()
    fd = handler._sock.fileno()
    ar = handler.begin_receive(bytearray(8), 0, 8, 0, None)
    wait_until(lambda: ("register", "engine", fd, True) in lb.calls, "the engine registering the receive")
    handler.close()
    with pytest.raises(ObjectDisposedError):
        handler.end_receive(ar)
    wait_until(lambda: handler._sock.fileno() == -1, "the engine closing the socket")
    unregisters = [call for call in lb.calls if call[0] == "unregister" and call[2] == fd]
    assert unregisters == [("unregister", "engine", fd, True)], "unregistered after its fd was closed"


def test_a_late_request_never_resurrects_a_closed_socket(recorded_lab):
    lb = recorded_lab()
    _, handler, _ = lb.accept_pair()
    _, witness, _ = lb.accept_pair()
    held, release = threading.Event(), threading.Event()

    def hold_the_engine(event):
        if event.kind == "ready" and event.thread == "engine" and not held.is_set():
            held.set()
            release.wait(WAIT)

    lb.runtime.tracer.subscribe(hold_the_engine)
    listener = lb.listener()
    listener.begin_accept(None)
    late_client = socket.create_connection(listener.local_endpoint, timeout=WAIT)
    try:
        assert held.wait(WAIT), "the engine never saw the late client"
        fd = handler._sock.fileno()
        handler.begin_receive(bytearray(8), 0, 8, 0, None)  # a request the held engine cannot take yet
        handler.close()  # never registered: closed at once, and its fd number is free again
        with socket.socket() as reuse:
            witness.begin_receive(bytearray(8), 0, 8, 0, None)  # served after the stale request
            release.set()
            witness_fd = witness._sock.fileno()
            wait_until(lambda: ("register", "engine", witness_fd, True) in lb.calls,
                       "the engine serving the requests queued while it was held")
            assert not [c for c in lb.calls if c[0] == "register" and c[2] == fd], \
                f"the closed socket's fd {fd} was registered (fd reused by {reuse.fileno()})"
    finally:
        release.set()
        late_client.close()


def test_stop_closes_sockets_the_engine_still_watches(recorded_lab):
    lb = recorded_lab()
    listener = lb.listener()
    listener.begin_accept(None)
    wait_until(lambda: any(c[0] == "register" and c[2] == listener._fd for c in lb.calls),
               "the engine watching the listener")
    lb.runtime.stop()
    assert listener._sock.fileno() == -1, "stop returned before the engine closed the listener"
    assert ("unregister", "engine", listener._fd, True) in lb.calls


# -- which selector ------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("select", "SelectSelector"), ("poll", "PollSelector"), ("epoll", "EpollSelector"), ("", "DefaultSelector")])
def test_the_environment_names_the_selector(monkeypatch, value, expected):
    if not hasattr(selectors, expected):
        pytest.skip(f"this platform has no selectors.{expected}")
    monkeypatch.setenv(SELECTOR_VARIABLE, value)
    assert selector_from_environment() is getattr(selectors, expected)


def test_without_the_variable_the_default_selector_is_used(monkeypatch):
    monkeypatch.delenv(SELECTOR_VARIABLE, raising=False)
    assert selector_from_environment() is selectors.DefaultSelector


@pytest.mark.parametrize("value", ["kqueue-ish", "SELECT", "select "])
def test_a_bad_selector_name_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(SELECTOR_VARIABLE, value)
    with pytest.raises(ValueError, match=f"{SELECTOR_VARIABLE}=.*use one of select, poll"):
        RealRuntime()


def test_a_runtime_uses_the_selector_it_is_given_over_the_environment(monkeypatch):
    monkeypatch.setenv(SELECTOR_VARIABLE, "poll")
    with RealRuntime(selector=selectors.SelectSelector) as rt:
        assert type(rt._selector) is selectors.SelectSelector
    with RealRuntime() as rt:
        assert type(rt._selector) is selectors.PollSelector


def test_a_selector_that_is_no_selector_class_is_refused():
    with pytest.raises(TypeError, match="BaseSelector subclass"):
        RealRuntime(selector=selectors.SelectSelector())


@pytest.mark.skipif(os.environ.get(SELECTOR_VARIABLE) == "select",
                    reason="already running on SelectSelector")
def test_the_real_socket_tests_pass_on_select_selector():
    env = dict(os.environ, **{SELECTOR_VARIABLE: "select"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               *(str(ROOT / "tests" / m) for m in REAL_SOCKET_MODULES)]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout or ""
        tail = (output.decode(errors="replace") if isinstance(output, bytes) else output)[-3000:]
        raise AssertionError(f"the suite on SelectSelector took over {SUBPROCESS_TIMEOUT} s "
                             f"(a hang?); its output ended:\n{tail}") from None
    assert done.returncode == 0, (f"the real-socket tests fail on SelectSelector:\n"
                                  f"{done.stdout[-4000:]}\n{done.stderr[-2000:]}")

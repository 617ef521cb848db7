"""IAsyncResult and the Begin/End contract (DESIGN item 6), on real sockets."""
import re
import threading

import pytest

from conftest import WAIT, wait_for
from sockdemo.apm.errors import InvalidOperationError, ObjectDisposedError

POOL = re.compile(r"pool-\d+")


def test_async_state_is_the_object_given_to_begin(lab):
    lb = lab(pool=2)
    listener = lb.listener()
    state = object()
    ar = listener.begin_accept(None, state)
    assert ar.async_state is state


def test_pending_operation_is_not_completed(lab):
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    assert not ar.is_completed
    assert not ar.async_wait_handle.is_set


def test_wait_handle_asked_for_before_completion_is_set_on_completion(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    handle = ar.async_wait_handle
    client.send(b"hi")
    assert handle.wait_one(WAIT), "the receive never completed"
    assert ar.is_completed
    assert handler.end_receive(ar) == 2


def test_wait_handle_asked_for_after_completion_is_already_set(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    called = threading.Event()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, lambda ar: called.set())
    client.send(b"hi")
    assert called.wait(WAIT), "the callback never ran"
    assert ar.is_completed
    assert ar.async_wait_handle.is_set
    assert ar.async_wait_handle.wait_one(0)


def test_completed_synchronously_is_false_by_default_and_callback_runs_on_the_pool(lab):
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    ran = []
    done = threading.Event()

    def callback(ar):
        ran.append((threading.current_thread().name, ar.completed_synchronously))
        done.set()

    ar = handler.begin_send(b"hello", 0, 5, 0, callback)  # an empty send buffer: done at once
    assert done.wait(WAIT), "the send callback never ran"
    assert not ar.completed_synchronously
    [(thread, sync)] = ran
    assert POOL.fullmatch(thread) and not sync


def test_modern_dotnet_runs_the_callback_of_an_immediate_completion_on_the_caller(lab):
    lb = lab(pool=2, dotnet="modern")
    _, handler, client = lb.accept_pair()
    ran = []
    ar = handler.begin_send(b"hello", 0, 5, 0,
                            lambda ar: ran.append((threading.current_thread(), ar.completed_synchronously)))
    # the callback already ran, inside begin_send, on this very thread
    assert ran == [(threading.current_thread(), True)]
    assert ar.completed_synchronously
    assert handler.end_send(ar) == 5
    assert client.sock.recv(16) == b"hello"


def test_modern_dotnet_recurses_when_data_is_already_there(lab):
    """The recursion lesson: each begin_receive inside the callback completes at
    once and calls the callback again, deeper on the same thread's stack."""
    lb = lab(pool=2, dotnet="modern")
    _, handler, client = lb.accept_pair()
    buffer = bytearray(1)
    seen = []
    depth = [0]
    done = threading.Event()

    def read_callback(ar):
        depth[0] += 1
        try:
            n = handler.end_receive(ar)
            seen.append((bytes(buffer[:n]), threading.current_thread().name, depth[0],
                         ar.completed_synchronously))
            if n and bytes(buffer[:n]) != b"c":
                handler.begin_receive(buffer, 0, 1, 0, read_callback)
            else:
                done.set()
        finally:
            depth[0] -= 1

    client.send(b"abc")  # one segment: once "a" is there, so are "b" and "c"
    handler.begin_receive(buffer, 0, 1, 0, read_callback)
    assert done.wait(WAIT), "the receives never reached the third byte"
    assert [s[0] for s in seen] == [b"a", b"b", b"c"]
    first_thread, first_depth = seen[0][1], seen[0][2]
    assert [s[1] for s in seen] == [first_thread] * 3
    assert [s[2] for s in seen] == [first_depth, first_depth + 1, first_depth + 2]
    assert seen[1][3] and seen[2][3]


def test_end_blocks_until_the_operation_completes(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    result = []
    ender = threading.Thread(target=lambda: result.append(handler.end_receive(ar)), name="ender")
    ender.start()
    # the ender is provably blocked: it announced its wait on this operation's handle
    wait_for(lb, lambda e: e.kind == "wait" and e.thread == "ender" and e["event"] == f"receive#{ar.id}",
             "end_receive waiting on the handle")
    assert result == []
    client.send(b"four")
    ender.join(WAIT)
    assert not ender.is_alive(), "end_receive did not return after the data came"
    assert result == [4]


def test_end_reraises_the_operations_error(lab):
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    handler.close()
    assert ar.async_wait_handle.wait_one(WAIT)
    with pytest.raises(ObjectDisposedError):
        handler.end_receive(ar)


def test_second_end_raises_invalid_operation(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    client.send(b"x")
    assert handler.end_receive(ar) == 1
    with pytest.raises(InvalidOperationError):
        handler.end_receive(ar)


def test_second_end_after_an_error_raises_invalid_operation(lab):
    lb = lab(pool=2)
    _, handler, _ = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    handler.close()
    with pytest.raises(ObjectDisposedError):
        handler.end_receive(ar)
    with pytest.raises(InvalidOperationError):
        handler.end_receive(ar)


def test_end_with_another_operations_result_raises_value_error(lab):
    lb = lab(pool=2)
    listener, handler, _ = lb.accept_pair()
    ar = listener.begin_accept(None, listener)
    with pytest.raises(ValueError):
        listener.end_receive(ar)


def test_end_with_another_sockets_result_raises_value_error(lab):
    lb = lab(pool=2)
    listener, handler, client = lb.accept_pair()
    ar = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    client.send(b"x")
    assert ar.async_wait_handle.wait_one(WAIT)
    with pytest.raises(ValueError):
        listener.end_receive(ar)
    assert handler.end_receive(ar) == 1  # the failed attempt did not use up the result


def test_end_is_traced_with_its_result_or_its_error(lab):
    lb = lab(pool=2)
    _, handler, client = lb.accept_pair()
    ok = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    client.send(b"abc")
    assert handler.end_receive(ok) == 3
    failed = handler.begin_receive(bytearray(16), 0, 16, 0, None)
    handler.close()
    with pytest.raises(ObjectDisposedError):
        handler.end_receive(failed)
    ends = {e["id"]: e for e in lb.trace.of_kind("end")}
    assert ends[ok.id].nbytes == 3 and "error" not in ends[ok.id].info
    assert ends[failed.id]["error"] == "ObjectDisposedError"

"""Servers that misbehave on purpose, for the lessons and the simulator's scenarios.

Mirrors two mistakes a .NET developer can make with the page's server: a
callback that blocks its pool thread (``Thread.Sleep`` in ``ReadCallback``)
and an accept callback that forgets ``allDone.Set()``.
"""
from __future__ import annotations

from ..apm.state_object import StateObject
from .seed import SeedServer

__all__ = ["SleepyServer", "ForgetfulServer", "LateResetServer"]


class SleepyServer(SeedServer):
    """Each ReadCallback blocks its pool thread for 2 s (``Thread.Sleep(2000)``)."""

    def read_callback(self, ar) -> None:
        self.runtime.sleep(2)
        super().read_callback(ar)


class ForgetfulServer(SeedServer):
    """The accept callback forgets ``allDone.Set()``: main waits forever."""

    def accept_callback(self, ar) -> None:
        listener = ar.async_state
        handler = listener.end_accept(ar)

        # (all_done.set() forgotten here)

        state = StateObject()
        state.work_socket = handler
        handler.begin_receive(state.buffer, 0, StateObject.BUFFER_SIZE, 0,
                              self.read_callback, state)


class LateResetServer(SeedServer):
    """The accept loop resets ``allDone`` *after* ``BeginAccept``, not before it.

    It looks harmless, and it usually works: the reset comes long before a
    client's accept callback can set the event. But if the callback runs first
    (a connection already waited in the backlog), its ``Set()`` is wiped out by
    the ``Reset()`` that follows, and main waits for a signal that already came
    and went: nobody else is ever accepted."""

    def accept_loop(self, listener) -> None:
        while True:
            self.console.write_line("Waiting for a connection...")
            listener.begin_accept(self.accept_callback, listener)

            self.all_done.reset()   # moved: the page resets before BeginAccept
            self.all_done.wait_one()

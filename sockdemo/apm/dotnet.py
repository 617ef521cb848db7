"""Which .NET the runtime behaves as: the page's .NET Framework, or .NET 6 and later.

The page documents the .NET Framework (Windows, I/O completion ports). Since
.NET 6 the same ``Begin*``/``End*`` methods are a thin shell over the
Task-based ones (``TaskToApm.Begin(ReceiveAsync(...))``), and a learner who
runs the page's C# today meets different facts. A runtime takes one of two
profiles, ``dotnet="framework"`` (the default: the page) or
``dotnet="modern"``, which switch exactly these behaviours:

=============================  ==================================  ====================================
behaviour                      framework (.NET Framework 4.x)      modern (.NET 6 and later, Linux)
=============================  ==================================  ====================================
an operation that can          its completion packet is still      the callback runs inline on the
complete at once (data there,  queued to the completion port: the  calling thread (main, for a
a connection queued)           callback runs on a pool thread,     ``BeginAccept`` with a queued
                               ``CompletedSynchronously`` false    connection);
                                                                   ``CompletedSynchronously`` true
an operation that completes    the OS performs it; a completion    the epoll thread only queues the
later                          -port thread runs the callback      readiness; a pool worker performs
                               (here: the engine performs it and   the ``recv`` and runs the callback
                               queues the callback)                (``ready`` in the trace)
receives that keep completing  cannot nest: every callback is      ``BeginReceive`` inside
at once                        queued                              ``ReadCallback`` nests until the
                                                                   stack overflows (dotnet/runtime
                                                                   #62417, #75660); reported as the
                                                                   ``StackOverflowException`` that
                                                                   ends a .NET process
``End*`` called twice          ``InvalidOperationException``       returns the result again
``End*`` of an operation the   ``ObjectDisposedException``         ``SocketException`` with
socket's close aborted                                             ``SocketErrorCode`` OperationAborted
                                                                   (.NET 7+; .NET 6 still threw
                                                                   ``ObjectDisposedException``)
=============================  ==================================  ====================================

Checked against the .NET Framework reference source (``_OverlappedAsyncResult.cs``:
"ignore cases in which a completion packet will be queued: we'll deal with this
IO in the callback", for ``Success`` as for ``IOPending``; ``Socket.EndReceive``'s
``net_io_invalidendcall``), dotnet/runtime (``TaskToApm.Begin``: a completed task
gets ``completedSynchronously: true`` and its callback at once;
``SocketAsyncContext.Unix.cs``: "when we receive an epoll notification for the
socket, we post a work item to the threadpool to perform the I/O and invoke the
callback") and the .NET 7 breaking-change note "Socket.End methods don't throw
ObjectDisposedException". .NET Core 1.0 to 5.0 sat in between (inline
completion with a guard that moved every 50th nested callback to the pool);
sockdemo does not model it.

Both profiles share the rest: an exception escaping a callback ends the
process; ``WaitOne(int)`` takes milliseconds (sockdemo's ``wait_one`` takes
seconds); the pool adds about one thread per 0.5 s while work waits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from .errors import ObjectDisposedError, OperationAbortedError

__all__ = ["DotNet", "FRAMEWORK", "MODERN", "PROFILES", "dotnet_profile"]


@dataclass(frozen=True)
class DotNet:
    name: str                      # "framework" or "modern"
    title: str                     # how a lesson names it
    inline_when_done_at_once: bool  # the callback of an operation done inside begin_* runs there
    workers_perform_io: bool       # later completions: the engine queues readiness, a worker does the I/O
    end_twice_returns: bool        # a second end_* returns the result again (else raises)
    aborted_by_close: Callable[[], BaseException]  # what end_* raises for an operation close() aborted


FRAMEWORK = DotNet("framework", ".NET Framework 4.x (the page)", inline_when_done_at_once=False,
                   workers_perform_io=False, end_twice_returns=False,
                   aborted_by_close=ObjectDisposedError)
MODERN = DotNet("modern", ".NET 6 and later", inline_when_done_at_once=True,
                workers_perform_io=True, end_twice_returns=True,
                aborted_by_close=OperationAbortedError)
PROFILES = {p.name: p for p in (FRAMEWORK, MODERN)}


def dotnet_profile(spec: Union[str, DotNet]) -> DotNet:
    """The profile named ``spec`` (``"framework"`` or ``"modern"``), or ``spec`` itself."""
    if isinstance(spec, DotNet):
        return spec
    try:
        return PROFILES[spec]
    except (KeyError, TypeError):
        raise ValueError(f"dotnet must be one of {', '.join(PROFILES)}, not {spec!r}") from None

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
a receive or send that can     its completion packet is still      the callback runs inline on the
complete at once (data there)  queued to the completion port: the  calling thread;
                               callback runs on a pool thread,     ``CompletedSynchronously`` true
                               ``CompletedSynchronously`` false
an accept that can complete    begun on a thread outside the pool  the same as a receive: inline,
at once (a connection queued)  (the page's main): the callback     ``CompletedSynchronously`` true
                               runs inline, ``CompletedSynch-
                               ronously`` true; begun on a pool
                               thread (``AcceptEx``): queued, as
                               a receive's
an operation that completes    a receive or send: the OS performs  the epoll thread only queues the
later                          it; a completion-port thread runs   readiness; a pool worker performs
                               the callback (here: the engine      the ``recv`` and runs the callback
                               performs it and queues the          (``ready`` in the trace)
                               callback). An accept begun off the
                               pool: the socket's accept event
                               wakes a pool worker, which performs
                               the ``accept()`` and runs the
                               callback (``ready`` in the trace)
receives that keep completing  cannot nest: every receive's        ``BeginReceive`` inside
at once                        callback is queued                  ``ReadCallback`` nests until the
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

Checked against the .NET Framework reference source (``_BaseOverlappedAsyncResult.cs``,
``CheckAsyncCallOverlappedResult``: "ignore cases in which a completion packet
will be queued: we'll deal with this IO in the callback", for ``Success`` as for
``IOPending``; ``Socket.cs``: ``CanUseAcceptEx`` is
``Thread.CurrentThread.IsThreadPoolThread`` (or a setting, off by default),
``DoBeginAccept`` "Completed synchronously, invoke the callback" and, when
``accept()`` would block, ``SetAsyncEventSelect(FdAccept)`` with
``RegisterWaitForSingleObject``, whose worker runs ``AcceptCallback``;
``_ContextAwareResult.cs``: a completion inside ``Begin*`` is held until
``FinishPostingAsyncOp`` and run there, on the caller; ``Socket.EndReceive``'s
``net_io_invalidendcall``), dotnet/runtime (``TaskToApm.Begin``: a completed task
gets ``completedSynchronously: true`` and its callback at once;
``SocketAsyncContext.Unix.cs``: "when we receive an epoll notification for the
socket, we post a work item to the threadpool to perform the I/O and invoke the
callback") and the .NET 7 breaking-change note "Socket.End methods don't throw
ObjectDisposedException". The Framework's ``LazyAsyncResult`` also moves the
50th callback nested inline on one thread to the pool; the page's server never
nests accepts, so sockdemo leaves that out, as it leaves out .NET Core 1.0 to
5.0, which sat in between (inline completion of receives too, with the same
guard).

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
    completion_port: bool          # operations go through an I/O completion port (else readiness)
    end_twice_returns: bool        # a second end_* returns the result again (else raises)
    aborted_by_close: Callable[[], BaseException]  # what end_* raises for an operation close() aborted

    def through_port(self, op: str, on_pool_thread: Callable[[], bool]) -> bool:
        """Whether an ``op`` begun now goes through the completion port (the
        engine performs it, its callback is queued, never inline) or the
        readiness path (done at once: the callback runs inline; later: a pool
        worker performs it and runs the callback). The Framework's
        ``BeginAccept`` uses ``AcceptEx`` only on a pool thread
        (``CanUseAcceptEx``); begun on any other thread, the page's main among
        them, ``DoBeginAccept`` tries a non-blocking ``accept()`` and otherwise
        waits for the socket's accept event on a pool worker."""
        return self.completion_port and (op != "accept" or on_pool_thread())


FRAMEWORK = DotNet("framework", ".NET Framework 4.x (the page)", completion_port=True,
                   end_twice_returns=False, aborted_by_close=ObjectDisposedError)
MODERN = DotNet("modern", ".NET 6 and later", completion_port=False,
                end_twice_returns=True, aborted_by_close=OperationAbortedError)
PROFILES = {p.name: p for p in (FRAMEWORK, MODERN)}


def dotnet_profile(spec: Union[str, DotNet]) -> DotNet:
    """The profile named ``spec`` (``"framework"`` or ``"modern"``), or ``spec`` itself."""
    if isinstance(spec, DotNet):
        return spec
    try:
        return PROFILES[spec]
    except (KeyError, TypeError):
        raise ValueError(f"dotnet must be one of {', '.join(PROFILES)}, not {spec!r}") from None

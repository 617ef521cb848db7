"""The exceptions of the APM world, spelled as Python errors.

=====================================  ==========================================
.NET                                   Python
=====================================  ==========================================
ObjectDisposedException                ObjectDisposedError (an OSError: EBADF)
InvalidOperationException              InvalidOperationError
ThreadInterruptedException             ThreadInterrupted (a BaseException, so the
                                       sample's ``catch (Exception e)`` does not
                                       swallow the stop of a server)
SocketException, OperationAborted      OperationAbortedError (an OSError:
(.NET 7+: an operation close aborted)  ECANCELED, as .NET reports it on Linux)
SocketException (a reset, any errno)   Python's own OSError subclasses
                                       (ConnectionResetError ...)
StackOverflowException                 Python's RecursionError, which the runtime
                                       reports as one, and StackOverflow (a
                                       BaseException, so no ``except Exception``
                                       catches it) where it passes on up
=====================================  ==========================================
"""
import errno
import os

__all__ = ["ObjectDisposedError", "InvalidOperationError", "OperationAbortedError", "StackOverflow",
           "ThreadInterrupted"]


class ObjectDisposedError(OSError):
    def __init__(self, what: str = "socket"):
        super().__init__(errno.EBADF, f"Cannot access a disposed object: the {what} was closed")


class InvalidOperationError(RuntimeError):
    pass


class OperationAbortedError(OSError):
    """.NET 7+'s ``SocketException`` for an operation the socket's close aborted
    (``SocketErrorCode == SocketError.OperationAborted``; errno ECANCELED on Linux)."""
    socket_error_code = "OperationAborted"

    def __init__(self):
        super().__init__(errno.ECANCELED, os.strerror(errno.ECANCELED))


class StackOverflow(BaseException):
    """.NET's ``StackOverflowException``: callbacks nested until the stack ran out.
    Nothing can catch it in .NET, so nothing in a server's ``except Exception``
    catches it here; the runtime stops once the stack has unwound."""


class ThreadInterrupted(BaseException):
    """Raised in a thread blocked in ``wait_one`` or ``sleep`` when its runtime stops."""

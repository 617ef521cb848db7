"""The exceptions of the APM world, spelled as Python errors.

.NET                              Python
--------------------------------  ------------------------------------------
ObjectDisposedException           ObjectDisposedError (an OSError: EBADF)
InvalidOperationException         InvalidOperationError
ThreadInterruptedException        ThreadInterrupted (a BaseException, so the
                                  sample's ``catch (Exception e)`` does not
                                  swallow the stop of a server)
SocketException (reset)           ConnectionResetError, Python's own
"""
import errno

__all__ = ["ObjectDisposedError", "InvalidOperationError", "ThreadInterrupted"]


class ObjectDisposedError(OSError):
    def __init__(self, what: str = "socket"):
        super().__init__(errno.EBADF, f"Cannot access a disposed object: the {what} was closed")


class InvalidOperationError(RuntimeError):
    pass


class ThreadInterrupted(BaseException):
    """Raised in a thread blocked in ``wait_one`` or ``sleep`` when its runtime stops."""

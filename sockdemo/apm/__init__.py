"""What a server sees: the .NET asynchronous programming model (APM), in Python.

``Socket`` (``begin_*``/``end_*``), ``AsyncResult``, ``ManualResetEvent``,
``StateObject``/``StringBuilder``, ``Encoding.ASCII``, ``Console``, the
exceptions, and the ``Runtime`` interface a world (``real`` or ``sim``)
implements. Only re-exports.
"""
from .asyncresult import AsyncResult
from .console import Console
from .encoding import ascii_get_bytes, ascii_get_string
from .errors import InvalidOperationError, ObjectDisposedError, ThreadInterrupted
from .reset_event import ManualResetEvent
from .runtime import Runtime, Timer
from .socket import SHUT_RD, SHUT_RDWR, SHUT_WR, Socket, address_family, format_endpoint
from .state_object import BUFFER_SIZE, StateObject, StringBuilder

__all__ = [
    "AsyncResult", "BUFFER_SIZE", "Console", "InvalidOperationError", "ManualResetEvent",
    "ObjectDisposedError", "Runtime", "SHUT_RD", "SHUT_RDWR", "SHUT_WR", "Socket", "StateObject",
    "StringBuilder", "ThreadInterrupted", "Timer", "address_family", "ascii_get_bytes",
    "ascii_get_string", "format_endpoint",
]

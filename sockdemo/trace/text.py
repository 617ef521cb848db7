"""Text both the servers and the views need: errors, endpoints, callback names, byte previews.

Mirrors three small pieces of .NET: ``Exception.ToString``'s first words
(``describe_error``), ``IPEndPoint.ToString`` (``format_endpoint``) and the
callback names the page uses (``AcceptCallback``). They live beside the trace
because a server writes them into events and a view reads them back, and the
servers and views may both import the trace layer, but not each other.
"""
from __future__ import annotations

import functools
import os

__all__ = ["describe_error", "dotted_name", "dotnet_name", "dotnet_unhandled", "format_endpoint",
           "callback_name", "preview", "printable", "PREVIEW_BYTES"]

PREVIEW_BYTES = 64  # how much of each chunk a trace keeps, for the stepper


def dotted_name(cls: type) -> str:
    """``sockdemo.servers.seed.SeedServer``: where a class can be imported from again."""
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_error(exc: BaseException) -> str:
    """``ConnectionResetError: [Errno 104] Connection reset by peer``."""
    return f"{type(exc).__name__}: {exc}"


def format_endpoint(endpoint) -> str:
    """``IPEndPoint.ToString()``: ``127.0.0.1:11000`` or ``[::1]:11000``."""
    host, port = endpoint[0], endpoint[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def preview(data, offset: int = 0, count: int = PREVIEW_BYTES) -> str:
    """The first bytes of a chunk as trace text: ASCII, other bytes as ``\\xNN``."""
    return bytes(data[offset:offset + min(count, PREVIEW_BYTES)]).decode("ascii", "backslashreplace")


def callback_name(callback) -> str:
    """``accept_callback`` -> ``AcceptCallback``, the name the page uses
    (given the function, or its name as a trace keeps it)."""
    return _pascal_case(callback if isinstance(callback, str)
                        else getattr(callback, "__name__", "callback"))


@functools.lru_cache(maxsize=256)
def _pascal_case(name: str) -> str:
    name = name.strip("<>_")
    return "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Callback"


# Control characters a terminal acts on, and Unicode's invisible reorderers
# ("Trojan Source"): shown as escapes, so a client cannot forge console lines.
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_ESCAPES.update({chr(c): f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))
                 if chr(c) not in _ESCAPES})
_ESCAPES.update({chr(c): f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F),
                                                   *range(0x2066, 0x206A))})
_PRINTABLE = str.maketrans(_ESCAPES)


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``), backslashes doubled."""
    return text.translate(_PRINTABLE)


def dotnet_unhandled(exc: BaseException) -> str:
    """The line .NET 6+ writes to stderr when ``exc`` escapes a callback and ends
    the process: ``Unhandled exception. System.Net.Sockets.SocketException (104):
    Connection reset by peer``. A Python error with no .NET twin keeps its name."""
    if isinstance(exc, RecursionError):
        return "Stack overflow."   # .NET prints this, then the repeated frames, and aborts
    return f"Unhandled exception. {dotnet_name(exc)}"


def dotnet_name(exc: BaseException) -> str:
    """``exc`` as .NET would name it: its type, (for a socket error) its code, its message."""
    name = type(exc).__name__
    if name == "ObjectDisposedError":
        return ("System.ObjectDisposedException: Cannot access a disposed object. "
                "Object name: 'System.Net.Sockets.Socket'.")
    if name == "InvalidOperationError":
        return f"System.InvalidOperationException: {exc}"
    if isinstance(exc, OSError) and exc.errno is not None:
        # On Linux, .NET shows the native errno and the C library's text for it.
        return f"System.Net.Sockets.SocketException ({exc.errno}): {exc.strerror or os.strerror(exc.errno)}"
    return describe_error(exc)

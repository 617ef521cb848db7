"""The server modes, named once: ``seed`` (the page), ``fixed`` and ``echo``.

Mirrors nothing in .NET; it is the one list the command line (``--mode``),
the background handle (``start_server(mode)``) and the simulator's scenarios
(``Scenario(mode=...)``) all read, so a new mode is added in one place.
"""
from __future__ import annotations

from .echo import EchoServer
from .fixed import FixedServer
from .seed import SeedServer

__all__ = ["SERVERS", "server_class"]

SERVERS: dict[str, type] = {"seed": SeedServer, "fixed": FixedServer, "echo": EchoServer}


def server_class(mode) -> type:
    """The server class of ``mode`` (a name from ``SERVERS``, or a class, returned as is)."""
    if isinstance(mode, type):
        return mode
    try:
        return SERVERS[mode]
    except (KeyError, TypeError):
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(SERVERS)}") from None

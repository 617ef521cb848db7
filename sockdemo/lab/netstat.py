"""What the Linux kernel counts when a listen backlog overflows: ``ListenOverflows``.

Mirrors nothing in .NET; it is the other half of the page's "server busy". A
full backlog is not an error the server ever sees: the kernel drops (or, with
``tcp_abort_on_overflow``, resets) the client's handshake, and counts it in
``/proc/net/netstat`` (TcpExt ``ListenOverflows`` and ``ListenDrops``), which
``nstat`` and ``netstat -s`` show. The counters are the machine's, not the
server's: read them just before and just after a run, on a quiet machine.

    before = listen_overflows()
    ...a class connects at once...
    overflowed = listen_overflows() - before
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["tcp_counters", "listen_overflows"]

NETSTAT = Path("/proc/net/netstat")


def tcp_counters() -> dict[str, int]:
    """The kernel's TcpExt counters (empty where there is no /proc/net/netstat)."""
    try:
        lines = NETSTAT.read_text().splitlines()
    except OSError:
        return {}
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            return {name: int(value) for name, value in zip(names.split()[1:], values.split()[1:])}
    return {}


def listen_overflows() -> Optional[int]:
    """How many handshakes all listen backlogs of this machine have overflowed
    since it booted (None where the kernel does not say)."""
    return tcp_counters().get("ListenOverflows")

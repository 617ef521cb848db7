"""Which CPU a thread runs on: kept on one, on Linux.

Mirrors ``Process.ProcessorAffinity`` (and the Win32 thread affinity under
it), which a .NET server may set and the page's never does: here it is the
lab's own choice for its worlds. Python runs one thread's code at a time, so
threads that mostly hand work to each other (a callback server's, the
simulator's baton) gain little from a second CPU, and every hand-over
between two CPUs costs a cross-CPU wake-up and a cold cache. Where the
system has no affinity (Windows, macOS) or forbids it (some sandboxes),
nothing changes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

__all__ = ["run_on_one_cpu", "current_cpu", "Cpu"]

Cpu = Union[int, str, None]          # a CPU number, "all", or None: the one it runs on


def run_on_one_cpu(choice: Cpu) -> Optional[set]:
    """Keep this thread, and the threads it starts, on one CPU (``choice``, or
    the one it runs on now); return the CPUs it had, or None if unchanged."""
    if choice == "all" or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    cpu = choice if choice is not None else current_cpu()
    try:
        os.sched_setaffinity(0, {cpu if cpu in allowed else min(allowed)})
    except OSError:  # a sandbox may forbid it: the thread runs as it is
        return None
    return allowed


def current_cpu() -> Optional[int]:
    """The CPU this thread runs on (Linux: field 39 of /proc/thread-self/stat)."""
    try:
        stat = Path("/proc/thread-self/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[36])
    except (OSError, ValueError, IndexError):
        return None

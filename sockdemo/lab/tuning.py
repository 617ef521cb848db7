"""How ``serve`` tunes the interpreter for a server process, and puts it back.

Mirrors nothing in .NET (a .NET server is a process of its own with the
runtime's defaults for one). ``python -m sockdemo serve`` is such a process,
so it may set Python up for a callback server; notebooks keep Python's
defaults. Figures: ``benchmarks/bench_servers.py``, README "Speed".

- A pool thread back from a socket call waits for the GIL up to the switch
  interval while another thread runs Python (5 ms by default), which is most
  of a callback server's latency: ``serve`` uses 0.5 ms.
- A traced server keeps every event, and with the default thresholds the
  garbage collector walks that whole trace again each time it has grown by a
  quarter. Collecting young objects every 10,000 allocations, not 700, makes
  those full passes rare.
- One CPU: the GIL runs one thread's Python at a time, so a second CPU gains
  this server little, while every GIL hand-off between threads on two CPUs
  costs a cross-CPU wake-up; those were a fifth of its CPU time.
"""
from __future__ import annotations

import contextlib
import gc
import os
import sys
from pathlib import Path
from typing import Iterator, Optional, Union

__all__ = ["server_process", "run_on_one_cpu", "current_cpu",
           "SERVE_SWITCH_INTERVAL", "SERVE_GC_THRESHOLDS"]

SERVE_SWITCH_INTERVAL = 0.0005       # seconds
SERVE_GC_THRESHOLDS = (10_000, 10, 10)

Cpu = Union[int, str, None]          # a CPU number, "all", or None: the one it runs on


@contextlib.contextmanager
def server_process(cpu: Cpu = None) -> Iterator[None]:
    """Tune this process for a server while the block runs, then restore it all."""
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    cpus = run_on_one_cpu(cpu)
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL)
    gc.set_threshold(*SERVE_GC_THRESHOLDS)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # it was allowed a moment ago


def run_on_one_cpu(choice: Cpu) -> Optional[set]:
    """Keep this thread, and the threads it starts, on one CPU (``choice``, or
    the one it runs on now); return the CPUs it had, or None if unchanged."""
    if choice == "all" or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    cpu = choice if choice is not None else current_cpu()
    try:
        os.sched_setaffinity(0, {cpu if cpu in allowed else min(allowed)})
    except OSError:  # a sandbox may forbid it: the server runs as it is
        return None
    return allowed


def current_cpu() -> Optional[int]:
    """The CPU this thread runs on (Linux: field 39 of /proc/thread-self/stat)."""
    try:
        stat = Path("/proc/thread-self/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[36])
    except (OSError, ValueError, IndexError):
        return None

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
- One CPU (``apm.affinity``): the GIL runs one thread's Python at a time, so
  a second CPU gains this server little, while every GIL hand-off between
  threads on two CPUs costs a cross-CPU wake-up; those were a fifth of its
  CPU time.
"""
from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import Iterator

from ..apm.affinity import Cpu, run_on_one_cpu

__all__ = ["server_process", "SERVE_SWITCH_INTERVAL", "SERVE_GC_THRESHOLDS"]

SERVE_SWITCH_INTERVAL = 0.0005       # seconds
SERVE_GC_THRESHOLDS = (10_000, 10, 10)


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

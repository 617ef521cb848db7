"""The order of the lanes: which thread is drawn where, in every view and in the trace file.

Mirrors nothing in .NET; it is the one convention the plots, the stepper, the
command line and the Chrome trace (``thread_sort_index``) share, so a thread
sits on the same row in every picture: ``main``, ``engine``, ``pool-1`` ...
``pool-N`` in number order, any other thread, then the clients.
"""
from __future__ import annotations

import re
from typing import Iterable

__all__ = ["lane_order"]

NUMBERED = re.compile(r"(pool|client)-(\d+)")
_LANE_RANKS = {"main": 0, "engine": 1, "pool": 2, "client": 4}


def lane_order(names: Iterable[str]) -> list[str]:
    """Thread names as lanes, top to bottom: ``main``, ``engine``, ``pool-1`` …
    ``pool-N`` in number order (``pool-10`` after ``pool-2``), then any other
    thread, then ``client-1`` …; ties keep the order of first appearance."""
    def key(item):
        first, name = item
        m = NUMBERED.fullmatch(name)
        if m:
            return (_LANE_RANKS[m.group(1)], int(m.group(2)), first)
        return (_LANE_RANKS.get(name, 3), 0, first)
    return [name for _, name in sorted(enumerate(dict.fromkeys(names)), key=key)]

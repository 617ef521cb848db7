"""``Console``: where the sample's ``Console.WriteLine`` goes.

Mirrors System.Console's output side. Each line is traced as a ``console``
event, handed to an optional sink (stdout for the command line, a live
output area in a notebook) and kept in a bounded history (``lines``: the last
``history`` lines, 10,000 by default, after a marker saying how many earlier
ones were dropped; ``history=0`` keeps none, as a long-running ``serve``
should). ``WriteLine`` is a scheduling point: it first calls the
``checkpoint`` it was given, its runtime's (the asyncio twin, which has no
runtime, gives none).
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable, Optional

from ..trace import kinds

__all__ = ["Console", "HISTORY"]

HISTORY = 10_000


class Console:
    def __init__(self, tracer, sink: Optional[Callable[[str], None]] = None,
                 checkpoint: Optional[Callable[..., None]] = None, history: int = HISTORY):
        if history < 0:
            raise ValueError(f"history must be 0 or more lines, not {history}")
        self._tracer = tracer
        self._checkpoint = checkpoint or _no_checkpoint
        self.sink = sink
        self.history = history
        self.dropped = 0             # lines no longer kept
        self._kept: deque = deque(maxlen=history)
        self._lock = threading.Lock()

    def write_line(self, text: str = "") -> None:
        text = str(text)
        self._checkpoint(kinds.CONSOLE, text)
        self._tracer.emit(kinds.CONSOLE, text=text)
        with self._lock:  # keep the history and the sink in the same order
            if len(self._kept) == self.history:
                self.dropped += 1
            if self.history:
                self._kept.append(text)
            if self.sink is not None:
                self.sink(text)

    @property
    def lines(self) -> list[str]:
        """The lines kept, after a marker line if earlier ones were dropped."""
        with self._lock:
            kept = list(self._kept)
        if not self.dropped:
            return kept
        return [f"... {self.dropped} earlier lines dropped (the console keeps the last {self.history}) ...",
                *kept]

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def _no_checkpoint(kind: str = "", detail=None, conn=None) -> None:
    pass

"""``Console``: where the sample's ``Console.WriteLine`` goes.

Mirrors System.Console's output side. Every line is kept (``lines``), traced as
a ``console`` event and handed to an optional sink (stdout for the command
line, a live output area in a notebook). ``WriteLine`` is a scheduling point:
it first calls the ``checkpoint`` it was given, its runtime's (the asyncio
twin, which has no runtime, gives none).
"""
from __future__ import annotations

import threading
from typing import Callable, Optional
from ..trace import kinds

__all__ = ["Console"]


class Console:
    def __init__(self, tracer, sink: Optional[Callable[[str], None]] = None,
                 checkpoint: Optional[Callable[[], None]] = None):
        self._tracer = tracer
        self._checkpoint = checkpoint or _no_checkpoint
        self.sink = sink
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write_line(self, text: str = "") -> None:
        self._checkpoint()
        text = str(text)
        self._tracer.emit(kinds.CONSOLE, text=text)
        with self._lock:  # keep lines and sink in the same order
            self.lines.append(text)
            if self.sink is not None:
                self.sink(text)

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def _no_checkpoint() -> None:
    pass

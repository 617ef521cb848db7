"""Which ``callback_end`` closes which ``callback_start``: one rule for every view.

Mirrors a profiler's call stack, one per thread. A pool thread enters a
callback, and may enter another inside it: an operation that completes at
once, on .NET 6+ (``dotnet="modern"``), runs its callback on the caller's stack (the
page's ``CompletedSynchronously`` case), so one thread's callbacks nest. The
rule: a ``callback_end`` closes the innermost open callback of *its* thread
with the *same* ``id``; an end that matches none closes nothing (the trace
began after its start). A start that no end closes was still running where
the trace stops; an end with ``cut: True`` was written by the runtime when the
run stopped while the callback was running.

``pop_callback`` is the rule on one thread's stack, an immutable tuple, so
the stepper can keep each step's stacks without copying them;
``pair_callbacks`` applies it to a whole trace (the Chrome export, the lanes).
"""
from __future__ import annotations

from typing import Any, Iterable, NamedTuple, Optional

from . import kinds
from .events import Event

__all__ = ["Callback", "pop_callback", "pair_callbacks", "is_cut"]


def is_cut(end: Optional[Event]) -> bool:
    """True for a ``callback_end`` the runtime wrote because the run stopped inside it."""
    return end is not None and end.info.get("cut") is True


def pop_callback(frames: tuple, end: Event) -> tuple[tuple, Optional[Any]]:
    """``(frames without the one `end` closes, that frame)``, or ``(frames, None)``.

    ``frames`` is one thread's open callbacks, outermost first; each has an ``id``
    (the operation id its ``callback_start`` carried)."""
    wanted = end.info.get("id")
    for i in range(len(frames) - 1, -1, -1):
        if frames[i].id == wanted:
            return frames[:i] + frames[i + 1:], frames[i]
    return frames, None


class Callback(NamedTuple):
    """One callback run: its start, its end (None: still running where the trace
    stops) and how many callbacks of its thread it ran inside (0: on a fresh stack)."""
    start: Event
    end: Optional[Event]
    depth: int

    @property
    def thread(self) -> str:
        return self.start.thread

    @property
    def name(self) -> str:
        return str(self.start.info.get("name", "callback"))

    @property
    def id(self):
        return self.start.info.get("id")

    @property
    def cut(self) -> bool:
        """The run stopped while this callback was running."""
        return is_cut(self.end)


class _Open(NamedTuple):
    id: Any
    index: int       # its place in pair_callbacks' answer


def pair_callbacks(events: Iterable[Event]) -> list[Callback]:
    """Every callback run of ``events``, in the order the runs started."""
    runs: list[Callback] = []
    stacks: dict[str, tuple] = {}
    for ev in events:
        if ev.kind == kinds.CALLBACK_START:
            frames = stacks.get(ev.thread, ())
            stacks[ev.thread] = frames + (_Open(ev.info.get("id"), len(runs)),)
            runs.append(Callback(ev, None, len(frames)))
        elif ev.kind == kinds.CALLBACK_END:
            stacks[ev.thread], frame = pop_callback(stacks.get(ev.thread, ()), ev)
            if frame is not None:
                runs[frame.index] = runs[frame.index]._replace(end=ev)
    return runs

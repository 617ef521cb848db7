"""``StateObject`` and ``StringBuilder``: what a connection carries between callbacks.

Mirrors the page's ``StateObject`` (``workSocket``, a 1024-byte ``buffer``, a
``StringBuilder sb``) and the little of System.Text.StringBuilder it uses.
The object travels as ``async_state`` from one ``begin_receive`` to the next
callback: that is how an APM server remembers anything.
"""
from __future__ import annotations

__all__ = ["StateObject", "StringBuilder", "BUFFER_SIZE"]

BUFFER_SIZE = 1024


class StringBuilder:
    def __init__(self):
        self._parts: list[str] = []
        self._length = 0

    def append(self, text: str) -> "StringBuilder":
        self._parts.append(text)
        self._length += len(text)
        return self

    def __len__(self) -> int:
        """``sb.Length``: characters, not bytes."""
        return self._length

    def find(self, value: str, start: int = 0) -> int:
        """``str.find`` on the text from ``start`` on, reading only the parts
        that hold it: looking at what a receive added costs that, not a copy
        of everything (System.Text.StringBuilder has no IndexOf; this is the lab's)."""
        offset, first = self._length, len(self._parts)
        while first and offset > start:
            first -= 1
            offset -= len(self._parts[first])
        found = "".join(self._parts[first:]).find(value, start - offset)
        return -1 if found < 0 else offset + found

    def to_string(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    __str__ = to_string


class StateObject:
    BUFFER_SIZE = BUFFER_SIZE

    def __init__(self, work_socket=None, buffer_size: int = BUFFER_SIZE):
        self.work_socket = work_socket
        # The page's size is a constant; a lesson may shrink it for one server.
        self.BUFFER_SIZE = buffer_size
        self.buffer = bytearray(buffer_size)
        self.sb = StringBuilder()

    def __repr__(self) -> str:
        return f"<StateObject conn={getattr(self.work_socket, 'conn', None)} text={len(self.sb)} chars>"

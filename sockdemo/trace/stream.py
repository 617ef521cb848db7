"""``TraceStream``: a trace written to its file as the run goes, for servers that run for days.

Mirrors no .NET type; it is what ``serve --trace FILE`` records with. A
``Trace`` keeps every event in memory, which a notebook's run can afford and
a long-running server cannot. A ``TraceStream`` is a recorder too (the tracer
appends each event to its ``_records`` as a plain tuple), but a writer thread
takes the records every ``flush_every`` seconds and appends them to the file
as Chrome trace entries, in the Chrome format's array form: ``[`` and one
entry a line. So memory stays flat however long the server runs, and a
process killed in the middle (even by SIGKILL) leaves a file that Perfetto
opens and ``Trace.load`` reads (the format allows the closing ``]`` to be
missing). ``close()`` writes what is left and the ``]``.

Memory stays flat only if the writer keeps up. When ``max_pending`` records
wait for it, an emitter waits for the writer to take them (it wakes the
writer at once), and every other emitter with it: the server slows to the
pace of its disk instead of growing without bound. A writer that takes
nothing for ``stall_timeout`` seconds is stuck (a full disk, a hung file
system): then the stream records nothing more (``truncated_at`` says from
which event) and the server goes on.

The entries are written by ``chrome.Entries``, the code that writes a saved
``Trace``; the two files differ only in the array form's missing envelope.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

from . import chrome
from .recording import to_event
from .text import dotted_name

__all__ = ["TraceStream", "FLUSH_EVERY"]

FLUSH_EVERY = 0.2   # seconds between the writer's visits: the most a killed process loses
MAX_PENDING = 100_000  # records waiting for the writer (tens of MB) before emitters wait
STALL_TIMEOUT = 10.0   # seconds an emitter waits for a writer that takes nothing


class TraceStream:
    def __init__(self, path, flush_every: float = FLUSH_EVERY, meta: Optional[dict] = None,
                 max_pending: int = MAX_PENDING, stall_timeout: float = STALL_TIMEOUT):
        """Open ``path`` for writing (now: a bad path fails before the run starts)."""
        self.path = path
        self.flush_every = flush_every
        self.meta: dict = dict(meta or {})
        self.events = 0                 # written so far
        self.truncated_at: Optional[int] = None   # the first event not recorded (a stuck writer)
        self._records: list = []        # what the tracer appends (see Tracer.subscribe)
        self._room = max_pending        # the tracer calls _make_room at this many records
        self.stall_timeout = stall_timeout
        self._behind = threading.Event()   # an emitter waits for room: write now
        self._taken = threading.Event()    # the writer took records: look for room again
        self._file = open(path, "w", encoding="utf-8", newline="\n")
        self._entries: Optional[chrome.Entries] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()   # the writer thread and close() write in turn
        self.closed = False

    def name_server(self, server_class: type) -> None:
        """Record which server class produced this run (before ``start``)."""
        self.meta["server"] = dotted_name(server_class)

    def start(self) -> "TraceStream":
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
        self._thread.start()
        return self

    def _head(self) -> None:  # holds the lock
        """The file's first lines, with ``meta`` as it is by the first event
        (a handle names its server before it subscribes the stream)."""
        if self._entries is None:
            self._entries = chrome.Entries(self.meta)
            self._file.write("[\n" + ",\n".join(chrome.dumps_entry(e) for e in self._entries.head()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._behind.wait(self.flush_every)
            self._behind.clear()
            self._write_taken()

    def _make_room(self) -> bool:
        """The tracer found ``max_pending`` records waiting: wait (holding every
        emitter) until the writer took some, or give up on a stuck one."""
        deadline = time.monotonic() + self.stall_timeout
        while len(self._records) >= self._room:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._taken.clear()
            self._behind.set()
            self._taken.wait(left)
        return True

    def _truncated(self, seq: int) -> None:
        """The tracer's word that the stream records nothing from ``seq`` on."""
        self.truncated_at = seq

    def _write_taken(self) -> None:
        with self._lock:
            records = self._records
            n = len(records)
            if not n or self.closed:
                return
            self._head()
            batch = records[:n]
            del records[:n]   # the tracer only ever appends at the end: these n are ours
            self._taken.set()
            lines = [chrome.dumps_entry(entry) for record in batch
                     for entry in self._entries.of(to_event(record))]
            if lines:
                self._file.write(",\n" + ",\n".join(lines))
                self._file.flush()
            self.events += n

    def close(self) -> None:
        """Write the rest and close the file with its ``]``; idempotent."""
        if self.closed:
            return
        self._stop.set()
        self._behind.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._write_taken()
        with self._lock:
            self._head()
            self.closed = True
            self._file.write("\n]\n")
            self._file.close()

"""``TraceStream``: a trace written to its file as the run goes, for servers that run for days.

Mirrors no .NET type; it is what ``serve --trace FILE`` records with. A
``Trace`` keeps every event in memory, which a notebook's run can afford and
a long-running server cannot. A ``TraceStream`` is a recorder too (the tracer
hands it its records in batches), but a thread takes the batches every
``flush_every`` seconds and sends them, marshalled, through a pipe to a
*writer process*, which appends them to the file as Chrome trace
entries, in the Chrome format's array form: ``[`` and one entry a line.

Why a process: turning an event into JSON costs several times what recording
it does, and in the server's process that work would hold the GIL the
server's threads need; marshalling a batch is one C call. The writer runs on
the CPUs the server leaves free (``serve`` keeps the server on one).

So memory stays flat however long the server runs, and a server killed in
the middle (even by SIGKILL) leaves a file that Perfetto opens and
``Trace.load`` reads (the format allows the closing ``]`` to be missing): the
writer sees its pipe end, writes what reached it and stops. ``close()``
writes what is left and the ``]``, and waits for the writer.

The entries are written by ``chrome.Entries``, the code that writes a saved
``Trace``; the two files differ only in the array form's missing envelope.

    python -m sockdemo.trace.stream < frames > FILE

is the writer. Its input is a sequence of frames, each a 4-byte length and
that many bytes of marshal data: the trace's ``meta`` (a dict) first, then
batches ``(first seq, clock origin, recording.pack(records))`` as the tracer
handed them over (``Tracer.subscribe``), then ``None`` for the end.
"""
from __future__ import annotations

import fcntl
import gc
import marshal
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

from . import chrome
from .recording import events_of, pack, unpack
from .text import dotted_name

__all__ = ["TraceStream", "FLUSH_EVERY"]

FLUSH_EVERY = 0.2   # seconds between the taker's visits: the most a killed process loses
CLOSE_TIMEOUT = 120.0   # seconds the writer may take to write what is left at close
PIPE_SIZE = 2**20       # bytes the pipe to the writer holds (Linux; else the system's default)
# The folder holding the sockdemo package, so the writer imports this very copy.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_LENGTH = struct.Struct("<I")   # a frame's length, before its bytes


class TraceStream:
    def __init__(self, path, flush_every: float = FLUSH_EVERY, meta: Optional[dict] = None):
        """Open ``path`` for writing (now: a bad path fails before the run starts)."""
        self.path = path
        self.flush_every = flush_every
        self.meta: dict = dict(meta or {})
        self.events = 0                 # handed over so far
        self._batches: list = []        # frames of the batches handed over, not yet sent
        self._source = None             # the tracer it is subscribed to, set by the tracer
        self._file = open(path, "wb")
        self._writer: Optional[subprocess.Popen] = None
        self._headed = False
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()   # the taker thread and close() send in turn
        self.closed = False

    def name_server(self, server_class: type) -> None:
        """Record which server class produced this run (before ``start``)."""
        self.meta["server"] = dotted_name(server_class)

    def start(self) -> "TraceStream":
        """Start the writer process, with the file as its output, and the taker thread."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
        try:
            self._writer = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                            stdout=self._file, env=env)
        finally:
            self._file.close()   # the writer's now (or nobody's)
        if hasattr(fcntl, "F_SETPIPE_SZ"):   # room for a burst, so the sender seldom waits for the writer
            try:
                fcntl.fcntl(self._writer.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass   # over this system's limit for a pipe: the default will do
        self._thread = threading.Thread(target=self._run, name="trace-writer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.flush_every):
            self._send_taken()

    def _send(self, *frames: bytes) -> None:  # holds the lock
        """Write frames to the writer in one go: a visit costs one system call
        (and one wait for the GIL after it), not one a batch."""
        try:
            self._writer.stdin.write(b"".join(_LENGTH.pack(len(data)) + data for data in frames))
            self._writer.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass   # the writer died (it said why on stderr): the run goes on untraced

    def _receive(self, first: int, records: list, t0) -> bool:
        """The tracer's hand-over (see Tracer.subscribe): packed at once, so a
        writer that is behind costs a few dozen bytes an event, and kept for the
        next send."""
        self._batches.append(marshal.dumps((first, t0, pack(records))))
        self.events += len(records)
        return True

    def _send_taken(self) -> None:
        source = self._source
        if source is not None:
            source._hand_over()
        with self._lock:
            batches = self._batches
            n = len(batches)
            if not n or self.closed:
                return
            taken = batches[:n]
            del batches[:n]   # a hand-over only ever appends at the end: these n are ours
            if not self._headed:   # meta as it is by the first event (a handle names its server first)
                self._headed = True
                taken.insert(0, marshal.dumps(self.meta))
            self._send(*taken)

    def close(self) -> None:
        """Write the rest and close the file with its ``]``; idempotent."""
        if self.closed:
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._send_taken()
        with self._lock:
            self.closed = True
            if self._writer is None:   # never started: the file is still ours
                self._file.close()
                return
            if not self._headed:
                self._send(marshal.dumps(self.meta))
            self._send(marshal.dumps(None))
            try:
                self._writer.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self._writer.wait(CLOSE_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._writer.kill()
            self._writer.wait()
            raise RuntimeError(f"the trace writer did not finish {self.path} within {CLOSE_TIMEOUT} s") from None


def write_frames(source, out) -> None:
    """The writer's loop: marshalled frames from ``source`` (binary) to Chrome entries on ``out`` (text)."""
    entries = None
    while True:
        head = source.read(_LENGTH.size)
        data = source.read(_LENGTH.unpack(head)[0]) if len(head) == _LENGTH.size else b""
        try:
            frame = marshal.loads(data)
        except (EOFError, ValueError):   # the server ended without closing: leave the array open
            break
        if isinstance(frame, dict):
            entries = chrome.Entries(frame)
            out.write("[\n" + ",\n".join(chrome.dumps_entry(e) for e in entries.head()))
        elif frame is None:
            out.write("\n]\n")
            break
        else:
            first, t0, packed = frame
            lines = [line for ev in events_of(first, t0, unpack(packed)) for line in entries.of(ev)]
            if lines:
                out.write(",\n" + ",\n".join(lines))
        out.flush()


def _writer_main() -> None:
    # A Ctrl-C reaches the whole process group: the writer ends with its pipe,
    # after the server has sent it everything, not at the signal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()   # it makes JSON of plain data, no cycles: nothing for the collector to find
    # Behind the server and its clients when the CPUs are busy: a burst of
    # events is written a little later (it waits, packed, in the pipe and in
    # the server's TraceStream) rather than slowing what it records.
    os.nice(10)
    # Off the server's CPU, when the server was kept on some of them (serve
    # keeps it on one, and this process inherited that): else the writer would
    # take its turns on the very CPU the server's threads share.
    if hasattr(os, "sched_setaffinity"):
        others = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)
        if others:
            try:
                os.sched_setaffinity(0, others)
            except OSError:
                pass
    with open(sys.stdout.fileno(), "w", encoding="utf-8", newline="\n", closefd=False) as out:
        write_frames(sys.stdin.buffer, out)


if __name__ == "__main__":
    _writer_main()

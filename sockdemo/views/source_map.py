"""Where an event came from: the line of the server (and of the page's C#) behind it.

Mirrors nothing in .NET; it is the margin a debugger draws beside the code.
The stepper shows, for the event it stands on, the statement of the Python
port that produced it and the same statement in the page's C#
(``sockdemo/page/SeedServer.cs``), side by side.

Nothing here is a hard-coded line number: the Python lines are found by
searching the server class's own source (``inspect``, through its MRO, by
mode), the C# lines by searching the C# text, each for the statement the
event stands for (``begin`` op=receive: ``begin_receive(`` / ``BeginReceive(``;
``set`` of allDone: ``all_done.set()`` / ``allDone.Set()``; a console line:
the ``write_line`` whose literal text starts it). Edit a server and the map
follows.

A *scope* narrows the search to where the thread was: the callback it was
running (``"ReadCallback"``), ``MAIN`` for the server's main thread outside any
callback, ``RUNTIME`` for a thread that is not the server's (its events map to
nothing, shown as "(runtime)"). A completion (``accept``, ``chunk``, ``eof``,
``sent``, ``op_error``) is done by the kernel, not by a line of the server: it
maps to the ``begin_*`` that asked for it, so pass the scope of that begin.
"""
from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from ..trace import kinds

__all__ = ["SourceLine", "SourceRef", "MAIN", "RUNTIME", "NOWHERE", "locate",
           "console_key", "context", "csharp_path", "snake_case"]

MAIN = None
RUNTIME = "(runtime)"
COMPLETIONS = frozenset({"accept", "chunk", "eof", "sent", "connected", "op_error"})

_HERE = Path(__file__).resolve().parent
_CS_CANDIDATES = (_HERE.parent / "page" / "SeedServer.cs",)

_OPS = {  # op -> (python begin, C# begin, python end, C# end)
    "accept": ("begin_accept(", "BeginAccept(", "end_accept(", "EndAccept("),
    "receive": ("begin_receive(", "BeginReceive(", "end_receive(", "EndReceive("),
    "send": ("begin_send(", "BeginSend(", "end_send(", "EndSend("),
    "connect": ("begin_connect(", "BeginConnect(", "end_connect(", "EndConnect("),
}
_SIGNALS = {"set": ("set()", "Set()"), "reset": ("reset()", "Reset()"),
            "wait": ("wait_one(", "WaitOne("), "wake": ("wait_one(", "WaitOne(")}
_HANDLE = re.compile(r"(\w+)#(\d+)")          # an AsyncResult's wait handle: "receive#5"
_PY_WRITE = re.compile(r"""write_line\(\s*(f?)(["'])""")
_CS_WRITE = re.compile(r"""(?<![\w.])Console\.WriteLine\(\s*(\$?)(")""")
_CS_METHOD = re.compile(r"^\s*(?:(?:public|private|internal|protected|static)\s+)+"
                        r"[\w<>\[\],]+\s+(\w+)\s*\(")


@dataclass(frozen=True)
class SourceLine:
    path: str        # the file, absolute
    line: int        # 1-based
    text: str        # the line as written (right-stripped)

    @property
    def file(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class SourceRef:
    python: Optional[SourceLine] = None
    csharp: Optional[SourceLine] = None


NOWHERE = SourceRef()


@dataclass(frozen=True)
class _Block:
    name: Optional[str]   # method name; None for lines outside any method
    path: str
    start: int            # line number of lines[0]
    lines: tuple


def snake_case(name: str) -> str:
    """``AcceptCallback`` -> ``accept_callback``, ``allDone`` -> ``all_done``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def csharp_path() -> Optional[Path]:
    for path in _CS_CANDIDATES:
        if path.is_file():
            return path
    return None


# -- the sources, read once --------------------------------------------------

def _server_class(mode):
    from ..servers.registry import server_class  # TODO(layers): the trace will name its server
    return server_class(mode)


def _method_blocks(cls) -> tuple:
    """Every method of ``cls`` and of its bases, most derived first, in definition order.

    An override that calls ``super()`` keeps the base's lines searchable: a
    ``SleepyServer.read_callback`` sleeps, then its base ends the receive."""
    blocks = []
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, obj in vars(klass).items():
            if not inspect.isfunction(obj):
                continue
            lines, start = inspect.getsourcelines(obj)
            blocks.append(_Block(name, inspect.getsourcefile(obj), start, tuple(lines)))
    return tuple(blocks)


@functools.lru_cache(maxsize=None)
def _python_blocks(mode) -> tuple:
    return _method_blocks(_server_class(mode))


@functools.lru_cache(maxsize=None)
def _runtime_blocks() -> tuple:
    from ..apm.runtime import Runtime
    return _method_blocks(Runtime)


@functools.lru_cache(maxsize=None)
def _csharp_blocks() -> tuple:
    path = csharp_path()
    if path is None:
        return ()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _CS_METHOD.match(line))]
    blocks = []
    if starts and starts[0][0] > 0:
        blocks.append(_Block(None, str(path), 1, tuple(lines[:starts[0][0]])))
    for n, (i, name) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        blocks.append(_Block(name, str(path), i + 1, tuple(lines[i:end])))
    return tuple(blocks)


@functools.lru_cache(maxsize=64)
def _file_lines(path: str) -> tuple:
    return tuple(Path(path).read_text(encoding="utf-8").splitlines())


# -- searching ---------------------------------------------------------------

def _is_comment(line: str) -> bool:
    s = line.lstrip()
    return s.startswith("#") or s.startswith("//")


def _search(blocks, pred, n: int = 0) -> Optional[SourceLine]:
    """The ``n``-th line (clipped to the last) of ``blocks`` that ``pred`` accepts."""
    hits = []
    for block in blocks:
        for i, line in enumerate(block.lines):
            if not _is_comment(line) and pred(line):
                hits.append(SourceLine(block.path, block.start + i, line.rstrip()))
    return hits[min(n, len(hits) - 1)] if hits else None


def _scoped(blocks, scope, names_for, is_main_block) -> list:
    """Search order: the scope's own method(s), then (for a callback) the whole class."""
    if scope == RUNTIME:
        return []
    if scope is MAIN:
        return [[b for b in blocks if b.name is not None and is_main_block(b.name)]]
    own = [b for b in blocks if b.name in names_for(scope)]
    return [own, list(blocks)]


def _find(blocks, scope, pred, names_for, is_main_block, n=0) -> Optional[SourceLine]:
    for group in _scoped(blocks, scope, names_for, is_main_block):
        hit = _search(group, pred, n)
        if hit is not None:
            return hit
    return None


def _py_find(mode, scope, pred, n=0):
    return _find(_python_blocks(mode), scope, pred,
                 lambda s: (snake_case(s),),
                 lambda name: not name.endswith("_callback") and not name.startswith("__"), n)


def _cs_find(scope, pred, n=0):
    return _find(_csharp_blocks(), scope, pred, lambda s: (s,),
                 lambda name: name in ("StartListening", "Main"), n)


def _contains(needle):
    return lambda line: needle in line


def _literal_prefix(line: str, match) -> str:
    """The constant text a write_line starts with: up to the first ``{`` or escape."""
    rest = line[match.end():]
    end = len(rest)
    for stop in ("{" if match.group(1) else "", "\\", match.group(2)):
        if stop and stop in rest:
            end = min(end, rest.index(stop))
    return rest[:end]


def _writes(blocks, pattern):
    """(prefix, line) for every console write in ``blocks``; prefix '' for a computed text."""
    out = []
    for block in blocks:
        for line in block.lines:
            if _is_comment(line):
                continue
            m = pattern.search(line)
            if m:
                out.append(_literal_prefix(line, m))
            elif pattern is _PY_WRITE and "write_line(" in line:
                out.append("")
            elif pattern is _CS_WRITE and re.search(r"(?<![\w.])Console\.WriteLine\(", line):
                out.append("")
    return out


@functools.lru_cache(maxsize=None)
def _py_prefixes(mode) -> tuple:
    return tuple(sorted(set(_writes(_python_blocks(mode), _PY_WRITE)), key=len, reverse=True))


@functools.lru_cache(maxsize=None)
def _cs_prefixes() -> tuple:
    return tuple(sorted(set(_writes(_csharp_blocks(), _CS_WRITE)), key=len, reverse=True))


def console_key(text: str, mode="seed") -> Optional[str]:
    """The literal start of the server's ``write_line`` that printed ``text`` (longest match)."""
    for prefix in _py_prefixes(mode):
        if text.startswith(prefix):
            return prefix
    return None


def _cs_console_key(text: str) -> Optional[str]:
    for prefix in _cs_prefixes():
        if text.startswith(prefix):
            return prefix
    return None


def _console_keys(text: str, mode) -> tuple:
    """(Python template, C# template) of a console line; the C# one only when it is the
    same literal (echo's ``Sent ...`` has no line in the page's server)."""
    key = console_key(text, mode)
    if key is None:
        return None, _cs_console_key(text)
    return key, key if key in _cs_prefixes() else None


def _py_write_pred(prefix: str):
    def pred(line):
        m = _PY_WRITE.search(line)
        if m:
            return _literal_prefix(line, m) == prefix
        return prefix == "" and "write_line(" in line
    return pred


def _cs_write_pred(prefix: str):
    def pred(line):
        m = _CS_WRITE.search(line)
        if m:
            return _literal_prefix(line, m) == prefix
        return prefix == "" and re.search(r"(?<![\w.])Console\.WriteLine\(", line) is not None
    return pred


# -- the map -------------------------------------------------------------------

# Events that are one plain call in both languages: (Python text, C# text).
_PLAIN_CALLS = {
    "close": (".close()", ".Close()"),
    "shutdown": (".shutdown(", ".Shutdown("),
    "sleep": (".sleep(", "Thread.Sleep("),
    "listen": (".listen(", ".Listen("),
}


def locate(event, scope: Optional[str] = MAIN, mode="seed", nth: int = 0) -> SourceRef:
    """The Python and C# lines behind ``event``, run by a thread in ``scope``.

    ``mode`` names the server (``"seed"``, ``"fixed"``, ``"echo"``) or is its class.

    ``nth`` picks among several lines that print the same constant text (the
    two ``Local address and port`` lines): how many such lines came before.
    """
    kind, info = event.kind, event.info
    if kind == kinds.CONSOLE:
        text = str(info.get("text", ""))
        return _locate(kind, _console_keys(text, mode), scope, mode, nth)
    if kind == kinds.MESSAGE:
        return _locate("console", _console_keys("Read ", mode), scope, mode, 0)
    if kind in (kinds.BEGIN, kinds.END) or kind in COMPLETIONS:
        detail = info.get("op", "accept" if kind == kinds.ACCEPT else
                          "receive" if kind in (kinds.CHUNK, kinds.EOF) else
                          "send" if kind == kinds.SENT else "connect" if kind == kinds.CONNECTED else None)
    elif kind in (kinds.CALLBACK_START, kinds.CALLBACK_END):
        detail = info.get("name")
    elif kind in _SIGNALS:
        detail = info.get("event")
    elif kind == kinds.ERROR:
        detail = "callback" if info.get("where") else None
    else:
        detail = None
    return _locate(kind, detail, scope, mode, 0)


@functools.lru_cache(maxsize=4096)
def _locate(kind: str, detail, scope, mode, nth: int) -> SourceRef:
    py = cs = None
    if kind == kinds.CONSOLE:
        key, cs_key = detail
        if key is not None:
            py = _py_find(mode, scope, _py_write_pred(key), nth)
        if cs_key is not None:
            cs = _cs_find(scope, _cs_write_pred(cs_key), nth)
    elif kind == kinds.BEGIN or kind in COMPLETIONS:
        if detail in _OPS:
            py = _py_find(mode, scope, _contains("." + _OPS[detail][0]))
            cs = _cs_find(scope, _contains("." + _OPS[detail][1]))
    elif kind == kinds.END:
        if detail in _OPS:
            py = _py_find(mode, scope, _contains("." + _OPS[detail][2]))
            cs = _cs_find(scope, _contains("." + _OPS[detail][3]))
    elif kind in (kinds.CALLBACK_START, kinds.CALLBACK_END):
        if detail:
            py = _py_find(mode, "*", _contains(f"def {snake_case(detail)}("))
            cs = _cs_find("*", re.compile(rf"\bvoid\s+{re.escape(detail)}\s*\(").search)
    elif kind in _SIGNALS:
        if detail and (m := _HANDLE.fullmatch(detail)):
            # an AsyncResult's own wait handle: end_<op> blocking on an unfinished operation
            if kind in (kinds.WAIT, kinds.WAKE) and m.group(1) in _OPS:
                py = _py_find(mode, scope, _contains("." + _OPS[m.group(1)][2]))
                cs = _cs_find(scope, _contains("." + _OPS[m.group(1)][3]))
        elif detail:
            py_needle, cs_needle = _SIGNALS[kind]
            py = _py_find(mode, scope, _contains(f"{snake_case(detail)}.{py_needle}"))
            cs = _cs_find(scope, _contains(f"{detail}.{cs_needle}"))
    elif kind in _PLAIN_CALLS:
        py_needle, cs_needle = _PLAIN_CALLS[kind]
        py = _py_find(mode, scope, _contains(py_needle))
        cs = _cs_find(scope, _contains(cs_needle))
    elif kind == kinds.ERROR:
        if detail == "callback":  # escaped the callback: the runtime caught it (.NET would die)
            py = _search([b for b in _runtime_blocks() if b.name == "_run_callback"],
                         _contains('emit(kinds.ERROR'))
        elif scope != RUNTIME:
            py = _py_find(mode, scope, _contains('emit(kinds.ERROR'))
    return SourceRef(py, cs)


def context(line: Optional[SourceLine], around: int = 3) -> list:
    """``[(number, text, is_the_line)]`` for ``around`` lines either side of ``line``."""
    if line is None:
        return []
    lines = _file_lines(line.path)
    lo, hi = max(1, line.line - around), min(len(lines), line.line + around)
    return [(n, lines[n - 1], n == line.line) for n in range(lo, hi + 1)]

"""Where an event came from: the line of the server, and of the page's C#, behind it.

Mirrors the margin a debugger draws beside the code. The stepper shows, for
the event it stands on, the statement of the Python port that produced it and
the same statement in the page's C#, side by side.

Nothing here is a hard-coded line number: the Python lines are found by
searching the server class's own source (``inspect``, through its MRO), the
C# lines by searching the C# text, each for the statement the event stands
for (``begin`` op=receive: ``.begin_receive(`` / ``.BeginReceive(``; ``set``
of allDone: ``all_done.set()`` / ``allDone.Set()``; a console line: the
``write_line`` whose literal text starts it). Edit a server and the map
follows. What no line of a source says maps to nothing in that language,
never to a nearby line.

Which server: the caller gives its class. A view finds it as a debugger finds
a program's source: in what it was given (a ``Simulation``'s or a
``ServerHandle``'s ``.server``), or in the trace's ``meta["server"]``, a
dotted name resolved with ``importlib`` (``server_class``), as a debugger
reads a source path from the debug info. The views never import a server:
the name is data.

The page's C# is package data, ``sockdemo/page/SeedServer.cs``, read with
``importlib.resources`` so an installed copy finds it too. That file is the
one the oracle compiles, and two things in it are not the page's: the note at
its top, and the thread report the oracle asks for (``showThreads``, the
``Where`` method and a ``Where("...")`` call opening each callback). The map
neither searches nor shows them: the C# column shows the page.

A *scope* narrows the search to where the thread was: the callback it was
running (``"ReadCallback"``), ``MAIN`` for the server's main thread outside any
callback, ``RUNTIME`` for a thread that is not the server's (its events map to
nothing, shown as "(runtime)"). A completion (``accept``, ``chunk``, ``eof``,
``sent``, ``op_error``) is done by the kernel, not by a line of the server: it
maps to the ``begin_*`` that asked for it, so pass the scope of that begin.
An error that escaped a callback maps to that callback's definition: the
runtime caught it, but in .NET it would have ended the process there.
"""
from __future__ import annotations

import functools
import inspect
import linecache
import pkgutil
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePath
from typing import Callable, NamedTuple, Optional

from ..trace import kinds

__all__ = ["SourceLine", "SourceRef", "MAIN", "RUNTIME", "NOWHERE", "PAGE_SERVER",
           "locate", "console_key", "context", "csharp_lines", "op_of", "wait_handle",
           "server_class", "server_of", "snake_case"]

MAIN = None
RUNTIME = "(runtime)"
#: The server a trace that names none is read as: the page's.
PAGE_SERVER = "sockdemo.servers.seed.SeedServer"

_OPS = ("accept", "receive", "send", "connect")
_OP_OF_COMPLETION = {kinds.ACCEPT: "accept", kinds.CHUNK: "receive", kinds.EOF: "receive",
                     kinds.SENT: "send", kinds.CONNECTED: "connect"}
_HANDLE = re.compile(r"(\w+)#(\d+)")          # an AsyncResult's wait handle: "receive#5"
# The oracle's thread report in SeedServer.cs (see the module's docstring).
_NOT_THE_PAGE = re.compile(r"\bWhere\(|\bshowThreads\b")
_REPORT_METHOD = "Where"
_CS_METHOD = re.compile(r"^\s*(?:(?:public|private|internal|protected|static)\s+)+"
                        r"[\w<>\[\],]+\s+(\w+)\s*\(")


@dataclass(frozen=True)
class SourceLine:
    path: str        # the file
    line: int        # 1-based, in that file
    text: str        # the line as written (right-stripped)

    @property
    def file(self) -> str:
        return PurePath(self.path).name


@dataclass(frozen=True)
class SourceRef:
    python: Optional[SourceLine] = None
    csharp: Optional[SourceLine] = None


NOWHERE = SourceRef()


def snake_case(name: str) -> str:
    """``AcceptCallback`` -> ``accept_callback``, ``allDone`` -> ``all_done``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def op_of(event) -> Optional[str]:
    """The operation an event is about: its ``op``, or the one a completion finished."""
    return event.info.get("op") or _OP_OF_COMPLETION.get(event.kind)


def wait_handle(name) -> Optional[tuple]:
    """``("receive", "5")`` for an AsyncResult's wait handle (``"receive#5"``, what
    ``end_receive`` blocks on), None for a ManualResetEvent's name (``"allDone"``)."""
    m = _HANDLE.fullmatch(name) if isinstance(name, str) else None
    return (m.group(1), m.group(2)) if m else None


# -- which server ------------------------------------------------------------

def server_class(spec) -> Optional[type]:
    """The server class ``spec`` names: a class (as is), a dotted name
    (``"sockdemo.servers.fixed.FixedServer"``, imported), or None."""
    if spec is None or isinstance(spec, type):
        return spec
    if isinstance(spec, str) and "." in spec:
        try:
            found = pkgutil.resolve_name(spec)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"no server class {spec!r}: {exc}") from None
        if isinstance(found, type):
            return found
    raise ValueError(f"give a server class or its dotted name "
                     f"(such as {PAGE_SERVER!r}), not {spec!r}")


def server_of(source, server=None) -> Optional[type]:
    """The server whose source to show for ``source`` (a Trace, a list of events, a
    Simulation, a ServerHandle): ``server`` if given, else the source's own
    ``.server``, else the trace's ``meta["server"]`` (None when that cannot be
    imported here), else the page's."""
    if server is not None:
        return server_class(server)
    own = getattr(source, "server", None)
    if own is not None:
        return type(own)
    trace = getattr(source, "trace", source)
    name = getattr(trace, "meta", {}).get("server", PAGE_SERVER)
    try:
        return server_class(name)
    except ValueError:  # recorded elsewhere (a class of another notebook): no Python column
        return None


# -- the sources, read once --------------------------------------------------

class _Block(NamedTuple):
    name: Optional[str]   # the method; None for lines outside any method
    path: str
    lines: tuple          # ((number, text), ...)


@functools.lru_cache(maxsize=None)
def _python_blocks(server: Optional[type]) -> tuple:
    """Every method of ``server`` and of its bases, most derived first, in definition order,
    then those of the classes it names in ``source_parts`` (code it delegates to).

    An override that calls ``super()`` keeps the base's lines searchable: a
    ``SleepyServer.read_callback`` sleeps, then its base ends the receive."""
    blocks = []
    classes = () if server is None else (*server.__mro__, *getattr(server, "source_parts", ()))
    for klass in classes:
        for name, obj in vars(klass).items():
            if not inspect.isfunction(obj):
                continue
            try:
                lines, start = inspect.getsourcelines(obj)
            except (OSError, TypeError):  # no source to show (made at run time)
                continue
            blocks.append(_Block(name, inspect.getsourcefile(obj) or inspect.getfile(obj),
                                 tuple(enumerate((line.rstrip() for line in lines), start))))
    return tuple(blocks)


@functools.lru_cache(maxsize=None)
def _page_file():
    return resources.files("sockdemo") / "page" / "SeedServer.cs"


@functools.lru_cache(maxsize=None)
def csharp_lines() -> tuple:
    """The page's C#: ``((number in SeedServer.cs, text), ...)``, without the lines
    that are not the page's (the file's note, the oracle's thread report)."""
    numbered = list(enumerate(_page_file().read_text(encoding="utf-8").splitlines(), 1))
    while numbered and numbered[0][1].lstrip().startswith("//"):
        numbered.pop(0)
    out, skipping = [], False
    for number, text in numbered:
        m = _CS_METHOD.match(text)
        if m:
            skipping = m.group(1) == _REPORT_METHOD
        if skipping or _NOT_THE_PAGE.search(text):
            continue
        if text.strip() or (out and out[-1][1].strip()):  # one blank line where a gap was
            out.append((number, text.rstrip()))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _csharp_blocks() -> tuple:
    path, lines = str(_page_file()), csharp_lines()
    starts = [i for i, (_, text) in enumerate(lines) if _CS_METHOD.match(text)]
    bounds = list(zip([0] + starts, starts + [len(lines)]))
    return tuple(_Block(_CS_METHOD.match(lines[a][1]).group(1) if a in starts else None,
                        path, lines[a:b]) for a, b in bounds if b > a)


@functools.lru_cache(maxsize=64)
def _listing(path: str) -> tuple:
    if path == str(_page_file()):
        return csharp_lines()
    return tuple(enumerate((line.rstrip() for line in linecache.getlines(path)), 1))


# -- the two languages -------------------------------------------------------

@dataclass(frozen=True, eq=False)   # compared, and cached by, identity
class _Language:
    blocks: Callable[[Optional[type]], tuple]   # server -> its blocks in this language
    method: Callable[[str], str]                # "ReadCallback" -> this language's method name
    is_main: Callable[[str], bool]              # a method main runs outside any callback
    write: re.Pattern                           # a console write of a literal text
    any_write: re.Pattern                       # any console write
    comment: str
    define: Callable[[str], str]                # regex of the line that defines a callback


PYTHON = _Language(
    _python_blocks, snake_case,
    lambda name: not name.endswith("_callback") and not name.startswith("__"),
    re.compile(r"""write_line\(\s*(f?)(["'])"""), re.compile(r"write_line\("), "#",
    lambda name: rf"\bdef\s+{re.escape(snake_case(name))}\s*\(")
CSHARP = _Language(
    lambda server: _csharp_blocks(), lambda name: name,
    lambda name: name in ("StartListening", "Main"),
    re.compile(r"""(?<![\w.])Console\.WriteLine\(\s*(\$?)(")"""),
    re.compile(r"(?<![\w.])Console\.WriteLine\("), "//",
    lambda name: rf"\bvoid\s+{re.escape(name)}\s*\(")


class _Query(NamedTuple):
    """What an event stands for, in each language (None: no such statement)."""
    how: str                  # "call" (the text occurs), "write" (a console write with
                              # this literal prefix), "def" (the callback's definition)
    python: Optional[str]
    csharp: Optional[str]


def _predicate(lang: _Language, how: str, text: str) -> Callable[[str], bool]:
    if how == "def":
        return re.compile(lang.define(text)).search
    if how == "write":
        def written(line: str) -> bool:
            m = lang.write.search(line)
            if m:
                return _literal_prefix(line, m) == text
            return text == "" and lang.any_write.search(line) is not None
        return written
    return lambda line: text in line


def _literal_prefix(line: str, match) -> str:
    """The constant text a console write starts with: up to the first ``{`` or escape."""
    rest = line[match.end():]
    end = len(rest)
    for stop in ("{" if match.group(1) else "", "\\", match.group(2)):
        if stop and stop in rest:
            end = min(end, rest.index(stop))
    return rest[:end]


def _code(lang: _Language, blocks):
    """(block, number, text) of every line of ``blocks`` that is not a comment."""
    for block in blocks:
        for number, text in block.lines:
            if not text.lstrip().startswith(lang.comment):
                yield block, number, text


def _find(lang: _Language, server, query: _Query, scope, nth: int) -> Optional[SourceLine]:
    """The ``nth`` line (clipped to the last) that ``query`` finds in the scope's own
    method(s), then, for a callback, in the whole class; a "def" looks everywhere."""
    text = query.python if lang is PYTHON else query.csharp
    blocks = lang.blocks(server)
    if text is None:
        return None
    if query.how == "def":  # a callback is entered from the runtime: whatever the scope
        groups = [blocks]
    elif scope == RUNTIME:
        return None
    elif scope is MAIN:
        groups = [[b for b in blocks if b.name is not None and lang.is_main(b.name)]]
    else:
        groups = [[b for b in blocks if b.name == lang.method(scope)], blocks]
    pred = _predicate(lang, query.how, text)
    for group in groups:
        hits = [SourceLine(block.path, number, text)
                for block, number, text in _code(lang, group) if pred(text)]
        if hits:
            return hits[min(nth, len(hits) - 1)]
    return None


# -- console lines -------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _prefixes(lang: _Language, server) -> tuple:
    """The literal starts of every console write, longest first ('' for a computed text)."""
    found = set()
    for _, _, text in _code(lang, lang.blocks(server)):
        m = lang.write.search(text)
        if m:
            found.add(_literal_prefix(text, m))
        elif lang.any_write.search(text):
            found.add("")
    return tuple(sorted(found, key=len, reverse=True))


def console_key(text: str, server) -> Optional[str]:
    """The literal start of the server's ``write_line`` that printed ``text`` (longest match)."""
    return next((p for p in _prefixes(PYTHON, server) if text.startswith(p)), None)


def _console_query(text: str, server) -> _Query:
    """A console line: the C# line only when it writes the same literal (echo's
    ``Sent ...`` has no line in the page's server)."""
    key = console_key(text, server)
    return _Query("write", key, key if key is not None and key in _prefixes(CSHARP, server)
                  else None)


# -- the map -------------------------------------------------------------------

def _op_query(which: str, op: Optional[str]) -> Optional[_Query]:
    if op not in _OPS:
        return None
    return _Query("call", f".{which}_{op}(", f".{which.capitalize()}{op.capitalize()}(")


_SIGNAL_CALLS = {kinds.SET: ("set()", "Set()"), kinds.RESET: ("reset()", "Reset()"),
                 kinds.WAIT: ("wait_one(", "WaitOne("), kinds.WAKE: ("wait_one(", "WaitOne(")}


def _signal_query(event, server) -> Optional[_Query]:
    name = event.info.get("event")
    if not name:
        return None
    handle = wait_handle(str(name))
    if handle:  # an AsyncResult's own wait handle: end_<op> blocks on an unfinished operation
        return _op_query("end", handle[0]) if event.kind in (kinds.WAIT, kinds.WAKE) else None
    py, cs = _SIGNAL_CALLS[event.kind]
    return _Query("call", f"{snake_case(name)}.{py}", f"{name}.{cs}")


def _error_query(event, server) -> _Query:
    where = event.info.get("where")
    if where:  # escaped the callback: in .NET the process would end right there
        return _Query("def", str(where), str(where))
    return _Query("call", "emit(kinds.ERROR", None)   # the server's own report


def _plain_call(python: str, csharp: Optional[str]):
    return lambda event, server: _Query("call", python, csharp)


# kind -> (event, server) -> the statement it stands for
_QUERIES = {
    kinds.CONSOLE: lambda ev, server: _console_query(str(ev.info.get("text", "")), server),
    kinds.MESSAGE: lambda ev, server: _console_query("Read ", server),
    kinds.BEGIN: lambda ev, server: _op_query("begin", op_of(ev)),
    **{kind: (lambda ev, server: _op_query("begin", op_of(ev))) for kind in kinds.COMPLETIONS},
    kinds.END: lambda ev, server: _op_query("end", op_of(ev)),
    kinds.CALLBACK_START: lambda ev, server: _Query("def", ev.info.get("name"), ev.info.get("name")),
    kinds.CALLBACK_END: lambda ev, server: _Query("def", ev.info.get("name"), ev.info.get("name")),
    **{kind: _signal_query for kind in _SIGNAL_CALLS},
    kinds.ERROR: _error_query,
    kinds.CLOSE: _plain_call(".close()", ".Close()"),
    kinds.SHUTDOWN: _plain_call(".shutdown(", ".Shutdown("),
    kinds.SLEEP: _plain_call(".sleep(", "Thread.Sleep("),
    kinds.LISTEN: _plain_call(".listen(", ".Listen("),
}


def locate(event, scope: Optional[str] = MAIN, server=None, nth: int = 0) -> SourceRef:
    """The Python and C# lines behind ``event``, run by a thread in ``scope``.

    ``server`` is the server's class (None: no Python lines). ``nth`` picks
    among several console writes of the same literal text (the two ``Local
    address and port`` lines): how many such lines were printed before."""
    make = _QUERIES.get(event.kind)
    query = make(event, server) if make else None
    if query is None:
        return NOWHERE
    return _locate(query, scope, server, nth if query.how == "write" else 0)


@functools.lru_cache(maxsize=4096)
def _locate(query: _Query, scope, server, nth: int) -> SourceRef:
    return SourceRef(_find(PYTHON, server, query, scope, nth),
                     _find(CSHARP, server, query, scope, nth))


def context(line: Optional[SourceLine], around: int = 3) -> list:
    """``[(number, text, is_the_line)]``: ``around`` lines either side of ``line``
    (of the page's C#, only the page's lines)."""
    if line is None:
        return []
    listing = _listing(line.path)
    at = next((i for i, (number, _) in enumerate(listing) if number == line.line), None)
    if at is None:
        return []
    return [(number, text, number == line.line)
            for number, text in listing[max(0, at - around):at + around + 1]]

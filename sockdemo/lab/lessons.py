"""The lessons in two editions, from one source: the instructor's (solved) and the learner's (blank).

Mirrors nothing in .NET; it is how the lab reaches a classroom. The lessons
ship inside the package (``sockdemo/lessons/*.ipynb``): that copy is the
instructor's edition, executed and tested. Answers in it are marked with
otter-grader's convention:

- ``name = value  # SOLUTION``: the learner's copy reads ``name = ...``;
- ``# BEGIN SOLUTION`` ... ``# END SOLUTION``: the lines between (and the
  markers) become one ``...``.

``# MISTAKE: code`` lines, inside a block or right after a ``# SOLUTION``
line, write down the mistakes learners make (``# MISTAKE: waiting_lines = 3``);
they leave with the answer, and the tests run each in its place and expect
the check below to catch it with a hint.

The learner's edition blanks every answer and clears the outputs that would
give one away (the solution cells' and the check cells', which call
``check(``). ``sockdemo lab`` copies an edition into a folder of the user's
(``~/sockdemo-lessons`` for learners, ``~/sockdemo-lessons-instructor``; the
environment variable ``SOCKDEMO_LESSONS`` moves the learner's), once: a copy
the learner has changed is never overwritten. ``sockdemo lessons --refresh``
updates the copies nobody changed and writes a new lesson beside a changed
one as ``NN-topic (new).ipynb``. A manifest (``.sockdemo-lessons.json``)
remembers what was written, so "changed" means "not what we wrote".

``tidy`` keeps the committed notebooks quiet in a diff: no execution
timestamps, no saved widget state (a widget output keeps only its static
fallback: the HTML or PNG the widget offers besides its live view).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Optional

__all__ = ["learner_notebook", "write_edition", "default_folder", "lesson_names", "read_lesson",
           "tidy_notebook", "solution_blocks", "Written", "START_LESSON"]

START_LESSON = "00-start-here.ipynb"
MANIFEST = ".sockdemo-lessons.json"
LEARNER_FOLDER = "sockdemo-lessons"
INSTRUCTOR_FOLDER = "sockdemo-lessons-instructor"
BLANK = "..."
_LINE = re.compile(r"^(?P<indent>\s*)(?P<target>[^=#]+?)\s*=\s*(?P<value>.+?)\s*#\s*SOLUTION\s*$")
_BEGIN = re.compile(r"^(?P<indent>\s*)#\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*#\s*END SOLUTION\s*$")
_MISTAKE = re.compile(r"^\s*#\s*MISTAKE:\s*(?P<code>.+?)\s*$")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


# -- reading the source ----------------------------------------------------------

def _source_folder():
    return resources.files("sockdemo") / "lessons"


def lesson_names() -> list[str]:
    """The lessons shipped with the package, in order (``00-start-here.ipynb`` ...)."""
    return sorted(item.name for item in _source_folder().iterdir()
                  if item.name.endswith(".ipynb") and item.name[:2].isdigit())


def read_lesson(name: str) -> dict:
    return json.loads((_source_folder() / name).read_text(encoding="utf-8"))


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_text(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


# -- the learner's edition ---------------------------------------------------------

@dataclass(frozen=True)
class SolutionBlock:
    """One marked answer in a code cell: its lines, and the mistakes written beside it."""
    start: int            # first line (0-based) of the marked lines in the cell
    stop: int             # one past the last
    indent: str
    blank: str            # what the learner sees instead
    mistakes: tuple = ()  # code lines a learner might write instead


def solution_blocks(source: str) -> list[SolutionBlock]:
    """Every marked answer of a cell's source, in order."""
    lines = source.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        if m := _LINE.match(line):
            end = i + 1   # the mistakes written on the lines right after it belong to it
            while end < len(lines) and _MISTAKE.match(lines[end]):
                end += 1
            mistakes = tuple(mm["code"] for mm in map(_MISTAKE.match, lines[i + 1:end]))
            blocks.append(SolutionBlock(i, end, m["indent"], f"{m['indent']}{m['target']} = {BLANK}",
                                        mistakes))
            i = end - 1
        elif m := _BEGIN.match(line):
            end = next((j for j in range(i + 1, len(lines)) if _END.match(lines[j])), None)
            if end is None:
                raise ValueError(f"'# BEGIN SOLUTION' on line {i + 1} has no '# END SOLUTION'")
            mistakes = tuple(mm["code"] for mm in map(_MISTAKE.match, lines[i + 1:end]) if mm)
            blocks.append(SolutionBlock(i, end + 1, m["indent"], f"{m['indent']}{BLANK}", mistakes))
            i = end
        i += 1
    return blocks


def blank_source(source: str) -> str:
    """The cell as the learner gets it: every marked answer replaced by ``...``."""
    lines = source.splitlines()
    for block in reversed(solution_blocks(source)):
        lines[block.start:block.stop] = [block.blank]
    return "\n".join(lines)


def _gives_an_answer_away(cell: dict) -> bool:
    text = _text(cell)
    return bool(solution_blocks(text)) or re.search(r"(^|\W)check\(", text) is not None


def learner_notebook(nb: dict) -> dict:
    """The learner's edition of one lesson: answers blank, their outputs cleared."""
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell.get("cell_type") != "code" or not _gives_an_answer_away(cell):
            continue
        _set_text(cell, blank_source(_text(cell)))
        cell["outputs"] = []
        cell["execution_count"] = None
    return out


# -- writing an edition into a folder ----------------------------------------------

def default_folder(instructor: bool = False) -> Path:
    if not instructor and os.environ.get("SOCKDEMO_LESSONS"):
        return Path(os.environ["SOCKDEMO_LESSONS"]).expanduser()
    return Path.home() / (INSTRUCTOR_FOLDER if instructor else LEARNER_FOLDER)


@dataclass
class Written:
    """What ``write_edition`` did, lesson by lesson."""
    folder: Path
    new: list = field(default_factory=list)        # written for the first time
    updated: list = field(default_factory=list)    # replaced: nobody had changed them
    kept: list = field(default_factory=list)       # changed by the learner: left alone
    beside: list = field(default_factory=list)     # the new version written next to a kept one

    @property
    def lines(self) -> list[str]:
        out = []
        for what, names in (("new", self.new), ("updated", self.updated),
                            ("kept (you changed it)", self.kept), ("new version beside it", self.beside)):
            if names:
                out.append(f"{what}: {', '.join(names)}")
        return out


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def write_edition(folder: Path, *, instructor: bool = False, refresh: bool = False,
                  names: Optional[Iterable[str]] = None) -> Written:
    """Copy the lessons into ``folder`` (made if missing). A lesson already there
    is left alone unless ``refresh``, and even then only if nobody changed it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    done = Written(folder)
    for name in names or lesson_names():
        nb = read_lesson(name)
        text = _dumps(nb if instructor else learner_notebook(nb))
        target = folder / name
        if not target.exists():
            _write(target, text)
            done.new.append(name)
        elif refresh:
            current = target.read_text(encoding="utf-8")
            if _digest(current) == manifest.get(name) or current == text:
                if current != text:
                    _write(target, text)
                    done.updated.append(name)
            else:
                done.kept.append(name)
                beside = target.with_name(f"{target.stem} (new){target.suffix}")
                _write(beside, text)
                done.beside.append(beside.name)
                continue
        else:
            continue
        manifest[name] = _digest(text)
    _write(manifest_path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return done


def _write(path: Path, text: str) -> None:
    """Write through a temporary file and rename: a failure never leaves half a lesson."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- tidy committed notebooks --------------------------------------------------------

def tidy_notebook(nb: dict) -> dict:
    """No execution timestamps, no saved widget state; widget outputs keep their static fallback."""
    out = copy.deepcopy(nb)
    out.get("metadata", {}).pop("widgets", None)
    for cell in out["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if isinstance(data, dict):
                data.pop(WIDGET_VIEW, None)
    return out


def tidy_files(paths: Iterable[Path]) -> list[Path]:
    """Tidy each notebook in place; return the ones that changed."""
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        tidied = _dumps(tidy_notebook(json.loads(text)))
        if tidied != text:
            _write(path, tidied)
            changed.append(path)
    return changed


if __name__ == "__main__":  # python -m sockdemo.lab.lessons FILE... : tidy the given notebooks
    import sys
    for path in tidy_files(Path(p) for p in sys.argv[1:]):
        print(f"tidied {path}")

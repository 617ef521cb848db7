"""The exercises themselves, run in a real kernel, one lesson at a time.

For every lesson this executes the *learner's* edition top to bottom and, at
each exercise, asserts what sockdemo.lab.checks promises:

- the blank answer runs and its check says "not answered yet", with no error,
  so Run All carries on;
- every mistake written beside the solution (``# MISTAKE: ...``, at least two
  per exercise) is run in the answer's place and its check fails with a hint
  (``WrongAnswer``'s message, which never shows the right answer);
- the solution itself is then run and its check says "Right: ...".

The kernel keeps the solved state, so the cells after an exercise run as they
do in the instructor's edition. nbval runs that edition on its own; this file
runs the learner's. A lesson without exercises is only run.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from sockdemo.lab.lessons import learner_notebook, lesson_names, read_lesson, solution_blocks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 300
MIN_MISTAKES = 2
CHECK = re.compile(r"(^|\W)check\(")


def _text(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
        if out.get("output_type") == "error":
            parts.append(f"ERROR {out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


class Kernel:
    """One lesson's kernel: run a source, get back what it printed and whether it raised."""

    def __init__(self, client):
        self.client = client
        self.count = 0

    def run(self, source: str) -> tuple[str, bool]:
        cell = nbformat.v4.new_code_cell(source)
        self.count += 1
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        text = _outputs_text(cell)
        failed = any(o.get("output_type") == "error" for o in cell.outputs) or "\u2717 " in text
        return text, failed


def exercises(instructor: dict) -> list[tuple[int, int]]:
    """(solution cell index, check cell index) for every exercise of a lesson."""
    cells = instructor["cells"]
    pairs = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or not solution_blocks(_text(cell)):
            continue
        check = next((j for j in range(i + 1, len(cells)) if cells[j].get("cell_type") == "code"
                      and CHECK.search(_text(cells[j]))), None)
        assert check is not None, f"cell {i} holds an answer but no later cell checks it"
        pairs.append((i, check))
    return pairs


def with_mistake(source: str, mistake: str) -> str:
    """The solution cell with its answer replaced by one mistake."""
    lines = source.splitlines()
    for block in reversed(solution_blocks(source)):
        lines[block.start:block.stop] = [block.indent + mistake]
    return "\n".join(lines)


@pytest.mark.parametrize("name", lesson_names())
def test_the_learners_edition_runs_and_every_mistake_gets_a_hint(name, tmp_path):
    instructor = read_lesson(name)
    learner = learner_notebook(instructor)
    pairs = dict(exercises(instructor))
    env_cwd = tmp_path  # the lesson writes its traces/ here, as in a learner's folder
    empty = nbformat.v4.new_notebook(metadata=instructor.get("metadata", {}))
    client = nbclient.NotebookClient(empty, kernel_name="python3", timeout=CELL_TIMEOUT,
                                     allow_errors=True, resources={"metadata": {"path": str(env_cwd)}})
    problems = []
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    try:
        with client.setup_kernel():
            kernel = Kernel(client)
            checks = {check: solution for solution, check in pairs.items()}
            for i, cell in enumerate(learner["cells"]):
                if cell.get("cell_type") != "code":
                    continue
                text, failed = kernel.run(_text(cell))
                if i not in checks:
                    if failed:
                        problems.append(f"cell {i} failed in the learner's edition: {text[-300:]}")
                    continue
                solution_cell = _text(instructor["cells"][checks[i]])
                check_cell = _text(instructor["cells"][i])
                if failed or "not answered yet" not in text:
                    problems.append(f"cell {i}: a blank answer should say 'not answered yet', got {text!r:.200}")
                mistakes = [m for b in solution_blocks(solution_cell) for m in b.mistakes]
                if len(mistakes) < MIN_MISTAKES:
                    problems.append(f"cell {checks[i]}: {len(mistakes)} mistake(s) written down, "
                                    f"at least {MIN_MISTAKES} wanted")
                for mistake in mistakes:
                    kernel.run(with_mistake(solution_cell, mistake))
                    text, failed = kernel.run(check_cell)
                    if not failed or "Right" in text:
                        problems.append(f"cell {i}: the mistake {mistake!r} was not caught: {text!r:.200}")
                    elif "\u2717 " not in text:
                        problems.append(f"cell {i}: the mistake {mistake!r} failed without a hint: {text!r:.300}")
                kernel.run(solution_cell)
                text, failed = kernel.run(check_cell)
                if failed or "Right" not in text:
                    problems.append(f"cell {i}: the solution was not judged right: {text!r:.300}")
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    assert not problems, f"{name}:\n" + "\n".join(problems)

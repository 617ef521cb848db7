"""The lessons' shape, checked without running them (nbval runs them: ``./dev test``).

Every lesson in ``sockdemo/lessons/`` opens with objectives, ends with a summary,
carries at least one self-check (``assert``), runs on the ``python3`` kernel,
is named ``NN-topic.ipynb``, and never names a host other than loopback.
Every cell tagged ``nbval-check-output`` was saved executed and with its
output: nbval compares only what was saved, so an unexecuted checked cell
would silently check nothing. The notebooks are saved tidy (no execution
timestamps, no widget state). ``sanitize.cfg`` masks what changes between
runs (ports, times, addresses) and nothing a lesson asserts.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "sockdemo" / "lessons"
SANITIZE = Path(__file__).resolve().parent / "nbval-sanitize.cfg"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
NAME = re.compile(r"^(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*\.ipynb$")
CHECK_TAG = "nbval-check-output"
IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")
ALLOWED_IPV4 = {"127.0.0.1"}
OBJECTIVES_WITHIN = 3   # the objectives heading is in one of the first cells


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def headings(cell: dict) -> list[str]:
    if cell.get("cell_type") != "markdown":
        return []
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.*)$", source(cell), re.M)]


def text_outputs(cell: dict):
    """Every piece of text a code cell's saved outputs show (images left out)."""
    for out in cell.get("outputs", []):
        if "text" in out:
            yield "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/") or mime.endswith("json"):
                yield value if isinstance(value, str) else json.dumps(value)
        if out.get("output_type") == "error":
            yield "\n".join(out.get("traceback", []))


def by_name(paths):
    return pytest.mark.parametrize("path", paths, ids=[p.name for p in paths])


def test_there_are_lessons():
    assert PATHS, f"no notebooks in {NOTEBOOKS}"


def test_start_here_exists():
    # `make lab` (./dev lab) opens this one; the README says so.
    assert (NOTEBOOKS / "00-start-here.ipynb").is_file()


@by_name(PATHS)
def test_name_is_nn_topic(path):
    assert NAME.match(path.name), f"{path.name}: lessons are named NN-topic.ipynb (lowercase, dashes)"


def test_lesson_numbers_are_unique():
    numbers = [NAME.match(p.name).group(1) for p in PATHS if NAME.match(p.name)]
    assert len(numbers) == len(set(numbers)), f"two lessons share a number: {sorted(numbers)}"


@by_name(PATHS)
def test_kernel_is_python3(path):
    spec = load(path).get("metadata", {}).get("kernelspec", {})
    assert spec.get("name") == "python3" and spec.get("language") == "python", spec


@by_name(PATHS)
def test_opens_with_objectives(path):
    cells = load(path)["cells"][:OBJECTIVES_WITHIN]
    found = [h for c in cells for h in headings(c)]
    assert any(h.lower().startswith("objectives") for h in found), (
        f"{path.name}: an 'Objectives' heading belongs in the first {OBJECTIVES_WITHIN} cells; found {found}")


@by_name(PATHS)
def test_ends_with_summary(path):
    found = [h for c in load(path)["cells"] for h in headings(c)]
    assert found and found[-1].lower().startswith("summary"), (
        f"{path.name}: the last heading should be 'Summary'; the last ones are {found[-3:]}")


@by_name(PATHS)
def test_has_a_self_check(path):
    code = [source(c) for c in load(path)["cells"] if c.get("cell_type") == "code"]
    assert any(re.search(r"^\s*assert\b", src, re.M) for src in code), (
        f"{path.name}: no code cell asserts anything, so a lesson that teaches something false would still pass")


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


@by_name(PATHS)
def test_checked_cells_were_saved_with_output(path):
    cells = load(path)["cells"]
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or CHECK_TAG not in tags(cell):
            continue
        assert cell.get("execution_count") is not None, (
            f"{path.name} cell {i}: tagged {CHECK_TAG} but saved unexecuted; nbval would skip it")
        assert cell.get("outputs"), f"{path.name} cell {i}: tagged {CHECK_TAG} but saved without output"
        errors = [o for o in cell["outputs"] if o.get("output_type") == "error"]
        assert not errors, f"{path.name} cell {i}: the saved output is an error: {errors[0].get('ename')}"
        images = [m for o in cell["outputs"] for m in o.get("data", {}) if m.startswith("image/")]
        assert not images, f"{path.name} cell {i}: nbval cannot compare images; do not tag this cell"


@by_name(PATHS)
def test_nbval_markers_are_tags_not_comments(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell.get("cell_type") == "code":
            assert "# NBVAL_" not in source(cell), (
                f"{path.name} cell {i}: nbval markers go in the cell's tags ({CHECK_TAG} ...), "
                "not in a comment the learner reads")


@by_name(PATHS)
def test_saved_tidy(path):
    """No execution timestamps, no widget state, no widget view without its static fallback
    (``python -m sockdemo.lab.lessons FILE`` tidies; ``./dev tidy`` does them all)."""
    from sockdemo.lab.lessons import WIDGET_VIEW, tidy_notebook
    nb = load(path)
    assert nb == tidy_notebook(nb), f"{path.name} is not tidy: run ./dev tidy"
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            assert WIDGET_VIEW not in out.get("data", {}), f"{path.name} cell {i}: a widget view saved"


@by_name(PATHS)
def test_only_loopback_addresses(path):
    nb = load(path)
    for i, cell in enumerate(nb["cells"]):
        texts = [source(cell)] + (list(text_outputs(cell)) if cell.get("cell_type") == "code" else [])
        for text in texts:
            for found in IPV4.findall(text):
                assert found in ALLOWED_IPV4, (
                    f"{path.name} cell {i}: address {found}; lessons use 127.0.0.1, ::1 or localhost only")


# -- the sanitize file -----------------------------------------------------------

def sanitize(text: str) -> str:
    from nbval.plugin import get_sanitize_patterns
    with open(SANITIZE, encoding="utf-8") as f:
        patterns = get_sanitize_patterns(f.read())
    assert patterns, "sanitize.cfg holds no regex/replace pairs nbval can read"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize("a, b", [
    ("Local address and port : 127.0.0.1:38535", "Local address and port : 127.0.0.1:41002"),
    ("Local address and port : [::1]:38535", "Local address and port : [::1]:5"),
    ("listening on ('127.0.0.1', 44513)", "listening on ('127.0.0.1', 1024)"),
    ("client port=50001 done", "client port=61234 done"),
    ("{'port': 50001, 'client': 0}", "{'port': 7, 'client': 0}"),
    ("took 0.123 s", "took 1.5 s"),
    ("finished at 12.3 ms", "finished at 0.500 ms"),
    ("<object at 0x7f3a2b4c5d60>", "<object at 0x55d0c0ffee00>"),
])
def test_sanitize_masks_what_varies(a, b):
    assert a != b and sanitize(a) == sanitize(b)


@pytest.mark.parametrize("a, b", [
    ("Read 14 bytes from socket.", "Read 15 bytes from socket."),
    ("Waiting for a connection...\n" * 4, "Waiting for a connection...\n" * 3),
    ("14 clients: 11 served, 3 refused", "14 clients: 10 served, 4 refused"),
    ("conn 1 on pool-1", "conn 2 on pool-2"),
])
def test_sanitize_keeps_what_lessons_check(a, b):
    assert sanitize(a) != sanitize(b)

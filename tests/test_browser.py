"""Every lesson of the learner's edition, run in JupyterLab in a real browser.

A learner opens a lesson and chooses *Run All*; this test does the same, in
headless Chromium (Debian's ``chromium``) driven by Playwright, against a
JupyterLab server of its own (``tests/browser/server.py``) whose root is a
fresh copy of the learner's edition (``sockdemo.lab.lessons.write_edition``).
For each lesson it opens ``/lab/tree/<lesson>`` at 1440x900, runs every cell,
waits (at most ``SOCKDEMO_BROWSER_TIMEOUT`` seconds, default 300) until
run-all settled, the kernel is idle and every widget built, and then fails if

- a cell's output is an error (read from the notebook's model: an output of
  type ``error``; a stderr stream is not one), or a code cell never ran;
- the page says "Error displaying widget", or a widget output holds no
  rendered widget (no ``.jupyter-widgets`` / ``.widget-*`` element inside);
- the lesson has an exercise (an answer marked ``# SOLUTION`` in the
  instructor's edition), yet no self-check printed "not answered yet": the
  learner's answers are blank, and a blank must be met with that note, not a
  traceback;
- a Stepper does not follow its buttons and slider (``tests/browser/stepper.py``).

Every figure (image output) and every widget is saved as one PNG under
``test-artifacts/browser/<lesson>/`` (``cell-NN-figure-M.png``,
``cell-NN-widget-M.png``, NN the cell's position in the notebook, from 0,
markdown cells counted; ``index.txt`` says which cell each one is), with the
browser's console and the server's log beside them, for a person to look at.

No Chromium, or no Playwright: the tests skip and say how to get them. The
browser gets a fresh, empty profile (Playwright makes one per launch) and the
flags that keep it off the network. Lessons start servers on 127.0.0.1 only.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

import pytest

from browser import notebook, scheduler, stepper
from browser.notebook import output_locator
from browser.server import JupyterLab
from sockdemo.lab.lessons import lesson_names, read_lesson, solution_blocks, write_edition

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "browser"
LESSONS = lesson_names()
TIMEOUT = float(os.environ.get("SOCKDEMO_BROWSER_TIMEOUT", "300"))   # seconds, per lesson
VIEWPORT = {"width": 1440, "height": 900}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GET_CHROMIUM = ("Debian's Chromium is needed: apt-get install chromium "
                "(.ci/run installs it; SOCKDEMO_CHROMIUM=/path/to/chromium picks another)")
GET_PLAYWRIGHT = ("Playwright is needed: pip install playwright (it is in the test extra: "
                  "pip install -e '.[test]'); never 'playwright install': the test drives the system's Chromium")

_timings: dict[str, float] = {}
_schedulers: dict[str, int] = {}   # lesson -> number of sd-scheduler widgets its page showed


def chromium_path() -> str | None:
    wanted = os.environ.get("SOCKDEMO_CHROMIUM")
    if wanted:
        return wanted if os.access(wanted, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def has_exercise(name: str) -> bool:
    """An answer marked for the learner's edition to blank (``# SOLUTION``, ``# BEGIN SOLUTION``)."""
    for cell in read_lesson(name)["cells"]:
        src = cell.get("source", "")
        if cell.get("cell_type") == "code" and solution_blocks("".join(src) if isinstance(src, list) else src):
            return True
    return False


# -- fixtures: a browser and a JupyterLab for the whole session ----------------------

@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(GET_PLAYWRIGHT)
    executable = chromium_path()
    if executable is None:
        pytest.skip(GET_CHROMIUM)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def lab(browser, tmp_path_factory, request):
    pytest.importorskip("jupyterlab", reason="JupyterLab is needed: pip install -e '.[lab]'")
    home = tmp_path_factory.mktemp("jupyterlab")
    lessons = home / "lessons"
    write_edition(lessons, instructor=False)
    server = JupyterLab(lessons, home, pythonpath=str(ROOT))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if server.log_path.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(server.log_path, ARTIFACTS / "jupyter-server.log")
        _summary(request.config)


def _summary(config) -> None:
    reporter = config.pluginmanager.getplugin("terminalreporter")
    capture = config.pluginmanager.getplugin("capturemanager")
    if reporter is None or not _timings:
        return
    times = ", ".join(f"{name.removesuffix('.ipynb')} {secs:.1f} s" for name, secs in _timings.items())
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line("")
        reporter.write_line(f"browser test: {len(_timings)} lesson(s) in {sum(_timings.values()):.0f} s ({times})")
        reporter.write_line(f"browser test: screenshots of every figure and widget in {ARTIFACTS}")


def _folder(name: str) -> Path:
    folder = ARTIFACTS / Path(name).stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


class LessonPage:
    """One lesson open in its own browser context; ``close`` ends the context and the kernel."""

    def __init__(self, browser, lab, name: str, folder: Path, console: str = "console.txt"):
        self.lab, self.name, self.folder, self.console_file = lab, name, folder, console
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"page error: {e}"))
        notebook.open_lesson(self.page, lab, name)

    def run(self):
        notebook.run_all(self.page, self.name, TIMEOUT)
        built = notebook.wait_widgets_built(self.page, self.name)
        return notebook.collect(self.page, self.name), built

    def close(self) -> None:
        try:
            (self.folder / self.console_file).write_text("\n".join(self.console) + "\n", encoding="utf-8")
            self.context.close()
        finally:
            self.lab.shutdown_kernels()


def _screenshots(page, nb, folder: Path) -> list[str]:
    """One PNG per figure and per widget; an index.txt naming each one's cell."""
    index, failed = [], []
    for kind, selector in (("figure", "img"), ("widget", None)):
        for cell, j, n, _out in nb.outputs(kind):
            target = output_locator(page, cell.index, j)
            if selector:
                target = target.locator(selector).first
            file = f"cell-{cell.index:02d}-{kind}-{n}.png"
            try:
                notebook.screenshot(page, target, str(folder / file), VIEWPORT)
                index.append(f"{file}  {cell.label}")
            except Exception as exc:  # noqa: BLE001 - reported with the lesson's problems
                failed.append(f"{cell.label}: no screenshot of {kind} {n}: {type(exc).__name__}: {exc}")
    page.screenshot(path=str(folder / "page.png"))
    index.append("page.png  the window at the end")
    (folder / "index.txt").write_text("\n".join(index) + "\n", encoding="utf-8")
    return failed


def _steppers(page, nb, folder: Path) -> tuple[int, list[str]]:
    count, found, log = 0, [], []
    for cell, j, n, _out in nb.outputs("widget"):
        output = output_locator(page, cell.index, j)
        for i, root in enumerate(stepper.find(output), start=1):
            count += 1
            label = f"{cell.label}: widget {n}: Stepper {i}"
            check = stepper.Check(page, root, label)
            found += check.run()
            log += [label] + [f"  {line}" for line in check.log + check.problems]
            notebook.screenshot(page, root, str(folder / f"cell-{cell.index:02d}-widget-{n}-stepper-{i}-clicked.png"),
                                VIEWPORT)
    if log:
        (folder / "steppers.txt").write_text("\n".join(log) + "\n", encoding="utf-8")
    return count, found


# -- the tests ------------------------------------------------------------------------

@pytest.mark.parametrize("name", LESSONS)
def test_lesson_in_the_browser(browser, lab, name):
    """Run All in the learner's edition: no error, every widget drawn, every Stepper follows."""
    started = time.monotonic()
    folder = _folder(name)
    lesson = LessonPage(browser, lab, name, folder)
    try:
        nb, built = lesson.run()
        problems = notebook.problems(nb, has_exercise=has_exercise(name))
        if not built:
            problems.append(f"some widget still said 'Loading widget...' {notebook.RENDER_TIMEOUT_MS // 1000} s "
                            "after the last cell ran")
        problems += _screenshots(lesson.page, nb, folder)
        _schedulers[name] = lesson.page.locator(".sd-scheduler").count()
        _steppers_seen, stepper_problems = _steppers(lesson.page, nb, folder)
        problems += stepper_problems
    finally:
        lesson.close()
        _timings[name] = time.monotonic() - started
    assert not problems, f"{name} in the browser (screenshots in {folder}):\n- " + "\n- ".join(problems)


def _scheduler_in_package() -> bool:
    """Whether any of the package's files (its code, its lessons) names the class at all."""
    package = ROOT / "sockdemo"
    for path in list(package.rglob("*.py")) + list(package.rglob("*.ipynb")):
        try:
            if "sd-scheduler" in path.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def test_scheduler_level(request):
    """Play one scheduler level to its verdict, in the first lesson that shows one.

    Skips, saying so, until a lesson's output holds a widget with the CSS class
    ``sd-scheduler``. The contract the level's widget meets (and all this test
    relies on; ``tests/browser/scheduler.py`` plays it):

    - ``sd-scheduler``: CSS class of the level's outermost element (an
      ipywidgets box: ``box.add_class("sd-scheduler")``).
    - ``sd-choice``: CSS class of one button per thread that may run now
      (``Button(description="pool-1").add_class("sd-choice")``); a thread that
      may not run now has no *enabled* ``sd-choice`` button (disabled or gone).
    - ``sd-verdict``: CSS class of exactly one element inside the level (an
      HTML widget, say) whose text is empty while the level is played and says
      the outcome, won or lost, once it is over; from then on no enabled
      ``sd-choice`` button is left.
    - Every choice changes the level's visible text (the schedule so far, a
      move count, a Stepper's ``step k / n``): that is how the test knows its
      click was taken (it then also waits for the kernel to be idle).
    - Whatever is chosen, the level ends within 300 choices; the test always
      picks the first enabled choice in page order.

    Screenshots: ``test-artifacts/browser/scheduler/`` (at the start and at the verdict).
    """
    if not _scheduler_in_package():
        pytest.skip("no scheduler level yet: no lesson shows a widget with the CSS class 'sd-scheduler' "
                    "(the package never names it)")
    browser, lab = request.getfixturevalue("browser"), request.getfixturevalue("lab")
    # Lessons known to show one first; then those this session has not opened yet.
    candidates = [n for n in LESSONS if _schedulers.get(n)] + [n for n in LESSONS if n not in _schedulers]
    folder = ARTIFACTS / "scheduler"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in candidates:
        lesson = LessonPage(browser, lab, name, folder, console=f"{Path(name).stem}-console.txt")
        try:
            lesson.run()
            levels = lesson.page.locator(f".{scheduler.SCHEDULER}")
            if not levels.count():
                continue
            root = levels.first
            label = f"{name}: the first .{scheduler.SCHEDULER}"
            notebook.screenshot(lesson.page, root, str(folder / f"{Path(name).stem}-start.png"), VIEWPORT)
            verdict, moves = scheduler.play(lesson.page, root, label)
            notebook.screenshot(lesson.page, root, str(folder / f"{Path(name).stem}-verdict.png"), VIEWPORT)
            print(f"{label}: verdict {verdict!r} after {len(moves)} moves: {' '.join(moves)}")
            return
        finally:
            lesson.close()
    pytest.skip("no lesson shows a widget with the CSS class 'sd-scheduler' yet "
                "(the package names it, but no lesson's output carries it)")


# -- the checker itself catches what it should ----------------------------------------

def _code(source: str, tags=()) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": f"c{abs(hash(source)) % 10**8}",
            "metadata": {"tags": list(tags)}, "outputs": [], "source": source}


BROKEN = {
    "cells": [
        _code("from IPython.display import display\n"
              "from sockdemo.sim.simulation import run_scenario\n"
              "from sockdemo.views.stepper import Stepper"),
        # a widget view for a model that does not exist: 'Error displaying widget: model not found'
        _code("display({'application/vnd.jupyter.widget-view+json': "
              "{'model_id': 'no-such-model', 'version_major': 2, 'version_minor': 0}}, raw=True)"),
        # a widget whose view class does not exist: ipywidgets shows its error stand-in
        _code("import ipywidgets\nfrom traitlets import Unicode\n\n"
              "class NoView(ipywidgets.DOMWidget):\n"
              "    _view_name = Unicode('NoSuchView').tag(sync=True)\n"
              "    _view_module = Unicode('@jupyter-widgets/controls').tag(sync=True)\n\n"
              "NoView()"),
        # a Stepper whose Back does nothing
        _code("broken = Stepper(run_scenario('one_client', seed=0).trace)\n"
              "broken.back = lambda: None\n"
              "display(broken)"),
        _code("raise ValueError('raised on purpose')", tags=["raises-exception"]),   # allowed: tagged
        _code("print('still running')"),
        _code("1 / 0"),
        _code("print('never runs')"),
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_the_checker_catches_a_broken_notebook(browser, lab, monkeypatch):
    """A generated notebook with a widget that cannot be shown, a Stepper whose Back does
    nothing and a cell that raises: each is reported, and the tagged raise is not."""
    import json

    monkeypatch.setattr(stepper, "CLICK_TIMEOUT_MS", 4_000)   # the broken Back is waited on for this long
    name = "zz-broken-on-purpose.ipynb"
    (lab.root / name).write_text(json.dumps(BROKEN), encoding="utf-8")
    folder = ARTIFACTS / "self-test"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lesson = LessonPage(browser, lab, name, folder, console="broken-console.txt")
    try:
        nb, _built = lesson.run()
        problems = notebook.problems(nb, has_exercise=True)
        _count, stepper_problems = _steppers(lesson.page, nb, folder)
    finally:
        lesson.close()
        (lab.root / name).unlink()
    text = "\n".join(problems + stepper_problems)
    assert "cell 6" in text and "ZeroDivisionError" in text, text
    assert "raised on purpose" not in text, text
    assert "1 code cell(s) never ran" in text and "cell 7 (" in text, text
    assert "Error displaying widget" in text and "cell 1" in text and "did not render" in text, text
    assert "cell 2" in text and "failed to build and show ipywidgets' error stand-in" in text, text
    assert "after Back at step 3, the header never read step 2" in text, text
    assert "not answered yet" in text, text


# A level that meets the contract of test_scheduler_level, as small as it gets: "pool-1"
# may run only after "main" has; four moves end it. The widget author's reference.
STAND_IN_LEVEL = """\
import ipywidgets as w

class Level(w.VBox):
    def __init__(self):
        self.moves = []
        self.buttons = {name: w.Button(description=name) for name in ("main", "pool-1")}
        for button in self.buttons.values():
            button.add_class("sd-choice")
            button.on_click(self.choose)
        self.buttons["pool-1"].disabled = True          # not runnable yet
        self.schedule = w.HTML("schedule: (nothing yet)")
        self.verdict = w.HTML("")
        self.verdict.add_class("sd-verdict")
        super().__init__([w.HBox(list(self.buttons.values())), self.schedule, self.verdict])
        self.add_class("sd-scheduler")

    def choose(self, button):
        self.moves.append(button.description)
        self.schedule.value = "schedule: " + " ".join(self.moves)
        self.buttons["main"].disabled = self.moves[-1] == "main"
        self.buttons["pool-1"].disabled = self.moves[-1] != "main"
        if len(self.moves) == 4:
            for b in self.buttons.values():
                b.disabled = True
            self.verdict.value = "<b>Won</b>: main and pool-1 took turns"

Level()
"""


def test_the_scheduler_player_on_a_stand_in_level(browser, lab):
    """The player of test_scheduler_level, on the smallest level that meets its contract."""
    import json

    name = "zz-stand-in-level.ipynb"
    nb = dict(BROKEN, cells=[_code(STAND_IN_LEVEL)])
    (lab.root / name).write_text(json.dumps(nb), encoding="utf-8")
    folder = ARTIFACTS / "self-test"
    folder.mkdir(parents=True, exist_ok=True)
    lesson = LessonPage(browser, lab, name, folder, console="stand-in-level-console.txt")
    try:
        nb, _built = lesson.run()
        assert notebook.problems(nb, has_exercise=False) == []
        root = lesson.page.locator(f".{scheduler.SCHEDULER}").first
        verdict, moves = scheduler.play(lesson.page, root, "the stand-in level")
        notebook.screenshot(lesson.page, root, str(folder / "stand-in-level-verdict.png"), VIEWPORT)
    finally:
        lesson.close()
        (lab.root / name).unlink()
    assert verdict == "Won: main and pool-1 took turns"
    assert moves == ["main", "pool-1", "main", "pool-1"]


def _nb(*cells) -> notebook.Notebook:
    return notebook.Notebook(list(cells), {"done": True, "ok": True}, page_text="")


def _out(kind="other", output_type="stream", text="", **more) -> notebook.Output:
    fields = dict(mimes=[], ename=None, evalue=None, traceback=None, marked=True, rendered=None, dom_text=None)
    fields.update(more)
    return notebook.Output(output_type, kind, text=text, **fields)


def test_problems_name_each_error_and_spare_a_tagged_one():
    """The checker without a browser: an error output fails, a tagged one does not, a
    cell that never ran is named, a widget with nothing rendered is named."""
    error = dict(output_type="error", ename="KeyError", evalue="'x'", traceback=["KeyError: 'x'"])
    nb = _nb(notebook.Cell(0, "code", "d['x']", [], 1, [_out(**error)]),
             notebook.Cell(1, "code", "raise KeyError('x')", ["raises-exception"], 2, [_out(**error)]),
             notebook.Cell(2, "code", "print(1)", [], None, []),
             notebook.Cell(3, "code", "   ", [], None, []),
             notebook.Cell(4, "code", "box", [], 3, [_out("widget", "display_data", rendered=False,
                                                           dom_text="Loading widget...")]))
    found = notebook.problems(nb, has_exercise=False)
    assert len(found) == 3, found
    assert found[0].startswith("cell 0 In [1] (\"d['x']\") raised KeyError")
    assert found[1].startswith("1 code cell(s) never ran") and "cell 2 " in found[1]
    assert "widget 1 did not render" in found[2] and "Loading widget" in found[2]


def test_problems_want_not_answered_yet_where_there_is_an_exercise():
    note = _out(text=f"answer: {notebook.NOT_ANSWERED} (replace the ...)")
    answered = _nb(notebook.Cell(0, "code", "check(...)", [], 1, [note]))
    silent = _nb(notebook.Cell(0, "code", "print(2)", [], 1, [_out(text="2")]))
    assert notebook.problems(answered, has_exercise=True) == []
    assert notebook.problems(silent, has_exercise=False) == []
    assert "not answered yet" in notebook.problems(silent, has_exercise=True)[0]

"""Click a Stepper (``sockdemo.views.stepper.Stepper``) the way a learner does, and check it follows.

What this relies on, and nothing else of the widget's layout:

- the widget: an element with the CSS class ``sd-stepper``; until the widget
  carries it, the innermost widget box holding a button "Step", a button
  "Back" and a header that reads ``step k / n``;
- its buttons are ipywidgets Buttons whose descriptions are ``Step``,
  ``Back`` and (optionally) ``Reset``;
- a header (any text inside the widget) reading ``step k / n``: the step
  shown and the steps recorded;
- a slider over the steps: of the ipywidgets sliders inside the widget, the
  one whose range ends at ``n`` and whose value is ``k``.

The check: Reset (when there is one) shows step 0; Step three times moves k
by +1 each; Back moves it by -1 and shows exactly what the widget showed the
last time it was at that step; dragging the slider and typing a value into
its readout each move k to the slider's value. Its panels (everything but
the header) must change at least once over the three steps, and whenever
it comes back to a step it shows exactly what it showed there before (all
but what says where the run stands: the total, the live end's note, a
scheduler level's choices and verdict).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from .notebook import wait_kernel_idle

CLICK_TIMEOUT_MS = 20_000   # a click round-trips through the kernel
HEADER = re.compile(r"step (\d+) / (\d+)")

# Mark the steppers of one output node: data-sd-stepper="0", "1", ...
_FIND = """(node) => {
  const isButton = (el, label) => el.textContent.trim() === label;
  const boxes = Array.from(node.querySelectorAll('.sd-stepper'));
  let found = boxes;
  if (!found.length) {
    const candidates = Array.from(node.querySelectorAll('.widget-box')).filter(box => {
      const buttons = Array.from(box.querySelectorAll('button'));
      return buttons.some(b => isButton(b, 'Step')) && buttons.some(b => isButton(b, 'Back'))
        && /step \\d+ \\/ \\d+/.test(box.textContent);
    });
    found = candidates.filter(box => !candidates.some(other => other !== box && box.contains(other)));
  }
  found.forEach((box, i) => box.setAttribute('data-sd-stepper', String(i)));
  return found.length;
}"""

# The widget's state as the test compares it: header (k, n), panel texts, slider.
# What says where the run stands rather than what step k shows is left out of
# ``text``, like the total n: the header's note at the live end of a
# simulation (``sd-ended``: "the last step recorded so far ...") and a
# scheduler level's box (``sd-scheduler``: its choices and verdict are the
# live end's, whatever step is shown).
_READ = """(root) => {
  const m = /step (\\d+) \\/ (\\d+)/.exec(root.textContent);
  const live = '.sd-scheduler, .sd-ended';
  const htmls = Array.from(root.querySelectorAll('.widget-html-content, .widget-html, .sd-console, .sd-code'))
    .filter(el => !el.querySelector('.widget-html-content') && !el.closest('.sd-scheduler'))
    .map(el => el.innerText);
  const shown = root.cloneNode(true);   // a copy's text: the same way at every read
  shown.querySelectorAll(live).forEach(el => el.remove());
  const text = shown.textContent;
  const sliders = Array.from(root.querySelectorAll('.widget-slider')).map((s, i) => {
    const handle = s.querySelector('[role="slider"]');
    const label = s.querySelector('.widget-label');
    return {index: i, label: label ? label.textContent.trim() : '',
            value: handle ? Number(handle.getAttribute('aria-valuenow')) : null,
            max: handle ? Number(handle.getAttribute('aria-valuemax')) : null};
  });
  return {k: m ? Number(m[1]) : null, n: m ? Number(m[2]) : null, text: text,
          panels: htmls, sliders: sliders};
}"""


@dataclass
class View:
    k: int | None
    n: int | None
    text: str
    panels: list
    sliders: list

    def shown(self) -> str:
        """What the widget shows, less the step count's total (a live simulation's grows)."""
        return HEADER.sub(lambda m: f"step {m[1]}", self.text)

    def panel_text(self) -> str:
        return "\n".join(p for p in self.panels if not HEADER.search(p))


def find(output) -> list:
    """The Stepper roots inside one output node (a Playwright locator), as locators."""
    count = output.evaluate(_FIND)
    return [output.locator(f'[data-sd-stepper="{i}"]') for i in range(count)]


def read(root) -> View:
    raw = root.evaluate(_READ)
    return View(raw["k"], raw["n"], raw["text"], raw["panels"], raw["sliders"])


def _button(root, label: str):
    return root.locator("button", has_text=re.compile(rf"^\s*{label}\s*$"))


def _wait_for(root, page, predicate, what: str) -> View:
    """Poll the widget until ``predicate(view)`` holds once the kernel is idle (the
    panels come in messages of their own, after the header); fail with ``what``."""
    deadline = time.monotonic() + CLICK_TIMEOUT_MS / 1000
    while True:
        if predicate(read(root)):
            wait_kernel_idle(page, CLICK_TIMEOUT_MS)
            view = read(root)
            if predicate(view):
                return view
        if time.monotonic() > deadline:
            view = read(root)
            raise AssertionError(f"{what}; the widget shows step {view.k} / {view.n}")
        page.wait_for_timeout(100)   # polling interval


class Check:
    """Drive one Stepper; ``problems`` collects what did not follow."""

    def __init__(self, page, root, label: str):
        self.page, self.root, self.label = page, root, label
        self.problems: list[str] = []
        self.seen: dict[int, str] = {}   # k -> what the widget showed there
        self.log: list[str] = []         # what was done and what the header said after it

    def _fail(self, text: str) -> None:
        self.problems.append(f"{self.label}: {text}")

    def _remember(self, view: View) -> None:
        if view.k is None:
            return
        if view.k in self.seen and self.seen[view.k] != view.shown():
            self._fail(f"step {view.k} shows something else than the last time it was shown")
        self.seen[view.k] = view.shown()

    def click(self, label: str, expect) -> View:
        before = read(self.root)
        button = _button(self.root, label)
        if button.count() != 1:
            raise AssertionError(f"{self.label}: {button.count()} buttons named {label!r}")
        button.click()
        want = expect(before)
        view = _wait_for(self.root, self.page, lambda v: v.k == want,
                         f"{self.label}: after {label} at step {before.k}, the header never read step {want}")
        self._remember(view)
        self.log.append(f"{label} -> step {view.k} / {view.n}")
        return view

    def slider(self, view: View):
        """The slider over the steps: its range ends at n, its value is k."""
        fits = [s for s in view.sliders if s["max"] == view.n and s["value"] == view.k]
        if len(fits) > 1:
            fits = [s for s in fits if s["label"].lower() == "step"] or fits[:1]
        if not fits:
            raise AssertionError(f"{self.label}: no slider with value {view.k} and maximum {view.n} "
                                 f"(sliders: {view.sliders})")
        return self.root.locator(".widget-slider").nth(fits[0]["index"])

    def run(self) -> list[str]:
        try:
            self._run()
        except AssertionError as exc:
            self.problems.append(str(exc))
        return self.problems

    def _run(self) -> None:
        start = read(self.root)
        if start.k is None:
            raise AssertionError(f"{self.label}: no header reading 'step k / n'")
        self._remember(start)
        self.log.append(f"start: step {start.k} / {start.n}")
        view = start
        if _button(self.root, "Reset").count() == 1:
            view = self.click("Reset", lambda v: 0)
        elif start.k + 3 > start.n:
            self._fail("no Reset button, and too near the end to take three steps")
            return
        panels = [view.panel_text()]
        for _ in range(3):
            view = self.click("Step", lambda v: v.k + 1)
            panels.append(view.panel_text())
        if len(set(panels)) < 2:
            self._fail("its panels did not change over three steps (only the header did)")
        view = self.click("Back", lambda v: v.k - 1)
        self._drag(view)
        self._type(read(self.root))

    def _drag(self, view: View) -> None:
        slider = self.slider(view)
        track = slider.locator(".noUi-base, .slider").first.bounding_box()
        handle = slider.locator('[role="slider"]').first.bounding_box()
        if not track or not handle:
            raise AssertionError(f"{self.label}: the slider has no size on the page")
        # Towards the far end from where it stands, so the value surely changes.
        fraction = 0.75 if view.k <= view.n / 2 else 0.25
        mouse = self.page.mouse
        mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
        mouse.down()
        target_x = track["x"] + track["width"] * fraction
        mouse.move(target_x, handle["y"] + handle["height"] / 2, steps=8)
        mouse.up()
        moved = _wait_for(self.root, self.page, lambda v: v.k != view.k and self._value(v) == v.k,
                          f"{self.label}: dragging the slider from step {view.k} did not move the header "
                          "to the slider's value")
        self._remember(moved)
        self.log.append(f"drag slider to {fraction:.0%} -> step {moved.k} / {moved.n}")

    def _type(self, view: View) -> None:
        slider = self.slider(view)
        want = 1 if view.k != 1 else 2
        want = min(want, view.n)
        readout = slider.locator(".widget-readout")
        readout.click()
        readout.press("Control+a")
        self.page.keyboard.type(str(want))
        readout.press("Enter")
        typed = _wait_for(self.root, self.page, lambda v: v.k == want and self._value(v) == want,
                          f"{self.label}: typing {want} into the slider's readout did not show step {want}")
        self._remember(typed)
        self.log.append(f"type {want} into the slider's readout -> step {typed.k} / {typed.n}")

    def _value(self, view: View):
        """The value of the step slider in ``view`` (the one whose range ends at n)."""
        fits = [s for s in view.sliders if s["max"] == view.n]
        if len(fits) > 1:
            fits = [s for s in fits if s["label"].lower() == "step"] or fits[:1]
        return fits[0]["value"] if fits else None

"""Play a scheduler level (the game in which the learner picks which thread runs next) to its verdict.

The contract the widget meets, and all the player relies on (it is repeated
in ``tests/test_browser.py::test_scheduler_level``):

``sd-scheduler``
    CSS class of the level's outermost element (an ipywidgets box:
    ``box.add_class("sd-scheduler")``), inside a lesson's cell output.
``sd-choice``
    CSS class of one button per thread that may run now
    (``Button(description="pool-1").add_class("sd-choice")``). A thread that
    may not run now has no enabled ``sd-choice`` button (disabled or absent).
``sd-verdict``
    CSS class of one element inside the level (e.g. an HTML widget with
    ``add_class("sd-verdict")``) whose text is empty (or only whitespace)
    while the level is played, and says the outcome once it is over, won or
    lost. From then on no enabled ``sd-choice`` button is left.

Every choice changes the level's visible text (the schedule so far, a move
count, a Stepper's ``step k / n`` ...): that is how the player knows its
click was taken. Whatever is chosen, the level ends within ``MAX_MOVES``
choices. The player always picks the first enabled choice in page order.
"""
from __future__ import annotations

from .notebook import wait_kernel_idle

SCHEDULER = "sd-scheduler"
CHOICE = "sd-choice"
VERDICT = "sd-verdict"
MAX_MOVES = 300
MOVE_TIMEOUT_MS = 20_000

_STATE = """(root) => {
  const verdicts = Array.from(root.querySelectorAll('.%s'));
  const choices = Array.from(root.querySelectorAll('button.%s, .%s button'))
    .filter(b => !b.disabled);
  return {verdicts: verdicts.length, verdict: verdicts.map(v => v.innerText.trim()).join(' ').trim(),
          choices: choices.map(b => b.textContent.trim()), text: root.innerText};
}""" % (VERDICT, CHOICE, CHOICE)


def state(root) -> dict:
    return root.evaluate(_STATE)


def play(page, root, label: str) -> tuple[str, list[str]]:
    """Play until the verdict; return (verdict, the choices made). Raises AssertionError
    naming the broken part of the contract."""
    now = state(root)
    if now["verdicts"] != 1:
        raise AssertionError(f"{label}: {now['verdicts']} elements with class {VERDICT} (want exactly one)")
    if now["verdict"]:
        raise AssertionError(f"{label}: the level shows a verdict before any move: {now['verdict']!r}")
    moves: list[str] = []
    while not now["verdict"]:
        if len(moves) >= MAX_MOVES:
            raise AssertionError(f"{label}: no verdict after {MAX_MOVES} moves ({' '.join(moves[-10:])} ...)")
        if not now["choices"]:
            raise AssertionError(f"{label}: no enabled {CHOICE} button and no verdict after {len(moves)} moves")
        pick = now["choices"][0]
        root.locator(f"button.{CHOICE}:not([disabled]), .{CHOICE} button:not([disabled])").first.click()
        moves.append(pick)
        before = now["text"]
        handle = page.wait_for_function(
            "([root, before]) => root.innerText !== before", arg=[root.element_handle(), before],
            timeout=MOVE_TIMEOUT_MS, polling=100)
        handle.dispose()
        wait_kernel_idle(page, MOVE_TIMEOUT_MS)   # every update the move caused has arrived
        now = state(root)
    if now["choices"]:
        raise AssertionError(f"{label}: the verdict {now['verdict']!r} is shown, but choices are still enabled: "
                             f"{now['choices']}")
    return now["verdict"], moves

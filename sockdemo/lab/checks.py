"""Self-checks for the lessons' exercises: not answered yet, wrong (with a hint), or right (and why).

Mirrors nothing in .NET; it is the teaching half of the lab, shaped after
the checks instructors know from otter-grader and nbgrader. An exercise cell
holds the learner's answer (``...`` until they write one); the check cell
below it calls ``check``, which tells three cases apart:

- **not answered yet**: the answer is still ``...``. A short note, no
  traceback, and *Run All* carries on.
- **wrong**: ``WrongAnswer`` is raised with a hint that names the likely
  mistake (each exercise lists the mistakes learners make, beside its
  solution) but never the answer. A value of the wrong type gets a sentence
  saying what type is wanted. In JupyterLab only the message shows, not a
  traceback; the cell still fails, so a wrong answer in the instructor's
  edition fails its test.
- **right**: one line saying why it is right.

The right value is always worked out from the run beside the exercise, never
written into the check, so an answer is judged against what the learner saw.
An exercise with many right answers (an order of choices that wins a
scheduler level) gives a test instead of a value: ``right`` is then a
callable that takes the answer and says whether it is right (by running it),
and ``kind`` names the type wanted.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, Optional, Tuple, Union

__all__ = ["check", "WrongAnswer", "NOT_ANSWERED"]

NOT_ANSWERED = "not answered yet"
Mistake = Tuple[Union[Any, Callable[[Any], bool]], str]   # (a wrong value or a test for one, its hint)


class WrongAnswer(AssertionError):
    """An exercise's answer is wrong; the message is the hint."""


def check(name: str, answer: Any, right: Any, *, why: str, hint: str,
          mistakes: Iterable[Mistake] = (), kind: Optional[type] = None) -> None:
    """Judge ``answer`` (the learner's value of ``name``) against ``right``: the
    right value, or a test of the answer (a callable returning True when it is
    right; ``kind`` is then required).

    ``why`` explains a right answer; ``hint`` helps with any wrong one that is
    not in ``mistakes``: pairs of a wrong value (or a predicate on the answer)
    and the hint for that mistake. ``kind`` is the type wanted (by default the
    right value's). Prints a line when right or not answered yet; raises
    ``WrongAnswer`` when wrong."""
    is_test = _is_test(right)
    if is_test and kind is None:
        raise TypeError("check: a test of the answer (a callable right) needs kind=, the type wanted")
    if answer is Ellipsis:
        print(f"{name}: {NOT_ANSWERED} (replace the ... with your answer and run the cell again)")
        return
    wanted = kind or type(right)
    if not _is_a(answer, wanted):
        raise WrongAnswer(f"{name} should be {_kind_name(wanted)}, but it is "
                          f"{_kind_name(type(answer))} ({answer!r}). {_example(wanted)}")
    if (right(answer) is True) if is_test else _same(answer, right):
        print(f"Right: {why}")
        return
    for mistake, mistake_hint in mistakes:
        if (mistake(answer) if _is_test(mistake) else _same(answer, mistake)):
            raise WrongAnswer(f"{name} = {answer!r} is not right. {mistake_hint}")
    raise WrongAnswer(f"{name} = {answer!r} is not right. {hint}")


def _is_test(value: Any) -> bool:
    """A predicate on the answer, not a value: a class (an exception a learner
    might name) is callable too, but it is a value."""
    return callable(value) and not isinstance(value, type)


def _is_a(value: Any, wanted: type) -> bool:
    if wanted is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if wanted is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, wanted)


def _same(answer: Any, right: Any) -> bool:
    if isinstance(right, float) or isinstance(answer, float):
        return abs(answer - right) <= 1e-9 * max(1.0, abs(right))
    return answer == right and type(answer) is type(right) or (
        isinstance(right, (list, tuple)) and list(answer) == list(right))


_KINDS = {int: ("a whole number", "Write it without quotes, like 3."),
          float: ("a number", "Write it without quotes, like 2.5."),
          str: ("a text in quotes", 'Put it in quotes, like "main".'),
          bool: ("True or False", "Write True or False, without quotes."),
          list: ("a list", 'Write it in square brackets, like ["a", "b"].'),
          tuple: ("a tuple", "Write it in parentheses, like (1, 2)."),
          dict: ("a dict", "Write it in braces, like {1: 40}."),
          type(None): ("None", "")}


def _kind_name(kind: type) -> str:
    return _KINDS.get(kind, (f"a {kind.__name__}", ""))[0]


def _example(kind: type) -> str:
    return _KINDS.get(kind, ("", ""))[1]


def _show_without_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for WrongAnswer: the hint alone, as the cell's error."""
    print(f"\u2717 {value}", file=sys.stderr)
    return []


def _install() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((WrongAnswer,), _show_without_traceback)


_install()

"""sockdemo.lab.checks: not answered yet, wrong with a hint, right with why; a test of the answer."""
from __future__ import annotations

import pytest

from sockdemo.lab.checks import WrongAnswer, check


def test_a_value_is_judged_by_equality(capsys):
    check("n", 3, 3, why="three", hint="count again")
    assert "Right: three" in capsys.readouterr().out
    with pytest.raises(WrongAnswer, match="count again"):
        check("n", 4, 3, why="three", hint="count again")
    check("n", ..., 3, why="three", hint="count again")
    assert "not answered yet" in capsys.readouterr().out


def test_a_test_of_the_answer_judges_answers_that_have_many_right_values(capsys):
    wins = lambda order: sorted(order) == ["a", "b"]   # noqa: E731
    check("order", ["b", "a"], wins, kind=list, why="any order of a and b", hint="a and b")
    check("order", ["a", "b"], wins, kind=list, why="any order of a and b", hint="a and b")
    assert capsys.readouterr().out.count("Right:") == 2
    with pytest.raises(WrongAnswer, match="empty"):
        check("order", [], wins, kind=list, why="", hint="a and b", mistakes=[([], "empty")])
    with pytest.raises(WrongAnswer, match="a and b"):
        check("order", ["a"], wins, kind=list, why="", hint="a and b")
    with pytest.raises(WrongAnswer, match="should be a list"):
        check("order", "ab", wins, kind=list, why="", hint="a and b")
    check("order", ..., wins, kind=list, why="", hint="")
    assert "not answered yet" in capsys.readouterr().out


def test_a_test_of_the_answer_needs_the_kind_wanted():
    with pytest.raises(TypeError, match="kind="):
        check("order", ["a"], lambda order: True, why="", hint="")


def judge(answer, right, **kw):
    kw.setdefault("why", "because")
    kw.setdefault("hint", "a generic hint")
    check("x", answer, right, **kw)


def test_blank_right_and_wrong(capsys):
    judge(..., 4)
    assert "not answered yet" in capsys.readouterr().out
    judge(4, 4)
    assert capsys.readouterr().out.startswith("Right: because")
    with pytest.raises(WrongAnswer, match="a generic hint"):
        judge(3, 4)
    with pytest.raises(WrongAnswer, match="should be a whole number"):
        judge("4", 4)


def test_a_mistake_is_a_value_or_a_test():
    with pytest.raises(WrongAnswer, match="one per client"):
        judge(3, 4, mistakes=[(3, "one per client")])
    with pytest.raises(WrongAnswer, match="names one thread"):
        judge("pool-2", "pool", mistakes=[(lambda a: a.startswith("pool-"), "names one thread")])


def test_a_class_given_as_a_mistake_is_a_value_not_a_test():
    # A class is callable; calling it would "match" any answer.
    mistakes = [(KeyError, "not that one")]
    with pytest.raises(WrongAnswer, match="a generic hint"):
        judge(ConnectionAbortedError, ConnectionResetError, kind=type, mistakes=mistakes)
    with pytest.raises(WrongAnswer, match="not that one"):
        judge(KeyError, ConnectionResetError, kind=type, mistakes=mistakes)

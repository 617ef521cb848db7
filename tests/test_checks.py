"""sockdemo.lab.checks: the three cases, and mistakes given as values or as tests."""
from __future__ import annotations

import pytest

from sockdemo.lab.checks import WrongAnswer, check


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

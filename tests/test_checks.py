"""sockdemo.lab.checks: not answered yet, wrong with a hint, right with why; a test of the answer."""
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

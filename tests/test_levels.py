"""The scheduler levels: the default order loses each, a learner's order wins it,
and the Stepper offers the choices and the verdict as buttons."""
import html

import pytest

pytest.importorskip("ipywidgets")

from sockdemo.sim.levels import LEVELS, UNPLAYABLE, judge, play  # noqa: E402
from sockdemo.sim.simulation import Simulation  # noqa: E402
from sockdemo.views.stepper import Stepper  # noqa: E402

# One winning order per level (what the lesson's solutions say), found by
# hand: let the others run while main waits; let each client connect only
# while main waits, so no connection is ever waiting when main calls
# BeginAccept; take client-2's data first.
WINS = {
    "callbacks_race_main": ["client-1", "main", "main", "main", "main", "main", "main", "engine",
                            "pool-1", "pool-1", "pool-1", "pool-1", "pool-1", "client-1", "engine",
                            "engine", "pool-2"],
    "late_reset": ["main", "main", "main", "main", "main", "main", "client-1", "engine",
                   "pool-1", "pool-1", "pool-1", "pool-1", "main", "main", "main", "main",
                   "pool-1", "pool-1", "client-2", "engine", "pool-1", "pool-1", "pool-1", "pool-1",
                   "main", "main", "main"],
}


@pytest.mark.parametrize("name", sorted(LEVELS))
def test_the_default_order_does_not_win(name):
    _, verdict = play(LEVELS[name], [])
    assert verdict is not None and not verdict.won, verdict


@pytest.mark.parametrize("name", sorted(WINS))
def test_a_learners_order_wins(name):
    _, verdict = play(LEVELS[name], WINS[name])
    assert verdict is not None and verdict.won, verdict


@pytest.mark.parametrize("name", sorted(LEVELS))
def test_the_earliest_first_order_does_not_win_either(name):
    level = LEVELS[name]
    sim = level.start()
    try:
        while level.verdict(sim) is None:
            sim.replay([sim.choices()[0].thread])
        assert not level.verdict(sim).won
    finally:
        sim.close()


def test_choices_say_what_each_thread_does_next():
    sim = Simulation("one_client", choose=True)
    try:
        seen = []
        for _ in range(8):
            seen.append([(c.thread, c.text) for c in sim.choices()])
            sim.replay([sim.choices()[0].thread])
    finally:
        sim.close()
    flat = [pair for step in seen for pair in step]
    assert ("client-1", "connects to 127.0.0.1:11000") in flat
    assert ("main", "calls allDone.Reset()") in flat
    assert ("main", "prints 'Waiting for a connection...'") in flat
    assert ("main", "calls begin_accept on the listener") in flat
    assert ("engine", "client-1's SYN reaches the listener") in flat


def test_the_stepper_plays_a_level_to_its_verdict():
    level = LEVELS["callbacks_race_main"]
    sim = level.start()
    try:
        s = Stepper(sim, level=level)
        assert "Goal" in s.goal.value and s.verdict.value == ""
        buttons = [row.children[0] for row in s.choice_box.children]
        assert buttons and all("sd-choice" in b._dom_classes for b in buttons)
        for name in WINS["callbacks_race_main"]:
            [button] = [row.children[0] for row in s.choice_box.children
                        if row.children[0].description.startswith(name + ":")]
            button.click()
        assert "Won" in s.verdict.value and s.choice_box.children == ()
        assert s.choices_made == WINS["callbacks_race_main"]
        assert s.value == s.slider.max == len(sim.trace)
    finally:
        sim.close()


def test_a_choice_shows_the_server_line_behind_it():
    level = LEVELS["late_reset"]
    sim = level.start()
    try:
        s = Stepper(sim, level=level)
        for name in WINS["late_reset"][:10]:
            s.choose(name)
        lines = {row.children[0].description: row.children[1].value for row in s.choice_box.children}
        assert "end_accept(ar)" in lines["pool-1: calls end_accept on conn 1"]
    finally:
        sim.close()


def test_step_at_the_live_end_of_a_level_plays_the_top_choice_and_records_it():
    # A learner may click Step instead of a choice button: it must be a choice
    # like any other (in choices_made, the buttons updated), never a move of the
    # seeded scheduler that choices_made would not replay.
    level = LEVELS["late_reset"]
    sim = level.start()
    try:
        s = Stepper(sim, level=level)
        s.choose("client-1")
        tops = []
        for _ in range(5):
            tops.append(s.choice_box.children[0].children[0].description.split(":")[0])
            s.step()
        assert s.value == s.slider.max == len(sim.trace)
        assert s.choices_made == ["client-1"] + tops
        offered = [row.children[0].description.split(":")[0] for row in s.choice_box.children]
        assert offered == [c.thread for c in sim.choices()]
        s.back()
        s.step()   # inside the recorded run: a plain step forward, no choice
        assert s.choices_made == ["client-1"] + tops
        while "Lost" not in s.verdict.value and "Won" not in s.verdict.value:
            s.step()
        assert "end of the level" in s.header.value
        made = list(s.choices_made)
        s.step()   # decided: nothing more is played
        assert s.choices_made == made
    finally:
        sim.close()
    _, verdict = play(level, made)
    assert verdict is not None and verdict.text in html.unescape(s.verdict.value)


def test_judge_answers_an_unplayable_list_with_a_lost_verdict_naming_the_choice():
    level = LEVELS["callbacks_race_main"]
    assert judge(level, WINS["callbacks_race_main"]).won
    assert not judge(level, []).won
    bad = judge(level, ["client-1", "pool-7"])
    assert not bad.won and bad.text.startswith(UNPLAYABLE) and "choice 1 ('pool-7')" in bad.text
    assert judge(level, [1, 2]).text.startswith(UNPLAYABLE)

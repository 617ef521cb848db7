import dataclasses
import html
import re
import time

import pytest

pytest.importorskip("ipywidgets")

from test_stepper_state import repeat_pattern, seed_run, send_and_half_close  # noqa: E402

from sockdemo.trace.recording import Trace  # noqa: E402
from sockdemo.views.stepper import Stepper  # noqa: E402
from sockdemo.views.stepper_state import state_at  # noqa: E402


def text_of(widget) -> str:
    """The HTML's visible text, roughly: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", widget.value))


def current_line(panel) -> str:
    m = re.search(r'<div class="sd-current">(.*?)</div>', panel.value)
    return html.unescape(m.group(1)) if m else ""


@pytest.fixture
def trace():
    return Trace(seed_run())


@pytest.fixture
def stepper(trace):
    return Stepper(trace)


def test_starts_at_step_zero_with_the_slider_over_every_event(stepper, trace):
    assert stepper.slider.value == 0 and stepper.slider.max == len(trace)
    assert stepper.play.max == len(trace)
    assert "step 0 / 34" in text_of(stepper.header)
    assert "(runtime)" in stepper.python_panel.value
    assert "none yet" in text_of(stepper.threads_panel)


def test_step_button_advances_and_shows_the_event(stepper):
    for _ in range(6):
        stepper.step_button.click()
    assert stepper.value == 6
    assert "step 6 / 34" in text_of(stepper.header)
    assert "main waits on allDone" in text_of(stepper.header)
    assert "waiting on allDone (WaitOne)" in text_of(stepper.threads_panel)
    assert "self.all_done.wait_one()" in current_line(stepper.python_panel)
    assert "allDone.WaitOne();" in current_line(stepper.csharp_panel)
    assert "Waiting for a connection..." in text_of(stepper.console_panel)
    assert "begin_accept" in text_of(stepper.pending_panel)


def test_back_button_goes_back_one_step(stepper):
    stepper.goto(11)
    assert "running AcceptCallback for conn 1" in text_of(stepper.threads_panel)
    assert "allDone : set" in text_of(stepper.signals_panel)
    stepper.back_button.click()
    assert stepper.value == 10
    assert "self.all_done.set()" in current_line(stepper.python_panel)
    assert "allDone.Set();" in current_line(stepper.csharp_panel)
    stepper.goto(0)
    stepper.back_button.click()
    assert stepper.value == 0


def test_slider_moves_show_the_state_at_that_step(stepper):
    events = seed_run()
    stepper.slider.value = 21
    assert stepper.state == state_at(events, 21)
    conns = text_of(stepper.conns_panel)
    assert "hello" in conns and "5 B in 1" in conns
    assert "running ReadCallback for conn 1" in text_of(stepper.threads_panel)
    assert "idle in the pool" in text_of(stepper.threads_panel)
    assert "handler.begin_receive(" in current_line(stepper.python_panel)
    assert "handler.BeginReceive(" in current_line(stepper.csharp_panel)


def test_the_end_shows_the_message_and_the_closed_conn(stepper, trace):
    stepper.slider.value = len(trace)
    assert "Read 11 bytes from socket." in text_of(stepper.console_panel)
    conns = text_of(stepper.conns_panel)
    assert "hello world" in conns and "printed" in conns and "closed" in conns
    stepper.step_button.click()                     # past the end of a plain trace: stays
    assert stepper.value == len(trace)


def test_reset_button_goes_back_to_the_start_and_pauses(stepper):
    stepper.goto(20)
    stepper.play.playing = True
    stepper.reset_button.click()
    assert stepper.value == 0 and stepper.play.playing is False
    assert "step 0 / 34" in text_of(stepper.header)


def test_play_is_linked_to_the_slider_and_speed_sets_its_interval(stepper):
    stepper.play.value = 15                          # what a Play tick does
    assert stepper.slider.value == 15
    assert "step 15 / 34" in text_of(stepper.header)
    stepper.speed.value = 20
    assert stepper.play.interval == 50
    stepper.slider.value = 3
    assert stepper.play.value == 3


def test_code_panels_show_context_around_the_current_line(stepper):
    stepper.goto(30)                                 # end_receive in ReadCallback
    py = stepper.python_panel.value
    assert "seed.py:" in py and py.count("<div>") == 6   # 3 lines either side
    assert "handler.end_receive(ar)" in current_line(stepper.python_panel)
    assert "handler.EndReceive(ar)" in current_line(stepper.csharp_panel)


def test_a_growing_trace_extends_the_slider_on_refresh_and_step():
    events = seed_run()
    trace = Trace(events[:10])
    s = Stepper(trace)
    s.goto(10)
    for e in events[10:]:
        trace(e)
    s.step_button.click()                            # at the end: picks up what was recorded
    assert s.slider.max == len(events) and s.value == 11


class FakeSimulation:
    """What the stepper needs of sockdemo.sim.simulation.Simulation: .trace and .step()."""

    def __init__(self, events):
        self.trace = Trace()
        self._todo = list(events)
        self.mode = "seed"

    def step(self):
        if not self._todo:
            raise IndexError("empty schedule")
        self.trace(self._todo.pop(0))


def test_stepping_past_the_end_of_a_simulation_runs_it():
    events = seed_run()
    sim = FakeSimulation(events)
    s = Stepper(sim)
    assert s.slider.max == 0
    for k in range(1, len(events) + 1):
        s.step_button.click()
        assert s.value == k and s.slider.max == k
    assert s.state == state_at(events, len(events))
    s.step_button.click()                            # the simulation has nothing left
    assert s.value == len(events) and "empty schedule" in s.ended
    s.back_button.click()
    assert s.value == len(events) - 1


def test_a_real_run_in_the_widget():
    from sockdemo.lab.handle import start_server
    server = start_server("seed")
    try:
        send_and_half_close(server.address, [b"abc", b"def"])
        server.wait_for("close", timeout=5)
    finally:
        server.stop()
    s = Stepper(server)                              # a handle: its trace, its server
    s.slider.value = s.slider.max
    assert s.server is type(server.server)           # the server class, for its source
    assert "Read 6 bytes from socket." in text_of(s.console_panel)
    assert "abcdef" in text_of(s.conns_panel)


def test_ten_thousand_events_step_quickly():
    base = Trace(seed_run())
    events = repeat_pattern(base.events)
    s = Stepper(Trace(events))
    times = []
    for k in (5000, 5001, 5002, 9999, 17, 4321, 4320, 10_000):
        t0 = time.perf_counter()
        s.slider.value = k
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(50):
        s.back_button.click()
    times.append((time.perf_counter() - t0) / 50)
    print(f"\nwidget on 10,000 events: worst {max(times) * 1000:.1f} ms, "
          f"Back {times[-1] * 1000:.2f} ms per click")
    assert s.value == 10_000 - 50
    assert "more closed" in text_of(s.conns_panel)


def test_a_simulation_stepped_to_its_end():
    simulator = pytest.importorskip("sockdemo.sim.simulation")
    try:
        sim = simulator.Simulation("two_clients", seed=1)
    except (KeyError, ValueError) as exc:
        pytest.skip(f"scenario not available: {exc}")
    with sim:
        s = Stepper(sim)
        for _ in range(10_000):
            before = s.value
            s.step_button.click()
            if s.value == before:
                break
        assert s.ended is not None and s.value == len(sim.trace)
        assert s.state.console == tuple(sim.console)
        assert all(c.closed for c in s.state.conns)
        assert "a client:" in text_of(s.threads_panel)


def test_step_at_the_end_of_a_closed_simulation_says_it_was_closed():
    from sockdemo.sim.simulation import Simulation
    sim = Simulation("one_client", seed=0)
    s = Stepper(sim)
    for _ in range(5):
        s.step()
    sim.close()
    s.goto(s.slider.max)
    s.step()
    assert s.value == s.slider.max == len(sim.trace)
    header = text_of(s.header)
    assert "closed before it finished" in header and "nothing left to run" not in header
    assert s.state == state_at(sim.trace, s.value)


def lesson_05(steps=32):
    """What lesson 05 does after Run All: a Stepper on a live simulation, stepped from code,
    then the simulation closed by a later cell while callbacks run."""
    from sockdemo.sim.simulation import Simulation
    live = Simulation("two_clients", seed=1)
    stepper = Stepper(live)
    for _ in range(steps):
        stepper.step()
    stepper.back()
    for _ in range(10):
        stepper.step()
    live.close()
    return live, stepper


def test_a_closed_simulation_stays_steppable_to_the_end_of_its_trace():
    live, s = lesson_05()
    s.goto(0)
    for k in range(1, len(live.trace) + 1):
        s.step()
        assert s.value == k and s.state == state_at(live.trace, k)
    s.step()                                         # the end: stays, and says why
    assert s.value == len(live.trace)
    assert "end of the recorded run: the simulation was closed before it finished" in text_of(s.header)
    # closed while both ReadCallbacks ran: the close ended them, marked cut, and
    # the threads show as stopped, not as having finished or as running forever
    cut = [e for e in live.trace.events if e.kind == "callback_end" and e.get("cut")]
    assert sorted(e.thread for e in cut) == ["pool-1", "pool-2"]
    assert all(e["name"] == "ReadCallback" for e in cut)
    assert [t.name for t in s.state.threads if t.activity == "stopped"] == ["pool-1", "pool-2"]
    before = state_at(live.trace, len(live.trace) - len(cut))
    assert [t.name for t in before.threads if t.callback == "ReadCallback"] == ["pool-1", "pool-2"]


def test_a_simulation_another_cell_ran_to_its_end_is_stepped_to_that_end():
    from sockdemo.sim.simulation import Simulation
    sim = Simulation("two_clients", seed=1)
    s = Stepper(sim)                                 # displayed at step 0
    sim.run()                                        # a later cell (Run All)
    s.step()
    assert s.slider.max == len(sim.trace) and s.value == 1
    s.slider.value = s.slider.max
    assert s.state == state_at(sim.trace, len(sim.trace))
    assert "the run is over: finished" in text_of(s.header)


def test_a_finished_simulation_gives_the_slider_its_whole_run_at_once():
    from sockdemo.sim.simulation import run_scenario
    sim = run_scenario("two_clients", seed=1)
    s = Stepper(sim)
    assert s.slider.max == s.play.max == len(sim.trace)
    s.goto(len(sim.trace))
    assert "the run is over" in text_of(s.header)


def test_a_live_simulation_says_its_last_step_is_only_the_last_recorded():
    from sockdemo.sim.simulation import Simulation
    with Simulation("one_client", seed=0) as sim:
        s = Stepper(sim)
        s.step()
        assert "recorded so far: Step asks the simulation for the next" in text_of(s.header)


def test_every_button_keeps_the_panels_equal_to_state_at(trace):
    import random
    s = Stepper(trace)
    rng = random.Random(3)
    actions = [s.step, s.back, s.reset, lambda: s.goto(rng.randrange(len(trace) + 1)),
               lambda: setattr(s.slider, "value", rng.randrange(len(trace) + 1))]
    for _ in range(200):
        rng.choice(actions)()
        assert s.state == state_at(trace, s.value)
        assert s.header.value.startswith(f"<b>step {s.value} / {len(trace)}</b>")


# -- layout and the saved frame ----------------------------------------------------------

def test_the_parts_carry_stable_classes_for_the_stylesheet_and_a_browser_test(stepper):
    from sockdemo.views.stepper import STYLE
    assert "sd-stepper" in stepper._dom_classes
    assert "sd-header" in stepper.header._dom_classes
    rows = [c for c in stepper.children if "sd-row" in getattr(c, "_dom_classes", ())]
    assert [r._dom_classes[-1] for r in rows] == ["sd-state", "sd-source"]
    assert all("sd-col" in p._dom_classes for p in (stepper.python_panel, stepper.csharp_panel,
                                                    stepper.conns_panel))
    assert stepper.style_sheet.value == STYLE


def test_the_stylesheet_keeps_the_widget_about_650_px_tall():
    from sockdemo.views.stepper import STYLE
    rules = {}
    for name, body in re.findall(r"\.sd-stepper \.(sd-[a-z]+)\{([^}]*)\}", STYLE.replace("\n", "")):
        rules[name] = rules.get(name, "") + ";" + body
    heights = {name: int(re.search(r"(?:^|;)height:(\d+)px", rules[name]).group(1))
               for name in ("sd-header", "sd-state", "sd-source", "sd-console")}
    assert sum(heights.values()) + 30 + 30 + 20 <= 650   # + buttons, slider, console title
    assert "line-height:1.35" in STYLE and "28px" not in STYLE
    assert "overflow-x:auto" in rules["sd-code"] and "white-space:pre" in rules["sd-code"]
    assert "min-width:0" in rules["sd-col"]                  # a long line scrolls, never spills over
    assert "overflow:auto" in rules["sd-console"]


def test_code_and_console_sit_in_their_scrolled_boxes(stepper):
    stepper.goto(31)
    assert re.search(r'<div class="sd-code"><div>', stepper.python_panel.value)
    assert '<div class="sd-console"><div>' in stepper.console_panel.value
    assert '<code class="sd-text"' in stepper.conns_panel.value


def test_a_long_line_of_text_is_clipped_in_its_cell_with_the_whole_in_its_title():
    events = seed_run()
    long = [e if e.kind != "chunk" else dataclasses.replace(e, info={**e.info, "data": "x" * 60})
            for e in events]
    s = Stepper(Trace(long))
    s.goto(len(long) - 3)
    assert 'class="sd-text" title="' in s.conns_panel.value


def test_the_display_keeps_the_widget_and_a_static_frame(stepper):
    stepper.goto(21)
    bundle = stepper._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert page.startswith('<div class="sd-stepper sd-static">') and "<style>" in page
    for panel in (stepper.header, stepper.threads_panel, stepper.conns_panel, stepper.python_panel,
                  stepper.csharp_panel, stepper.console_panel):
        assert panel.value in page
    assert "saved at step 21" in page

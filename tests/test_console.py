"""Console.WriteLine: traced, handed to the sink in order, kept within its history."""
import threading

import pytest

from sockdemo.apm.console import Console
from sockdemo.trace.tracer import Tracer


def test_lines_reach_the_trace_the_sink_and_the_history():
    tracer, seen, sunk = Tracer(lambda: 0), [], []
    tracer.subscribe(seen.append)
    console = Console(tracer, sunk.append)
    console.write_line("Waiting for a connection...")
    console.write_line(42)
    assert console.lines == sunk == ["Waiting for a connection...", "42"]
    assert [e["text"] for e in seen] == ["Waiting for a connection...", "42"]
    assert console.text == "Waiting for a connection...\n42\n"


def test_the_history_keeps_the_last_lines_and_says_how_many_went():
    console = Console(Tracer(), history=3)
    for i in range(10):
        console.write_line(f"line {i}")
    assert console.lines == ["... 7 earlier lines dropped (the console keeps the last 3) ...",
                             "line 7", "line 8", "line 9"]


def test_no_history_keeps_nothing_but_still_writes_to_the_sink():
    sunk = []
    console = Console(Tracer(), sunk.append, history=0)
    console.write_line("a")
    console.write_line("b")
    assert sunk == ["a", "b"] and console.dropped == 2
    assert console.lines == ["... 2 earlier lines dropped (the console keeps the last 0) ..."]


def test_sink_and_history_agree_on_the_order_under_threads():
    sunk = []
    console = Console(Tracer(), sunk.append, history=10_000)

    def write(n):
        for i in range(300):
            console.write_line(f"{n}:{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert console.lines == sunk and len(sunk) == 1200


def test_a_negative_history_is_refused():
    with pytest.raises(ValueError):
        Console(Tracer(), history=-1)

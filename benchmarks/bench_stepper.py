"""How fast the simulator runs, how instant the stepper feels, how soon the pictures draw.

    python benchmarks/bench_stepper.py [--clients 250] [--steps 300] [--runs 3]

Three figures, each on a run of about 13,000 events:

1. the simulator: simulated events per second of wall time, for a seeded
   scenario of N clients (each sends a text in 5-byte pieces), the median of
   ``--runs`` runs, which must all give the same trace byte for byte (the
   simulator is deterministic: same scenario and seed, same run); the goal
   is 75,000 events/s;
2. the stepper: milliseconds per step for ``state_at(trace, k)`` plus the
   widget's refresh, at random k and at k+1 (Step), median and worst;
3. the pictures: seconds to draw ``plot_lanes``, ``plot_chunks`` and the whole
   demo figure (saved as PNG) for that trace.

No baseline program exists for stepping a socket trace, so the figures are
absolute and the goals (75,000 simulated events/s, 20 ms a step, about a
second a picture) are the bar.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

SIMULATOR_GOAL = 75_000   # simulated events per second of wall time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from sockdemo.sim.scenarios import Client, Scenario  # noqa: E402
from sockdemo.sim.simulation import Simulation  # noqa: E402
from sockdemo.views.stepper import Stepper  # noqa: E402
from sockdemo.views.stepper_state import state_at  # noqa: E402


def bench_scenario(clients: int) -> Scenario:
    """N clients, each sending a text in 5-byte pieces, 0.4 ms apart."""
    return Scenario(
        clients=tuple(Client.text(f"hello from client {i:04d}", chunk=5, gap=0.0002, at=i * 0.0004)
                      for i in range(clients)),
        description=f"{clients} clients, 5-byte pieces", pool=4, backlog=clients, seed=1)


def simulate(clients: int):
    scenario = bench_scenario(clients)
    started = time.perf_counter()
    with Simulation(scenario) as sim:
        result = sim.run()
        elapsed = time.perf_counter() - started
        trace = sim.trace
    return trace, result, elapsed


def time_steps(trace, steps: int, rng: random.Random):
    stepper = Stepper(trace)
    n = len(trace)
    jumps, nexts = [], []
    for _ in range(steps):
        k = rng.randrange(n + 1)
        t0 = time.perf_counter()
        stepper.goto(k)
        jumps.append((time.perf_counter() - t0) * 1000)
        if k < n:
            t0 = time.perf_counter()
            stepper.step()
            nexts.append((time.perf_counter() - t0) * 1000)
    pure = []
    for _ in range(steps):
        k = rng.randrange(n + 1)
        t0 = time.perf_counter()
        state_at(trace, k)
        pure.append((time.perf_counter() - t0) * 1000)
    return jumps, nexts, pure


def time_pictures(trace):
    import matplotlib.pyplot as plt

    from sockdemo.views.plots import plot_chunks, plot_lanes, save_demo_figure
    figures = {}
    for name, draw in (("plot_lanes", plot_lanes), ("plot_chunks", plot_chunks)):
        t0 = time.perf_counter()
        ax = draw(trace)
        ax.figure.canvas.draw()
        figures[name] = time.perf_counter() - t0
        plt.close(ax.figure)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        save_demo_figure(trace, os.path.join(tmp, "demo.png"))
        figures["save_demo_figure"] = time.perf_counter() - t0
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=250)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3, help="simulator runs (the median is reported)")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.steps < 1 or args.runs < 1:
        parser.error("--clients, --steps and --runs must be at least 1")

    runs = [simulate(args.clients) for _ in range(args.runs)]
    trace, result, _ = runs[0]
    if any(other.dumps() != trace.dumps() for other, _, _ in runs[1:]):
        print("simulator: the runs gave different traces for the same scenario and seed")
        return 1
    n = len(trace)
    elapsed = statistics.median(seconds for _, _, seconds in runs)
    rate = n / elapsed
    print(f"simulator: {n} events ({result.status}) in {elapsed:.2f} s (median of {args.runs}, "
          f"identical traces): {rate:,.0f} simulated events/s, {rate / SIMULATOR_GOAL:.2f}x "
          f"the goal of {SIMULATOR_GOAL:,}")

    jumps, nexts, pure = time_steps(trace, args.steps, random.Random(0))
    for name, values in (("slider to random k (state_at + refresh)", jumps),
                         ("Step to k+1 (state_at + refresh)", nexts),
                         ("state_at alone, random k", pure)):
        print(f"stepper: {name}: median {statistics.median(values):.2f} ms, "
              f"worst {max(values):.2f} ms over {len(values)}")

    for name, seconds in time_pictures(trace).items():
        print(f"pictures: {name}: {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

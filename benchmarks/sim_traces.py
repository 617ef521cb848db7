"""Save the simulator's traces for a set of runs, or check them against saved ones.

    python benchmarks/sim_traces.py save DIR    # before a change to the simulator
    python benchmarks/sim_traces.py check DIR   # after it: every file byte for byte

A change that only makes the simulator faster must leave every run as it was:
same scenario and seed, same trace. The runs: every named scenario under a
few seeds and both .NETs, and bench_stepper.py's scenario: each writes the
trace's file (``Trace.dumps``, the Chrome JSON ``Trace.save`` writes) and a
text file with the run's result, console and replies. And lesson 06's long
message through a 16-byte buffer, whose callbacks nest until Python's
recursion limit on .NET 6+: for those, what the lesson shows (how deep the
stack is at each ReadCallback, the status, the messages) must not change,
but not the trace, whose last events depend on how many frames the kernel's
own calls take when the RecursionError strikes, not on the simulation.
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench_stepper import bench_scenario  # noqa: E402

from sockdemo.servers.fixed import FixedServer  # noqa: E402
from sockdemo.servers.seed import SeedServer  # noqa: E402
from sockdemo.sim.scenarios import SCENARIOS, Client, Scenario  # noqa: E402
from sockdemo.sim.simulation import Simulation  # noqa: E402

SEEDS = (0, 1, 7)


class StackDepths:
    """Notes the stack's depth at every ReadCallback (as lesson 06 does)."""

    def read_callback(self, ar):
        self.__dict__.setdefault("depths", []).append(len(inspect.stack(0)))
        super().read_callback(ar)


class DeepSeed(StackDepths, SeedServer):
    pass


class DeepFixed(StackDepths, FixedServer):
    pass


def runs():
    """(file stem, scenario, seed) of every run compared."""
    for name, scenario in SCENARIOS.items():
        for dotnet in ("framework", "modern"):
            for seed in SEEDS:
                yield f"{name}-{dotnet}-{seed}", scenario.with_(dotnet=dotnet), seed
    bench = bench_scenario(250)
    yield "bench_stepper-250", bench, bench.seed
    for server in (DeepSeed, DeepFixed):
        for dotnet in ("framework", "modern"):
            yield (f"nesting-{server.mode}-{dotnet}",
                   Scenario(server=server, dotnet=dotnet, clients=(Client.text("z" * 3000),),
                            server_options={"buffer_size": 16}), 0)


def outputs(scenario, seed) -> dict[str, str]:
    """File suffix -> text, for one run."""
    with Simulation(scenario, seed=seed) as sim:
        result = sim.run()
        depths = getattr(sim.server, "depths", None)
        if depths is not None:   # lesson 06's run: what the lesson shows
            return {".txt": "\n".join([result.status, repr(result.messages), repr(depths),
                                        repr(sim.runtime.overflowed), ""])}
        summary = "\n".join([result.status, result.detail, repr(result.console),
                             repr(sorted(result.replies.items())), repr(sorted(result.conns.items())),
                             repr(result.waiting), repr(result.errors), ""])
        return {".json": sim.trace.dumps(), ".txt": summary}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("save", "check"))
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.what == "save":
        args.dir.mkdir(parents=True, exist_ok=True)
    differ, count = [], 0
    for stem, scenario, seed in runs():
        for suffix, text in outputs(scenario, seed).items():
            path = args.dir / (stem + suffix)
            count += 1
            if args.what == "save":
                path.write_text(text, encoding="utf-8")
            elif not path.exists() or path.read_text(encoding="utf-8") != text:
                differ.append(path.name)
    if args.what == "save":
        print(f"saved {count} files to {args.dir}")
        return 0
    if differ:
        print(f"{len(differ)} of {count} files differ: {', '.join(differ)}")
        return 1
    print(f"all {count} files are the same, byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())

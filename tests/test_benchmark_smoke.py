"""Smoke test of benchmarks/bench_servers.py: its driver and peers, on a tiny load.

Every message must reach the server and be printed once with the right
length; the numbers themselves are not checked (that is the benchmark's job).
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_servers  # noqa: E402

TINY = [bench_servers.Load("A", 24, 64, 64),
        bench_servers.Load("B", 4, 8 * 1024, 1024, nodelay=True)]

PEERS = ["asyncio", "threading",
         pytest.param("csharp", "select", marks=pytest.mark.skipif(
             bench_servers.mono.find_mono() is None, reason="mono/mcs not installed"))]


@pytest.mark.parametrize("name,driver", [(p, "select") for p in PEERS[:2]]
                         + [("asyncio", "threads"), PEERS[2]])
def test_every_message_arrives(name, driver, tmp_path):
    results = bench_servers.bench_server(name, TINY, str(tmp_path), driver=driver, warmup=False)
    for load in TINY:
        r = results[load.name]
        assert r["problems"] == [] and r["errors"] == [], r
        assert r["reply_bytes"] == 0, r
        assert r["ok"] and r["clients"] == load.clients, r
    if name != "csharp":  # Mono is killed (the sample has no way out); peers exit cleanly
        assert results["A"]["exit_status"] == 0


def test_peers_decode_like_dotnet_ascii():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers
    assert peers.ascii_text(b"caf\xc3\xa9\x7f") == "caf??\x7f"


def test_a_baseline_checkout_runs_as_a_peer(monkeypatch, tmp_path):
    # --baseline DIR runs DIR's sockdemo; this checkout stands in for another one.
    monkeypatch.setitem(bench_servers.SOCKDEMO_ROOTS, "baseline", ROOT)
    assert bench_servers.available("baseline")
    results = bench_servers.bench_server("baseline", TINY[:1], str(tmp_path), warmup=False)
    assert results["A"]["ok"] and results["A"]["exit_status"] == 0, results


def test_one_big_message_reaches_fixed_and_the_raw_loop(tmp_path):
    # Load C, tiny: one message, four 64 KiB receives.
    bulk = bench_servers.Load(bench_servers.BULK_LOAD, 1, 256 * 1024, bench_servers.BULK_BUFFER, concurrency=1)
    runs = {}
    for name in bench_servers.BULK_SERVERS:
        assert bench_servers.loads_for(name, TINY + [bulk]) == [bulk]
        results = bench_servers.bench_server(name, [bulk], str(tmp_path))
        r = results[bulk.name]
        assert r["problems"] == [] and r["errors"] == [] and r["ok"], r
        assert r["exit_status"] == 0
        runs[name] = [results]
    summary = bench_servers.summarize(runs, [bulk])
    assert "fixed/raw" in bench_servers.format_bulk(summary, list(runs), bulk)


def test_the_memory_figures_are_measured_on_a_tiny_run(tmp_path):
    # Only that each figure is measured and made of what it says; its size is the benchmark's business.
    trace = bench_servers.trace_bytes_per_event(TINY[0])
    assert trace["errors"] == [] and trace["events"] > 20 * TINY[0].clients, trace
    assert 0 < trace["per_event"] == trace["bytes"] / trace["events"]
    idle = bench_servers.idle_connections_rss(str(tmp_path), 50)
    assert idle["accepted"] == idle["connections"] == 50, idle
    assert idle["rss"] > 0 and idle["ok"], idle

"""benchmarks/soak.py's cheap cases at --quick scale: each mode behaves as its row expects.

The slow and idle cases (seconds of waiting for limits, hundreds of
descriptors) run only in the benchmark itself.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import soak  # noqa: E402

CHEAP = ("emfile", "resets", "connect_close", "big", "sigterm")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and sets RLIMIT_NOFILE")
@pytest.mark.parametrize("case", CHEAP)
@pytest.mark.parametrize("mode", soak.MODES)
def test_a_quick_case_behaves_as_its_mode_should(mode, case):
    row = soak.run_case(mode, soak.CASES[case], soak.Scale(quick=True))
    assert row["verdict"] == "ok", soak.format_row(row)

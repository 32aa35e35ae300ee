"""``profile.pstats`` (runtime/src/output/pstats.rs): Python's pstats loads it, its call counts
are cProfile's for the same program, snakeviz reads it, and markers' regions are in it too.
(Merged over ranks and per rank: test_py_profiler_cli.py, under mpirun.)"""

from __future__ import annotations

import io
import os
import pstats
import subprocess
import sys
from pathlib import Path

import pytest

RECURSION = """
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def twice():
    return fib(12) + fib(3)

twice()
"""


def run(tmp_path: Path, *command: str, env: dict | None = None) -> None:
    full = dict(os.environ, RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"), RANKSCOPE_BANNER="0")
    p = subprocess.run(
        [sys.executable, *command], cwd=tmp_path, env=full | (env or {}), capture_output=True
    )
    assert p.returncode == 0, p.stderr


@pytest.fixture
def both(tmp_path):
    """The same program profiled by rankscope's command line and by cProfile."""
    (tmp_path / "job.py").write_text(RECURSION)
    run(tmp_path, "-m", "rankscope.profiler", "job.py")
    run(tmp_path, "-m", "cProfile", "-o", "cprofile.pstats", "job.py")
    ours = pstats.Stats(str(tmp_path / "out" / "profile.pstats"), stream=io.StringIO())
    theirs = pstats.Stats(str(tmp_path / "cprofile.pstats"), stream=io.StringIO())
    return ours, theirs


def test_pstats_loads_and_counts_recursion_as_cprofile_does(both):
    ours, theirs = both
    fib, twice = ("job.py", 2, "fib"), ("job.py", 5, "twice")
    for key in (fib, twice):
        cc, nc, tt, ct, callers = ours.stats[key]
        assert (cc, nc) == theirs.stats[key][:2], key
        assert 0 <= tt <= ct
        # per caller: (calls, primitive calls), cProfile's order and recursion rule
        assert {c: v[:2] for c, v in callers.items()} == {
            c: v[:2] for c, v in theirs.stats[key][4].items() if c[0] != "~"
        }
    assert ours.stats[fib][:2] == (2, 470) and ours.stats[fib][4][fib][:2] == (468, 4)
    assert ours.stats[twice][3] >= ours.stats[fib][3]  # cumulative, recursion counted once

    ours.sort_stats("cumulative").print_stats()
    ours.print_callers("fib")
    text = ours.stream.getvalue()  # type: ignore[attr-defined]
    assert "470/2" in text and "job.py:2(fib)" in text and "468/4" in text


def test_snakeviz_reads_it(both):
    stats = pytest.importorskip("snakeviz.stats")
    ours, _ = both
    rows = stats.table_rows(ours)
    assert any(row[5] == "job.py:2(fib)" and row[0][0] == "470/2" for row in rows), rows
    assert "job.py:2(fib)" in stats.json_stats(ours)


def test_marker_regions_and_per_setting_output(tmp_path):
    (tmp_path / "job.py").write_text(
        "from rankscope.bundle import marker\n\n"
        "@marker(['wall_clock'])\ndef step():\n    pass\n\n"
        "for _ in range(7):\n    step()\n"
    )
    run(tmp_path, "job.py", env={"RANKSCOPE_PSTATS_OUTPUT": "on"})
    stats = pstats.Stats(str(tmp_path / "out" / "profile.pstats"))
    assert stats.stats[("~", 0, "step")][:2] == (7, 7)

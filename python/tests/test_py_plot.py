"""The per-rank sampler under `mpirun -n 4` and `python -m rankscope.plot memory`: every rank's
series reach rank 0's JSON and HDF5 outputs, and the plot renders from them (lines for a few
ranks, min/median/max bands for many)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_py_mpi import RANKS, run

h5py = pytest.importorskip("h5py")
pytest.importorskip("matplotlib")

GROW = """
import time
import rankscope
from rankscope.bundle import marker

@marker(["wall_clock"])
def grow(rank):
    blocks = []
    for _ in range(6):
        blocks.append(bytearray((rank + 1) * (8 << 20)))
        time.sleep(0.03)
    return len(blocks)

grow(rankscope.world()["rank"])
"""


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sampled")
    p = run(
        tmp,
        GROW,
        extra_env={"RANKSCOPE_SAMPLER": "on", "RANKSCOPE_SAMPLER_INTERVAL": "0.01"},
        timeout=180,
    )
    assert p.returncode == 0, p.stderr
    return tmp / "out"


def test_every_ranks_series_reach_rank_zero(sampled):
    ranks = json.loads((sampled / "profile.json").read_text())["ranks"]
    assert [r["rank"] for r in ranks] == list(range(RANKS))
    peaks = []
    for r in ranks:
        s = r["samples"]
        names = [d["name"] for d in s["series"]]
        assert names == ["process.rss", "process.peak_rss", "process.virtual", "process.cpu"]
        assert len(s["t_ns"]) >= 5 and all(len(c) == len(s["t_ns"]) for c in s["columns"])
        peaks.append(max(s["columns"][1]))
    # rank r holds (r + 1) * 48 MiB at its peak: the peaks rise with the rank
    assert peaks == sorted(peaks) and peaks[-1] - peaks[0] >= 100 << 20, peaks
    with h5py.File(sampled / "profile.h5") as f:
        for r in range(RANKS):
            g = f[f"samples/rank{r}"]
            assert g["process.rss"].attrs["unit"] == "MiB"
            assert len(g["t"]) == len(ranks[r]["samples"]["t_ns"])
            assert g.attrs["interval"] == pytest.approx(0.01)
            assert max(g["process.peak_rss"][:]) == pytest.approx(peaks[r] / 2**20)


def plot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rankscope.plot", "memory", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("lines", ["8", "2"])  # a line per rank; bands over ranks
def test_memory_plot_renders(sampled, tmp_path, lines):
    out = tmp_path / f"memory-{lines}.png"
    p = plot(str(sampled), "-o", str(out), "--max-lines", lines)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    svg = tmp_path / "memory.svg"
    assert plot(str(sampled / "profile.json"), "-o", str(svg), "--ranks", "1,3").returncode == 0
    assert svg.read_text().lstrip().startswith("<?xml")


def test_memory_plot_says_why_it_cannot_draw(tmp_path):
    p = plot(str(tmp_path), "-o", str(tmp_path / "x.png"))
    assert p.returncode == 1 and "no such file" in p.stderr
    (tmp_path / "profile.json").write_text(json.dumps({"ranks": [{"rank": 0}]}))
    p = plot(str(tmp_path))
    assert p.returncode == 1 and "RANKSCOPE_SAMPLER=on" in p.stderr

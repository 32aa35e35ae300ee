"""Roofline points: counts supplied with rankscope.roofline.count inside regions reach the
merged output of a real `mpirun -n 4` job (examples/python/roofline.py), and the plot draws
them under a host's ceilings as PNG and SVG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MPI_ENV, REPO

pytest.importorskip("matplotlib")
pytest.importorskip("numpy")

RANKS, N, ELEMENTS, REPEAT = 4, 64, 100_000, 2
EXAMPLE = REPO / "examples" / "python" / "roofline.py"

#: A host's ceilings in the format `rankscope roofline ceilings` writes (numbers of the order
#: of this 2-core AVX2 machine's likwid-bench results), for plots that must not depend on a
#: measurement.
CEILINGS = {
    "format": "rankscope-ceilings/1",
    "hosts": [
        {
            "host": "elsewhere",
            "date": "2026-12-02T10:00:00Z",
            "cpu": "test CPU",
            "isa": "avx2+fma",
            "threads": 2,
            "ranks": 1,
            "bandwidth_gbs": {"l1": 160.0, "l2": 95.0, "l3": None, "dram": 15.5},
            "kernels": {"load": {"l1": 160.0, "l2": 95.0, "l3": None, "dram": 15.5}},
            "peak_gflops": {
                "vector_double": 85.0,
                "vector_single": 170.0,
                "scalar_double": 21.0,
                "scalar_single": 21.0,
            },
            "sweep": [],
        }
    ],
}


def _env(tmp: Path) -> dict:
    # One BLAS thread per rank: four ranks share two cores.
    return {
        **os.environ,
        **MPI_ENV,
        "OPENBLAS_NUM_THREADS": "1",
        "RANKSCOPE_OUTPUT_PATH": str(tmp / "out"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The example's output folder after `mpirun -n 4`."""
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not found (install openmpi-bin)")
    tmp = tmp_path_factory.mktemp("roofline")
    args = ["-n", str(N), "--elements", str(ELEMENTS), "--repeat", str(REPEAT)]
    cmd = ["mpirun", "-n", str(RANKS), sys.executable, str(EXAMPLE), *args]
    p = subprocess.run(cmd, env=_env(tmp), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for r in range(RANKS):
        assert f"rank {r}: trace " in p.stdout, p.stdout
    assert "roofline_modelled" not in p.stderr, "every count was inside a region: no warning"
    return tmp


def _node(profile: dict, name: str) -> dict:
    (node,) = [n for n in profile["nodes"] if n["name"] == name]
    return node


def test_counts_reach_the_merged_output_per_rank(job):
    profile = json.loads((job / "out" / "profile.json").read_text())
    metrics = {m["name"]: m for m in profile["metrics"]}
    assert metrics["flops.modelled"]["collector"] == "roofline_modelled"
    assert metrics["bytes.modelled"]["unit"] == "B"
    ranks = [r["rank"] for r in profile["ranks"]]
    assert sorted(ranks) == list(range(RANKS))
    matmul, triad = _node(profile, "matmul"), _node(profile, "triad")
    one_rank = REPEAT * 2 * N**3
    per_rank = [c["sum"] for c in matmul["per_rank"]["flops.modelled"]]
    assert per_rank == [one_rank] * RANKS
    assert matmul["stats"]["flops.modelled"]["sum"] == RANKS * one_rank
    assert matmul["stats"]["bytes.modelled"]["sum"] == RANKS * REPEAT * 3 * N * N * 8
    # Rank r streams r + 1 times the base length.
    for col, r in enumerate(ranks):
        elements = REPEAT * ELEMENTS * (r + 1)
        assert triad["per_rank"]["flops.modelled"][col]["sum"] == 2 * elements
        assert triad["per_rank"]["bytes.modelled"][col]["sum"] == 24 * elements
    # The enclosing region holds its children's counts.
    kernels = _node(profile, "kernels")
    assert (
        kernels["stats"]["flops.modelled"]["sum"]
        == matmul["stats"]["flops.modelled"]["sum"] + triad["stats"]["flops.modelled"]["sum"]
    )


def test_the_plot_renders_png_and_svg_with_its_artists(job, tmp_path):
    import matplotlib.pyplot as plt
    from rankscope.roofline import plot

    ceilings = tmp_path / "ceilings.json"
    ceilings.write_text(json.dumps(CEILINGS))
    for suffix in ("png", "svg"):
        out = tmp_path / f"roofline.{suffix}"
        fig = plot(job / "out", out, ceilings=ceilings)
        assert out.stat().st_size > 20_000, out
        ax = fig.axes[0]
        texts = [t.get_text() for t in ax.texts]
        # Three levels (L3 is null in these ceilings), three roofs (the scalar ones merged).
        assert [t for t in texts if "GB/s" in t] == [
            "L1 160.0 GB/s",
            "L2 95.0 GB/s",
            "DRAM 15.5 GB/s",
        ]
        roofs = [t for t in texts if "GFLOP/s" in t]
        assert roofs == [
            "vector single: 170.0 GFLOP/s",
            "vector double: 85.0 GFLOP/s",
            "scalar single, scalar double: 21.0 GFLOP/s",
        ]
        labels = [t for t in texts if "% of time" in t]
        assert sorted(t.split(" (")[0] for t in labels) == ["kernels", "matmul", "triad"]
        assert len(ax.lines) >= 6, "one diagonal per level and one line per roof"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend[0].startswith("modelled") and "median of 4 ranks" in legend[1]
        assert ax.get_xlabel() == "arithmetic intensity (FLOP/byte)"
        assert "elsewhere" in fig.get_suptitle()
        plt.close(fig)


def _plot_command(tmp: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m rankscope.roofline plot ARGS`` with the test's cache folder."""
    return subprocess.run(
        [sys.executable, "-m", "rankscope.roofline", "plot", *args],
        env=_env(tmp),
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_the_command_line_plots_one_rank_or_every_rank(job, tmp_path):
    (job / "out" / "ceilings.json").write_text(json.dumps(CEILINGS))
    try:
        for extra in (["--rank", "2"], ["--all-ranks"]):
            out = tmp_path / "r.png"
            p = _plot_command(tmp_path, str(job / "out"), "-o", str(out), *extra)
            assert p.returncode == 0, p.stderr
            assert p.stdout == "" and out.stat().st_size > 20_000
    finally:
        (job / "out" / "ceilings.json").unlink()


def test_without_ceilings_the_error_says_to_measure_them(job, tmp_path):
    p = _plot_command(tmp_path, str(job / "out"), cwd=tmp_path)
    assert p.returncode == 1
    assert "no machine ceilings found" in p.stderr, p.stderr
    assert "run `rankscope roofline ceilings`" in p.stderr
    assert not (tmp_path / "roofline.png").exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    p = _plot_command(tmp_path, str(job / "out"), "--ceilings", str(bad))
    assert p.returncode == 1 and f"{bad}: not a ceilings file" in p.stderr, p.stderr

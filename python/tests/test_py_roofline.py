"""rankscope.roofline from Python: counts into the running region, their checks, the warning
when no region carries them, and how a profile becomes roofline points."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from rankscope import _native
from rankscope.bundle import marker
from rankscope.roofline import count, load_points


def _stats(name: str) -> dict:
    profile = json.loads(_native.profile_json())
    (node,) = [n for n in profile["nodes"] if n["name"] == name]
    return node["stats"]


def test_counts_go_to_the_running_region_with_the_component():
    with marker(["wall_clock", "roofline_modelled"], key="py-roof-outer"):
        count(flops=10, bytes=80)
        with marker(["wall_clock", "roofline_modelled"], key="py-roof-inner"):
            count(flops=2e9)  # a float without a fraction is a count
            count(bytes=24)
        count(flops=1)
    outer, inner = _stats("py-roof-outer"), _stats("py-roof-inner")
    assert inner["flops.modelled"]["sum"] == 2_000_000_000
    assert inner["bytes.modelled"]["sum"] == 24
    assert outer["flops.modelled"]["sum"] == 2_000_000_011
    assert outer["bytes.modelled"]["sum"] == 104


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"flops": -1}, ValueError, "flops must be a whole number from 0 to 2**64 - 1, got -1"),
        ({"bytes": 2.5}, ValueError, "bytes must be a whole number >= 0, got 2.5"),
        ({"flops": "10"}, TypeError, "flops must be a whole number >= 0, got '10' (str)"),
        ({"bytes": 2**64}, ValueError, "bytes must be a whole number from 0"),
    ],
)
def test_bad_counts_are_refused_with_the_argument_named(kwargs, error, text):
    with pytest.raises(error, match=r"^rankscope\.roofline\.count: ") as e:
        count(**kwargs)
    assert text in str(e.value)


def test_counts_outside_any_carrying_region_warn_once_and_change_nothing(tmp_path):
    script = textwrap.dedent(
        """
        from rankscope.bundle import marker
        from rankscope.roofline import count
        count(flops=1)
        with marker(["wall_clock"], key="timed"):
            count(bytes=8)
        print("result", 42)
        raise SystemExit(3)
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out"), "PATH": "/usr/bin:/bin"},
    )
    assert (p.returncode, p.stdout) == (3, "result 42\n")
    warnings = [line for line in p.stderr.splitlines() if "roofline_modelled" in line]
    assert len(warnings) == 1, p.stderr
    assert "no region is open" in warnings[0]
    assert "add 'roofline_modelled' to the region's components" in warnings[0]


def _node(i, name, parent, **per_rank):
    """A node of a 2-rank profile: ``metric=[sum of rank 0, sum of rank 1]`` (None: absent)."""
    stats = {m: {"sum": sum(v for v in vs if v is not None)} for m, vs in per_rank.items()}
    cells = {m: [None if v is None else {"sum": v} for v in vs] for m, vs in per_rank.items()}
    return {"id": i, "name": name, "parent": parent, "stats": stats, "per_rank": cells}


PROFILE = {
    "ranks": [{"rank": 0, "hostname": "a"}, {"rank": 1, "hostname": "b"}],
    "nodes": [
        _node(0, "main", None, wall_clock=[4_000_000_000, 4_000_000_000]),
        # 1 and 3 GFLOP in 1 s over 1 and 2 GB: intensities 1 and 1.5, rates 1 and 3 GFLOP/s.
        _node(
            1,
            "solve",
            0,
            wall_clock=[1_000_000_000, 1_000_000_000],
            **{"flops.modelled": [10**9, 3 * 10**9], "bytes.modelled": [10**9, 2 * 10**9]},
        ),
        _node(
            2,
            "io",
            0,
            wall_clock=[10**9, 10**9],
            **{"flops.modelled": [0, 0], "bytes.modelled": [5, 5]},
        ),
        # Only rank 1 entered it; counted by the PMU.
        _node(
            3,
            "fft",
            0,
            wall_clock=[None, 2 * 10**9],
            **{"flops.measured": [None, 8 * 10**9], "bytes.measured": [None, 10**9]},
        ),
    ],
}


def test_points_merge_over_the_ranks_that_entered_and_leave_out_regions_without_counts():
    points, left_out = load_points(PROFILE)
    assert left_out == ["main (no counts)", "io (modelled: 0 FLOPs)"]
    solve, fft = points
    assert (solve.region, solve.kind, solve.ranks) == ("solve", "modelled", [0, 1])
    assert solve.intensity == pytest.approx(1.25) and solve.gflops == pytest.approx(2.0)
    assert solve.intensity_range == (1.0, 1.5) and solve.gflops_range == (1.0, 3.0)
    assert solve.share == pytest.approx(2 / 8)
    assert (fft.kind, fft.ranks, fft.intensity, fft.gflops) == ("measured", [1], 8.0, 4.0)
    one, _ = load_points(PROFILE, rank=0)
    assert [(p.region, p.gflops) for p in one] == [("solve", 1.0)]
    every, _ = load_points(PROFILE, all_ranks=True)
    assert [(p.region, p.ranks, p.labelled) for p in every] == [
        ("solve", [0], True),
        ("solve", [1], False),
        ("fft", [1], True),
    ]

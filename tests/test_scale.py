"""Per-rank data bounded at scale: a job larger than `per_rank_max` sends rank 0 statistics over
ranks per node plus the values of `rank_filter`'s ranks, every rank writes its own values to
`<output_path>-rank<N>/`, and `rankscope merge` assembles those offline into the full result.

Uses runtime/examples/ranks.rs at 16 ranks (uneven work per rank, a region only odd ranks
enter). Everything rank 0 wrote is checked against the offline assembly of the ranks' own files.
"""

import json
import os
import subprocess

import h5py
import pytest
from conftest import MPI_ENV, build_bin, build_example

RANKS = 16
KEPT = [1, 5, 6]


def nodes_by_path(profile):
    """{path tuple: node} of a native JSON profile."""
    paths = {}
    for n in profile["nodes"]:
        parent = n["parent"]
        paths[n["id"]] = (paths[parent] if parent is not None else ()) + (n["name"],)
    return {paths[n["id"]]: n for n in profile["nodes"]}


def run_ranks(mpirun, out, **settings):
    env = {**os.environ, **MPI_ENV, "RANKSCOPE_OUTPUT_PATH": str(out), "RANKSCOPE_BANNER": "on"}
    env.update({f"RANKSCOPE_{k.upper()}": str(v) for k, v in settings.items()})
    proc = subprocess.run(
        [mpirun, "-n", str(RANKS), "--oversubscribe", str(build_example("ranks"))],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def scaled(mpirun, tmp_path_factory):
    """16 ranks above per_rank_max=4, ranks 1, 5 and 6 kept; then `rankscope merge` of the
    ranks' own folders."""
    tmp = tmp_path_factory.mktemp("scale")
    proc = run_ranks(mpirun, tmp / "out", per_rank_max=4, rank_filter="5-6,1")
    merge = subprocess.run(
        [str(build_bin("rankscope")), "merge", str(tmp), "--output", str(tmp / "offline")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merge.returncode == 0, merge.stderr
    return tmp, proc


def direct_spread(node, metric, ranks):
    """The spread of a full profile's node straight from its columns (lowest rank on ties)."""
    vals = [(r, s["sum"]) for r, s in zip(ranks, node["per_rank"].get(metric, [])) if s is not None]
    if not vals:
        return None
    low = min(vals, key=lambda rv: (rv[1], rv[0]))
    high = min(vals, key=lambda rv: (-rv[1], rv[0]))
    col = dict(zip(ranks, node["per_rank"][metric]))
    return {
        "ranks": len(vals),
        "sum": sum(v for _, v in vals),
        "sumsq": sum(v * v for _, v in vals),
        "min": {"rank": low[0], "stats": col[low[0]]},
        "max": {"rank": high[0], "stats": col[high[0]]},
    }


def test_rank0_keeps_statistics_and_the_filtered_ranks(scaled):
    tmp, _ = scaled
    merged = json.loads((tmp / "out" / "profile.json").read_text())
    assert merged["merged_ranks"] == RANKS
    assert [r["rank"] for r in merged["ranks"]] == KEPT
    exchange = nodes_by_path(merged)[("main", "step", "exchange")]
    # Odd ranks only: 8 of 16 entered; of the kept ranks 1 and 5 did, 6 did not.
    assert exchange["across_ranks"]["wall_clock"]["ranks"] == RANKS // 2
    assert [s is not None for s in exchange["per_rank"]["wall_clock"]] == [True, True, False]
    # Which ranks hold the extremes is timing; that they are odd ranks is not.
    spread = exchange["across_ranks"]["wall_clock"]
    assert spread["max"]["rank"] % 2 == 1 and spread["min"]["rank"] % 2 == 1
    shown = exchange["display"]["wall_clock"]["ranks"]
    assert (shown["min_rank"], shown["max_rank"]) == (spread["min"]["rank"], spread["max"]["rank"])
    assert shown["ranks"] == RANKS // 2


def test_every_rank_wrote_its_own_values(scaled):
    tmp, _ = scaled
    for r in range(RANKS):
        own = json.loads((tmp / f"out-rank{r}" / "profile.json").read_text())
        assert [x["rank"] for x in own["ranks"]] == [r]
        assert own["metadata"]["snapshot.reason"] == "per_rank_max"
        assert not (tmp / f"out-rank{r}" / "report.txt").exists()  # the JSON is the point


def test_offline_assembly_equals_rank0_statistics_and_columns(scaled):
    tmp, _ = scaled
    merged = json.loads((tmp / "out" / "profile.json").read_text())
    offline = json.loads((tmp / "offline" / "profile.json").read_text())
    ranks = [r["rank"] for r in offline["ranks"]]
    assert ranks == list(range(RANKS))
    online, full = nodes_by_path(merged), nodes_by_path(offline)
    assert list(online) == list(full)  # same nodes, same order
    for path, node in full.items():
        mine = online[path]
        assert mine["stats"] == node["stats"], path
        for metric in node["per_rank"]:
            assert mine["across_ranks"][metric] == direct_spread(node, metric, ranks), path
            kept = [node["per_rank"][metric][r] for r in KEPT]
            assert mine["per_rank"].get(metric, [None] * len(KEPT)) == kept, (path, metric)


def test_outputs_say_what_they_hold(scaled):
    tmp, proc = scaled
    report = (tmp / "out" / "report.txt").read_text()
    assert f"rankscope report: {RANKS} ranks" in report
    assert "per-rank values: ranks 1,5-6" in report
    banner = [line for line in proc.stderr.splitlines() if "outputs written to" in line]
    assert len(banner) == 1 and " files, " in banner[0], proc.stderr
    with h5py.File(tmp / "out" / "profile.h5", "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["nodes/name"][:]]
        assert list(f["ranks/rank"][:]) == KEPT
        assert f["metrics/wall_clock/per_rank"].shape == (len(names), len(KEPT))
        across = f["metrics/wall_clock/across_ranks"]
        i = names.index("exchange")
        assert across["ranks"][i] == RANKS // 2
        spread = nodes_by_path(json.loads((tmp / "out" / "profile.json").read_text()))[
            ("main", "step", "exchange")
        ]["across_ranks"]["wall_clock"]
        assert across["max_rank"][i] == spread["max"]["rank"]
        assert across["min_laps"][i] == spread["min"]["stats"]["laps"] == 4
    summary = json.loads((tmp / "out" / "profile-summary.cali.json").read_text())
    ranks_col = summary["columns"].index("ranks")
    assert max(row[ranks_col] for row in summary["data"]) == RANKS


def test_at_most_per_rank_max_ranks_every_rank_is_kept(mpirun, tmp_path):
    run_ranks(mpirun, tmp_path / "out", per_rank_max=RANKS)
    merged = json.loads((tmp_path / "out" / "profile.json").read_text())
    assert [r["rank"] for r in merged["ranks"]] == list(range(RANKS))
    assert "merged_ranks" not in merged  # every rank has its column
    assert not any(tmp_path.glob("out-rank*"))  # nobody wrote its own folder


def test_a_bad_rank_filter_names_the_setting(mpirun, tmp_path):
    env = {**os.environ, **MPI_ENV, "RANKSCOPE_RANK_FILTER": "3-1"}
    proc = subprocess.run(
        [str(build_example("ranks"))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "RANKSCOPE_RANK_FILTER" in proc.stderr and "0-3,63" in proc.stderr, proc.stderr

"""The Rust runtime's own run under mpirun: `rankscope::init()` joins MPI, `finalize()` reduces
every rank to rank 0, which writes every output; per-rank trees and per-rank snapshots agree
with the merged columns. Uses runtime/examples/ranks.rs and threads.rs."""

import json
import os
import subprocess

import h5py
import pytest
from conftest import MPI_ENV, build_bin, build_example

RANKS = 4


def nodes_by_path(profile):
    """{path tuple: node} of a native JSON profile."""
    nodes = profile["nodes"]
    paths = {}
    for n in nodes:
        parent = n["parent"]
        paths[n["id"]] = (paths[parent] if parent is not None else ()) + (n["name"],)
    return {paths[n["id"]]: n for n in nodes}


@pytest.fixture(scope="module")
def ranks_run(mpirun, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    env = {
        **os.environ,
        **MPI_ENV,
        "RANKSCOPE_OUTPUT_PATH": str(tmp / "out"),
        "RANKSCOPE_COLLAPSE_PROCESSES": "off",
        "RANKSCOPE_RANK_OUTPUT": "on",
        "RANKSCOPE_BANNER": "on",  # python/tests/conftest.py turns it off for its session
    }
    exe = build_example("ranks")
    proc = subprocess.run(
        [mpirun, "-n", str(RANKS), str(exe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return tmp, proc


def test_rank0_writes_every_output_once(ranks_run):
    tmp, proc = ranks_run
    assert proc.stderr.count("rankscope: outputs written to") == 1, proc.stderr
    out = tmp / "out"
    for name in ["profile.json", "report.txt", "profile.h5", "profile.cali.json"]:
        assert (out / name).is_file(), name
    # rank 0 prints the files it wrote on stdout (the example's own output)
    assert str(out / "profile.json") in proc.stdout.split()


def test_merged_profile_has_every_rank_and_partial_regions(ranks_run):
    tmp, _ = ranks_run
    merged = json.loads((tmp / "out" / "profile.json").read_text())
    assert [r["rank"] for r in merged["ranks"]] == list(range(RANKS))
    by_path = nodes_by_path(merged)
    exchange = by_path[("main", "step", "exchange")]["per_rank"]["wall_clock"]
    # only odd ranks enter `exchange`
    assert [s is not None for s in exchange] == [r % 2 == 1 for r in range(RANKS)]
    compute = by_path[("main", "step", "compute")]["per_rank"]["cpu_clock"]
    assert all(s is not None and s["laps"] == 4 for s in compute)
    with h5py.File(tmp / "out" / "profile.h5", "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["nodes/name"][:]]
        assert len(names) == len(by_path)
        per_rank = f["metrics/wall_clock/per_rank"][:]
        assert per_rank.shape == (len(names), RANKS)
        row = per_rank[names.index("exchange")]
        # absent ranks are NaN; present ones the rank's sum in seconds
        assert [v == v for v in row] == [r % 2 == 1 for r in range(RANKS)]
        for r in (1, 3):
            assert row[r] == pytest.approx(exchange[r]["sum"] * 1e-9)


def test_per_rank_trees_and_snapshots_match_the_merged_columns(ranks_run):
    tmp, _ = ranks_run
    merged = nodes_by_path(json.loads((tmp / "out" / "profile.json").read_text()))
    for rank in range(RANKS):
        tree = json.loads((tmp / "out" / f"rank-{rank}.json").read_text())
        snapshot = json.loads((tmp / f"out-rank{rank}" / "profile.json").read_text())
        assert [r["rank"] for r in snapshot["ranks"]] == [rank]
        tree_nodes, snap_nodes = nodes_by_path(tree), nodes_by_path(snapshot)
        # the snapshot was written by the rank itself before any communication
        assert set(tree_nodes) == set(snap_nodes)
        for path, node in snap_nodes.items():
            for metric, stats in node["stats"].items():
                assert tree_nodes[path]["stats"][metric] == stats, (rank, path, metric)
                assert merged[path]["per_rank"][metric][rank] == stats, (rank, path, metric)


def test_offline_merge_of_the_snapshots_equals_rank0_result(ranks_run, tmp_path):
    tmp, _ = ranks_run
    snapshots = [str(tmp / f"out-rank{r}" / "profile.json") for r in reversed(range(RANKS))]
    cli = build_bin("rankscope")
    proc = subprocess.run(
        [str(cli), "merge", *snapshots, "--output", str(tmp_path / "merged")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path / "merged" / "profile.json") in proc.stdout.split()

    def table(path):
        p = json.loads(path.read_text())
        return [r["rank"] for r in p["ranks"]], [
            (n["name"], n["parent"], n["stats"], n["per_rank"]) for n in p["nodes"]
        ]

    assert table(tmp_path / "merged" / "profile.json") == table(tmp / "out" / "profile.json")

    dup = subprocess.run(
        [str(cli), "merge", snapshots[0], snapshots[0]], capture_output=True, text=True
    )
    assert dup.returncode == 1 and "is in both" in dup.stderr, dup.stderr


def test_threads_example_alone_collapses_eight_threads(tmp_path):
    exe = build_example("threads")
    env = {**os.environ, "RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out")}
    proc = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    profile = json.loads((tmp_path / "out" / "profile.json").read_text())
    by_path = nodes_by_path(profile)
    assert by_path[("worker",)]["stats"]["wall_clock"]["laps"] == 8
    assert by_path[("worker", "step")]["stats"]["wall_clock"]["laps"] == 80
    assert by_path[("worker", "step", "allocate")]["stats"]["peak_rss"]["laps"] == 16

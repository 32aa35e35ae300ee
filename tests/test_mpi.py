"""End-to-end checks of the MPI reduction and rank 0's outputs.

`runtime/examples/mpi_reduce.rs` builds a different profile on every rank (uneven laps and
values, a region only odd ranks enter, rank 2 empty), writes it to `rank-<r>.json`, reduces to
rank 0 and writes `merged.json`, `merged.h5` and `merged.cali.json`. Everything rank 0 wrote is
checked here against values computed in Python from the per-rank files alone.
"""

import json
import math

import numpy as np
import pytest

EXAMPLE = "mpi_reduce"

# (ranks, extra arguments): plain, non-power-of-two with tiny message pieces, and the reduction
# run from the MPI_Finalize hook.
RUNS = [
    (4, ()),
    (5, ("--chunk", "64")),
    (4, ("--via-hook",)),
]


def load(path):
    with open(path) as f:
        return json.load(f)


def paths(profile):
    """{path tuple: node} where a path is the names (and thread/start) from the top."""
    by_id = {n["id"]: n for n in profile["nodes"]}
    out = {}
    for n in profile["nodes"]:
        steps, cur = [], n
        while cur is not None:
            steps.append((cur["name"], cur.get("thread"), cur.get("start_ns")))
            cur = by_id.get(cur["parent"]) if cur["parent"] is not None else None
        out[tuple(reversed(steps))] = n
    return out


def combine(stats):
    """Merged lap statistics, computed directly from the per-rank ones."""
    stats = [s for s in stats if s is not None]
    if not stats:
        return None
    return {
        "laps": sum(s["laps"] for s in stats),
        "sum": sum(s["sum"] for s in stats),
        "sumsq": sum(s["sumsq"] for s in stats),
        "min": min(s["min"] for s in stats),
        "max": max(s["max"] for s in stats),
    }


class Run:
    """One run's files, with each rank's data indexed by path."""

    def __init__(self, out, n):
        self.out, self.n = out, n
        self.ranks = [load(out / f"rank-{r}.json") for r in range(n)]
        self.merged = load(out / "merged.json")
        self.rank_paths = [paths(p) for p in self.ranks]
        self.merged_paths = paths(self.merged)
        self.metrics = {m["name"]: m for p in self.ranks for m in p["metrics"]}

    def rank_stats(self, path, metric, r):
        node = self.rank_paths[r].get(path)
        return None if node is None else node["stats"].get(metric)


@pytest.fixture(params=RUNS, ids=lambda r: f"n{r[0]}{''.join(r[1])}")
def run(request, run_example):
    n, extra = request.param
    return Run(run_example(EXAMPLE, n, *extra), n)


def test_tree_is_the_union_in_preorder(run):
    union = set().union(*(p.keys() for p in run.rank_paths))
    assert set(run.merged_paths) == union
    nodes = run.merged["nodes"]
    for i, n in enumerate(nodes):
        assert n["id"] == i
        if n["parent"] is None:
            assert n["depth"] == 0
        else:
            assert n["parent"] < i
            assert n["depth"] == nodes[n["parent"]]["depth"] + 1


def test_ranks_are_columns_in_rank_order(run):
    ranks = run.merged["ranks"]
    assert [r["rank"] for r in ranks] == list(range(run.n))
    assert all(r["hostname"] for r in ranks)
    assert len({r["pid"] for r in ranks}) == run.n
    assert run.merged["metadata"]["mpi.world.size"] == run.n
    assert run.merged["metadata"]["mpi.library_version"]


def test_per_rank_values_and_merged_statistics(run):
    for path, node in run.merged_paths.items():
        for metric in run.metrics:
            want_cols = [run.rank_stats(path, metric, r) for r in range(run.n)]
            got_cols = node["per_rank"].get(metric, [None] * run.n)
            assert got_cols == want_cols, (path, metric)
            assert node["stats"].get(metric) == combine(want_cols), (path, metric)


def test_divergent_and_empty_ranks(run):
    io = run.merged_paths[(("main", None, None), ("io", None, None))]
    cols = io["per_rank"]["wall_clock"]
    assert [c is not None for c in cols] == [r % 2 == 1 for r in range(run.n)]
    # Rank 2 measured nothing: absent everywhere, never zero.
    for node in run.merged["nodes"]:
        for col in node["per_rank"].values():
            assert col[2] is None


def test_hdf5_reads_back(run):
    h5py = pytest.importorskip("h5py")
    with h5py.File(run.out / "merged.h5", "r") as f:
        assert f.attrs["schema"] == "rankscope-hdf5/1"
        names = [s.decode() if isinstance(s, bytes) else s for s in f["nodes/name"][()]]
        assert names == [n["name"] for n in run.merged["nodes"]]
        parents = f["nodes/parent"][()]
        assert list(parents) == [
            -1 if n["parent"] is None else n["parent"] for n in run.merged["nodes"]
        ]
        assert list(f["ranks/rank"][()]) == list(range(run.n))
        path_of = {n["id"]: p for p, n in run.merged_paths.items()}
        for metric, desc in run.metrics.items():
            g = f["metrics"][metric]
            assert g.attrs["display_unit"] == desc["display_unit"]
            scale = g.attrs["scale"]
            per_rank = g["per_rank"][()]
            laps = g["per_rank_laps"][()]
            assert per_rank.shape == (len(names), run.n)
            for i in range(len(names)):
                path = path_of[i]
                sums = np.array(
                    [
                        np.nan if s is None else s["sum"] * scale
                        for s in (run.rank_stats(path, metric, r) for r in range(run.n))
                    ]
                )
                want_laps = [
                    0 if s is None else s["laps"]
                    for s in (run.rank_stats(path, metric, r) for r in range(run.n))
                ]
                np.testing.assert_allclose(per_rank[i], sums, rtol=1e-12, equal_nan=True)
                assert list(laps[i]) == want_laps
                present = ~np.isnan(sums)
                a = g["across_ranks"]
                assert a["ranks"][i] == present.sum()
                if not present.any():
                    assert math.isnan(a["mean"][i]) and a["min_rank"][i] == -1
                    continue
                vals = sums[present]
                mean = vals.mean()
                np.testing.assert_allclose(a["min"][i], vals.min(), rtol=1e-12)
                np.testing.assert_allclose(a["max"][i], vals.max(), rtol=1e-12)
                np.testing.assert_allclose(a["mean"][i], mean, rtol=1e-12)
                np.testing.assert_allclose(a["stddev"][i], vals.std(), rtol=1e-6, atol=1e-15)
                np.testing.assert_allclose(
                    a["imbalance"][i], vals.max() / mean - 1, rtol=1e-9, atol=1e-15
                )
                assert a["min_rank"][i] == int(np.nanargmin(sums))
                assert a["max_rank"][i] == int(np.nanargmax(sums))
                # Lap statistics over every lap of every rank.
                merged = combine([run.rank_stats(path, metric, r) for r in range(run.n)])
                assert g["laps"][i] == merged["laps"]
                np.testing.assert_allclose(g["sum"][i], merged["sum"] * scale, rtol=1e-12)
                np.testing.assert_allclose(g["min"][i], merged["min"] * scale, rtol=1e-12)
                np.testing.assert_allclose(g["max"][i], merged["max"] * scale, rtol=1e-12)
                m = merged["sum"] / merged["laps"]
                np.testing.assert_allclose(g["mean"][i], m * scale, rtol=1e-12)
                var = max(merged["sumsq"] / merged["laps"] - m * m, 0.0)
                np.testing.assert_allclose(
                    g["stddev"][i], math.sqrt(var) * scale, rtol=1e-6, atol=1e-15
                )


def test_hatchet_reads_ranks(run_example):
    ht = pytest.importorskip("hatchet")
    r = Run(run_example(EXAMPLE, 4), 4)
    gf = ht.GraphFrame.from_caliper(str(r.out / "merged.cali.json"))
    df = gf.dataframe
    assert "rank" in df.index.names
    assert sorted(df.index.get_level_values("rank").unique()) == [0, 1, 2, 3]
    assert "time (inc)" in gf.inc_metrics and "time" in gf.exc_metrics
    names = {n.frame["name"] for n in gf.graph.traverse()}
    assert names == {"main", "compute", "kernel", "io"}
    # Hatchet's Caliper reader links children but leaves `parents` empty: walk down instead.
    node_paths, stack = {}, [(root, ()) for root in gf.graph.roots]
    while stack:
        node, above = stack.pop()
        path = above + ((node.frame["name"], None, None),)
        node_paths[node] = path
        stack.extend((c, path) for c in node.children)
    assert set(node_paths.values()) == set(r.merged_paths)
    for node, path in node_paths.items():
        for rank in range(4):
            s = r.rank_stats(path, "wall_clock", rank)
            got = df.loc[(node, rank), "time (inc)"]
            if s is None:
                assert math.isnan(got)
            else:
                assert got == pytest.approx(s["sum"] * 1e-9, rel=1e-12)
                below = [r.rank_stats(node_paths[c], "wall_clock", rank) for c in node.children]
                own = s["sum"] - sum(c["sum"] for c in below if c is not None)
                assert df.loc[(node, rank), "time"] == pytest.approx(own * 1e-9, rel=1e-9)


def test_thicket_loads_per_rank_file_with_metadata(run_example):
    th = pytest.importorskip("thicket")
    out = run_example(EXAMPLE, 4)
    tk = th.Thicket.from_caliper(str(out / "merged.cali.json"), disable_tqdm=True)
    assert "rank" in tk.dataframe.index.names
    meta = tk.metadata.iloc[0]
    assert meta["mpi.world.size"] == 4
    assert meta["jobsize"] == 4
    assert meta["hostname"] and meta["cluster"]
    assert meta["example"] == "mpi_reduce"  # a user-supplied key
    assert meta["mpi.library_version"]


def test_thicket_groups_runs_by_metadata(run_example):
    th = pytest.importorskip("thicket")
    runs = [(4,), (5,), (5, "--chunk", "64")]
    files = [str(run_example(EXAMPLE, *r) / "merged-summary.cali.json") for r in runs]
    tk = th.Thicket.from_caliper(files, disable_tqdm=True)
    assert sorted(tk.metadata["mpi.world.size"]) == [4, 5, 5]
    groups = tk.groupby("mpi.world.size")
    assert sorted(groups.keys()) == [4, 5]
    assert len(groups[5].profile) == 2
    # The summary's numbers are the cross-rank statistics of the per-rank data.
    r = Run(run_example(EXAMPLE, 4), 4)
    df = groups[4].dataframe
    for node in groups[4].graph.traverse():
        row = df.loc[node].iloc[0]
        name = node.frame["name"]
        path = next(p for p in r.merged_paths if p[-1][0] == name)
        sums = [
            s["sum"] * 1e-9 for s in (r.rank_stats(path, "wall_clock", k) for k in range(4)) if s
        ]
        assert row["ranks"] == len(sums)
        assert row["Max time/rank (inc)"] == pytest.approx(max(sums), rel=1e-12)
        assert row["Min time/rank (inc)"] == pytest.approx(min(sums), rel=1e-12)
        assert row["Avg time/rank (inc)"] == pytest.approx(sum(sums) / len(sums), rel=1e-12)
        assert row["Total time (inc)"] == pytest.approx(sum(sums), rel=1e-12)


def test_without_a_launcher_the_process_is_rank_zero_of_one(run_example):
    out = run_example(EXAMPLE, 0)
    merged = load(out / "merged.json")
    assert [r["rank"] for r in merged["ranks"]] == [0]
    assert merged["metadata"]["mpi.world.size"] == 1
    assert "mpi.library_version" not in merged["metadata"]
    local = paths(load(out / "rank-0.json"))
    for path, node in paths(merged).items():
        for metric, col in node["per_rank"].items():
            assert col == [local[path]["stats"][metric]]

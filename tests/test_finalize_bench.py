"""runtime/examples/finalize_bench.rs, the rankscope side of scripts/bench-finalize.sh, under a
real `mpirun -n 4` on its small tree (1,101 paths): the line it prints describes the run, and
rank 0's merged output has exactly the tree every rank built. Times are parsed, never judged."""

import json
import os
import re
import subprocess

from conftest import MPI_ENV, build_example

RANKS = 4
GRANDCHILDREN = 10
VISITS = 2
PATHS = 1 + 100 + 100 * GRANDCHILDREN


def run_bench(mpirun, out, *extra, **env):
    """Runs the example under mpirun; returns the fields of the one line rank 0 prints."""
    exe = build_example("finalize_bench")
    cmd = [mpirun, "-n", str(RANKS), str(exe), str(out), "--grandchildren", str(GRANDCHILDREN)]
    cmd += ["--visits", str(VISITS), *extra]
    proc = subprocess.run(
        cmd,
        env={**os.environ, **MPI_ENV, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("finalize_bench ")]
    assert len(lines) == 1, proc.stdout
    return dict(re.findall(r"(\w+)=(\S+)", lines[0]))


def paths_of(profile):
    """Each node's path (tuple of names) from the top, by node id."""
    paths = {}
    for n in profile["nodes"]:
        parent = n["parent"]
        paths[n["id"]] = (paths[parent] if parent is not None else ()) + (n["name"],)
    return paths


def test_merged_output_is_the_tree_every_rank_built(mpirun, tmp_path):
    out = tmp_path / "out"
    fields = run_bench(mpirun, out, RANKSCOPE_AUTO_OUTPUT="on", RANKSCOPE_JSON_OUTPUT="on")
    assert fields["ranks"] == str(RANKS)
    assert fields["paths"] == str(PATHS)
    assert fields["visits"] == str(VISITS)
    assert "json" in fields["outputs"].split(",")
    float(fields["finalize_s"])
    assert not any(k.startswith("get_") for k in fields)

    merged = json.loads((out / "profile.json").read_text())
    assert [r["rank"] for r in merged["ranks"]] == list(range(RANKS))
    paths = set(paths_of(merged).values())
    assert len(paths) == PATHS == len(merged["nodes"])
    assert ("root",) in paths
    assert ("root", "child_99", f"grand_{GRANDCHILDREN - 1}") in paths
    for node in merged["nodes"]:
        laps = [s["laps"] for s in node["per_rank"]["wall_clock"]]
        assert laps == [VISITS] * RANKS, node["name"]


def test_without_final_outputs_only_mpi_finalize_is_timed(mpirun, tmp_path):
    out = tmp_path / "out"
    fields = run_bench(mpirun, out, "--time-get", RANKSCOPE_AUTO_OUTPUT="off")
    assert fields["outputs"] == "none"
    float(fields["finalize_s"])
    for call in ("first", "again"):
        assert float(fields[f"get_{call}_s"]) >= 0
        assert float(fields[f"get_{call}_cpu_s"]) >= 0
    assert not out.exists()

"""Roofline ceilings, the machine phase: real `rankscope roofline ceilings --quick` runs (the
JSON's keys and sanity of every number, the per-host cache and --refresh, a bad cache file,
the output folder, the progress bar on a terminal only) and real `mpirun` jobs giving one entry
per host with every rank of the host taking part."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import MPI_ENV, build_bin

LEVELS = ["l1", "l2", "l3", "dram"]
PEAKS = ["vector_double", "vector_single", "scalar_double", "scalar_single"]


def ceilings(tmp: Path, *args: str, mpirun: list[str] | None = None, rc: int = 0):
    """Runs the command (quick, with its cache under `tmp`); returns the process."""
    cmd = [*(mpirun or []), str(build_bin("rankscope")), "roofline", "ceilings", "--quick", *args]
    env = {**os.environ, **MPI_ENV, "XDG_CACHE_HOME": str(tmp / "cache")}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=tmp)
    assert p.returncode == rc, f"{cmd}: rc {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def check_host(h: dict, threads: int, ranks: int) -> None:
    """Every key of the contract, every number positive and finite, vector peaks above scalar."""
    assert h["host"] and h["cpu"] is not None and h["date"].endswith("Z")
    assert h["isa"] in {"avx512", "avx2+fma", "sse2", "neon", "scalar"}
    assert (h["threads"], h["ranks"], h["quick"]) == (threads, ranks, True)
    numbers = [h["peak_gflops"][k] for k in PEAKS]
    for table in [h["bandwidth_gbs"], *(h["kernels"][k] for k in ("load", "copy", "triad"))]:
        assert set(table) == set(LEVELS)
        numbers += [table[lv] for lv in LEVELS if table[lv] is not None]
        assert table["l1"] is not None and table["dram"] is not None
    assert all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in numbers), numbers
    assert h["bandwidth_gbs"] == h["kernels"]["load"]
    p = h["peak_gflops"]
    assert p["vector_double"] >= p["scalar_double"] and p["vector_single"] >= p["scalar_single"]
    kinds = {s["kernel"] for s in h["sweep"]}
    assert kinds == {"load", "copy", "triad"}
    assert all(s["bytes"] > 0 and s["gbs"] > 0 for s in h["sweep"])
    assert h["cache_bytes"]["l1"] > 0 and h["cache_bytes"]["l2"] > h["cache_bytes"]["l1"]


def test_quick_json_has_every_ceiling_and_writes_the_output_folder(tmp_path):
    p = ceilings(tmp_path, "--json", "--output", str(tmp_path / "run"))
    doc = json.loads(p.stdout)
    assert doc["format"] == "rankscope-ceilings/1" and len(doc["hosts"]) == 1
    check_host(doc["hosts"][0], threads=len(os.sched_getaffinity(0)), ranks=1)
    assert json.loads((tmp_path / "run" / "ceilings.json").read_text()) == doc
    # The cache has it too, under this host's name.
    cached = tmp_path / "cache" / "rankscope" / f"ceilings-{doc['hosts'][0]['host']}.json"
    assert json.loads(cached.read_text()) == doc
    # Not a terminal: no progress bar on stderr.
    assert "measuring the roofline ceilings" not in p.stderr


def test_cache_is_reused_until_refresh(tmp_path):
    first = json.loads(ceilings(tmp_path, "--json").stdout)
    again = ceilings(tmp_path, "--json")
    assert json.loads(again.stdout) == first
    assert "ceilings from the cache" in again.stderr and "--refresh" in again.stderr
    fresh = ceilings(tmp_path, "--json", "--refresh")
    assert "from the cache" not in fresh.stderr
    assert json.loads(fresh.stdout) != first, "measured again: new numbers"
    # The table for people reads the same cache.
    table = ceilings(tmp_path).stdout
    assert table.startswith("roofline ceilings of ") and "peak GFLOP/s" in table
    assert "    load " in table and "DRAM" in table


def test_a_bad_cache_file_is_an_error_naming_it_and_never_overwritten(tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text('{"my": "notes"}')
    p = ceilings(tmp_path, "--cache", str(bad), rc=1)
    assert str(bad) in p.stderr and "rankscope-ceilings/1" in p.stderr, p.stderr
    # --refresh measures, but still does not overwrite a file that is not a ceilings cache.
    p = ceilings(tmp_path, "--cache", str(bad), "--refresh", "--json")
    assert "not overwritten" in p.stderr
    assert json.loads(p.stdout)["hosts"]
    assert bad.read_text() == '{"my": "notes"}'


def test_bad_usage_names_the_option(tmp_path):
    p = ceilings(tmp_path, "--quik", rc=2)
    assert "--quik" in p.stderr


def test_progress_bar_on_a_terminal(tmp_path):
    script = shutil.which("script")
    if script is None:
        pytest.skip("script (util-linux) not found: no pseudo-terminal to run under")
    cmd = f"{build_bin('rankscope')} roofline ceilings --quick --refresh"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "TERM": "xterm"}
    p = subprocess.run(
        [script, "-qec", cmd, "/dev/null"], env=env, capture_output=True, text=True, timeout=120
    )
    if "failed to create pseudo-terminal" in p.stderr:
        # A chroot or container without /dev/pts: no terminal can exist there.
        pytest.skip(f"no pseudo-terminal here: {p.stderr.strip()}")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "measuring the roofline ceilings of" in p.stdout, p.stdout[:2000]
    assert "peak GFLOP/s" in p.stdout


def test_mpirun_every_rank_of_the_host_takes_part(tmp_path, mpirun):
    out = tmp_path / "run"
    p = ceilings(tmp_path, "--json", "--output", str(out), mpirun=[mpirun, "-n", "4"])
    # Rank 0 alone prints: one document.
    doc = json.loads(p.stdout)
    assert len(doc["hosts"]) == 1
    h = doc["hosts"][0]
    # Four ranks, each unbound (oversubscribed) with a thread per PU it may use.
    pus = len(os.sched_getaffinity(0))
    check_host(h, threads=4 * pus, ranks=4)
    assert any("share PUs" in n for n in h["notes"]), h["notes"]
    assert json.loads((out / "ceilings.json").read_text()) == doc


def test_mpirun_node_mode_runs_one_rank_per_host(tmp_path, mpirun):
    p = ceilings(tmp_path, "--json", "--node", "--refresh", mpirun=[mpirun, "-n", "2"])
    h = json.loads(p.stdout)["hosts"][0]
    check_host(h, threads=len(os.sched_getaffinity(0)), ranks=1)

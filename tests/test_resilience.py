"""Nothing lost on kill, walltime or hang (runtime/src/resilience): every rank's snapshot on
SIGTERM, SIGUSR1 and SIGXCPU, periodic snapshots, a dump after a delay, chaining the program's
own handlers; the snapshots merge offline with `rankscope merge`. Exit codes stay the program's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MPI_ENV, build_bin

RANKS = 4

LOOP = """
import os, sys, time
{imports}
from rankscope.bundle import marker

@marker(["wall_clock"])
def step():
    time.sleep(0.02)

rank = os.environ.get("OMPI_COMM_WORLD_RANK", "0")
open(f"{{sys.argv[1]}}/pid-{{rank}}", "w").write(str(os.getpid()))
for _ in range(100_000):
    step()
"""


def start(tmp_path: Path, script: str, ranks: int, **env: str) -> subprocess.Popen:
    path = tmp_path / "job.py"
    path.write_text(script)
    cmd = [sys.executable, str(path), str(tmp_path)]
    if ranks:
        cmd = ["mpirun", "-n", str(ranks), *cmd]
    full = {**os.environ, **MPI_ENV, "RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out"), **env}
    return subprocess.Popen(
        cmd, cwd=tmp_path, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(paths: list[Path], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < end, f"not there after {timeout} s: {paths}"
        time.sleep(0.05)


def snapshot(tmp_path: Path, rank: int) -> dict:
    return json.loads((tmp_path / f"out-rank{rank}" / "profile.json").read_text())


def merge(tmp_path: Path, out: str = "merged") -> tuple[subprocess.CompletedProcess, dict]:
    """`rankscope merge DIR`: every rank snapshot folder in tmp_path."""
    p = subprocess.run(
        [str(build_bin("rankscope")), "merge", str(tmp_path), "--output", str(tmp_path / out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    merged = json.loads((tmp_path / out / "profile.json").read_text())
    return p, merged


def pids(tmp_path: Path, ranks: int) -> list[int]:
    files = [tmp_path / f"pid-{r}" for r in range(max(ranks, 1))]
    wait_for(files)
    time.sleep(0.3)  # a few regions done
    return [int(f.read_text()) for f in files]


def sigterm_every_rank(tmp_path: Path, imports: str) -> int:
    """Runs LOOP on RANKS ranks, then does what Slurm does at the walltime or on scancel:
    SIGTERM to every rank at once. Returns mpirun's exit code. (SIGTERM to mpirun itself
    tests Open MPI, not rankscope: Open MPI 4 then sometimes SIGKILLs the ranks without a
    SIGTERM first, and not even a plain Python handler runs.)"""
    job = start(tmp_path, LOOP.format(imports=imports), RANKS)
    for pid in pids(tmp_path, RANKS):
        os.kill(pid, signal.SIGTERM)
    job.communicate(timeout=60)
    return job.returncode


def test_sigterm_of_every_rank_leaves_every_ranks_snapshot(tmp_path, mpirun):
    (tmp_path / "plain").mkdir()
    (tmp_path / "profiled").mkdir()
    expected = sigterm_every_rank(tmp_path / "plain", "")
    assert sigterm_every_rank(tmp_path / "profiled", "import rankscope") == expected
    tmp_path = tmp_path / "profiled"
    for r in range(RANKS):
        assert snapshot(tmp_path, r)["metadata"]["snapshot.reason"] == "SIGTERM"
    p, merged = merge(tmp_path)
    assert [r["rank"] for r in merged["ranks"]] == list(range(RANKS))
    steps = next(n for n in merged["nodes"] if n["name"] == "step")
    assert all(s and s["laps"] > 0 for s in steps["per_rank"]["wall_clock"])
    for r in range(RANKS):
        assert f"rank {r}: {tmp_path}/out-rank{r}/profile.json (SIGTERM snapshot, " in p.stderr
    assert "missing" not in p.stderr
    # A rank whose snapshot is lost is named as missing; the others still merge.
    shutil.rmtree(tmp_path / "out-rank2")
    p, merged = merge(tmp_path, "merged-3")
    assert [r["rank"] for r in merged["ranks"]] == [0, 1, 3]
    assert "missing ranks: 2 (of 4)" in p.stderr


def test_sigkill_of_one_rank_keeps_its_last_periodic_snapshot(tmp_path, mpirun):
    job = start(
        tmp_path, LOOP.format(imports="import rankscope"), RANKS, RANKSCOPE_SNAPSHOT_INTERVAL="1"
    )
    victim = pids(tmp_path, RANKS)[2]
    wait_for([tmp_path / f"out-rank{r}" / "profile.json" for r in range(RANKS)])
    os.kill(victim, signal.SIGKILL)  # no handler runs: only the periodic snapshot is left
    job.communicate(timeout=60)  # mpirun ends the others (SIGTERM: their own snapshots)
    assert job.returncode != 0
    assert snapshot(tmp_path, 2)["metadata"]["snapshot.reason"] == "snapshot_interval"
    p, merged = merge(tmp_path)
    assert [r["rank"] for r in merged["ranks"]] == list(range(RANKS))
    assert "rank 2: " in p.stderr and "(snapshot_interval snapshot, " in p.stderr


HUNG = """
import os, sys, time
import rankscope
from mpi4py import MPI
from rankscope.bundle import marker

@marker(["wall_clock"])
def exchange():
    MPI.COMM_WORLD.Barrier()   # rank 0 never gets there: the others hang in it

@marker(["wall_clock"])
def prepare():
    pass

rank = MPI.COMM_WORLD.Get_rank()
prepare()  # every rank measured something (a rank that measured nothing writes no snapshot)
open(f"{sys.argv[1]}/pid-{rank}", "w").write(str(os.getpid()))
if rank == 0:
    time.sleep(600)
exchange()
"""


def test_sigusr1_dumps_ranks_hung_in_a_collective(tmp_path, mpirun):
    pytest.importorskip("mpi4py")
    job = start(tmp_path, HUNG, RANKS)
    try:
        ranks = pids(tmp_path, RANKS)
        time.sleep(0.5)
        for pid in ranks:  # as `scancel --signal=USR1` does; the ranks go on
            os.kill(pid, signal.SIGUSR1)
        wait_for([tmp_path / f"out-rank{r}" / "profile.json" for r in range(RANKS)])
        time.sleep(0.2)
        assert job.poll() is None, "SIGUSR1 only asks for snapshots"
        for r in range(1, RANKS):
            meta = snapshot(tmp_path, r)["metadata"]
            assert meta["snapshot.reason"] == "SIGUSR1"
            assert ["exchange"] in meta["snapshot.open_regions"].values(), meta
    finally:
        job.kill()
        job.communicate(timeout=60)


HANDLER = """
import signal, sys, time
def handler(signum, frame):
    print("the program's own handler", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, handler)
import rankscope
from rankscope.bundle import marker

@marker(["wall_clock"])
def step():
    time.sleep(0.02)

open(sys.argv[1] + "/pid-0", "w").write("0")
while True:
    step()
"""


def test_the_programs_own_handler_still_runs(tmp_path):
    job = start(tmp_path, HANDLER, 0)
    pids(tmp_path, 0)
    job.send_signal(signal.SIGTERM)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 3, err
    assert out == "the program's own handler\n"
    assert snapshot(tmp_path, 0)["metadata"]["snapshot.reason"] == "SIGTERM"


def test_dump_after_writes_once_while_the_program_runs(tmp_path):
    job = start(tmp_path, LOOP.format(imports="import rankscope"), 0, RANKSCOPE_DUMP_AFTER="1")
    try:
        wait_for([tmp_path / "out-rank0" / "profile.json"], timeout=30)
        meta = snapshot(tmp_path, 0)["metadata"]
        assert meta["snapshot.reason"] == "dump_after"
        assert meta["snapshot.open_regions"] in ({"thread 0": ["step"]}, {})
        assert job.poll() is None
    finally:
        job.kill()
        job.communicate(timeout=60)


MANY = """
import rankscope
from rankscope.bundle import marker
for i in range(400):
    with marker(["wall_clock"], key=f"region-{i:04d}-" + "x" * 40):
        pass
print("done")
"""


def run_alone(tmp_path: Path, script: str, out: str) -> subprocess.CompletedProcess:
    (tmp_path / "job.py").write_text(script)
    env = {
        **os.environ,
        "RANKSCOPE_OUTPUT_PATH": out,
        "TMPDIR": str(tmp_path / "tmp"),
        "RANKSCOPE_BANNER": "on",  # python/tests' conftest turns it off for the session
    }
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(tmp_path / "job.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unwritable_output_path_falls_back_and_says_where(tmp_path):
    p = run_alone(tmp_path, MANY, "/dev/null/out")  # a file cannot hold a folder
    assert p.returncode == 0 and p.stdout == "done\n", p.stderr
    fallback = tmp_path / "tmp" / "rankscope-fallback" / "out"
    assert "could not write outputs to /dev/null/out" in p.stderr
    assert f"writing them to {fallback} instead" in p.stderr
    assert f"outputs written to {fallback}" in p.stderr
    names = {n["name"] for n in json.loads((fallback / "profile.json").read_text())["nodes"]}
    assert len(names) == 400


def test_full_output_folder_leaves_no_partial_file_and_falls_back(tmp_path):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(tiny)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        p = run_alone(tmp_path, MANY, str(tiny / "out"))
        assert p.returncode == 0 and p.stdout == "done\n", p.stderr
        assert "No space left on device" in p.stderr
        # Whatever did fit is whole: never a partial file under a final name.
        for f in (tiny / "out").iterdir():
            assert not f.name.startswith("."), f"temporary left behind: {f}"
            if f.name.endswith(".json"):
                json.loads(f.read_text())
        fallback = tmp_path / "tmp" / "rankscope-fallback" / "out"
        assert len(json.loads((fallback / "profile.json").read_text())["nodes"]) == 400
    finally:
        subprocess.run(["umount", str(tiny)], check=False)


DEEP_AND_LONG = """
import sys
import rankscope
from rankscope.bundle import marker

sys.setrecursionlimit(30_000)

@marker(["wall_clock"])
def down(n):
    return 0 if n == 0 else 1 + down(n - 1)

with marker(["wall_clock"], key="n" * 10_000):   # a 10 kB name
    print(down(10_000))
"""


def test_ten_thousand_deep_recursion_and_a_10_kb_name(tmp_path):
    p = run_alone(tmp_path, DEEP_AND_LONG, str(tmp_path / "out"))
    assert p.returncode == 0 and p.stdout == "10000\n", p.stderr
    profile = json.loads((tmp_path / "out" / "profile.json").read_text())
    depths = [n["depth"] for n in profile["nodes"] if n["name"] == "down"]
    assert max(depths) == 10_001 and len(depths) == 10_001  # under the block at depth 0
    assert profile["nodes"][0]["name"] == "n" * 10_000
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "out" / "profile.h5") as f:
        assert len(f["nodes/name"]) == 10_002


def test_two_runs_writing_to_the_same_output_path_at_once(tmp_path):
    (tmp_path / "job.py").write_text(MANY)
    env = {**os.environ, "RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out")}
    jobs = [
        subprocess.Popen(
            [sys.executable, str(tmp_path / "job.py")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for job in jobs:
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0 and out == "done\n", err
    folders = sorted(d.name for d in tmp_path.iterdir() if d.name.startswith("out"))
    assert folders == ["out", "out-1"]  # each run its own folder, neither overwritten
    for d in folders:
        assert len(json.loads((tmp_path / d / "profile.json").read_text())["nodes"]) == 400


def test_a_process_that_measured_nothing_leaves_no_snapshot(tmp_path):
    script = "import sys, time\nimport rankscope\n"
    script += "open(sys.argv[1] + '/pid-0', 'w').write('0')\ntime.sleep(60)\n"
    job = start(tmp_path, script, 0)
    pids(tmp_path, 0)
    job.send_signal(signal.SIGTERM)
    job.communicate(timeout=60)
    assert job.returncode == -signal.SIGTERM  # ended by the signal, as without rankscope
    assert not (tmp_path / "out-rank0").exists()

"""rankscope-run without Slurm: options, exit status, signals, binding, the external sampler
and how a program that uses rankscope is told apart (tests/test_slurm.py runs it under a real
Slurm)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MPI_ENV, REPO

RUN = [str(REPO / "scripts" / "rankscope-run")]
PY = sys.executable


@pytest.fixture(autouse=True)
def _venv():
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: run ./scripts/setup.sh (scripts/rankscope-run runs with it)")


def clean_env(**more: str) -> dict[str, str]:
    """This environment without RANKSCOPE_* (python/tests' conftest sets some for its
    session), with Open MPI's root and oversubscription variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKSCOPE_")}
    return {**env, **MPI_ENV, **more}


def run(tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 60):
    return subprocess.run(
        [*RUN, *args],
        cwd=tmp_path,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def snapshots(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("*-rank*/profile.json"))


def test_exit_status_and_stdout_pass_through(tmp_path):
    r = run(tmp_path, "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7
    assert r.stdout == "out\n"  # the program's; rankscope-run writes nothing on stdout
    assert "err" in r.stderr
    # A program ended by a signal: 128 + the signal, as a shell says it.
    assert (
        run(tmp_path, "--external-sampler=off", "--", "sh", "-c", "kill -KILL $$").returncode == 137
    )
    r = run(tmp_path, "--", "no-such-program-here")
    assert r.returncode == 127 and "cannot run no-such-program-here" in r.stderr, r.stderr


def test_usage_errors(tmp_path):
    r = run(tmp_path)
    assert r.returncode == 2 and "no command to run" in r.stderr
    r = run(tmp_path, "--verbose", "lots", "--", "true")
    assert r.returncode == 2 and "verbose" in r.stderr, r.stderr
    r = run(tmp_path, "--ignore-signals", "USR9", "--", "true")
    assert r.returncode == 2 and "unknown signal" in r.stderr, r.stderr
    assert run(tmp_path, "-n", "2", "--", "true").returncode == 2
    # One option per setting, from the settings table.
    r = run(tmp_path, "--help")
    assert r.returncode == 0
    for flag in ["--sampler-interval", "--components", "--output-path", "--external-sampler"]:
        assert flag in r.stdout, flag


def test_a_program_without_rankscope_is_sampled_from_outside(tmp_path):
    r = run(
        tmp_path,
        "--sampler-interval=0.02",
        "--output-path=out",
        "--",
        PY,
        "-c",
        "import time; b = bytearray(40 << 20); t = time.time()\nwhile time.time() - t < 0.4: pass",
    )
    assert r.returncode == 0, r.stderr
    [snap] = snapshots(tmp_path)
    # No launcher: the folder is named after the time it started.
    assert snap.parent.name.startswith("out-20") and snap.parent.name.endswith("-rank0")
    p = json.loads(snap.read_text())
    [info] = p["ranks"]
    s = info["samples"]
    names = [d["name"] for d in s["series"]]
    assert max(s["columns"][names.index("process.rss")]) >= 40 << 20
    assert max(s["columns"][names.index("process.cpu")]) > 300_000
    assert p["metadata"]["cmdline"][0] == PY and info["pid"] > 0
    assert "merge them with: rankscope merge" in r.stderr  # rank 0, setting banner


def test_signals_reach_the_program_and_snapshots_are_written(tmp_path):
    program = (
        "import signal, sys, time\n"
        "def h(s, f):\n"
        "    open('got-' + signal.Signals(s).name, 'w').close()\n"
        "    if s == signal.SIGTERM: sys.exit(5)\n"
        "for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM): signal.signal(s, h)\n"
        "open('ready', 'w').close()\n"
        "time.sleep(30)\n"
    )
    p = subprocess.Popen(
        [*RUN, "--sampler-interval=0.02", "--no-job-suffix", "--", PY, "-c", program],
        cwd=tmp_path,
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "ready").exists():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.02)
        for sig in [signal.SIGUSR2, signal.SIGUSR1]:
            p.send_signal(sig)
            deadline = time.monotonic() + 10
            while not (tmp_path / f"got-{sig.name}").exists():
                assert time.monotonic() < deadline, sig
                time.sleep(0.02)
        # SIGUSR1 writes the snapshot at once (just after passing the signal on), while the
        # program runs on.
        snap = tmp_path / "rankscope-output-rank0" / "profile.json"
        deadline = time.monotonic() + 10
        while not snap.is_file():
            assert time.monotonic() < deadline and p.poll() is None
            time.sleep(0.02)
        early = len(json.loads(snap.read_text())["ranks"][0]["samples"]["t_ns"])
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 5, err
    assert (tmp_path / "got-SIGTERM").exists()
    # The same folder, completed at the end.
    assert snapshots(tmp_path) == [snap]
    assert len(json.loads(snap.read_text())["ranks"][0]["samples"]["t_ns"]) > early


def test_ignored_signals_stay_ignored_in_the_program(tmp_path):
    read_mask = "grep SigIgn /proc/self/status"
    plain = run(tmp_path, "--external-sampler=off", "--", "sh", "-c", read_mask)
    shielded = run(
        tmp_path,
        "--external-sampler=off",
        "--ignore-signals=USR1,SIGUSR2",
        "--",
        "sh",
        "-c",
        read_mask,
    )
    mask = int(shielded.stdout.split()[1], 16)
    bit = lambda s: 1 << (s - 1)  # noqa: E731
    assert mask & bit(signal.SIGUSR1) and mask & bit(signal.SIGUSR2), shielded.stdout
    assert not int(plain.stdout.split()[1], 16) & bit(signal.SIGUSR1), plain.stdout


def test_settings_reach_the_program(tmp_path):
    r = run(
        tmp_path,
        "--external-sampler=off",
        "--components",
        "wall_clock",
        "cpu_clock",
        "--verbose=1",
        "--output-path",
        "res/run",
        "--",
        "sh",
        "-c",
        "env | grep ^RANKSCOPE_ | sort",
    )
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert env["RANKSCOPE_COMPONENTS"] == "wall_clock,cpu_clock"
    assert env["RANKSCOPE_VERBOSE"] == "1"
    assert env["RANKSCOPE_OUTPUT_PATH"].startswith("res/run-20")


def test_under_mpirun_a_rankscope_program_measures_itself(mpirun, tmp_path):
    # rankscope-run turns the program's own sampler on; the program announces itself, so
    # nothing is sampled from outside and every rank is in rank 0's merged outputs.
    r = subprocess.run(
        [
            mpirun,
            "-n",
            "2",
            *RUN,
            "--output-path=out",
            "--verbose=1",
            "--",
            PY,
            "-c",
            "import rankscope, time; time.sleep(0.3)",
        ],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("the program measures itself") == 2, r.stderr
    assert snapshots(tmp_path) == []
    [out] = [d for d in tmp_path.iterdir() if d.name.startswith("out-")]
    # Named after mpirun's job id, the same on every rank.
    assert out.name[len("out-") :].isdigit(), out.name
    p = json.loads((out / "profile.json").read_text())
    assert sorted(x["rank"] for x in p["ranks"]) == [0, 1]
    assert all(x["samples"]["t_ns"] for x in p["ranks"])


def test_launcher_mode_binds_local_ranks_to_cores(mpirun, tmp_path):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 PUs")
    r = run(
        tmp_path,
        "--launcher",
        "mpirun",
        "-n",
        "2",
        "--launcher-args=--bind-to none",
        "--bind",
        "core",
        "--external-sampler=off",
        "--",
        "sh",
        "-c",
        "echo $OMPI_COMM_WORLD_RANK $(grep Cpus_allowed_list /proc/self/status | cut -f2)",
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    cpus = dict(line.split() for line in r.stdout.splitlines())
    assert sorted(cpus) == ["0", "1"] and cpus["0"] != cpus["1"], r.stdout
    assert all("," not in c and "-" not in c for c in cpus.values()), r.stdout


def test_job_names():
    from rankscope.run import binding_units, in_srun_step, job_name, local_rank

    srun = {"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "3", "PMIX_NAMESPACE": "slurm.pmix.42.3"}
    assert job_name(srun) == "42.3" and in_srun_step(srun)
    # mpirun inside an allocation: every rank inherits the batch step's Slurm variables.
    mpirun_in_job = {"SLURM_JOB_ID": "42", "OMPI_COMM_WORLD_RANK": "1", "PMIX_NAMESPACE": "99"}
    assert job_name(mpirun_in_job) == "42.99" and not in_srun_step(mpirun_in_job)
    assert job_name({"PMIX_NAMESPACE": "prterun-vm-123@1"}) == "prterun-vm-123_1"
    assert job_name({}).startswith("20")
    assert local_rank({"SLURM_LOCALID": "0", "OMPI_COMM_WORLD_LOCAL_RANK": "3"}) == 3
    units = binding_units("pu")
    assert sorted(c for u in units for c in u) == sorted(os.sched_getaffinity(0))
    assert sum(len(u) for u in binding_units("core")) == len(units)

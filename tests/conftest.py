"""Shared fixtures for the end-to-end tests: building Rust examples, running them under mpirun."""

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Open MPI refuses to run as root and to put more ranks than cores on a node without these.
MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


def _build(kind: str, name: str) -> Path:
    """Builds the cargo target `--<kind> <name>` in release mode and returns its executable.

    The path comes from cargo's own report, so CARGO_TARGET_DIR and profiles are respected.
    """
    out = subprocess.run(
        ["cargo", "build", "--release", f"--{kind}", name, "--message-format=json"],
        cwd=REPO,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            if msg["target"]["name"] == name:
                return Path(msg["executable"])
    raise RuntimeError(f"cargo did not report an executable for {kind} {name}")


@functools.cache
def build_example(name: str) -> Path:
    """Builds `runtime/examples/<name>.rs` in release mode and returns the executable's path."""
    return _build("example", name)


@functools.cache
def build_bin(name: str) -> Path:
    """Builds the binary `name` (e.g. the `rankscope` CLI) in release mode; returns its path."""
    return _build("bin", name)


@pytest.fixture(scope="session")
def mpirun():
    exe = shutil.which("mpirun")
    if exe is None:
        pytest.skip("mpirun not found (install openmpi-bin)")
    return exe


@pytest.fixture(scope="session")
def run_example(mpirun, tmp_path_factory):
    """Runs an example under `mpirun -n N` (or alone with N=0); returns its output folder.

    Results are cached per (example, N, extra arguments) for the whole session: several tests
    read the same run.
    """
    cache = {}

    def run(name: str, n: int, *extra: str) -> Path:
        key = (name, n, extra)
        if key not in cache:
            exe = build_example(name)
            out = tmp_path_factory.mktemp(f"{name}-n{n}")
            cmd = [str(exe), str(out), *extra]
            if n > 0:
                cmd = [mpirun, "-n", str(n), *cmd]
            env = {**os.environ, **MPI_ENV}
            proc = subprocess.run(
                cmd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}"
            cache[key] = out
        return cache[key]

    return run

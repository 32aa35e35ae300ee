"""A real Slurm on loopback: the sbatch templates of slurm/ run rankscope-run under
`srun --mpi=pmix -O` with several ranks, and their outputs merge to every rank.

The module sets up a one-node cluster under a temporary folder (Debian's Slurm and munge,
installed with apt-get when missing and possible: otherwise every test is skipped, saying
why), starts munged, slurmctld and slurmd by hand (no systemd), and stops them by their PIDs
at the end whatever happened. Jobs are polled with squeue (`sbatch --wait` polls with a long
backoff). ../shared/PLATFORM.md ("Slurm on loopback") has the recipe this follows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import MPI_ENV, REPO, build_bin

RANKS = 4
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
TOOLS = ["slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo", "munged", "mungekey"]


def _missing_tools() -> list[str]:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [t for t in TOOLS if shutil.which(t, path=path) is None]


def _ensure_slurm() -> str | None:
    """Installs Debian's Slurm and munge when missing; returns why it cannot, or None."""
    if not _missing_tools():
        return None
    if os.geteuid() != 0:
        return f"Slurm is not installed ({', '.join(_missing_tools())} missing) and not root"
    if shutil.which("apt-get") is None:
        return "Slurm is not installed and there is no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]
    for attempt in (cmd, None):
        if attempt is None:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            attempt = cmd
        r = subprocess.run(attempt, env=env, capture_output=True, text=True, timeout=600)
        if r.returncode == 0 and not _missing_tools():
            return None
    return f"apt-get could not install {' '.join(PACKAGES)}: {r.stderr.strip()[-500:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node_line() -> str:
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]


class Cluster:
    """A one-node Slurm whose every file lives under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.conf = root / "etc" / "slurm.conf"
        # Jobs inherit it: no RANKSCOPE_* of the test session (python/tests sets some).
        env = {k: v for k, v in os.environ.items() if not k.startswith("RANKSCOPE_")}
        self.env = {**env, **MPI_ENV, "SLURM_CONF": str(self.conf)}

    def start(self) -> None:
        r = self.root
        for d in ["munge", "etc", "state", "spool", "log"]:
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o711)  # 700 leaves the socket unreachable for the clients
        subprocess.run(
            ["mungekey", "--create", f"--keyfile={r}/munge/munge.key"], check=True, timeout=30
        )
        self.procs.append(
            subprocess.Popen(
                [
                    "munged",
                    "--foreground",
                    f"--socket={r}/munge/munge.socket",
                    f"--key-file={r}/munge/munge.key",
                    f"--log-file={r}/munge/munged.log",
                    f"--pid-file={r}/munge/munged.pid",
                    f"--seed-file={r}/munge/munged.seed",
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(r / "log" / "munged.out", "wb"),  # noqa: SIM115
                start_new_session=True,
            )
        )
        socket_path = r / "munge" / "munge.socket"
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            if self.procs[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"munged did not start: {self.logs()}")
            time.sleep(0.05)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=rankscope-test",
                    # By address: a fresh system may have no /etc/hosts to name localhost.
                    f"SlurmctldHost={socket.gethostname()}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r}/munge/munge.socket",
                    f"StateSaveLocation={r}/state",
                    f"SlurmdSpoolDir={r}/spool",
                    f"SlurmctldPidFile={r}/slurmctld.pid",
                    f"SlurmdPidFile={r}/slurmd.pid",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    "MailProg=/bin/true",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "MpiDefault=pmix",
                    "ReturnToService=2",
                    "MinJobAge=600",
                    f"{_node_line()} NodeAddr=127.0.0.1 State=UNKNOWN",
                    "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        # Nothing here uses cgroups (task/none, proctrack/linuxproc), but slurmd 22.05 loads a
        # cgroup plugin anyway, and its autodetection fails where /sys/fs/cgroup is not
        # mounted (a chroot): the v1 plugin's start-up reads no file system.
        (r / "etc" / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\n")
        for daemon in ["slurmctld", "slurmd"]:
            log = open(r / "log" / f"{daemon}.out", "wb")  # noqa: SIM115 - kept for the daemon
            self.procs.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(self.conf)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            if state == "idle":
                return
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited with {p.returncode}: {self.logs()}")
            time.sleep(0.1)
        raise RuntimeError(f"the node never became idle: {self.logs()}")

    def logs(self) -> str:
        parts = []
        for f in sorted((self.root / "log").glob("*")) + [self.root / "munge" / "munged.log"]:
            if f.is_file():
                parts.append(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stops the daemons by their PIDs (slurmd first), waiting for each."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def run(self, *cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            list(cmd), env=kw.pop("env", self.env), capture_output=True, text=True, timeout=60, **kw
        )
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def sbatch(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
        r = self.run("sbatch", "--parsable", *args, cwd=cwd, env={**self.env, **(env or {})})
        return r.stdout.strip().split(";")[0]

    def running(self, job: str) -> bool:
        return bool(self.run("squeue", "-h", "-j", job, check=False).stdout.strip())

    def wait(self, job: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.running(job):
            if time.monotonic() > deadline:
                self.run("scancel", job, check=False)
                raise AssertionError(f"job {job} still running after {timeout} s: {self.logs()}")
            time.sleep(0.2)

    def exit_code(self, job: str) -> str:
        out = self.run("scontrol", "show", "job", "-o", job, check=False).stdout
        fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
        return fields.get("ExitCode", "?")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = _ensure_slurm()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root here (SlurmdUser=root)")
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: run ./scripts/setup.sh (scripts/rankscope-run runs with it)")
    # munged wants every folder above its socket searchable by all (pytest's are 0700).
    root = Path(tempfile.mkdtemp(prefix="rankscope-slurm-"))
    root.chmod(0o711)
    c = Cluster(root)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def job_env(tmp_path_factory):
    """What the templates need to find rankscope's tools, and srun's options for 2 cores; the
    roofline ceilings step quick, its cache shared by this module's jobs."""
    cache = tmp_path_factory.mktemp("ceilings") / "ceilings.json"
    return {
        "RS_RUN": str(REPO / "scripts" / "rankscope-run"),
        "RS_CLI": str(build_bin("rankscope")),
        "RS_PYTHON": sys.executable,
        "SRUN_ARGS": "--mpi=pmix -O",
        "CEILINGS_ARGS": f"--quick --cache {cache}",
    }


@pytest.fixture(scope="module")
def mpi_alloc(tmp_path_factory):
    """examples/c/mpi_alloc.c built with mpicc: an MPI program that does not use rankscope."""
    mpicc = shutil.which("mpicc")
    if mpicc is None:
        pytest.skip("mpicc not found (libopenmpi-dev)")
    exe = tmp_path_factory.mktemp("c") / "mpi_alloc"
    subprocess.run(
        [mpicc, "-O2", "-o", str(exe), str(REPO / "examples" / "c" / "mpi_alloc.c")],
        check=True,
        timeout=120,
    )
    return exe


def template(name: str) -> str:
    return str(REPO / "slurm" / name)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def rank_samples(profile: dict) -> dict[int, dict]:
    return {r["rank"]: r.get("samples") for r in profile["ranks"]}


def one_node_job(cluster, tmp_path: Path, *program: str, env: dict[str, str]) -> str:
    """Submits slurm/one-node.sbatch running `program` on RANKS ranks (overcommitting the
    node's cores), its output in job.out; returns the job id."""
    return cluster.sbatch(
        tmp_path,
        f"-n{RANKS}",
        "-O",
        "-o",
        "job.out",
        template("one-node.sbatch"),
        *program,
        env=env,
    )


def test_python_rankscope_job_merges_every_rank(cluster, job_env, tmp_path):
    job = one_node_job(
        cluster,
        tmp_path,
        sys.executable,
        str(REPO / "examples" / "python" / "app.py"),
        "-n",
        "15",
        env=job_env,
    )
    cluster.wait(job)
    log = (tmp_path / "job.out").read_text()
    out = tmp_path / f"rankscope-output-{job}.0"
    assert (out / "profile.json").is_file(), log
    assert cluster.exit_code(job) == "0:0", log
    p = read(out / "profile.json")
    samples = rank_samples(p)
    assert sorted(samples) == list(range(RANKS)), log
    # rankscope-run turned the program's own sampler on, and sampled nothing from outside.
    assert all(s and len(s["t_ns"]) > 0 for s in samples.values()), log
    assert not list(tmp_path.glob(f"rankscope-output-{job}.0-rank*")), log
    assert any(n["name"] == "fib" for n in p["nodes"]), log
    assert (out / "memory.png").stat().st_size > 0, log
    # The ceilings step before the run: this node, measured (quick) in the batch shell.
    hosts = read(out / "ceilings.json")["hosts"]
    assert [(h["ranks"], h["quick"]) for h in hosts] == [(1, True)], log


def test_program_without_rankscope_is_sampled_per_rank_and_merged(
    cluster, job_env, mpi_alloc, tmp_path
):
    job = one_node_job(
        cluster,
        tmp_path,
        str(mpi_alloc),
        "0.5",
        env={**job_env, "RUN_ARGS": "--sampler-interval 0.05"},
    )
    cluster.wait(job)
    log = (tmp_path / "job.out").read_text()
    assert cluster.exit_code(job) == "0:0", log
    assert "mpi_alloc: 4 ranks" in log
    snapshots = sorted(tmp_path.glob(f"rankscope-output-{job}.0-rank*/profile.json"))
    assert len(snapshots) == RANKS, log
    # The template merged them in the same allocation.
    out = tmp_path / f"rankscope-output-{job}.0"
    p = read(out / "profile.json")
    samples = rank_samples(p)
    assert sorted(samples) == list(range(RANKS)), log
    for rank, s in samples.items():
        names = [d["name"] for d in s["series"]]
        peak = max(s["columns"][names.index("process.peak_rss")])
        cpu = max(s["columns"][names.index("process.cpu")])
        # Each rank held (rank + 1) * 16 MiB and computed for about a second.
        assert peak >= (rank + 1) * 16 << 20, (rank, peak)
        assert cpu > 200_000, (rank, cpu)
        assert len(s["t_ns"]) >= 10, (rank, len(s["t_ns"]))
    assert p["metadata"]["cmdline"][0] == str(mpi_alloc)
    assert (out / "memory.png").stat().st_size > 0, log


def wait_until_every_rank_started(cluster, job: str, tmp_path: Path) -> None:
    """Until every rank of the job has written its `started.<rank>` file."""
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("started.*"))) < RANKS:
        assert time.monotonic() < deadline and cluster.running(job), (
            (tmp_path / "job.out").read_text() if (tmp_path / "job.out").exists() else "no output"
        )
        time.sleep(0.1)


def warn_and_wait_for_snapshots(cluster, job: str, tmp_path: Path, folders: list) -> None:
    """What --signal=B:USR1@N does before the walltime: USR1 to the batch shell, which the
    template passes to the step; then until every rank's snapshot is there, the job running on."""
    cluster.run("scancel", "--batch", "--signal=USR1", job)
    deadline = time.monotonic() + 20
    while not all((f / "profile.json").is_file() for f in folders):
        assert time.monotonic() < deadline, (tmp_path / "job.out").read_text()
        time.sleep(0.1)
    assert cluster.running(job)


def test_scancel_keeps_every_ranks_external_snapshot(cluster, job_env, mpi_alloc, tmp_path):
    job = one_node_job(
        cluster,
        tmp_path,
        str(mpi_alloc),
        "60",
        str(tmp_path / "started"),
        env={**job_env, "RUN_ARGS": "--sampler-interval 0.05"},
    )
    wait_until_every_rank_started(cluster, job, tmp_path)
    folders = [tmp_path / f"rankscope-output-{job}.0-rank{r}" for r in range(RANKS)]
    # What --signal=B:USR1@N does before the walltime: the batch shell gets USR1 and the
    # template passes it to the step; every rank writes its snapshot and the program goes on.
    warn_and_wait_for_snapshots(cluster, job, tmp_path, folders)
    early = {f: len(read(f / "profile.json")["ranks"][0]["samples"]["t_ns"]) for f in folders}
    time.sleep(0.5)
    cluster.run("scancel", job)
    cluster.wait(job, timeout=60)
    log = (tmp_path / "job.out").read_text()
    # Each rank's snapshot was completed at SIGTERM (the program killed, rankscope-run not):
    # same folder, more points.
    assert sorted(tmp_path.glob(f"rankscope-output-{job}.0-rank*")) == folders, log
    for f in folders:
        s = read(f / "profile.json")["ranks"][0]["samples"]
        assert len(s["t_ns"]) > early[f], (f, early[f], log)
    merged = tmp_path / "merged"
    cluster.run(
        job_env["RS_CLI"],
        "merge",
        *[str(f / "profile.json") for f in folders],
        "--output",
        str(merged),
    )
    assert sorted(rank_samples(read(merged / "profile.json"))) == list(range(RANKS))


RANKSCOPE_PROGRAM = """
import sys, time
import rankscope
from rankscope.bundle import marker

@marker(["wall_clock"])
def step():
    time.sleep(0.05)

step()
open(f"{sys.argv[1]}.{rankscope.world()['rank']}", "w").close()
while True:
    step()
"""


def test_scancel_of_a_rankscope_program_merges_its_own_snapshots(cluster, job_env, tmp_path):
    job = one_node_job(
        cluster,
        tmp_path,
        sys.executable,
        "-c",
        RANKSCOPE_PROGRAM,
        str(tmp_path / "started"),
        env=job_env,
    )
    wait_until_every_rank_started(cluster, job, tmp_path)
    folders = [tmp_path / f"rankscope-output-{job}.0-rank{r}" for r in range(RANKS)]
    # The walltime warning: rankscope's own SIGUSR1 snapshot on every rank (the program
    # started with SIGUSR1 ignored goes on; rankscope-run, told by the program that it measures
    # itself, writes none).
    warn_and_wait_for_snapshots(cluster, job, tmp_path, folders)
    cluster.run("scancel", job)
    cluster.wait(job, timeout=60)
    log = (tmp_path / "job.out").read_text()
    assert sorted(tmp_path.glob(f"rankscope-output-{job}.0-rank*")) == folders, log
    merged = tmp_path / "merged"
    cluster.run(
        job_env["RS_CLI"],
        "merge",
        *[str(f / "profile.json") for f in folders],
        "--output",
        str(merged),
    )
    p = read(merged / "profile.json")
    assert sorted(rank_samples(p)) == list(range(RANKS)), log
    assert any(n["name"] == "step" for n in p["nodes"]), log
    # Every rank's series (rankscope-run turned the sampler on) came with it.
    assert all(s and s["t_ns"] for s in rank_samples(p).values()), log


def test_multi_node_template_on_one_node(cluster, job_env, mpi_alloc, tmp_path):
    # The several-node template, on this one node: sbatch options override its #SBATCH lines.
    job = cluster.sbatch(
        tmp_path,
        "--nodes=1",
        "--ntasks-per-node=2",
        "-O",
        "-o",
        "job.out",
        template("multi-node.sbatch"),
        str(mpi_alloc),
        "0.2",
        env={**job_env, "SRUN_ARGS": "--mpi=pmix -O", "RUN_ARGS": "--bind core"},
    )
    cluster.wait(job)
    log = (tmp_path / "job.out").read_text()
    assert cluster.exit_code(job) == "0:0", log
    # The ceilings step (one task per node) is step 0, the run step 1.
    out = tmp_path / f"rankscope-output-{job}.1"
    p = read(out / "profile.json")
    assert sorted(rank_samples(p)) == [0, 1], log
    assert [h["ranks"] for h in read(out / "ceilings.json")["hosts"]] == [1], log
    # --bind core: local ranks 0 and 1 on two cores.
    pus = {r["rank"]: r["binding"]["pus"] for r in p["ranks"]}
    if len(os.sched_getaffinity(0)) >= 2:
        assert len(pus[0]) == 1 and len(pus[1]) == 1 and pus[0] != pus[1], pus
    assert "RANK" in log  # rankscope topology's table of the merged run

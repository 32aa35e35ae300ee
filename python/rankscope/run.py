"""``rankscope-run``: run one rank of a job (or a whole job) with rankscope's options.

    srun -n 64 rankscope-run [options] -- python app.py args
    mpirun -n 64 rankscope-run [options] -- ./app
    rankscope-run --launcher mpirun -n 64 [options] -- ./app

Per rank it sets the ``RANKSCOPE_*`` settings from its options (one per row of the settings
table), names the output folder after the job and step, optionally binds the rank, starts the
program, passes signals on and its exit status back. A program that does not use rankscope is
sampled from outside (CPU and memory of the process and its children over time) into a rank
snapshot that ``rankscope merge`` combines; a program that does use rankscope announces itself
at start-up and measures itself. Nothing is written on stdout. See docs/cli.md.

The heavy lifting (sampling, snapshots) is native: ``rankscope._native.ExternalSampler``.
This process never joins MPI: ``import rankscope`` does not start the run when it is
``rankscope-run`` (see ``rankscope/__init__.py``).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _native, settings
from ._cli import add_setting_options

PROG = "rankscope-run"
MODULE = "rankscope.run"

#: Signals passed on to the program (when forwarding is on).
FORWARDED = [
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGALRM,
    signal.SIGTERM,
    signal.SIGCONT,
    signal.SIGXCPU,
    signal.SIGWINCH,
]
#: Signals on which the external sampler writes its snapshot at once (as rankscope's own
#: snapshots: the end may be near, SIGKILL may follow).
SNAPSHOT_ON = {signal.SIGTERM, signal.SIGUSR1, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP}
#: Signals a terminal sends to its whole foreground process group.
TERMINAL = {signal.SIGINT, signal.SIGQUIT, signal.SIGWINCH}

# Where launchers put the rank and the local rank, most specific first (as the runtime reads
# them: under mpirun inside sbatch every rank inherits SLURM_PROCID=0 and SLURM_LOCALID=0).
LOCAL_RANK_VARS = [
    "OMPI_COMM_WORLD_LOCAL_RANK",
    "MPI_LOCALRANKID",
    "PALS_LOCAL_RANKID",
    "SLURM_LOCALID",
]


def _say(rank: int | None, message: str) -> None:
    where = f" rank {rank}" if rank is not None else ""
    print(f"{PROG}{where}: {message}", file=sys.stderr, flush=True)


def _verbose() -> int:
    return int(settings.get("verbose")) + (1 if settings.get("debug") else 0)


def build_parser() -> argparse.ArgumentParser:
    """The command line: the wrapper's own options, then one option per setting."""
    p = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [options] [--] COMMAND [ARGS...]",
        description=(
            "Run one rank of an MPI job (or, with --launcher, the whole job) with rankscope: "
            "settings from options, output folder named after the job, optional binding, "
            "signals and exit status passed through, and CPU/memory sampled from outside for "
            "programs that do not use rankscope. Never writes to stdout."
        ),
        epilog=(
            "examples:  srun -n 4 rankscope-run --sampler -- python app.py | "
            "mpirun -n 4 rankscope-run -- ./a.out | "
            "rankscope-run --launcher mpirun -n 4 --bind core -- ./a.out"
        ),
    )
    own = p.add_argument_group("rankscope-run")
    own.add_argument(
        "--launcher",
        default="none",
        metavar="{none,mpirun,mpiexec,srun,...}",
        help=(
            "start the job with this launcher, which starts rankscope-run once per rank "
            "(default: none: this process is one rank, started by srun or mpirun)"
        ),
    )
    own.add_argument(
        "-n",
        "--np",
        dest="ranks",
        type=int,
        metavar="N",
        help="number of ranks for --launcher (passed as -n N)",
    )
    own.add_argument(
        "--launcher-args",
        default="",
        metavar="ARGS",
        help="more arguments for --launcher, one string split as a shell would ('--mpi=pmix -O')",
    )
    own.add_argument(
        "--external-sampler",
        choices=["auto", "on", "off"],
        default="auto",
        help=(
            "sample the program's CPU and memory from outside into per-rank snapshots: auto "
            "(default) unless the program announces that it runs rankscope itself; on: always; "
            "off: never"
        ),
    )
    own.add_argument(
        "--children",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the external sampler sums the program and every process it starts (default: on)",
    )
    own.add_argument(
        "--bind",
        choices=["none", "core", "pu", "socket"],
        default="none",
        help=(
            "bind each rank to one core, PU or socket of those it may use, by local rank "
            "(ranks beyond the count share, round robin); default: none (the launcher's binding)"
        ),
    )
    own.add_argument(
        "--ignore-signals",
        type=_signal_list,
        default=[],
        metavar="SIG[,SIG]",
        help=(
            "start the program with these signals ignored, e.g. USR1: a program that does not "
            "handle it then survives the snapshot request of sbatch --signal=B:USR1@N instead "
            "of being ended by it, while one that installs a handler (rankscope does) gets it "
            "as usual (default: none)"
        ),
    )
    own.add_argument(
        "--job-suffix",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "append the job and step to the output path: <output_path>-<SLURM_JOB_ID>."
            "<SLURM_STEP_ID>, the launcher's job id under mpirun, or a UTC timestamp "
            "(default: on)"
        ),
    )
    own.add_argument(
        "--forward-signals",
        choices=["auto", "on", "off"],
        default="auto",
        help=(
            "pass signals received on to the program: auto (default) does, except in a Slurm "
            "step started by srun, where Slurm signals every process of the step itself"
        ),
    )
    own.add_argument("--version", action="version", version=f"%(prog)s {_native.__version__}")
    add_setting_options(p.add_argument_group("rankscope settings (RANKSCOPE_* for the program)"))
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def _signal_list(text: str) -> list[signal.Signals]:
    """``USR1,SIGUSR2,10`` as signals; argparse turns a ValueError into a usage error."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        name = item.upper()
        try:
            out.append(
                signal.Signals(int(name))
                if name.isdigit()
                else signal.Signals[name if name.startswith("SIG") else "SIG" + name]
            )
        except (KeyError, ValueError):
            raise argparse.ArgumentTypeError(f"unknown signal {item!r}") from None
    return out


def given_settings(ns: argparse.Namespace) -> dict[str, str]:
    """The settings given as options, as their canonical text (already validated)."""
    return {
        name: settings.get_text(name) for name in settings.TABLE if hasattr(ns, "rankscope_" + name)
    }


def job_name(env: dict[str, str] | os._Environ[str]) -> str:
    """The job and step this rank belongs to, for the output folder: ``<job>.<step>`` in a
    Slurm step, the MPI launcher's job id under mpirun (``<slurm job>.<id>`` inside an
    allocation), otherwise a UTC timestamp (``20261202-071853``)."""
    job = env.get("SLURM_JOB_ID", "")
    step = env.get("SLURM_STEP_ID", "")
    by_mpirun = any(k in env for k in ("OMPI_COMM_WORLD_RANK", "PMI_RANK"))
    if job and step and not by_mpirun:
        return f"{job}.{step}"
    launch = env.get("OMPI_MCA_ess_base_jobid") or env.get("PMIX_NAMESPACE", "")
    launch = re.sub(r"[^A-Za-z0-9._-]+", "_", launch).strip("_")
    if launch:
        return f"{job}.{launch}" if job else launch
    if job:
        return job
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def in_srun_step(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether srun started this process as a task of a Slurm step (not mpirun inside an
    allocation): Slurm then signals every process of the step, the program included."""
    return "SLURM_STEP_ID" in env and "OMPI_COMM_WORLD_RANK" not in env and "PMI_RANK" not in env


def local_rank(env: dict[str, str] | os._Environ[str]) -> int:
    for k in LOCAL_RANK_VARS:
        v = env.get(k, "").strip()
        if v.isdigit():
            return int(v)
    return 0


def _cpu_key(cpu: int, kind: str) -> tuple[int, ...]:
    topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")

    def read(name: str) -> int:
        try:
            return int((topo / name).read_text())
        except (OSError, ValueError):
            return cpu if name == "core_id" else 0

    if kind == "pu":
        return (cpu,)
    if kind == "socket":
        return (read("physical_package_id"),)
    return (read("physical_package_id"), read("core_id"))


def binding_units(kind: str) -> list[list[int]]:
    """The allowed PUs (OS indices) grouped by core, PU or socket, in order of their first PU."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for cpu in sorted(os.sched_getaffinity(0)):
        groups.setdefault(_cpu_key(cpu, kind), []).append(cpu)
    return sorted(groups.values(), key=lambda g: g[0])


class Wrapper:
    """One rank: the program, its external sampler, signals and snapshot."""

    def __init__(self, ns: argparse.Namespace, command: list[str]) -> None:
        self.ns = ns
        self.command = command
        self.rank = int(_native.world()["rank"])
        self.env = dict(os.environ)
        self.child: subprocess.Popen[bytes] | None = None
        self.sampler: Any = None
        self.announce_dir: str | None = None
        self.snapshot: str | None = None
        self.forward = False
        self.own_group = False

    def say(self, level: int, message: str) -> None:
        if level <= _verbose():
            _say(self.rank, message)

    def prepare(self) -> None:
        """Settings for the program, the output path, the announcement folder."""
        for name, text in given_settings(self.ns).items():
            self.env[settings.TABLE[name].env_var] = text
        output = settings.get_text("output_path")
        if self.ns.job_suffix:
            output = f"{output}-{job_name(os.environ)}"
            settings.set_text("output_path", output)
        self.output = output
        self.env[settings.TABLE["output_path"].env_var] = output
        if self.ns.external_sampler == "auto":
            # A rankscope program announces itself there (and then measures itself, with its
            # own sampler unless told otherwise).
            self.announce_dir = tempfile.mkdtemp(prefix="rankscope-run-")
            self.env[_native.ANNOUNCE_VAR] = self.announce_dir
            sampler_var = settings.TABLE["sampler"].env_var
            if sampler_var not in self.env:
                self.env[sampler_var] = "on"
        else:
            self.env.pop(_native.ANNOUNCE_VAR, None)
        mode = self.ns.forward_signals
        self.forward = mode == "on" or (mode == "auto" and not in_srun_step(os.environ))
        # The program gets a process group of its own when signals are forwarded, so that one
        # sent to our group (mpirun does that) reaches it once; not at an interactive
        # terminal (it signals its foreground group itself) nor in a Slurm step.
        foreground = False
        try:
            foreground = os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
        except OSError:
            pass
        self.own_group = self.forward and not foreground
        self.terminal = foreground

    def bind_cpus(self) -> set[int] | None:
        if self.ns.bind == "none":
            return None
        units = binding_units(self.ns.bind)
        if not units:
            return None
        lr = local_rank(os.environ)
        cpus = set(units[lr % len(units)])
        shared = " (shared: more local ranks than units)" if lr >= len(units) else ""
        self.say(1, f"local rank {lr} bound to {self.ns.bind} PUs {sorted(cpus)}{shared}")
        return cpus

    def start(self) -> None:
        cpus = self.bind_cpus()
        before = os.sched_getaffinity(0)
        if cpus:
            # Inherited by the program at fork; this process goes back to where it was.
            os.sched_setaffinity(0, cpus)
        # An ignored signal stays ignored across exec (a handled one is reset): set here, our
        # own handlers replace it right after the start.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in self.ns.ignore_signals}
        try:
            if sys.version_info >= (3, 11):
                group: dict[str, Any] = {"process_group": 0 if self.own_group else None}
            else:  # no thread of ours runs yet: preexec_fn is safe here
                group = {"preexec_fn": os.setpgrp if self.own_group else None}
            self.child = subprocess.Popen(self.command, env=self.env, **group)
        finally:
            if cpus:
                os.sched_setaffinity(0, before)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for sig in FORWARDED:
            signal.signal(sig, self.on_signal)
        if self.ns.external_sampler != "off":
            try:
                self.sampler = _native.ExternalSampler(
                    self.child.pid,
                    children=self.ns.children,
                    announce_dir=self.announce_dir,
                )
                self.say(1, f"sampling process {self.child.pid} from outside")
            except (OSError, ValueError) as e:
                _say(self.rank, f"external sampler off: {e}")

    def on_signal(self, sig: int, _frame: Any) -> None:
        sig = signal.Signals(sig)
        self.say(1, f"received {sig.name}")
        if self.child is not None and self.forward and not (self.terminal and sig in TERMINAL):
            try:
                os.kill(self.child.pid, sig)
            except ProcessLookupError:
                pass
        if sig in SNAPSHOT_ON:
            self.write_snapshot()

    def wants_snapshot(self) -> bool:
        if self.sampler is None:
            return False
        if self.ns.external_sampler == "auto" and self.announce_dir:
            found = _native.announcements(self.announce_dir)
            if found:
                self.say(1, f"the program measures itself ({found[0]}): no external snapshot")
                return False
        return True

    def write_snapshot(self) -> None:
        if not self.wants_snapshot():
            return
        try:
            self.snapshot = self.sampler.write_snapshot(self.rank, self.output)
            self.say(1, f"{self.sampler.points} points in {self.snapshot}")
        except OSError as e:
            _say(self.rank, f"could not write the snapshot: {e}")

    def wait(self) -> int:
        assert self.child is not None
        pid = self.child.pid
        # Until the program has ended, without reaping it: its pid stays its own while the
        # sampler stops.
        while True:
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
                break
            except ChildProcessError:
                break
        if self.sampler is not None:
            self.sampler.stop()
            self.write_snapshot()
        rc = self.child.wait()
        if self.snapshot and self.rank == 0 and settings.get("banner"):
            _say(
                None,
                f"per-rank samples in {self.output}-rank<N>/; merge them with: rankscope merge "
                f"{self.output}-rank*/profile.json --output {self.output}",
            )
        return 128 - rc if rc < 0 else rc

    def cleanup(self) -> None:
        if self.announce_dir:
            shutil.rmtree(self.announce_dir, ignore_errors=True)


def launch(ns: argparse.Namespace, command: list[str], argv: Sequence[str]) -> int:
    """``--launcher``: start the launcher, which starts this wrapper once per rank with the
    same options; pass signals on and its exit status back."""
    launcher = shutil.which(ns.launcher) or ns.launcher
    cmd = [launcher]
    if ns.ranks is not None:
        cmd += ["-n", str(ns.ranks)]
    cmd += shlex.split(ns.launcher_args)
    inner: list[str] = []
    for name, text in given_settings(ns).items():
        inner.append(f"--{name.replace('_', '-')}={text}")
    inner += [
        f"--external-sampler={ns.external_sampler}",
        "--children" if ns.children else "--no-children",
        f"--bind={ns.bind}",
        "--ignore-signals=" + ",".join(s.name for s in ns.ignore_signals),
        "--job-suffix" if ns.job_suffix else "--no-job-suffix",
        f"--forward-signals={ns.forward_signals}",
    ]
    cmd += [sys.executable, "-m", MODULE, *inner, "--", *command]
    if _verbose() >= 1:
        _say(None, "starting " + shlex.join(cmd))
    try:
        child = subprocess.Popen(cmd)
    except OSError as e:
        _say(None, f"cannot start {ns.launcher}: {e}")
        return 127

    def forward(sig: int, _frame: Any) -> None:
        try:
            os.kill(child.pid, sig)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    rc = child.wait()
    return 128 - rc if rc < 0 else rc


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    ns = parser.parse_args(argv)
    command = list(ns.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("no command to run (usage: rankscope-run [options] -- COMMAND [ARGS...])")
    if ns.launcher != "none":
        return launch(ns, command, argv)
    if ns.ranks is not None or ns.launcher_args:
        parser.error("-n and --launcher-args need --launcher")
    w = Wrapper(ns, command)
    try:
        w.prepare()
        try:
            w.start()
        except OSError as e:
            _say(w.rank, f"cannot run {command[0]}: {e}")
            return 126 if isinstance(e, PermissionError) else 127
        return w.wait()
    finally:
        w.cleanup()


if __name__ == "__main__":
    sys.exit(main())

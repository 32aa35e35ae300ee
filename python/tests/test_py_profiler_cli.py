"""``python -m rankscope.profiler`` and ``rankscope-python-profiler``: the program runs as the real
``__main__`` with its own argv, exit status, exceptions and output; the options choose what is
recorded; and the MPI programs of the import path (test_py_mpi, test_py_runtime) run unchanged
under the command line under ``mpirun -n 4``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import test_py_mpi
import test_py_runtime

ROOT = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "rankscope.profiler")
CONSOLE_SCRIPT = Path(sys.executable).with_name("rankscope-python-profiler")

PROGRAM = """
import os, pickle, sys, threading

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

class Point:
    def __init__(self, x):
        self.x = x

def in_thread():
    fib(8)

t = threading.Thread(target=in_thread)
t.start()
t.join()
same = pickle.loads(pickle.dumps(Point(3)))
print(json.dumps({
    "argv": sys.argv, "name": __name__, "main_is_me": sys.modules["__main__"].fib is fib,
    "path0": sys.path[0], "point": [type(same).__module__, same.x], "fib": fib(10),
}))
if sys.argv[1:2] == ["exit"]:
    sys.exit(3)
if sys.argv[1:2] == ["raise"]:
    def failing():
        raise ValueError("failed on purpose")
    failing()
"""

MACHINERY = ("_script.py", "__main__.py:", "EveryThread", "profiler/__init__", "runpy")


def write(tmp_path: Path, text: str, name: str = "job.py") -> Path:
    script = tmp_path / name
    script.write_text("import json\n" + textwrap.dedent(text))
    return script


def run(tmp_path: Path, *args: str, command=CLI, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"), RANKSCOPE_BANNER="0")
    env.update(kw.pop("env", {}))
    return subprocess.run(
        [*command, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def line(script: Path, text: str) -> int:
    """The number of the first line of ``script`` that holds ``text``."""
    return next(i for i, s in enumerate(script.read_text().splitlines(), 1) if text in s)


def names(tmp_path: Path, folder: str = "out") -> list[str]:
    profile = json.loads((tmp_path / folder / "profile.json").read_text())
    return [n["name"] for n in profile["nodes"]]


@pytest.mark.parametrize("command", [CLI, (str(CONSOLE_SCRIPT),)], ids=["python-m", "script"])
def test_program_runs_as_the_real_main_with_its_own_arguments(tmp_path, command):
    script = write(tmp_path, PROGRAM)
    p = run(tmp_path, "--", "job.py", "a", "-c", "--", "x", command=command)
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout)
    assert seen == {
        "argv": ["job.py", "a", "-c", "--", "x"],
        "name": "__main__",
        "main_is_me": True,
        "path0": str(tmp_path.resolve()),
        "point": ["__main__", 3],
        "fib": 55,
    }
    recorded = names(tmp_path)
    assert recorded[0] == "<module>@job.py:1"
    assert f"fib@job.py:{line(script, 'def fib')}" in recorded
    assert f"in_thread@job.py:{line(script, 'def in_thread')}" in recorded  # the thread too
    assert "{built-in method builtins.print}" in recorded
    assert not [n for n in recorded if any(m in n for m in MACHINERY)], recorded
    assert (tmp_path / "out" / "profile.pstats").is_file()


def test_exit_status_and_uncaught_exception_are_the_programs(tmp_path):
    write(tmp_path, PROGRAM)
    assert run(tmp_path, "job.py", "exit").returncode == 3
    profiled = run(tmp_path, "job.py", "raise")
    plain = subprocess.run(
        [sys.executable, "job.py", "raise"], cwd=tmp_path, capture_output=True, text=True
    )
    assert profiled.returncode == plain.returncode == 1
    # The same traceback as python's own: it starts in the program, not in rankscope.
    assert profiled.stderr == plain.stderr, profiled.stderr
    assert profiled.stdout == plain.stdout
    assert "<module>@job.py:1" in names(tmp_path, "out-1")  # measured up to the error


def test_module_and_syntax_errors_and_missing_programs(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "tool.py").write_text(
        "import sys\nprint(__name__, sys.argv[1:])\nsys.exit(int(sys.argv[1]))\n"
    )
    p = run(tmp_path, "-m", "pkg.tool", "4")
    assert (p.returncode, p.stdout) == (4, "__main__ ['4']\n")
    assert names(tmp_path)[0] == "<module>@tool.py:1"

    (tmp_path / "bad.py").write_text("def f(:\n")
    bad = run(tmp_path, "bad.py")
    plain = subprocess.run([sys.executable, "bad.py"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == plain.returncode == 1 and bad.stderr == plain.stderr

    missing = run(tmp_path, "nothing.py")
    assert missing.returncode == 2 and "can't open file" in missing.stderr
    assert run(tmp_path, "-m", "no_such_module").returncode == 1
    usage = run(tmp_path)
    assert usage.returncode == 2 and "the program to run is missing" in usage.stderr


FILTERED = """
import time

def helper():
    return sum(range(10))

def solve():
    time.sleep(0.001)
    return helper() + len([1])

class Model:
    def step(self):
        return solve()

for _ in range(3):
    Model().step()
"""


def test_options_choose_what_is_recorded(tmp_path):
    script = write(tmp_path, FILTERED)
    p = run(
        tmp_path,
        "--include",
        r"^Model\.",
        "--include",
        "solve",
        "--exclude",
        "helper",
        "--no-builtins",
        "-c",
        "wall_clock",
        "peak_rss",
        "-o",
        "chosen",
        "--",
        "job.py",
    )
    assert p.returncode == 0, p.stderr
    profile = json.loads((tmp_path / "chosen" / "profile.json").read_text())
    nodes = {n["name"]: n for n in profile["nodes"]}
    solve = f"solve@job.py:{line(script, 'def solve')}"
    assert list(nodes) == [f"Model.step@job.py:{line(script, 'def step')}", solve]
    assert nodes[solve]["stats"]["wall_clock"]["laps"] == 3
    assert {m["name"] for m in profile["metrics"]} == {"wall_clock", "peak_rss"}

    # file filters: C calls are matched with their caller's file
    run(tmp_path, "--exclude-file", "job", "-o", "nofile", "job.py")
    assert not [n for n in names(tmp_path, "nofile") if "job.py" in n or "sleep" in n]
    run(tmp_path, "--include-file", r"job\.py$", "-o", "onlyfile", "job.py")
    recorded = names(tmp_path, "onlyfile")
    assert "{built-in method time.sleep}" in recorded
    assert all("job.py" in n or n.startswith("{") for n in recorded), recorded

    depth = run(tmp_path, "-d", "2", "-o", "shallow", "job.py")
    assert depth.returncode == 0, depth.stderr
    profile = json.loads((tmp_path / "shallow" / "profile.json").read_text())
    assert max(n["depth"] for n in profile["nodes"]) == 1


def test_builtin_mode_profiles_only_decorated_functions(tmp_path):
    script = write(
        tmp_path,
        """
    def plain():
        return 1

    @profile
    def chosen(n):
        return plain() + n

    print(chosen(2), plain())
    """,
    )
    p = run(tmp_path, "-b", "--", "job.py")
    assert (p.returncode, p.stdout) == (0, "3 1\n"), p.stderr
    assert names(tmp_path) == [
        f"chosen@job.py:{line(script, '@profile')}",  # a decorated function's first line
        f"plain@job.py:{line(script, 'def plain')}",
    ]


def test_bad_options_are_usage_errors_naming_them(tmp_path):
    write(tmp_path, "print('never')\n")
    p = run(tmp_path, "-c", "wall_clock", "job.py")
    assert p.returncode == 2 and "put -- between the components and the program" in p.stderr
    p = run(tmp_path, "--exclude", "(", "job.py")
    assert p.returncode == 2 and 'argument --exclude: exclude="(" is not a valid' in p.stderr
    p = run(tmp_path, "-d", "-1", "job.py")
    assert p.returncode == 2 and "max_depth" in p.stderr
    assert "never" not in p.stdout


def test_profile_filters_from_the_api_and_settings(tmp_path):
    """The filters of ``profile`` itself, and a bad setting: said on stderr, nothing filtered,
    the program unchanged."""
    script = write(
        tmp_path,
        """
    from rankscope.profiler import profile

    def a():
        return b()

    def b():
        return 2

    with profile(["wall_clock"], key="only_b", include="^b$", c_calls=False):
        a()
    with profile(["wall_clock"], key="from_setting", c_calls=False):
        a()
    print("done")
    """,
    )
    p = run(tmp_path, "job.py", command=(sys.executable,), env={"RANKSCOPE_PROFILE_EXCLUDE": "["})
    assert p.returncode == 0 and p.stdout == "done\n", p.stderr
    assert 'setting profile_exclude="[" is not a valid regular expression' in p.stderr
    a, b = (f"{f}@job.py:{line(script, f'def {f}(')}" for f in "ab")
    assert names(tmp_path) == ["only_b", b, "from_setting", a, b]


# ---- MPI: the import path's programs, unchanged, under the command line ------------------

needs_mpi = pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not installed")
_import_path_run = test_py_mpi.run


@pytest.fixture
def under_cli(monkeypatch):
    """Makes the import-path tests start their programs with ``python -m rankscope.profiler
    -- job.py``: the same programs and the same assertions."""

    def run(tmp_path, *parts, python_args=(), **kw):
        args = (*python_args, "-m", "rankscope.profiler", "--")
        return _import_path_run(tmp_path, *parts, python_args=args, **kw)

    monkeypatch.setattr(test_py_mpi, "run", run)
    monkeypatch.setattr(test_py_runtime, "run", run)


PATTERNS = [
    test_py_runtime.test_threads_calling_mpi_inside_regions,
    test_py_mpi.test_script_calling_mpi_finalize_itself,
    test_py_runtime.test_program_initialising_mpi_itself_later,
    test_py_runtime.test_worker_ranks_leaving_with_system_exit,
    test_py_mpi.test_bcast_of_decorated_functions,  # a __main__ class pickled between ranks
    test_py_mpi.test_uncaught_exception_on_one_rank_aborts_after_writing_its_data,
    test_py_runtime.test_multiprocessing_children_of_ranks_never_join_nor_write,
]


@needs_mpi
@pytest.mark.parametrize("pattern", PATTERNS, ids=[t.__name__[5:] for t in PATTERNS])
def test_mpi_programs_run_unchanged_under_the_cli(pattern, tmp_path, under_cli):
    pytest.importorskip("mpi4py")
    pattern(tmp_path)
    merged = tmp_path / "out" / "profile.json"
    if merged.exists():  # (an aborted job has per-rank data only)
        profile = json.loads(merged.read_text())
        [module] = [n for n in profile["nodes"] if n["name"] == "<module>@job.py:1"]
        per_rank = module["per_rank"].get("wall_clock")
        if per_rank is not None:  # (None: still running when the program finalised MPI)
            assert [r["laps"] for r in per_rank] == [1] * test_py_mpi.RANKS
        assert len(profile["nodes"]) > 10  # its callees, on every rank
        assert (tmp_path / "out" / "profile.pstats").is_file()


@needs_mpi
def test_example_under_mpirun_with_stdin_on_rank_zero(tmp_path):
    """The example profiled on 4 ranks, each rank's pstats kept too; then a program reading
    stdin on rank 0."""
    pytest.importorskip("mpi4py")
    example = ROOT / "examples" / "python" / "plain_mpi.py"
    env = dict(
        os.environ,
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
        RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"),
        RANKSCOPE_COLLAPSE_PROCESSES="off",
    )
    mpirun = ["mpirun", "-n", "4", *CLI, "-c", "wall_clock", "--"]
    p = subprocess.run(
        [*mpirun, str(example), "--tasks", "12"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("12 tasks on 4 ranks: fib sum ")
    import pstats

    merged = pstats.Stats(str(tmp_path / "out" / "profile.pstats"))
    per_rank = [pstats.Stats(str(tmp_path / "out" / f"rank-{r}.pstats")) for r in range(4)]
    solve = ("plain_mpi.py", line(example, "def solve"), "solve")
    assert merged.stats[solve][1] == 12  # every rank's calls
    assert [s.stats[solve][1] for s in per_rank] == [3, 3, 3, 3]

    write(
        tmp_path,
        """
    import sys
    from mpi4py import MPI
    line = sys.stdin.readline().strip() if MPI.COMM_WORLD.Get_rank() == 0 else None
    line = MPI.COMM_WORLD.bcast(line)
    if MPI.COMM_WORLD.Get_rank() == 3:
        print("rank 3 got", line)
    """,
    )
    env["RANKSCOPE_OUTPUT_PATH"] = str(tmp_path / "stdin")
    p = subprocess.run(
        [*mpirun, "job.py"],
        cwd=tmp_path,
        env=env,
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (p.returncode, p.stdout) == (0, "rank 3 got hello\n"), p.stderr

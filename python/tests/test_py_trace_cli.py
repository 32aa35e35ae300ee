"""``python -m rankscope.trace`` and ``rankscope-python-trace``: the program keeps its argv,
output, exceptions and exit status; the options choose the traced functions; the report at exit
(and from a saved output) shows the right hits; under ``mpirun -n 4`` it is merged over ranks
with each line's minimum and maximum and their ranks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CLI = (sys.executable, "-m", "rankscope.trace")
CONSOLE_SCRIPT = Path(sys.executable).with_name("rankscope-python-trace")

PROGRAM = """
import pickle, sys, threading

@profile
def work(n):
    s = 0
    for i in range(n):
        s += i
    return s

def in_thread():
    block = [0] * 2_000_000
    return len(block)

class Point:
    def __init__(self, x):
        self.x = x

t = threading.Thread(target=in_thread)
t.start()
t.join()
same = pickle.loads(pickle.dumps(Point(3)))
print("argv", sys.argv[1:], "point", same.x, "work", work(int(sys.argv[1])))
if sys.argv[2] == "raise":
    raise ValueError("failed on purpose")
sys.exit(int(sys.argv[2]))
"""


def run(tmp_path: Path, *args: str, launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    (tmp_path / "job.py").write_text(textwrap.dedent(PROGRAM))
    env = dict(os.environ, RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"), RANKSCOPE_BANNER="false")
    env.pop("PYTHONUNBUFFERED", None)  # unbuffered, mpirun may interleave the ranks' words
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
    )
    return subprocess.run(
        [*launcher, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def table(report: str, function: str) -> dict[str, list[str]]:
    """One function's rows of a report, by source text: the figures before it, split."""
    section = report.split(f"Function: {function} at ")[1].split("\nFunction: ")[0]
    head = next(line for line in section.splitlines() if line.endswith("Line contents"))
    at = len(head) - len("Line contents")
    rows = {}
    for line in section.splitlines()[section.splitlines().index(head) + 2 :]:
        if line.strip():
            rows[line[at:].strip()] = line[:at].split()
    return rows


def test_arguments_output_exit_status_and_report_of_decorated_functions(tmp_path):
    p = run(tmp_path, *CLI, "--", "job.py", "100", "3")
    assert p.returncode == 3, p.stderr
    assert p.stdout == "argv ['100', '3'] point 3 work 4950\n"
    rows = table(p.stderr, "work")
    assert rows["s += i"][1] == "100" and rows["for i in range(n):"][1] == "101"
    assert rows["@profile"] == ["4"]  # the whole source, lines that did not run included
    assert "Function: in_thread" not in p.stderr  # not decorated, no selection


def test_uncaught_exception_keeps_its_traceback_and_status(tmp_path):
    p = run(tmp_path, *CLI, "job.py", "10", "raise")
    assert p.returncode == 1
    assert "ValueError: failed on purpose" in p.stderr
    assert 'raise ValueError("failed on purpose")' in p.stderr  # the program's own frame
    assert table(p.stderr, "work")["s += i"][1] == "10"


def test_all_traces_every_function_of_the_script_on_every_thread_with_memory(tmp_path):
    args = ("--all", "-c", "wall_clock", "page_rss", "--", "job.py", "5", "0")
    p = run(tmp_path, str(CONSOLE_SCRIPT), *args)
    assert p.returncode == 0, p.stderr
    rows = table(p.stderr, "in_thread")
    assert rows["block = [0] * 2_000_000"][1] == "1"
    grew = float(rows["block = [0] * 2_000_000"][-1])  # MiB: 2M pointers are 15.3 MiB
    assert 12 < grew < 20
    assert table(p.stderr, "Point.__init__")["self.x = x"][1] == "1"
    assert "Function: <module>" not in p.stderr and "Function: Point at" not in p.stderr


def test_function_regex_chooses_by_name_and_a_bad_one_is_a_usage_error(tmp_path):
    p = run(tmp_path, *CLI, "-f", "^in_thr", "--no-report", "--", "job.py", "5", "0")
    assert p.returncode == 0 and "line report" not in p.stderr
    p = run(tmp_path, *CLI, "-f", "^in_thr", "--report-file", "lines.txt", "job.py", "5", "0")
    text = (tmp_path / "lines.txt").read_text()
    assert "Function: in_thread at" in text and "Function: work at" in text  # work: @profile
    p = run(tmp_path, *CLI, "-f", "(", "job.py", "5", "0")
    assert p.returncode == 2
    assert "argument --function: '(' is not a valid regular expression" in p.stderr
    p = run(tmp_path, *CLI, "-c", "wall_clock", "job.py")
    assert p.returncode == 2 and "put -- between the components and the program" in p.stderr


def test_report_of_a_saved_output_for_a_rank_and_errors(tmp_path):
    assert run(tmp_path, *CLI, "--no-report", "job.py", "7", "0").returncode == 0
    p = run(tmp_path, *CLI, "report", "out", "--rank", "0")
    assert p.returncode == 0 and table(p.stderr, "work")["s += i"][1] == "7"
    p = run(tmp_path, *CLI, "report", "out/profile.json", "--rank", "4")
    assert p.returncode == 2 and "rank 4 is not in this profile (its ranks: 0)" in p.stderr
    p = run(tmp_path, *CLI, "report", "missing")
    assert p.returncode == 2 and "missing: no such file (expected an output folder" in p.stderr


MPI_PROGRAM = """
from mpi4py import MPI

class Point:
    def __init__(self, x):
        self.x = x

@trace
def work(rank):
    s = 0
    for i in range(10 * (rank + 1)):
        s += i
    return s

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
work(rank)
got = comm.bcast(Point(7) if rank == 0 else None, root=0)
print(f"rank {rank} {type(got).__module__} {got.x}", flush=True)  # one write per rank
"""


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not installed")
def test_under_mpirun_the_report_is_merged_with_min_and_max_per_rank(tmp_path):
    (tmp_path / "mpi_job.py").write_text(textwrap.dedent(MPI_PROGRAM))
    p = run(tmp_path, *CLI, "--", "mpi_job.py", launcher=("mpirun", "-n", "4"))
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == [f"rank {r} __main__ 7" for r in range(4)]
    assert p.stderr.count("rankscope line report (merged over ranks 0-3)") == 1
    # Line, hits, hits min@rank, max@rank, time, per hit, % time, time min@rank, max@rank.
    body = table(p.stderr, "work")["s += i"]
    assert body[1:4] == ["100", "10@0", "40@3"]
    (low, low_rank), (high, high_rank) = (cell.split("@") for cell in body[7:9])
    assert float(low) <= float(body[4]) / 4 <= float(high)
    assert {low_rank, high_rank} <= {"0", "1", "2", "3"}


@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not installed")
def test_example_runs_under_mpirun_and_its_saved_output_reports_each_rank(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "python" / "line_trace.py"
    n = 2000
    p = run(
        tmp_path,
        *CLI,
        "-c",
        "wall_clock",
        "page_rss",
        "--",
        str(example),
        "--n",
        str(n),
        launcher=("mpirun", "-n", "4"),
    )
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines())[3].startswith(f"rank 3: {4 * n} entries")
    loop = table(p.stderr, "build")["for x in table:"]
    # Rank r loops over n (r + 1) entries (one more hit for the loop's end).
    assert loop[1:4] == [str(10 * n + 4), f"{n + 1}@0", f"{4 * n + 1}@3"]
    assert "page_rss (MiB)" in p.stderr
    p = run(tmp_path, *CLI, "report", "out", "--rank", "2")
    assert table(p.stderr, "build")["for x in table:"][1] == str(3 * n + 1)

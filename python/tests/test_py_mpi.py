"""rankscope's Python layer under `mpirun -n 4`, each case in its own job (subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RANKS = 4
pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not installed")


def run(
    tmp_path: Path,
    *parts: str,
    timeout: float = 120,
    extra_env: dict | None = None,
    python_args: tuple = (),
) -> subprocess.CompletedProcess:
    """Runs the script made of ``parts`` (each dedented on its own) on RANKS ranks, with
    ``extra_env`` added to the environment and ``python_args`` given to Python before the
    script (``("-m", "mpi4py.futures")``)."""
    script = tmp_path / "job.py"
    script.write_text("\n".join(textwrap.dedent(part) for part in parts))
    env = dict(os.environ)
    # Unbuffered, print() writes its pieces one by one and mpirun interleaves the ranks' pieces
    # ("hello from" of one rank between another's words); buffered, each rank writes whole lines.
    env.pop("PYTHONUNBUFFERED", None)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
        RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"),
        RANKSCOPE_BANNER="true",
    )
    env.update(extra_env or {})
    return subprocess.run(
        ["mpirun", "-n", str(RANKS), sys.executable, *python_args, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def banners(p: subprocess.CompletedProcess) -> list:
    return [line for line in p.stderr.splitlines() if "outputs written to" in line]


def merged_profile(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "profile.json").read_text())


WORK = """
    from rankscope.bundle import marker
    from rankscope.storage import WallClockStorage

    @marker(["wall_clock"], key="work")
    def work():
        return 1
"""


def test_dmp_get_returns_every_rank_on_rank_zero(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import json, rankscope
    rank = rankscope.world()["rank"]
    for _ in range(rank + 1):
        work()
    everyone = WallClockStorage.dmp_get()
    if rank == 0:
        counts = [[r["rank"], r["count"]] for data in everyone for r in data if r["name"] == "work"]
        print(json.dumps(counts))
    else:
        assert everyone is None
    """,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [[r, r + 1] for r in range(RANKS)]
    assert len(banners(p)) == 1
    profile = merged_profile(tmp_path)
    assert [r["rank"] for r in profile["ranks"]] == list(range(RANKS))


def test_above_per_rank_max_dmp_get_keeps_the_filtered_ranks_and_summary_all(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import json, rankscope
    from rankscope.memory import MEMLOGS, MEMPOINT
    rank = rankscope.world()["rank"]
    for _ in range(rank + 1):
        work()
    MEMPOINT("after work")
    kept = WallClockStorage.dmp_get()
    spread = WallClockStorage.dmp_summary()
    points = MEMLOGS.dmp_get()
    if rank == 0:
        work_rows = [r for r in spread if r["name"] == "work"]
        point = next(p for p in points if p.label == "after work")
        print(json.dumps({
            "kept": [[r["rank"], r["count"]] for data in kept for r in data if r["name"] == "work"],
            "summary": [[r["ranks"], r["count"], r["min_rank"], r["max_rank"]] for r in work_rows],
            "point": [sorted(point.values), point.min_rank in range(4), point.max_rank in range(4)],
        }))
    """,
        extra_env={"RANKSCOPE_PER_RANK_MAX": "2", "RANKSCOPE_RANK_FILTER": "2"},
    )
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["kept"] == [[2, 3]]  # only rank 2's values; it called work() 3 times
    # Every rank, whatever was kept: 1 + 2 + 3 + 4 calls; each call takes about the same time,
    # so the wall-clock extremes are not asserted, only that they name ranks.
    [[ranks, count, low, high]] = got["summary"]
    assert (ranks, count) == (RANKS, 10) and low in range(RANKS) and high in range(RANKS)
    assert got["point"] == [[2], True, True]
    profile = merged_profile(tmp_path)
    assert profile["merged_ranks"] == RANKS and [r["rank"] for r in profile["ranks"]] == [2]
    for r in range(RANKS):  # every rank wrote its own values for an offline merge
        assert (tmp_path / f"out-rank{r}" / "profile.json").is_file()


@pytest.mark.parametrize("order", ["mpi4py-first", "rankscope-first"])
def test_mpi4py_either_import_order(tmp_path, order):
    pytest.importorskip("mpi4py")
    imports = (
        "from mpi4py import MPI\nimport rankscope\n"
        if order == "mpi4py-first"
        else "import rankscope\nfrom mpi4py import MPI\n"
    )
    p = run(
        tmp_path,
        imports,
        WORK,
        """
    comm = MPI.COMM_WORLD
    assert rankscope.world()["size"] == comm.Get_size() == 4
    assert rankscope.world()["rank"] == comm.Get_rank()
    assert MPI.Query_thread() == MPI.THREAD_MULTIPLE
    work()
    total = comm.allreduce(1)
    if comm.Get_rank() == 0:
        print(total)
    """,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["4"]
    assert len(banners(p)) == 1
    assert len(merged_profile(tmp_path)["ranks"]) == RANKS


def test_script_calling_mpi_finalize_itself(tmp_path):
    pytest.importorskip("mpi4py")
    p = run(
        tmp_path,
        """
    import rankscope
    from mpi4py import MPI
    """
        + WORK,
        """
    work()
    MPI.Finalize()
    print("after finalize")
    """,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("after finalize") == RANKS  # mpirun may interleave lines
    assert len(banners(p)) == 1
    assert len(merged_profile(tmp_path)["ranks"]) == RANKS


def test_uncaught_exception_on_one_rank_aborts_after_writing_its_data(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import rankscope
    work()
    if rankscope.world()["rank"] == 2:
        raise RuntimeError("rank 2 failed")
    from rankscope.storage import WallClockStorage
    WallClockStorage.dmp_get()  # the other ranks wait here: without the abort, a hang
    """,
        timeout=90,
    )
    assert p.returncode != 0
    assert "rank 2 failed" in p.stderr
    data = json.loads((tmp_path / "out-rank2" / "profile.json").read_text())
    assert any(n["name"] == "work" for n in data["nodes"])


def test_stdout_of_the_program_is_unchanged(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import rankscope
    work()
    print("hello from", rankscope.world()["rank"])
    """,
    )
    assert p.returncode == 0, p.stderr
    # mpirun may interleave the ranks' lines: what is left after removing them is whitespace
    rest = p.stdout
    for r in range(RANKS):
        assert rest.count(f"hello from {r}") == 1
        rest = rest.replace(f"hello from {r}", "")
    assert rest.strip() == ""


def test_example_app_runs(tmp_path):
    app = Path(__file__).resolve().parents[2] / "examples" / "python" / "app.py"
    p = run(
        tmp_path,
        f"import runpy, sys\nsys.argv = ['app.py', '-n', '12']\n"
        f"runpy.run_path({str(app)!r}, run_name='__main__')\n",
    )
    assert p.returncode == 0, p.stderr
    assert sum("fib calls" in line for line in p.stdout.splitlines()) == RANKS


def test_bcast_of_decorated_functions(tmp_path):
    """mpi4py pickles what it sends: decorated functions travel by reference, like functions,
    and each rank gets its own decorated object (which records on that rank)."""
    pytest.importorskip("mpi4py")
    p = run(
        tmp_path,
        """
    import functools, json
    import rankscope
    from mpi4py import MPI
    from rankscope.bundle import marker
    from rankscope.profiler import profile

    @marker(["wall_clock"], key="bcast_work")
    def work(x):
        return 10 * x

    @profile(["wall_clock"])
    def profiled(x):
        return x + 1

    class Scaler:
        def __init__(self, k):
            self.k = k

        @marker(["wall_clock"])
        def scale(self, x):
            return self.k * x

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    sent = (work, profiled, functools.partial(work, 2), Scaler(3).scale) if rank == 0 else None
    w, p, part, bound = comm.bcast(sent, root=0)
    assert w is work and p is profiled and part.func is work
    results = comm.gather([w(rank), p(rank), part(), bound(rank)], root=0)
    if rank == 0:
        print(json.dumps(results))
    """,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [[10 * r, r + 1, 20, 3 * r] for r in range(RANKS)]
    assert any(n["name"] == "bcast_work" for n in merged_profile(tmp_path)["nodes"])

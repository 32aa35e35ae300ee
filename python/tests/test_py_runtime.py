"""When rankscope joins MPI (python/rankscope/_runtime.py), under `mpirun -n 4`: programs that
start MPI themselves, late or never, multiprocessing children of ranks, ranks leaving early,
errors before MPI, the verbose and debug settings, and runs that measured nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_py_mpi import RANKS, WORK, banners, merged_profile, run

mpi4py = pytest.importorskip("mpi4py")


def ranks_in(tmp_path) -> list:
    return [r["rank"] for r in merged_profile(tmp_path)["ranks"]]


def test_program_initialising_mpi_itself_later(tmp_path):
    p = run(
        tmp_path,
        """
    import rankscope
    import mpi4py
    mpi4py.rc.initialize = False
    from mpi4py import MPI
    """,
        WORK,
        """
    work()
    assert not MPI.Is_initialized(), "rankscope initialised MPI behind the program's back"
    provided = MPI.Init_thread(MPI.THREAD_FUNNELED)
    assert rankscope.world()["mpi"] and rankscope.world()["size"] == 4
    total = MPI.COMM_WORLD.allreduce(1)
    if MPI.COMM_WORLD.Get_rank() == 0:
        print(total, provided >= MPI.THREAD_SINGLE)
    MPI.Finalize()
    """,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["4", "True"]
    assert len(banners(p)) == 1
    assert ranks_in(tmp_path) == list(range(RANKS))


def test_mpi4py_loaded_before_rankscope_without_initialising(tmp_path):
    p = run(
        tmp_path,
        """
    import mpi4py
    mpi4py.rc.initialize = False
    from mpi4py import MPI
    import rankscope
    """,
        WORK,
        """
    work()
    assert not MPI.Is_initialized()
    MPI.Init()
    assert rankscope.world()["mpi"]
    MPI.COMM_WORLD.Barrier()
    MPI.Finalize()  # rc.initialize off: mpi4py leaves finalising to the program
    """,
    )
    assert p.returncode == 0, p.stderr
    assert len(banners(p)) == 1
    assert ranks_in(tmp_path) == list(range(RANKS))


def test_program_that_never_starts_mpi_is_merged_at_exit(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import rankscope, sys
    rankscope.settings.mpi_thread = False   # timemory's overview: plain MPI_Init
    w = rankscope.world()
    assert not w["mpi"] and w["size"] == 4, w   # rank and size from the launcher, not joined
    for _ in range(w["rank"] + 1):
        work()
    print(f"rank {w['rank']}")  # one write: mpirun interleaves writes of the ranks
    """,
    )
    assert p.returncode == 0, p.stderr
    assert sorted(re.findall(r"rank (\d)", p.stdout)) == ["0", "1", "2", "3"]
    assert len(banners(p)) == 1
    work = next(n for n in merged_profile(tmp_path)["nodes"] if n["name"] == "work")
    assert ranks_in(tmp_path) == list(range(RANKS))
    assert [r["laps"] for r in work["per_rank"]["wall_clock"]] == [1, 2, 3, 4]


def test_plain_mpi_init_when_mpi_thread_is_off(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import rankscope
    from rankscope.storage import WallClockStorage
    rankscope.settings.mpi_thread = False
    work()
    WallClockStorage.dmp_get()              # first collective: rankscope joins here
    w = rankscope.world()
    if w["rank"] == 0:
        print(w["mpi"], w["initialised_by_us"], w["thread_level"])
    """,
    )
    assert p.returncode == 0, p.stderr
    # Open MPI's plain MPI_Init provides MPI_THREAD_SINGLE
    assert p.stdout.split() == ["True", "True", "MPI_THREAD_SINGLE"]


def test_worker_ranks_leaving_with_system_exit(tmp_path):
    p = run(
        tmp_path,
        "from mpi4py import MPI\nimport rankscope, sys, time\n",
        WORK,
        """
    work()
    rank = MPI.COMM_WORLD.Get_rank()
    if rank != 0:
        sys.exit(0)
    time.sleep(0.5)  # rank 0 goes on alone
    work()
    print("rank 0 done")
    """,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["rank", "0", "done"]
    assert len(banners(p)) == 1
    assert ranks_in(tmp_path) == list(range(RANKS))


CHILDREN = """
import multiprocessing as mp
import os
import sys
from pathlib import Path

import rankscope
from rankscope.bundle import marker


@marker(["wall_clock"])
def square(x):
    return x * x


def child_report(queue):
    from rankscope import _native

    queue.put((os.getpid(), _native.is_rank_child(), rankscope.world()["mpi"], square(3)))


if __name__ == "__main__":
    results = []
    for method in ("fork", "spawn"):
        ctx = mp.get_context(method)
        with ctx.Pool(2) as pool:
            results.append(sum(pool.map(square, range(6))))
        queue = ctx.Queue()
        proc = ctx.Process(target=child_report, args=(queue,))
        proc.start()
        pid, is_child, joined, value = queue.get(timeout=60)
        proc.join()
        assert proc.exitcode == 0 and is_child and not joined and value == 9, (method, is_child)
    square(4)
    if rankscope.world()["rank"] == 0:
        print(results)
"""


def test_multiprocessing_children_of_ranks_never_join_nor_write(tmp_path):
    p = run(tmp_path, CHILDREN, timeout=180)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["[55,", "55]"]
    assert len(banners(p)) == 1
    assert [d.name for d in tmp_path.iterdir() if d.name.startswith("out")] == ["out"]
    assert ranks_in(tmp_path) == list(range(RANKS))


def test_error_before_mpi_ends_the_job_without_hanging(tmp_path):
    p = run(
        tmp_path,
        WORK,
        """
    import rankscope, time
    work()
    if rankscope.world()["rank"] == 1:
        raise ValueError("rank 1 failed before any MPI")
    time.sleep(1)
    """,
        timeout=90,
    )
    assert p.returncode != 0
    assert "rank 1 failed before any MPI" in p.stderr
    data = json.loads((tmp_path / "out-rank1" / "profile.json").read_text())
    assert any(n["name"] == "work" for n in data["nodes"])


def test_verbose_and_debug_say_what_happens_on_stderr_only(tmp_path):
    script = (WORK, "import rankscope\nwork()\nprint('result')\n")
    quiet = run(tmp_path, *script)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.count("result") == RANKS  # mpirun may interleave the lines
    assert [line for line in quiet.stderr.splitlines() if line.strip()] == banners(quiet)

    loud = run(tmp_path, *script, extra_env={"RANKSCOPE_VERBOSE": "2", "RANKSCOPE_DEBUG": "on"})
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout.count("result") == RANKS
    err = loud.stderr
    assert "rankscope[0]: reduced 4 ranks to rank 0 in" in err
    assert "rankscope[0]: wrote " in err and "profile.json (" in err
    assert "rankscope[0]: profile.json: " in err  # verbose 2: per-writer time
    for rank in range(RANKS):
        assert f"rankscope[{rank}]: debug: MPI: initialised MPI with MPI_Init_thread" in err
        assert f"rankscope[{rank}]: debug: final outputs:" in err
    assert "debug: writers: profile.json" in err


def test_a_run_that_measured_nothing_writes_nothing(tmp_path):
    env = {"RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out"), "RANKSCOPE_VERBOSE": "1"}
    for _ in range(2):
        p = subprocess.run(
            [sys.executable, "-c", "import rankscope"],
            cwd=tmp_path,
            env={**__import__("os").environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert p.returncode == 0, p.stderr
        assert "nothing was measured: no outputs written" in p.stderr
    assert not any(d.name.startswith("out") for d in tmp_path.iterdir())


def test_timemory_overview_workflow_runs_under_mpirun(tmp_path):
    """examples/python/overview.py: the seed's overview with rankscope's names, unchanged."""
    app = Path(__file__).resolve().parents[2] / "examples" / "python" / "overview.py"
    p = run(
        tmp_path,
        f"import runpy, sys\nsys.argv = ['overview.py', '-n', '12', 'rankscope-config', "
        f"'--precision', '5']\nrunpy.run_path({str(app)!r}, run_name='__main__')\n",
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    assert summary["ranks"] == RANKS and summary["answer"] == 144
    for region in ["bar@overview.py:", "{built-in method time.sleep}", "foo@overview.py:"]:
        assert any(r.startswith(region) for r in summary["regions"]), region
    # settings.banner = False in code, but parse() re-applies the harness's RANKSCOPE_BANNER=true
    assert len(banners(p)) == 1
    assert "rankscope[0]: reduced 4 ranks to rank 0 in" in p.stderr  # settings.verbose = 1
    out = tmp_path / "out"
    assert (out / "dart.txt").read_text().startswith("<DartMeasurement")
    meta = merged_profile(tmp_path)["metadata"]["settings"]
    assert meta["flat_profile"] == meta["timeline_profile"] == "true"  # from parse()
    assert meta["mpi_thread"] == "false" and meta["precision"] == "5"


def test_mpi_pool_runs_decorated_functions_on_worker_ranks(tmp_path):
    """mpi4py.futures pickles the decorated function to the worker ranks; every rank's calls
    reach rank 0's merged result."""
    p = run(
        tmp_path,
        """
    import rankscope
    from rankscope.bundle import marker
    from mpi4py.futures import MPIPoolExecutor

    @marker(["wall_clock"])
    def square(x):
        return x * x

    if __name__ == "__main__":
        with MPIPoolExecutor() as pool:
            print(sum(pool.map(square, range(10))))
    """,
        python_args=("-m", "mpi4py.futures"),
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["285"]
    square = next(n for n in merged_profile(tmp_path)["nodes"] if n["name"] == "square")
    laps = [r["laps"] if r else 0 for r in square["per_rank"]["wall_clock"]]
    assert laps[0] == 0 and sum(laps) == 10  # rank 0 hands out the work


def test_threads_calling_mpi_inside_regions(tmp_path):
    p = run(
        tmp_path,
        "import rankscope\nimport threading\nfrom mpi4py import MPI\n",
        WORK,
        """
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    results = {}

    @marker(["wall_clock"])
    def exchange(tag):
        work()
        peer = (rank + 1) % size
        return comm.sendrecv(rank * 100 + tag, dest=peer, sendtag=tag,
                             source=(rank - 1) % size, recvtag=tag)

    def worker(tag):
        results[tag] = exchange(tag)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = {t: ((rank - 1) % size) * 100 + t for t in range(3)}
    assert results == expected, (results, expected)
    if rank == 0:
        print("ok")
    """,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["ok"]
    exchange = next(n for n in merged_profile(tmp_path)["nodes"] if n["name"] == "exchange")
    assert [r["laps"] for r in exchange["per_rank"]["wall_clock"]] == [3] * RANKS

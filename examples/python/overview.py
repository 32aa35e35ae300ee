"""The workflow of timemory's Python overview, with rankscope's names, under MPI:

    mpirun -n 4 python examples/python/overview.py [-n 25] [rankscope-config --verbose 0]

Settings set in code and re-read from RANKSCOPE_* variables, a decorated function, a profiled
block around it, a component driven by hand, an argparse sub-command for the settings, the
function profiler as decorator and context manager, and the storage of this rank and of every
rank. No MPI code: rankscope joins MPI by itself (at the first collective, `dmp_get`, here).
"""

import argparse
import json
import os
import time

import rankscope

# ---- settings: attributes typed as in the settings table -----------------------------------
rankscope.settings.verbose = 1
rankscope.settings.debug = False
rankscope.settings.json_output = True
rankscope.settings.mpi_thread = False  # rankscope would initialise MPI with plain MPI_Init
rankscope.settings.dart_output = True
rankscope.settings.dart_count = 1
rankscope.settings.banner = False

# ---- environment variables, re-read by parse() -----------------------------------------------
os.environ["RANKSCOPE_FLAT_PROFILE"] = "ON"
os.environ["RANKSCOPE_TIMELINE_PROFILE"] = "ON"
rankscope.settings.parse()

from rankscope.bundle import marker  # noqa: E402
from rankscope.component import WallClock  # noqa: E402
from rankscope.profiler import profile  # noqa: E402
from rankscope.storage import WallClockStorage  # noqa: E402


# ---- decorators ------------------------------------------------------------------------------
@marker(["cpu_clock", "peak_rss"])
def fibonacci(n=20):
    return n if n < 2 else (fibonacci(n - 1) + fibonacci(n - 2))


# ---- context managers ------------------------------------------------------------------------
def runner(n=20):
    with profile(["wall_clock", "cpu_util"]):
        fibonacci(n)


# ---- function profiling: decorator and block -------------------------------------------------
@profile(["wall_clock"])
def foo():
    return sum(i * i for i in range(1_000))


def bar():
    with profile(["wall_clock"]):
        time.sleep(0.2)


def main():
    # ---- argument parser support: ./overview.py -n 10 rankscope-config --enabled False -------
    parser = argparse.ArgumentParser("example")
    # The overview computes fibonacci(25); with timeline_profile on, every call is a node of its
    # own (250k per rank, gigabytes of output at 4 ranks), so the default here is smaller.
    parser.add_argument("-n", type=int, default=15, help="fibonacci number for the component")
    rankscope.add_arguments(parser)
    args = parser.parse_args()

    # ---- individual components -----------------------------------------------------------------
    wc = WallClock("wall")
    wc.start()
    answer = fibonacci(args.n)
    wc.stop()
    data = wc.get()
    print(data)

    runner(15)
    foo()
    bar()

    # ---- component storage: this rank without I/O, every rank on rank 0 (collective) ----------
    data = WallClockStorage.get()
    dmp_data = WallClockStorage.dmp_get()
    if dmp_data is not None:
        names = sorted({r["name"] for rank in dmp_data for r in rank})
        print(json.dumps({"ranks": len(dmp_data), "answer": answer, "regions": names}))
    else:
        assert data  # every rank measured something


if __name__ == "__main__":
    main()

"""rankscope from Python under MPI: `mpirun -n 4 python examples/python/app.py [-n 22]`.

No MPI code is needed here: rankscope joins MPI by itself when a launcher started the program
(at the first collective, `dmp_get` below), and at exit rank 0 writes every rank's merged data
and prints (on stderr) where it is.
Each rank does a different amount of work, so the per-rank columns differ.
"""

from __future__ import annotations

import argparse
import sys

import rankscope
from rankscope.bundle import marker
from rankscope.component import PeakRss, WallClock
from rankscope.profiler import profile
from rankscope.storage import WallClockStorage


@marker(["wall_clock", "cpu_clock"])
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def build_table(size: int) -> list:
    return [i * i for i in range(size)]


def summarise(table: list) -> int:
    return sum(table) % 1_000_003


@profile(["wall_clock", "peak_rss"])
def post_process(rank: int) -> int:
    return summarise(build_table(50_000 * (rank + 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20, help="base fibonacci number")
    rankscope.add_arguments(parser)
    args = parser.parse_args()
    rank = rankscope.world()["rank"]

    wall = WallClock("compute")
    rss = PeakRss("compute")
    wall.push()
    wall.start()
    rss.start()
    with marker(["wall_clock"], key="kernel"):
        value = fib(args.n + rank % 3)  # uneven work per rank
    wall.stop()
    rss.stop()
    wall.pop()
    checksum = post_process(rank)

    print(f"rank {rank}: fib({args.n + rank % 3}) = {value}, checksum {checksum}")
    print(f"rank {rank}: {wall!r} {rss!r}", file=sys.stderr)

    everyone = WallClockStorage.dmp_get()  # collective
    if everyone is not None:
        for data in everyone:
            fibs = [r for r in data if r["name"] == "fib"]
            calls = sum(r["count"] for r in fibs)
            outer = min(fibs, key=lambda r: r["depth"])
            print(f"rank {outer['rank']}: {calls} fib calls, outermost {outer['sum']:.4f} s")


if __name__ == "__main__":
    main()

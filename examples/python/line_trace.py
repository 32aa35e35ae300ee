"""Line tracing: hits, time and memory per line of the functions decorated with ``@trace``.

    python -m rankscope.trace -c wall_clock page_rss -- examples/python/line_trace.py --n 400000
    mpirun -n 4 python -m rankscope.trace -- examples/python/line_trace.py   # merged over ranks
    python examples/python/line_trace.py            # no report printed; the outputs have the lines:
    python -m rankscope.trace report rankscope-output --rank 0

Each rank builds a table (the line that allocates it shows the memory increment with
``page_rss``), sums its positive entries in a loop (hits per line: the loop's length) and smooths
a slice of it; rank r does r + 1 times the work, so the merged report's min/max columns show the
imbalance and which rank holds each extreme.
"""

from __future__ import annotations

import argparse
import math

import rankscope
from rankscope.trace import trace


@trace
def build(n: int, rank: int) -> tuple[list[float], float]:
    table = [math.sin(i * 0.001) for i in range(n * (rank + 1))]
    total = 0.0
    for x in table:
        if x > 0:
            total += x
    return table, total


@trace
def smooth(values: list[float], passes: int) -> list[float]:
    for _ in range(passes):
        values = [(a + b) / 2 for a, b in zip(values, values[1:])]
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="table entries per rank unit")
    args = parser.parse_args()
    rank = rankscope.world()["rank"]
    table, total = build(args.n, rank)
    smoothed = smooth(table[:1000], 5)
    print(f"rank {rank}: {len(table)} entries, positive sum {total:.1f}, smoothed {len(smoothed)}")


if __name__ == "__main__":
    main()

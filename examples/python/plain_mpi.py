"""A plain mpi4py program with no rankscope in it, to profile without changing it:

    mpirun -n 4 python -m rankscope.profiler -- examples/python/plain_mpi.py --tasks 12
    python -m pstats rankscope-output/profile.pstats     # or: snakeviz (same file)

Rank 0 makes tasks (instances of a class defined in this script, so pickled as
``__main__.Task``), scatters them, every rank solves its share (recursion, JSON and regex
work) and rank 0 prints the gathered results. Without mpirun it runs as one rank.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass

from mpi4py import MPI

WORD = re.compile(r"[a-z]+")


@dataclass
class Task:
    number: int
    text: str


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def words(text: str) -> int:
    return len(WORD.findall(json.loads(json.dumps({"text": text}))["text"]))


def solve(task: Task) -> tuple[int, int]:
    return fib(task.number), words(task.text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8, help="tasks in all")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    shares = None
    if rank == 0:
        tasks = [Task(10 + i % 8, "alpha beta gamma " * (i + 1)) for i in range(args.tasks)]
        shares = [tasks[r::size] for r in range(size)]
    mine = comm.scatter(shares, root=0)
    results = comm.gather([solve(t) for t in mine], root=0)
    if rank == 0:
        flat = [r for part in results for r in part]
        print(
            f"{len(flat)} tasks on {size} ranks: fib sum {sum(f for f, _ in flat)}, "
            f"words {sum(w for _, w in flat)}"
        )


if __name__ == "__main__":
    main()

"""Memory points and call capture per rank:

    mpirun -n 4 python examples/python/memory_and_capture.py

Each rank holds a different amount of memory between two memory points and calls a captured
function a different number of times. Rank 0 prints the points merged across ranks (value per
rank, min and max with their rank, mean), then every rank's capture folder is replayed.
Runs without mpirun too (one rank).
"""

from __future__ import annotations

import numpy as np
import rankscope
from rankscope import settings
from rankscope.capture import intercept, load, rank_folder
from rankscope.memory import MEMLOGS, MEMPOINT, MEMTRACE


@intercept
def smooth(signal: np.ndarray, width: int = 3) -> np.ndarray:
    kernel = np.ones(width) / width
    return np.convolve(signal, kernel, mode="same")


@MEMTRACE
def allocate(rank: int) -> bytearray:
    block = bytearray((rank + 1) * 32 * 2**20)
    block[::4096] = b"x" * len(range(0, len(block), 4096))  # touch every page: resident
    return block


def main() -> None:
    rank = rankscope.world()["rank"]
    block = allocate(rank)
    MEMPOINT("holding the block")
    for i in range(rank + 1):
        smooth(np.linspace(0, 1, 10) * i, width=3)
    del block
    MEMPOINT("released")

    merged = MEMLOGS.dmp_get()  # collective: every rank calls it
    if merged is not None:
        for p in merged:
            per_rank = ", ".join(f"{r}: {v / 2**20:.0f}" for r, v in p.values.items())
            print(
                f"{p.label:<26} MiB per rank {{{per_rank}}}  min {p.min / 2**20:.0f} "
                f"(rank {p.min_rank})  max {p.max / 2**20:.0f} (rank {p.max_rank})"
            )

    db = load(rank_folder())
    replayed = db.replay("smooth", len(db.calls("smooth")), smooth.__wrapped__)
    print(f"rank {rank}: {db.calls('smooth')} calls of smooth saved; replayed: {replayed[:3]}")
    print(f"rank {rank}: captures in {db.path} (output_path {settings.output_path})")


if __name__ == "__main__":
    main()

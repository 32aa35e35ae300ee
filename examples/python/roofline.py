"""Roofline points from counts the program supplies, under MPI:

    mpirun -n 4 python examples/python/roofline.py [-n 300] [--elements 2000000]
    rankscope roofline ceilings            # once per machine: its bandwidths and peaks (cached)
    python -m rankscope.roofline plot rankscope-output -o roofline.png

Two kernels with known operation counts, each in a region carrying ``roofline_modelled``:
a numpy matrix product (2 n^3 FLOPs; modelled traffic 3 n^2 x 8 bytes: each matrix once, which
holds when the product is blocked well) and a STREAM triad ``a = b + s * c`` (2 FLOPs and
24 bytes per element: two arrays read, one written). These counts are a model, not a
measurement: the plot marks them as modelled (hollow squares). Rank r streams r + 1 times the
base length, so the merged points have a spread over ranks.
"""

from __future__ import annotations

import argparse

import numpy as np
import rankscope
from rankscope.bundle import marker
from rankscope.roofline import count

COMPONENTS = ["wall_clock", "roofline_modelled"]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = a.shape[0]
    with marker(COMPONENTS, key="matmul"):
        c = a @ b
        count(flops=2 * n**3, bytes=3 * n * n * 8)
    return c


def triad(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
    with marker(COMPONENTS, key="triad"):
        np.multiply(c, s, out=a)
        a += b
        count(flops=2 * a.size, bytes=24 * a.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=300, help="matrix order")
    parser.add_argument("--elements", type=int, default=2_000_000, help="triad array length")
    parser.add_argument("--repeat", type=int, default=5, help="laps of each kernel")
    rankscope.add_arguments(parser)
    args = parser.parse_args()
    rank = rankscope.world()["rank"]
    rng = np.random.default_rng(rank)
    m1, m2 = rng.random((args.n, args.n)), rng.random((args.n, args.n))
    # Rank r streams (r + 1) times the base length: the ranks differ, and so do their points.
    length = args.elements * (rank + 1)
    a, b, c = np.empty(length), np.ones(length), np.full(length, 2.0)
    with marker(COMPONENTS, key="kernels"):
        for _ in range(args.repeat):
            product = matmul(m1, m2)
            triad(a, b, c, 3.0)
    print(f"rank {rank}: trace {np.trace(product):.6g}, a[0] = {a[0]}")


if __name__ == "__main__":
    main()

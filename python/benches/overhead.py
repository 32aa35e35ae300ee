"""Overhead per decorated call: rankscope vs a do-nothing decorator, a pure-Python timer and
cProfile.

    python python/benches/overhead.py [--repeat 5]

Prints a markdown table of nanoseconds per call added to the plain run (best of ``--repeat``),
for fib(25) (242,785 calls) and a trivial function called 1,000,000 times. Plain Python speed
varies between machines: compare rows of one run only.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import sys
import time
from typing import Any, Callable

os.environ.setdefault("RANKSCOPE_AUTO_OUTPUT", "false")

from rankscope.bundle import marker
from rankscope.profiler import profile

FIB_N = 25
FIB_CALLS = 242_785
TRIVIAL_CALLS = 1_000_000


def do_nothing(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def perf_counter_timer(func: Callable[..., Any]) -> Callable[..., Any]:
    totals = [0, 0]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return func(*args, **kwargs)
        finally:
            totals[0] += time.perf_counter_ns() - t0
            totals[1] += 1

    return wrapper


def make_fib(decorate: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[], Any]:
    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    fib = decorate(fib)  # type: ignore[assignment]  # recursion goes through the wrapper
    return lambda: fib(FIB_N)


def make_trivial(decorate: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[], Any]:
    def trivial(x: int) -> int:
        return x

    f = decorate(trivial)

    def run() -> None:
        for i in range(TRIVIAL_CALLS):
            f(i)

    return run


def identity(func: Callable[..., Any]) -> Callable[..., Any]:
    return func


CASES: list[tuple[str, Callable[[Callable[..., Any]], Callable[..., Any]], str]] = [
    ("plain (no decorator)", identity, ""),
    ('marker(["wall_clock"])', marker(["wall_clock"]), ""),
    ('marker(["wall_clock", "peak_rss"])', marker(["wall_clock", "peak_rss"]), ""),
    ('profile(["wall_clock"]) context', identity, "profile"),
    ("do-nothing *args/**kwargs decorator", do_nothing, ""),
    ("pure-Python perf_counter_ns decorator", perf_counter_timer, ""),
    ("cProfile", identity, "cprofile"),
]


def timed(run: Callable[[], Any], mode: str) -> float:
    if mode == "profile":
        with profile(["wall_clock"]):
            t0 = time.perf_counter()
            run()
            return time.perf_counter() - t0
    if mode == "cprofile":
        prof = cProfile.Profile()
        prof.enable()
        t0 = time.perf_counter()
        run()
        dt = time.perf_counter() - t0
        prof.disable()
        return dt
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeat):  # interleave cases so drifts hit all alike
        for name, decorate, mode in CASES:
            works = (("fib", make_fib, FIB_CALLS), ("trivial", make_trivial, TRIVIAL_CALLS))
            for work, make, calls in works:
                dt = timed(make(decorate), mode) / calls * 1e9
                key = (name, work)
                best[key] = min(best.get(key, dt), dt)
    out = sys.stdout
    out.write(f"Python {sys.version.split()[0]}, best of {args.repeat}; ns per call\n\n")
    out.write("| case | fib(25): ns/call | added | trivial x1M: ns/call | added |\n")
    out.write("|---|---:|---:|---:|---:|\n")
    base_fib, base_triv = best[(CASES[0][0], "fib")], best[(CASES[0][0], "trivial")]
    for name, _, _ in CASES:
        f, t = best[(name, "fib")], best[(name, "trivial")]
        out.write(f"| {name} | {f:.0f} | {f - base_fib:.0f} | {t:.0f} | {t - base_triv:.0f} |\n")


if __name__ == "__main__":
    main()

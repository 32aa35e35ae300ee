"""Per-call cost of whole-call-tree function profilers, in one run: rankscope's ``profile`` (what
``python -m rankscope.profiler`` runs) beside cProfile, yappi and pyinstrument.

    pip install yappi pyinstrument          # optional peers; missing ones are skipped
    python python/benches/profilers.py [--repeat 5]

Two workloads: fib(25) (242,785 Python calls, no C calls) and a realistic mix (dataclasses,
JSON encode/decode, regular expressions, sorting: Python and C calls). Prints a markdown table of
nanoseconds added per call (best of ``--repeat`` runs, calls counted by cProfile: Python and C
calls) and each profiler's ratio to cProfile. pyinstrument samples (every 1 ms), it does not
build a call count: its row is the slowdown spread over the same calls. Plain Python speed
varies between machines: compare rows of one run only.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

os.environ.setdefault("RANKSCOPE_AUTO_OUTPUT", "false")

from rankscope.profiler import profile

WORD = re.compile(r"[A-Za-z]+")


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@dataclass
class Record:
    name: str
    values: list[int]


def realistic() -> int:
    """Build records, round-trip them through JSON, count words, sort: a small service's mix."""
    total = 0
    for i in range(300):
        records = [Record(f"item {i} number {j}", list(range(j % 7))) for j in range(20)]
        text = json.dumps([asdict(r) for r in records])
        back = [Record(**d) for d in json.loads(text)]
        total += sum(len(WORD.findall(r.name)) for r in back)
        total += len(sorted(back, key=lambda r: (len(r.values), r.name)))
    return total


WORKLOADS: dict[str, Callable[[], Any]] = {"fib(25)": lambda: fib(25), "realistic": realistic}


def calls_of(work: Callable[[], Any]) -> int:
    """Python and C calls the workload makes, as cProfile counts them (minus its own)."""
    prof = cProfile.Profile()
    prof.runcall(work)
    return int(pstats.Stats(prof).total_calls) - 1  # the runcall itself


def best(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - t0)
    return float(min(times))


def profilers() -> dict[str, Callable[[Callable[[], Any]], Callable[[], Any]]]:
    """Each profiler as a function turning the workload into a profiled run."""

    def rankscope_profile(work: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> None:
            with profile(["wall_clock"]):
                work()

        return run

    def c_profile(work: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: cProfile.Profile().runcall(work)

    found: dict[str, Callable[[Callable[[], Any]], Callable[[], Any]]] = {
        "plain": lambda work: work,
        "rankscope profile(['wall_clock'])": rankscope_profile,
        "cProfile": c_profile,
    }
    try:
        import yappi

        def with_yappi(work: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> None:
                yappi.set_clock_type("wall")
                yappi.start(builtins=True)
                work()
                yappi.stop()
                yappi.clear_stats()

            return run

        found["yappi (wall, builtins)"] = with_yappi
    except ImportError:
        pass
    try:
        from pyinstrument import Profiler as Sampler

        def with_pyinstrument(work: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> None:
                with Sampler(interval=0.001):
                    work()

            return run

        found["pyinstrument (sampling, 1 ms)"] = with_pyinstrument
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case; the best counts")
    args = parser.parse_args()
    calls = {name: calls_of(work) for name, work in WORKLOADS.items()}
    added: dict[str, dict[str, float]] = {}
    plain: dict[str, float] = {}
    for label, wrap in profilers().items():
        for name, work in WORKLOADS.items():
            ns = best(wrap(work), args.repeat)
            if label == "plain":
                plain[name] = ns
            added.setdefault(label, {})[name] = (ns - plain[name]) / calls[name]
    header = " | ".join(
        f"{name} ({calls[name]:,} calls): ns added/call | vs cProfile" for name in WORKLOADS
    )
    print(f"| profiler | {header} |")
    print("|---|" + "---:|---:|" * len(WORKLOADS))
    for label, per in added.items():
        cells = []
        for name in WORKLOADS:
            ratio = per[name] / added["cProfile"][name] if label != "plain" else 0.0
            cells += [f"{per[name]:.0f}", f"{ratio:.2f}x" if label != "plain" else "-"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nplain: " + ", ".join(f"{n} {plain[n] / 1e6:.1f} ms" for n in WORKLOADS))


if __name__ == "__main__":
    main()

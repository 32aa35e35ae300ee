"""Cost per line hit of the line tracer beside line_profiler (5.x), in the same run.

    pip install 'line_profiler>=5,<6'     # for this benchmark only
    python python/benches/line_tracer.py [--repeat 5] [--n 200000]

Each workload is one traced function, run plain, under ``rankscope.trace.trace`` and under
``line_profiler.LineProfiler`` in turns (best of ``--repeat`` each); the table gives the nanoseconds
added per line hit of the traced function (the hits are counted by rankscope and checked
against what line_profiler counted) and the ratio to line_profiler's. Workloads:

- ``loop``: a loop of three simple lines (every event is a traced line);
- ``calls``: a loop whose body calls an untraced three-line helper (the helper's call, line
  and return events cost each tracer its "not traced" path);
- ``loop, page_rss``: ``loop`` with the resident memory read at every line (memory per line,
  what memory_profiler shows; line_profiler measures no memory: its column is the time-only
  run, for scale).

Plain Python speed varies between machines: compare rows of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import types
from typing import Any, Callable

os.environ.setdefault("RANKSCOPE_AUTO_OUTPUT", "false")

from line_profiler import LineProfiler
from rankscope import _native
from rankscope.trace import report, trace


def loop(n: int) -> int:
    total = 0
    for i in range(n):
        j = i * 2
        total += j
    return total


def helper(i: int) -> int:
    doubled = i * 2
    doubled += 1
    return doubled


def calls(n: int) -> int:
    total = 0
    for i in range(n):
        total += helper(i)
    return total


def copy(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A new function running a new copy of ``func``'s code, named ``name``."""
    code = func.__code__.replace(co_name=name, co_qualname=name)
    return types.FunctionType(code, func.__globals__, name)


def best(funcs: list[Callable[[int], Any]], n: int, repeat: int) -> list[float]:
    """The shortest of ``repeat`` runs of each ``func(n)``, in seconds; the functions take
    turns, so that a change of the machine's load hits them all alike."""
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeat):
        for func, kept in zip(funcs, times):
            t0 = time.perf_counter()
            func(n)
            kept.append(time.perf_counter() - t0)
    return [min(t) for t in times]


def rankscope_hits(func: Callable[..., Any]) -> int:
    """Line hits rankscope recorded for one function so far."""
    profile = json.loads(_native.profile_json())
    code = func.__code__
    (found,) = [
        f
        for f in report.collect(profile).functions
        if (f.qualname, f.path, f.first)
        == (code.co_qualname, code.co_filename, code.co_firstlineno)
    ]
    return sum(sum(fig.laps) for _, fig in found.lines.values())


def line_profiler_hits(lp: LineProfiler, func: Callable[..., Any]) -> int:
    stats = lp.get_stats()
    return sum(
        hits
        for (_, _, name), lines in stats.timings.items()
        if name == func.__name__
        for _, hits, _ in lines
    )


def measure(
    name: str, func: Callable[[int], Any], components: list[str], n: int, repeat: int
) -> dict[str, Any]:
    # Each tool gets its own copy: line_profiler 5 gives the functions it profiles a new code
    # object, and rankscope keeps its decision on the code object.
    lp = LineProfiler()
    theirs = copy(func, func.__name__)
    plain, traced, profiled = best([func, trace(components)(func), lp(theirs)], n, repeat)
    hits = rankscope_hits(func) // repeat
    lp_hits = line_profiler_hits(lp, theirs) // repeat
    if lp_hits != hits:
        raise SystemExit(f"{name}: rankscope counted {hits} line hits, line_profiler {lp_hits}")
    ours = (traced - plain) / hits * 1e9
    theirs = (profiled - plain) / hits * 1e9
    return {"name": name, "hits": hits, "plain": plain, "ours": ours, "theirs": theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--n", type=int, default=200_000, help="loop iterations per run")
    args = parser.parse_args()
    rows = [
        measure("loop", loop, ["wall_clock"], args.n, args.repeat),
        measure("calls", calls, ["wall_clock"], args.n, args.repeat),
    ]
    # A copy of loop under another name for the memory run: a code object keeps the
    # components it was first traced with, and the report groups lines by function name.
    memory = ["wall_clock", "page_rss"]
    rows.append(measure("loop, page_rss", copy(loop, "loop_rss"), memory, args.n, args.repeat))
    print(
        "| workload | line hits per run | plain run (ms) | rankscope (ns per hit) | "
        "line_profiler 5 (ns per hit) | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['hits']:,} | {r['plain'] * 1e3:.1f} | {r['ours']:.0f} | "
            f"{r['theirs']:.0f} | {r['ours'] / r['theirs']:.2f}x |"
        )


if __name__ == "__main__":
    main()

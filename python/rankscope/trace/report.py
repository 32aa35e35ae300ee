"""The line report: each traced function's source with its figures per line, like
line_profiler's ``-v`` output, for one rank or merged over ranks.

    from rankscope.trace import report
    report.print_report()                        # this process, now
    report.print_report("rankscope-output")      # a saved output (every rank merged)
    report.print_report("out/profile.json", rank=2)

Per line: hits, time (microseconds), time per hit, % of the time of the function's lines, and
for every other component measured (``page_rss``, ``peak_rss``: the memory increment over the
line) its sum. Merged over several ranks, each figure is the sum over ranks, and the time and
each other component also show their minimum and maximum over ranks with the rank holding it
(``12.5@3``: 12.5 on rank 3).

The report reads the nodes the tracer makes (see ``rankscope.trace``): a function node
``qualname@path:first_line`` with children ``line N: source``. A function reached by several
call paths (or threads kept apart) is summed over them. Its whole source comes from ``path``
when it can be read, else only the lines that ran are shown, with the text their node keeps.
"""

from __future__ import annotations

import inspect
import json
import linecache
import re
import sys
from dataclasses import dataclass, field
from tokenize import TokenError
from typing import Any, TextIO

from .. import _native
from ..plot import PlotError, read_profile

LINE = re.compile(r"^line (\d+)(?:: (.*))?$", re.S)
FUNCTION = re.compile(r"^(?P<qualname>[^@]*)@(?P<path>.*):(?P<first>\d+)$", re.S)

TIME = "wall_clock"


class ReportError(Exception):
    """The report cannot be made from what was given (the message says why)."""


@dataclass
class Figures:
    """Laps and per-metric sums (display units) of a line or a function, one value per rank
    column."""

    laps: list[int]
    sums: dict[str, list[float]] = field(default_factory=dict)

    def add(self, node: dict[str, Any], columns: list[int], scales: dict[str, float]) -> None:
        """Adds a node's laps and sums of the rank columns ``columns``."""
        per_metric = _per_rank(node)
        for i, col in enumerate(columns):
            laps = 0
            for name, per_rank in per_metric.items():
                stats = per_rank[col] if col < len(per_rank) else None
                if name not in scales or not stats or stats.get("laps", 0) <= 0:
                    continue
                laps = max(laps, int(stats["laps"]))  # every metric of a bundle has them all
                self.sums.setdefault(name, [0.0] * len(columns))[i] += stats["sum"] * scales[name]
            self.laps[i] += laps


@dataclass
class Function:
    """A traced function: where it is, its calls and its lines' figures."""

    qualname: str
    path: str
    first: int
    total: Figures
    lines: dict[int, tuple[str, Figures]] = field(default_factory=dict)


@dataclass
class Report:
    """Every traced function of a profile, for the chosen rank columns."""

    ranks: list[int]
    units: dict[str, str]
    functions: list[Function]


def _per_rank(node: dict[str, Any]) -> dict[str, list[dict[str, Any] | None]]:
    """A node's statistics per metric and rank column (a single-rank profile may have only
    ``stats``)."""
    per_rank = node.get("per_rank")
    if per_rank:
        return per_rank
    return {name: [stats] for name, stats in node.get("stats", {}).items()}


def load(source: Any = None) -> dict[str, Any]:
    """A profile: None for this process's now, a dict as is, else an output folder or its
    ``profile.json``."""
    if source is None:
        return json.loads(_native.profile_json())
    if isinstance(source, dict):
        return source
    try:
        return read_profile(source)[1]
    except PlotError as e:  # names the file and what was expected
        raise ReportError(str(e)) from None


def collect(profile: dict[str, Any], rank: int | None = None) -> Report:
    """The traced functions of ``profile``: for rank ``rank`` only, or every rank (None)."""
    ranks = [int(r["rank"]) for r in profile.get("ranks") or [{"rank": 0}]]
    if rank is None:
        columns = list(range(len(ranks)))
    elif rank in ranks:
        columns = [ranks.index(rank)]
    else:
        raise ReportError(f"rank {rank} is not in this profile (its ranks: {_spans(ranks)})")
    metrics = profile.get("metrics", [])
    scales = {m["name"]: float(m["scale"]) for m in metrics}
    units = {m["name"]: m["display_unit"] for m in metrics}
    nodes = profile.get("nodes", [])
    functions: dict[tuple[str, str, int], Function] = {}
    for node in nodes:
        line = LINE.match(node["name"])
        parent = node.get("parent")
        if line is None or parent is None:
            continue
        owner = FUNCTION.match(nodes[parent]["name"])
        if owner is None:
            continue
        key = (owner["qualname"], owner["path"], int(owner["first"]))
        func = functions.get(key)
        if func is None:
            func = functions[key] = Function(*key, total=Figures([0] * len(columns)))
        number = int(line[1])
        _, figures = func.lines.setdefault(number, (line[2] or "", Figures([0] * len(columns))))
        figures.add(node, columns, scales)
    # Function totals: every node of each traced function (once per call path).
    for node in nodes:
        owner = FUNCTION.match(node["name"])
        if owner is None:
            continue
        func = functions.get((owner["qualname"], owner["path"], int(owner["first"])))
        if func is not None:
            func.total.add(node, columns, scales)
    return Report([ranks[c] for c in columns], units, list(functions.values()))


def _spans(ranks: list[int]) -> str:
    """``0-3, 5`` for [0, 1, 2, 3, 5]."""
    out: list[str] = []
    for r in sorted(ranks):
        if out and out[-1].split("-")[-1] == str(r - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{r}"
        else:
            out.append(str(r))
    return ", ".join(out)


def source(func: Function) -> list[tuple[int, str]]:
    """The function's source lines with their numbers: its whole block when its file can be
    read, else the lines that ran, with the text their nodes keep."""
    lines = linecache.getlines(func.path)
    if len(lines) >= func.first:
        try:
            block = inspect.getblock(lines[func.first - 1 :])
        except (SyntaxError, IndentationError, TokenError):
            block = []
        if block:
            return [(func.first + i, text.rstrip("\n")) for i, text in enumerate(block)]
    return [(n, text) for n, (text, _) in sorted(func.lines.items())]


def _column(values: list[float], ranks: list[int], fmt: str) -> tuple[str, str, str]:
    """Sum, minimum@rank and maximum@rank of one figure over the rank columns."""
    low = min(range(len(values)), key=values.__getitem__)
    high = max(range(len(values)), key=values.__getitem__)
    return (
        format(sum(values), fmt),
        f"{values[low]:{fmt}}@{ranks[low]}",
        f"{values[high]:{fmt}}@{ranks[high]}",
    )


def format_report(report: Report) -> str:
    """The report as text (see the module doc)."""
    if not report.functions:
        return (
            "rankscope line report: no traced lines in this profile (trace functions with "
            "@trace, a with trace(): block, or python -m rankscope.trace)\n"
        )
    merged = len(report.ranks) > 1
    where = f"merged over ranks {_spans(report.ranks)}" if merged else f"rank {report.ranks[0]}"
    out = [f"rankscope line report ({where}); times in microseconds\n"]
    for func in sorted(report.functions, key=lambda f: (f.path, f.first)):
        out.append(_function_text(func, report, merged))
    return "\n".join(out)


def _function_text(func: Function, report: Report, merged: bool) -> str:
    """One function's header and its table."""
    ranks = report.ranks
    others = sorted({name for _, f in func.lines.values() for name in f.sums} - {TIME})
    total_time = sum(func.total.sums.get(TIME, [0.0])) * 1e6
    # % of the function's lines together (the call's own entry and exit are no line's).
    lines_time = sum(sum(f.sums.get(TIME, [0.0])) for _, f in func.lines.values()) * 1e6
    header = [
        f"Function: {func.qualname} at {func.path}:{func.first}",
        f"Calls: {sum(func.total.laps)}   Total time: {total_time:.1f} us",
    ]
    for name in others:
        total = sum(func.total.sums.get(name, [0.0]))
        header[-1] += f"   {name}: {total:+.3f} {report.units.get(name, '')}"
    titles = ["Line", "Hits"]
    if merged:
        titles += ["Hits min@rank", "Hits max@rank"]
    titles += ["Time", "Per hit", "% Time"]
    if merged:
        titles += ["Time min@rank", "Time max@rank"]
    for name in others:
        titles.append(f"{name} ({report.units.get(name, '')})")
        if merged:
            titles += [f"{name} min@rank", f"{name} max@rank"]
    rows = []
    for number, text in source(func):
        row = [str(number)] + [""] * (len(titles) - 1)
        figures = func.lines.get(number, (None, None))[1]
        if figures is not None and sum(figures.laps) > 0:
            hits = sum(figures.laps)
            times = [t * 1e6 for t in figures.sums.get(TIME, [0.0] * len(ranks))]
            cells = [_column([float(n) for n in figures.laps], ranks, ".0f")]
            cells.append(_column(times, ranks, ".1f"))
            share = 100 * sum(times) / lines_time if lines_time > 0 else 0.0
            per_hit = (f"{sum(times) / hits:.1f}", f"{share:.1f}")
            if merged:
                row[1:9] = [*cells[0], cells[1][0], *per_hit, *cells[1][1:]]
                at = 9
            else:
                row[1:5] = [cells[0][0], cells[1][0], *per_hit]
                at = 5
            for name in others:
                values = figures.sums.get(name, [0.0] * len(ranks))
                total, low, high = _column(values, ranks, "+.3f")
                row[at] = total
                if merged:
                    row[at + 1 : at + 3] = [low, high]
                at += 3 if merged else 1
        rows.append((row, text))
    widths = [max(len(t), *(len(r[i]) for r, _ in rows)) for i, t in enumerate(titles)]
    lines = header + [""]
    head = "  ".join(t.rjust(w) for t, w in zip(titles, widths)) + "  Line contents"
    lines += [head, "=" * len(head)]
    for row, text in rows:
        lines.append("  ".join(v.rjust(w) for v, w in zip(row, widths)) + "  " + text)
    return "\n".join(lines) + "\n"


def print_report(source: Any = None, rank: int | None = None, file: TextIO | None = None) -> None:
    """Prints the line report of ``source`` (see :func:`load`) for ``rank`` (None: every rank
    merged) to ``file`` (default stderr: stdout belongs to the program)."""
    text = format_report(collect(load(source), rank))
    print(text, end="", file=file if file is not None else sys.stderr)

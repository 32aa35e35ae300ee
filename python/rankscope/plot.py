"""Plots of a run's outputs, from the command line or from Python.

    python -m rankscope.plot memory OUTPUT [-o memory.png] [--ranks 0,3] [--title TEXT]

``memory``: each rank's resident memory (RSS, and its peak dashed) and CPU use over time, from
the per-rank sampler (setting ``sampler``), as psrecord draws one process. Up to
``--max-lines`` ranks (default 8) get a line each; more ranks are drawn as the median with a
min-max band over ranks (the ranks holding the extremes named in the legend), so 6,400 ranks
stay readable. OUTPUT is an output folder or its ``profile.json``. PNG or SVG from the file name.
Needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

RSS, PEAK, CPU = "process.rss", "process.peak_rss", "process.cpu"


class PlotError(Exception):
    """A plot that cannot be drawn from the given output (the message says why)."""


def read_profile(output: str | Path) -> tuple[Path, dict[str, Any]]:
    """The native JSON profile of an output folder or of a ``profile.json``: its path and its
    content."""
    path = Path(output)
    if path.is_dir():
        path = path / "profile.json"
    try:
        return path, json.loads(path.read_text())
    except FileNotFoundError as e:
        raise PlotError(
            f"{path}: no such file (expected an output folder or its profile.json)"
        ) from e
    except json.JSONDecodeError as e:
        raise PlotError(f"{path}: not a rankscope profile (invalid JSON: {e})") from e


def load_samples(output: str | Path) -> dict[int, dict[str, Any]]:
    """Every rank's sampler series from an output folder or ``profile.json``:
    ``{rank: {"t": [s...], "start": unix s, "<series>": [display unit...], "units": {...}}}``."""
    path, profile = read_profile(output)
    out: dict[int, dict[str, Any]] = {}
    for rank in profile.get("ranks", []):
        s = rank.get("samples")
        if not s:
            continue
        data: dict[str, Any] = {
            "t": [t / 1e9 for t in s["t_ns"]],
            "start": s["start_unix_ns"] / 1e9,
            "units": {},
            "halvings": s.get("halvings", 0),
        }
        for desc, column in zip(s["series"], s["columns"]):
            data[desc["name"]] = [v * desc["scale"] for v in column]
            data["units"][desc["name"]] = desc["display_unit"]
        out[rank["rank"]] = data
    if not out:
        raise PlotError(
            f"{path}: no sampler series in this run (run it with RANKSCOPE_SAMPLER=on, "
            "or settings.sampler = True before the work)"
        )
    return out


def _band(series: dict[int, dict[str, Any]], name: str, grid: list[float], t0: float):
    """Per grid time: min, median and max over ranks of series ``name`` (each rank's value at
    its latest point at or before that time), and the ranks holding the min and max peaks."""
    import numpy as np

    rows = []
    for data in series.values():
        t = np.asarray(data["t"]) + (data["start"] - t0)
        v = np.asarray(data[name])
        idx = np.searchsorted(t, grid, side="right") - 1
        # Only while the rank's sampler ran: nothing before its first point or after its last.
        inside = (idx >= 0) & (grid <= t[-1])
        row = np.where(inside, v[np.clip(idx, 0, len(v) - 1)], np.nan)
        rows.append(row)
    values = np.vstack(rows)
    ranks = list(series)
    peaks = np.nanmax(values, axis=1)
    with warnings.catch_warnings():
        # Grid times where no rank is sampling give NaN on purpose: a gap, not an error.
        warnings.simplefilter("ignore", RuntimeWarning)
        return (
            np.nanmin(values, axis=0),
            np.nanmedian(values, axis=0),
            np.nanmax(values, axis=0),
            ranks[int(np.nanargmin(peaks))],
            ranks[int(np.nanargmax(peaks))],
        )


def memory(
    output: str | Path,
    out: str | Path = "memory.png",
    ranks: list[int] | None = None,
    max_lines: int = 8,
    title: str | None = None,
) -> Path:
    """Draws RSS (and peak) and CPU % over time per rank into ``out``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    series = load_samples(output)
    if ranks is not None:
        missing = sorted(set(ranks) - set(series))
        if missing:
            raise PlotError(
                f"ranks {missing} have no samples; ranks with samples: {sorted(series)}"
            )
        series = {r: series[r] for r in ranks}
    t0 = min(d["start"] for d in series.values())
    fig, (ax_mem, ax_cpu) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    mem_unit = next(iter(series.values()))["units"].get(RSS, "MiB")
    if len(series) <= max_lines:
        for rank, data in sorted(series.items()):
            t = np.asarray(data["t"]) + (data["start"] - t0)
            (line,) = ax_mem.plot(t, data[RSS], label=f"rank {rank}")
            if PEAK in data:
                ax_mem.plot(t, data[PEAK], linestyle="--", color=line.get_color(), linewidth=0.8)
            ax_cpu.plot(t, data[CPU], color=line.get_color(), label=f"rank {rank}")
    else:
        end = max(d["start"] - t0 + (d["t"][-1] if d["t"] else 0) for d in series.values())
        grid = np.linspace(0, end, 400)
        for ax, name in ((ax_mem, RSS), (ax_cpu, CPU)):
            lo, med, hi, lo_rank, hi_rank = _band(series, name, grid, t0)
            ax.fill_between(grid, lo, hi, alpha=0.3, label=f"min-max over {len(series)} ranks")
            ax.plot(grid, med, label="median")
            ax.plot([], [], " ", label=f"lowest peak: rank {lo_rank}, highest: rank {hi_rank}")
    ax_mem.set_ylabel(f"resident memory ({mem_unit})")
    ax_cpu.set_ylabel("CPU (%, 100 = one core)")
    ax_cpu.set_xlabel("time since the first rank's sampler started (s)")
    ax_mem.legend(loc="upper left", fontsize="small")
    ax_mem.grid(alpha=0.3)
    ax_cpu.grid(alpha=0.3)
    halved = max(d["halvings"] for d in series.values())
    note = f" (points thinned {halved}x)" if halved else ""
    fig.suptitle(title or f"memory and CPU per rank: {Path(output)}{note}")
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path)
    plt.close(fig)
    return path


def _ranks(text: str) -> list[int]:
    try:
        return [int(r) for r in text.split(",") if r.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected ranks like 0,3,7, got {text!r}") from e


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rankscope.plot", description=__doc__.split("\n\n")[0]
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    mem = kinds.add_parser("memory", help="RSS and CPU %% per rank over time (setting sampler)")
    mem.add_argument("output", help="output folder or its profile.json")
    mem.add_argument("-o", "--out", default="memory.png", help="image file (.png or .svg)")
    mem.add_argument("--ranks", type=_ranks, default=None, help="only these ranks, e.g. 0,3")
    mem.add_argument("--max-lines", type=int, default=8, help="more ranks than this: bands")
    mem.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    try:
        path = memory(args.output, args.out, args.ranks, args.max_lines, args.title)
    except PlotError as e:
        print(f"rankscope.plot: {e}", file=sys.stderr)
        return 1
    print(f"rankscope.plot: wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

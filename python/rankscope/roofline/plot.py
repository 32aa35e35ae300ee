"""The roofline plot: each region's arithmetic intensity (FLOP per byte) against its GFLOP/s,
under the machine's ceilings (one diagonal per memory level, one flat roof per compute peak).

Points come from a run's output (metrics ``flops.measured``/``bytes.measured`` counted by the
PMU, ``flops.modelled``/``bytes.modelled`` supplied by the program) and its ``wall_clock``;
ceilings from ``rankscope roofline ceilings`` (JSON ``rankscope-ceilings/1``). Regions without
counts, or with zero FLOPs or bytes, are left out and named in a note: never drawn as zero.
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..plot import PlotError, read_profile

CEILINGS_FORMAT = "rankscope-ceilings/1"
#: Memory levels of the ceilings' ``bandwidth_gbs``, fastest first, with their labels.
LEVELS = (("l1", "L1"), ("l2", "L2"), ("l3", "L3"), ("dram", "DRAM"))
#: Compute roofs of the ceilings' ``peak_gflops``, highest first, with their labels.
ROOFS = (
    ("vector_single", "vector single"),
    ("vector_double", "vector double"),
    ("scalar_single", "scalar single"),
    ("scalar_double", "scalar double"),
)
#: How each kind of count is drawn: marker, filled, legend text.
KINDS = {
    "measured": ("o", True, "measured (PMU counters)"),
    "modelled": ("s", False, "modelled (counts the program supplied)"),
}


@dataclass
class Point:
    """One region's place on the roofline, from one rank or over several (median, min, max)."""

    region: str
    kind: str  # "measured" or "modelled"
    intensity: float  # FLOP/byte
    gflops: float  # GFLOP/s
    intensity_range: tuple[float, float]
    gflops_range: tuple[float, float]
    share: float  # the region's share of the run's time (0..1)
    ranks: list[int] = field(default_factory=list)
    labelled: bool = True


def _paths(nodes: list[dict[str, Any]]) -> list[str]:
    """Each node's path of names (``main/solve``)."""
    out: list[str] = []
    for n in nodes:
        parent = n.get("parent")
        out.append(n["name"] if parent is None else f"{out[parent]}/{n['name']}")
    return out


def _columns(profile: dict[str, Any], rank: int | None) -> list[int]:
    """The ``per_rank`` columns to plot: every rank's, or the one of MPI rank ``rank``."""
    ranks = [r["rank"] for r in profile.get("ranks", [])]
    if rank is None:
        return list(range(len(ranks)))
    if rank not in ranks:
        raise PlotError(f"rank {rank} is not in this output; its ranks: {ranks}")
    return [ranks.index(rank)]


def load_points(
    profile: dict[str, Any], rank: int | None = None, all_ranks: bool = False
) -> tuple[list[Point], list[str]]:
    """The roofline points of a profile and the regions left out (each with the reason).

    ``rank``: that MPI rank only. Otherwise, with several ranks, one point per region at the
    median over the ranks that entered it, with their min and max, or with ``all_ranks`` one
    point per rank."""
    columns = _columns(profile, rank)
    rank_of = [r["rank"] for r in profile.get("ranks", [])]
    nodes = profile.get("nodes", [])
    paths = _paths(nodes)
    names = [n["name"] for n in nodes]
    label = {i: names[i] if names.count(names[i]) == 1 else paths[i] for i in range(len(nodes))}

    def total(node: dict[str, Any], metric: str, col: int) -> int | None:
        cell = node.get("per_rank", {}).get(metric)
        return None if cell is None or cell[col] is None else cell[col]["sum"]

    run_time = sum(
        total(n, "wall_clock", c) or 0 for n in nodes if n.get("parent") is None for c in columns
    )
    points: list[Point] = []
    left_out: list[str] = []
    for i, node in enumerate(nodes):
        kinds = [k for k in KINDS if f"flops.{k}" in node["stats"] or f"bytes.{k}" in node["stats"]]
        if not kinds:
            left_out.append(f"{label[i]} (no counts)")
            continue
        if "wall_clock" not in node["stats"]:
            left_out.append(f"{label[i]} (no wall_clock to make a rate)")
            continue
        time_ns = sum(total(node, "wall_clock", c) or 0 for c in columns)
        share = time_ns / run_time if run_time > 0 else 0.0
        for kind in kinds:
            per_rank = []  # (rank, FLOP/byte, GFLOP/s)
            zero = set()
            for c in columns:
                flops = total(node, f"flops.{kind}", c)
                moved = total(node, f"bytes.{kind}", c)
                ns = total(node, "wall_clock", c)
                if flops is None and moved is None:
                    continue  # this rank never entered the region
                if not flops:
                    zero.add("0 FLOPs")
                elif not moved:
                    zero.add("0 bytes")
                elif ns:
                    per_rank.append((rank_of[c], flops / moved, flops / ns))
            if not per_rank:
                why = ", ".join(sorted(zero)) or "no rank counted it"
                left_out.append(f"{label[i]} ({kind}: {why})")
                continue
            if all_ranks:
                for j, (r, ai, g) in enumerate(per_rank):
                    points.append(
                        Point(label[i], kind, ai, g, (ai, ai), (g, g), share, [r], j == 0)
                    )
                continue
            ais = [ai for _, ai, _ in per_rank]
            gs = [g for _, _, g in per_rank]
            points.append(
                Point(
                    label[i],
                    kind,
                    statistics.median(ais),
                    statistics.median(gs),
                    (min(ais), max(ais)),
                    (min(gs), max(gs)),
                    share,
                    [r for r, _, _ in per_rank],
                )
            )
    return points, left_out


def cache_file(host: str) -> Path:
    """Where ``rankscope roofline ceilings`` keeps a host's ceilings."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rankscope" / f"ceilings-{host}.json"


def _check_ceilings(path: Path, data: Any) -> dict[str, Any]:
    expected = (
        f'expected JSON {{"format": "{CEILINGS_FORMAT}", "hosts": [...]}} as written by '
        "`rankscope roofline ceilings`"
    )
    if not isinstance(data, dict) or data.get("format") != CEILINGS_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise PlotError(f"{path}: not a ceilings file (format {found!r}); {expected}")
    hosts = data.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        raise PlotError(f"{path}: no hosts in this ceilings file; {expected}")
    for h in hosts:
        for key in ("host", "bandwidth_gbs", "peak_gflops"):
            if key not in h:
                raise PlotError(f"{path}: a host without '{key}'; {expected}")
    return data


def load_ceilings(
    ceilings: str | Path | None, output: Path, hosts: list[str]
) -> tuple[dict[str, Any], Path]:
    """The ceilings JSON and where it came from: ``ceilings`` when given, else the output
    folder's ``ceilings.json``, else the cache file of one of ``hosts`` or of this host."""
    if ceilings is not None:
        candidates = [Path(ceilings)]
        if not candidates[0].is_file():
            raise PlotError(f"{ceilings}: no such ceilings file")
    else:
        folder = output if output.is_dir() else output.parent
        wanted = [*hosts, socket.gethostname()]
        candidates = [folder / "ceilings.json", *(cache_file(h) for h in dict.fromkeys(wanted))]
    for path in candidates:
        if path.is_file():
            try:
                return _check_ceilings(path, json.loads(path.read_text())), path
            except json.JSONDecodeError as e:
                raise PlotError(f"{path}: not a ceilings file (invalid JSON: {e})") from e
    looked = ", ".join(str(p) for p in candidates)
    raise PlotError(
        f"no machine ceilings found (looked for {looked}): run `rankscope roofline ceilings` "
        "on the machine first (or python -m rankscope.roofline ceilings), or give --ceilings FILE"
    )


def _host_of(data: dict[str, Any], wanted: str | None) -> tuple[dict[str, Any], str]:
    """The ceilings of host ``wanted`` (else the file's first host) and a note for the title."""
    for h in data["hosts"]:
        if h["host"] == wanted:
            return h, f"ceilings of {h['host']}"
    first = data["hosts"][0]
    if wanted is None:
        return first, f"ceilings of {first['host']} (the file's first host)"
    return first, f"ceilings of {first['host']} (none for {wanted}, where the rank ran)"


def plot(
    output: str | Path,
    out: str | Path = "roofline.png",
    ceilings: str | Path | None = None,
    rank: int | None = None,
    all_ranks: bool = False,
    title: str | None = None,
):
    """Draws the roofline of a run's output into ``out`` (.png or .svg) and returns the
    matplotlib Figure (``plt.close(fig)`` when done with it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    out = Path(out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise PlotError(f"{out}: the image must be a .png or .svg file")
    if rank is not None and all_ranks:
        raise PlotError("give either a rank or all ranks, not both")
    path, profile = read_profile(output)
    points, left_out = load_points(profile, rank, all_ranks)
    if not points:
        raise PlotError(
            f"{path}: no region has roofline counts (metrics flops.modelled/bytes.modelled from "
            "rankscope.roofline.count in regions with the roofline_modelled component, or "
            "flops.measured/bytes.measured from roofline_measured)"
            + (f"; left out: {', '.join(left_out)}" if left_out else "")
        )
    ranks = profile.get("ranks", [])
    plotted_host = None
    if rank is not None:
        plotted_host = next(r["hostname"] for r in ranks if r["rank"] == rank)
    elif len(ranks) == 1:
        plotted_host = ranks[0]["hostname"]
    data, source = load_ceilings(ceilings, path.parent, [r["hostname"] for r in ranks])
    host, host_note = _host_of(data, plotted_host)

    bandwidths = [(lab, host["bandwidth_gbs"].get(k)) for k, lab in LEVELS]
    bandwidths = [(lab, bw) for lab, bw in bandwidths if bw]
    # Roofs of equal height (scalar single and double often are) share one line and label.
    same: dict[float, list[str]] = {}
    for k, lab in ROOFS:
        if host["peak_gflops"].get(k):
            same.setdefault(float(host["peak_gflops"][k]), []).append(lab)
    roofs = [(", ".join(labs), g) for g, labs in same.items()]
    if not bandwidths or not roofs:
        raise PlotError(f"{source}: host {host['host']} has no bandwidth or no peak GFLOP/s")
    top = max(g for _, g in roofs)
    fastest = max(bw for _, bw in bandwidths)
    ridges = [top / bw for _, bw in bandwidths]
    xs = [p.intensity_range[0] for p in points] + [p.intensity_range[1] for p in points]
    ys = [p.gflops_range[0] for p in points] + [p.gflops_range[1] for p in points]
    x_lo = min(min(xs) / 4, min(ridges) / 8, 0.01)
    x_hi = max(max(xs) * 4, max(ridges) * 8, 10.0)
    y_lo = min(min(ys) / 4, min(bw for _, bw in bandwidths) * x_lo * 2)
    # Wrong modelled counts can put a point above the roofs: keep it in view all the same.
    y_hi = max(top * 4, max(ys) * 4)

    fig, ax = plt.subplots(figsize=(10, 7))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("performance (GFLOP/s)")
    ax.grid(which="major", alpha=0.3)
    ax.grid(which="minor", alpha=0.1)
    fig.subplots_adjust(left=0.09, right=0.97, top=0.9, bottom=0.2 if left_out else 0.1)

    def angle(slope_from: tuple[float, float], slope_to: tuple[float, float]) -> float:
        """The on-screen angle of a line through two data points, in degrees."""
        (x0, y0), (x1, y1) = ax.transData.transform([slope_from, slope_to])
        return math.degrees(math.atan2(y1 - y0, x1 - x0))

    # Diagonals: bandwidth x intensity, up to the highest roof; labels along them, staggered
    # to the right level by level so that close bandwidths do not print on top of each other.
    for i, (lab, bw) in enumerate(bandwidths):
        ridge = top / bw
        ax.plot([x_lo, ridge], [bw * x_lo, top], color="0.25", linewidth=1.3)
        x_text = x_lo * 2.5 * 2.2**i
        ax.text(
            x_text,
            bw * x_text * 1.15,
            f"{lab} {bw:.1f} GB/s",
            rotation=angle((x_text, bw * x_text), (x_text * 10, bw * x_text * 10)),
            rotation_mode="anchor",
            fontsize=8,
            color="0.2",
        )
    # Flat roofs from where the fastest level meets them, labelled above their right end.
    for lab, g in roofs:
        ax.plot([g / fastest, x_hi], [g, g], color="tab:red", linewidth=1.3, alpha=0.8)
        ax.text(
            x_hi / 1.15,
            g * 1.08,
            f"{lab}: {g:.1f} GFLOP/s",
            ha="right",
            va="bottom",
            fontsize=8,
            color="tab:red",
        )

    colors = plt.get_cmap("tab10").colors
    color_of: dict[str, Any] = {}
    spread = rank is None and not all_ranks and len(ranks) > 1
    for p in points:
        color = color_of.setdefault(p.region, colors[len(color_of) % len(colors)])
        marker, filled, _ = KINDS[p.kind]
        if spread and len(p.ranks) > 1:
            ax.errorbar(
                p.intensity,
                p.gflops,
                xerr=[[p.intensity - p.intensity_range[0]], [p.intensity_range[1] - p.intensity]],
                yerr=[[p.gflops - p.gflops_range[0]], [p.gflops_range[1] - p.gflops]],
                fmt="none",
                ecolor=color,
                alpha=0.6,
                capsize=3,
            )
        ax.scatter(
            [p.intensity],
            [p.gflops],
            s=40 + 600 * p.share,
            marker=marker,
            facecolors=color if filled else "none",
            edgecolors=color,
            linewidths=1.8,
            zorder=3,
        )
        if p.labelled:
            ax.annotate(
                f"{p.region} ({100 * p.share:.0f}% of time)",
                (p.intensity, p.gflops),
                xytext=(9, -12),
                textcoords="offset points",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.75},
                zorder=4,
            )
    handles = [
        Line2D(
            [],
            [],
            linestyle="",
            marker=m,
            markersize=8,
            color="0.3",
            markerfacecolor="0.3" if filled else "none",
            label=text,
        )
        for kind, (m, filled, text) in KINDS.items()
        if any(p.kind == kind for p in points)
    ]
    if spread:
        handles.append(
            Line2D(
                [],
                [],
                color="0.3",
                alpha=0.6,
                label=f"median of {len(ranks)} ranks, bars: min to max",
            )
        )
    elif all_ranks:
        handles.append(Line2D([], [], linestyle="", label="one point per rank"))
    handles.append(Line2D([], [], linestyle="", label="marker area: share of the run's time"))
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)

    if rank is not None:
        view = f"rank {rank}"
    elif all_ranks:
        view = f"every rank of {len(ranks)}"
    elif len(ranks) > 1:
        view = f"{len(ranks)} ranks merged"
    else:
        view = "one rank"
    isa = host.get("isa", "?")
    date = str(host.get("date", ""))[:10]
    fig.suptitle(
        title or f"roofline of {path.parent.name}: {view}\n{host_note} ({isa}, {date})",
        fontsize=11,
    )
    if left_out:
        note = "not plotted: " + "; ".join(left_out)
        fig.text(0.01, 0.01, textwrap.fill(note, 160), fontsize=7, va="bottom", color="0.3")
    fig.savefig(out, dpi=150)
    return fig

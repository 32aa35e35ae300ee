"""Measured data per component: this rank's (``get``) and every rank's on rank 0 (``dmp_get``,
``dmp_summary``).

    from rankscope.storage import WallClockStorage

    rows = WallClockStorage.get()            # this rank, no I/O, no communication
    ranks = WallClockStorage.dmp_get()       # collective: every rank must call it
    spread = WallClockStorage.dmp_summary()  # collective: statistics over every rank

Returned structure
------------------
``get()`` returns a list of :class:`Record` dicts, one per call-tree node and metric of the
component, in tree pre-order (a parent before its children)::

    {"rank": 0, "name": "fib", "path": ("main", "fib"), "depth": 1, "thread": None,
     "metric": "wall_clock", "unit": "s", "count": 242785,
     "sum": 1.23, "mean": 5.1e-06, "min": 4.0e-07, "max": 0.9, "stddev": 3.1e-05}

Values are in the metric's display unit (``unit``): seconds for clocks, MiB for memory, % for
utilisation; ``count`` is the number of laps (calls). ``path`` is the chain of region names
from the top of the tree. ``thread`` is set only when threads are kept apart
(``collapse_threads`` off).

``dmp_get()`` is collective over MPI_COMM_WORLD. On rank 0 it returns a list with one entry per
rank whose values reach rank 0, in rank order, each entry being the list that ``get()`` returns
on that rank (nodes a rank never entered are absent from its list); on every other rank it
returns None. Without MPI it returns ``[get()]``. Which ranks' values reach rank 0 follows the
settings the writers follow: every rank in a job of at most ``per_rank_max`` ranks (64 by
default), else only the ranks of ``rank_filter`` (``"0-3,63"``; none by default). Each
record's ``"rank"`` says whose it is.

``dmp_summary()`` is collective too and holds every rank whatever the job's size: on rank 0 one
record per node and metric with the statistics over the ranks that entered the node::

    {"name": "fib", "path": ("main", "fib"), "depth": 1, "thread": None,
     "metric": "wall_clock", "unit": "s", "ranks": 64, "count": 15538240,
     "sum": 78.9, "mean": 1.23, "stddev": 0.02, "min": 1.19, "min_rank": 17,
     "max": 1.31, "max_rank": 40, "imbalance": 0.065}

``sum`` is the total over ranks, ``mean``/``stddev``/``min``/``max`` are over the ranks' totals
(each rank's inclusive sum), ``imbalance`` is ``max / mean - 1``, ``count`` the laps of every
rank.

``to_dataframe(data)`` turns any of these results into a pandas DataFrame (one row per record) when
pandas is installed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from . import _native
from .component import TABLE, ComponentInfo, class_name

Record = dict[str, Any]


def _record(
    rank: int,
    node: dict[str, Any],
    path: tuple[str, ...],
    metric: dict[str, Any],
    stats: dict[str, Any],
) -> Record:
    laps = int(stats["laps"])
    scale = float(metric["scale"])
    mean = stats["sum"] / laps if laps else 0.0
    var = max(0.0, stats["sumsq"] / laps - mean * mean) if laps else 0.0
    return {
        "rank": rank,
        "name": node["name"],
        "path": path,
        "depth": node["depth"],
        "thread": node.get("thread"),
        "metric": metric["name"],
        "unit": metric["display_unit"],
        "count": laps,
        "sum": stats["sum"] * scale,
        "mean": mean * scale,
        "min": stats["min"] * scale if laps else 0.0,
        "max": stats["max"] * scale if laps else 0.0,
        "stddev": math.sqrt(var) * scale,
    }


def _paths(nodes: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for n in nodes:  # pre-order: the parent's path is known
        parent = n.get("parent")
        paths.append((paths[parent] if parent is not None else ()) + (n["name"],))
    return paths


def _metrics(profile: dict[str, Any], component: str) -> list[dict[str, Any]]:
    known = TABLE.get(component)
    wanted = {m.name for m in known.metrics} if known else set()
    return [
        m
        for m in profile.get("metrics", [])
        if m["name"] in wanted or m.get("collector") == component
    ]


def records(profile: dict[str, Any], component: str, column: int | None) -> list[Record]:
    """Records of one component from a profile; ``column`` picks a rank column of ``per_rank``
    (None: the node totals of a single-rank profile)."""
    metrics = _metrics(profile, component)
    ranks = profile.get("ranks") or [{"rank": _native.world()["rank"]}]
    rank = int(ranks[column or 0]["rank"])
    nodes = profile.get("nodes", [])
    out = []
    for node, path in zip(nodes, _paths(nodes)):
        for m in metrics:
            if column is None:
                stats = node.get("stats", {}).get(m["name"])
            else:
                col = node.get("per_rank", {}).get(m["name"])
                stats = col[column] if col and column < len(col) else None
            if stats is not None and stats.get("laps", 0) > 0:
                out.append(_record(rank, node, path, m, stats))
    return out


def summary(profile: dict[str, Any], component: str) -> list[Record]:
    """Statistics over ranks of one component from a merged profile whose nodes carry their
    ``across_ranks`` (what ``dmp_summary`` returns; see the module doc)."""
    out = []
    metrics = _metrics(profile, component)
    nodes = profile.get("nodes", [])
    for node, path in zip(nodes, _paths(nodes)):
        for m in metrics:
            spread = node.get("across_ranks", {}).get(m["name"])
            if spread is None:
                continue
            scale, n = float(m["scale"]), max(1, int(spread["ranks"]))
            mean = spread["sum"] / n
            var = max(0.0, spread["sumsq"] / n - mean * mean)
            top = spread["max"]["stats"]["sum"]
            out.append(
                {
                    "name": node["name"],
                    "path": path,
                    "depth": node["depth"],
                    "thread": node.get("thread"),
                    "metric": m["name"],
                    "unit": m["display_unit"],
                    "ranks": int(spread["ranks"]),
                    "count": int(node["stats"][m["name"]]["laps"]),
                    "sum": spread["sum"] * scale,
                    "mean": mean * scale,
                    "stddev": math.sqrt(var) * scale,
                    "min": spread["min"]["stats"]["sum"] * scale,
                    "min_rank": int(spread["min"]["rank"]),
                    "max": top * scale,
                    "max_rank": int(spread["max"]["rank"]),
                    "imbalance": top / mean - 1.0 if mean else 0.0,
                }
            )
    return out


class Storage:
    """Access to one component's measurements. Subclasses fix ``component``."""

    component: str = ""
    info: ComponentInfo

    @classmethod
    def get(cls) -> list[Record]:
        """This rank's records (see the module doc); reads running regions without stopping
        them, does no I/O and no communication."""
        return records(json.loads(_native.profile_json()), cls.component, None)

    @classmethod
    def dmp_get(cls) -> list[list[Record]] | None:
        """Collective: on rank 0 the records of every rank whose values reach rank 0 (one list
        per rank, rank order; see the module doc for which), None on the other ranks."""
        text = _native.dmp_profile_json()
        if text is None:
            return None
        profile = json.loads(text)
        columns = range(len(profile.get("ranks") or [None]))
        return [records(profile, cls.component, i) for i in columns]

    @classmethod
    def dmp_summary(cls) -> list[Record] | None:
        """Collective: on rank 0 the statistics over every rank per node and metric (see the
        module doc), None on the other ranks."""
        text = _native.dmp_profile_json()
        if text is None:
            return None
        return summary(json.loads(text), cls.component)

    @classmethod
    def to_dataframe(cls, data: Any = None) -> Any:
        """A pandas DataFrame of ``data`` (a ``get()``, ``dmp_get()`` or ``dmp_summary()`` result;
        default: ``get()``), one row per record. ImportError when pandas is not installed."""
        import pandas as pd

        rows = cls.get() if data is None else data
        if rows and isinstance(rows[0], list):
            rows = [r for rank in rows for r in rank]
        if rows and "rank" not in rows[0]:  # dmp_summary's records
            return pd.DataFrame(rows, columns=list(rows[0]))
        return pd.DataFrame(rows, columns=list(_COLUMNS))


_COLUMNS = (
    "rank",
    "name",
    "path",
    "depth",
    "thread",
    "metric",
    "unit",
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "stddev",
)


def _make(info: ComponentInfo) -> type:
    name = class_name(info.name) + "Storage"
    doc = f"Measurements of {info.name}: {info.description}"
    return type(name, (Storage,), {"component": info.name, "info": info, "__doc__": doc})


CLASSES: dict[str, type] = {name: _make(info) for name, info in TABLE.items()}
globals().update({cls.__name__: cls for cls in CLASSES.values()})


def for_component(component: str) -> type:
    """The storage class of any component, including one registered after import (a
    ``PerfCounters`` group): ``for_component("perf_group_cycles_instructions").get()``."""
    if component in CLASSES:
        return CLASSES[component]
    from .component import _info

    row = next((r for r in _native.components_table() if r[0] == component), None)
    if row is None:
        raise ValueError(f"unknown component {component!r}")
    return _make(_info(row))


__all__ = ["CLASSES", "Record", "Storage", "for_component", "records", "summary"]
__all__ += [cls.__name__ for cls in CLASSES.values()]

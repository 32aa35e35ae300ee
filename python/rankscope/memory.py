"""Memory points, per rank: tracemem's workflow, kept in every rankscope output and merged on
rank 0.

A memory point records how much memory the process uses at a moment, under a label. The first
point is taken when this module is imported:

>>> from rankscope.memory import MEMPOINT, MEMLOGS, MEMPRINT, MEMTRACE, MEMORY
>>> MEMLOGS
[MemLog(ID='rankscope.memory import', memory=...)]
>>> MEMPOINT()
>>> MEMPOINT("second")
>>> MEMLOGS.IDs
['rankscope.memory import', 'None', 'second']

The label is ``str()`` of any object; a label used before gets ``-2``, ``-3``, ...:

>>> MEMPOINT()
>>> MEMPOINT("second")
>>> MEMLOGS.IDs[-2:]
['None-2', 'second-2']

``MEMLOGS`` holds ``MemLog(ID, memory)`` named tuples (memory in bytes) and changes only
through ``MEMPOINT``: appending, assigning an item, ``+`` and ``*`` are refused.

>>> m = MEMLOGS[-1]
>>> m.ID, m[0], type(m.memory).__name__
('second-2', 'second-2', 'int')
>>> MEMLOGS.append(m)
Traceback (most recent call last):
TypeError: MEMLOGS is read-only: add a point with MEMPOINT(label)
>>> MEMLOGS[0] = m
Traceback (most recent call last):
TypeError: MEMLOGS is read-only: add a point with MEMPOINT(label)
>>> MEMLOGS + []
Traceback (most recent call last):
TypeError: MEMLOGS is read-only: add a point with MEMPOINT(label)

``.memories`` and ``.IDs`` are lists; ``.filter(predicate)`` and ``.map(function)`` take a
``MemLog`` and return lists:

>>> big = [0] * 20_000_000
>>> MEMPOINT("with a 160 MB list")
>>> del big
>>> MEMPOINT("without it")
>>> MEMLOGS[-2].memory - MEMLOGS[-1].memory > 100 * 2**20
True
>>> MEMLOGS.filter(lambda m: m.ID.startswith("with"))
[MemLog(ID='with a 160 MB list', memory=...), MemLog(ID='without it', memory=...)]
>>> MEMLOGS.map(lambda m: m.ID.upper())[:2]
['RANKSCOPE.MEMORY IMPORT', 'NONE']
>>> len(MEMLOGS.memories) == len(MEMLOGS)
True

``MEMPRINT()`` prints the points in MB; ``@MEMTRACE`` records a point before and after each
call; ``MEMORY()`` returns the memory now without recording a point:

>>> MEMPRINT()
  0  ... MB  rankscope.memory import
  1  ... MB  None
...
>>> @MEMTRACE
... def make(n):
...     return [0] * n
>>> _ = make(10)
>>> MEMLOGS.IDs[-2:]
['Before make()', 'After make()']
>>> n = len(MEMLOGS)
>>> MEMORY() > 0, len(MEMLOGS) == n
(True, True)

What "memory" is
----------------
``kind="rss"`` (the default): the process's resident set in bytes, read from
``/proc/self/statm`` (resident pages x page size) by the runtime, the same reading as the
``page_rss`` component. It counts every page of the process in RAM: Python objects, freed
memory the allocator has not given back, extension modules' buffers (numpy), shared libraries;
not what is swapped out.

``kind="python"``: the size of the Python memory blocks traced by ``tracemalloc`` (its
``get_traced_memory()[0]``): objects allocated through Python's allocators since tracing
started, not the interpreter itself nor buffers extensions allocate with ``malloc``. Tracing
starts at the first point of this kind (so that point is near 0) and slows allocations down
(typically 1.5-3x for allocation-heavy code) until ``tracemalloc.stop()``. A point of this kind
records both values; its ``MemLog.memory`` is the traced size.

Per rank, in every output, merged on rank 0
-------------------------------------------
Each point is a node ``memory points`` → ``<label>`` of the rank's call tree holding the metric
``memory_point`` (and ``python_heap_point`` for kind "python"), so the JSON, text, HDF5 and
Caliper outputs show them, and rank 0's merged output has each label's value per rank.
``MEMLOGS.dmp_get()`` is collective (every rank calls it): rank 0 gets one :class:`RankedPoint`
per label (value per rank, min and max with their rank, mean), the other ranks None.

The names go into ``builtins`` (usable in any module without importing, as tracemem does) only
by ``install_builtins()`` or the setting ``memory_builtins`` (``RANKSCOPE_MEMORY_BUILTINS=1``).
Snake-case names: ``point``, ``log``, ``current``, ``trace``, ``print_log``.
"""

from __future__ import annotations

import builtins
import functools
import json
import threading
import tracemalloc
from collections.abc import Iterator, Sequence
from typing import Any, Callable, NamedTuple, TypeVar, overload

from . import _native, settings

F = TypeVar("F", bound=Callable[..., Any])

KINDS = ("rss", "python")

_READ_ONLY = "MEMLOGS is read-only: add a point with MEMPOINT(label)"


class MemLog(NamedTuple):
    """One memory point: its label and the memory in bytes."""

    ID: str
    memory: int


class RankedPoint(NamedTuple):
    """One label across ranks (``MEMLOGS.dmp_get()`` on rank 0): bytes per rank (ranks that
    never recorded the label are absent), the smallest and largest with their rank, the mean."""

    label: str
    values: dict[int, int]
    min: int
    min_rank: int
    max: int
    max_rank: int
    mean: float


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"memory kind must be one of {KINDS}, got {kind!r}")


def _python_heap() -> int:
    if not tracemalloc.is_tracing():
        tracemalloc.start()
    return int(tracemalloc.get_traced_memory()[0])


def MEMORY(kind: str = "rss") -> int:  # noqa: N802 - tracemem's name
    """The memory used now, in bytes (see the module doc for ``kind``), recording no point."""
    _check_kind(kind)
    if kind == "python":
        return _python_heap()
    return int(_native.resident_bytes())


class MemLogsList(Sequence[MemLog]):
    """The memory points of this process in the order they were taken (``MEMLOGS``, the only
    instance); read-only: points are added by ``MEMPOINT``."""

    def __init__(self) -> None:
        self._points: list[MemLog] = []
        self._used: set[str] = set()
        self._next: dict[str, int] = {}  # per label, the number to try next
        self._lock = threading.Lock()

    def _add(self, label: object, kind: str) -> MemLog:
        _check_kind(kind)
        with self._lock:
            base = str(label)
            n = self._next.get(base, 1)
            unique = base if n == 1 else f"{base}-{n}"
            while unique in self._used:  # taken by a label given as "<base>-<n>"
                n += 1
                unique = f"{base}-{n}"
            self._next[base] = n + 1
            self._used.add(unique)
            heap = _python_heap() if kind == "python" else None
            rss = int(_native.memory_point(unique, heap))
            log = MemLog(unique, rss if heap is None else heap)
            self._points.append(log)
        return log

    @overload
    def __getitem__(self, index: int) -> MemLog: ...
    @overload
    def __getitem__(self, index: slice) -> list[MemLog]: ...
    def __getitem__(self, index: int | slice) -> MemLog | list[MemLog]:
        return self._points[index]

    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[MemLog]:
        return iter(list(self._points))

    def __repr__(self) -> str:
        return repr(self._points)

    @property
    def memories(self) -> list[int]:
        """Every point's memory in bytes, in order."""
        return [m.memory for m in self._points]

    @property
    def IDs(self) -> list[str]:  # noqa: N802 - tracemem's name
        """Every point's label, in order."""
        return [m.ID for m in self._points]

    def filter(self, predicate: Callable[[MemLog], bool]) -> list[MemLog]:
        """The points for which ``predicate(memlog)`` is true, as a list."""
        return [m for m in self._points if predicate(m)]

    def map(self, function: Callable[[MemLog], Any]) -> list[Any]:
        """``function(memlog)`` of every point, as a list."""
        return [function(m) for m in self._points]

    def dmp_get(self, kind: str = "rss") -> list[RankedPoint] | None:
        """Collective over every rank: on rank 0, one :class:`RankedPoint` per label of any rank
        (rank 0's order, then labels only other ranks have); None on the other ranks. Without
        MPI, this process's points."""
        _check_kind(kind)
        text = _native.dmp_profile_json()
        if text is None:
            return None
        return merged_points(json.loads(text), kind)

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError(_READ_ONLY)

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __add__ = __radd__ = __iadd__ = _refuse
    __mul__ = __rmul__ = __imul__ = _refuse


def merged_points(profile: dict[str, Any], kind: str = "rss") -> list[RankedPoint]:
    """Every label's value per rank in a (merged) rankscope profile, e.g. the ``profile.json``
    rank 0 writes: the points of kind ``kind`` under ``memory points`` nodes. Above setting
    ``per_rank_max`` ranks ``values`` holds the ranks whose values were kept, while the smallest,
    largest and mean come from the statistics over every rank."""
    metric = "python_heap_point" if kind == "python" else "memory_point"
    ranks = [int(r["rank"]) for r in profile.get("ranks") or [{"rank": 0}]]
    nodes = profile.get("nodes", [])
    groups = {n["id"] for n in nodes if n["name"] == _native.MEMORY_POINTS}
    out = []
    for node in nodes:
        if node.get("parent") not in groups:
            continue
        per_rank: dict[int, int] = {}
        for rank, stats in zip(ranks, node.get("per_rank", {}).get(metric) or []):
            if stats and stats.get("laps", 0) > 0:
                per_rank[rank] = stats["sum"] // stats["laps"]
        spread = node.get("across_ranks", {}).get(metric)
        if spread is not None:
            # Each point is one lap per rank: a rank's total is its value.
            lo, hi = spread["min"], spread["max"]
            low = (lo["stats"]["sum"] // max(1, lo["stats"]["laps"]), lo["rank"])
            high = (hi["stats"]["sum"] // max(1, hi["stats"]["laps"]), hi["rank"])
            mean = spread["sum"] / max(1, spread["ranks"])
        elif per_rank:
            low = min((v, r) for r, v in per_rank.items())
            high = max(per_rank.items(), key=lambda rv: (rv[1], -rv[0]))[::-1]
            mean = sum(per_rank.values()) / len(per_rank)
        else:
            continue
        out.append(RankedPoint(node["name"], per_rank, low[0], low[1], high[0], high[1], mean))
    return out


MEMLOGS = MemLogsList()


def MEMPOINT(label: object = None, kind: str = "rss") -> None:  # noqa: N802 - tracemem's name
    """Records a memory point labelled ``str(label)`` (``-2``, ``-3``, ... when used before)
    in ``MEMLOGS`` and in this rank's call tree."""
    MEMLOGS._add(label, kind)


def MEMPRINT() -> None:  # noqa: N802 - tracemem's name
    """Prints ``MEMLOGS``: number, memory in MB, label."""
    for i, m in enumerate(MEMLOGS):
        print(f"{i:>3}  {m.memory / 2**20:10.1f} MB  {m.ID}")


@overload
def MEMTRACE(func: F, *, kind: str = "rss") -> F: ...
@overload
def MEMTRACE(func: None = None, *, kind: str = "rss") -> Callable[[F], F]: ...
def MEMTRACE(func: F | None = None, *, kind: str = "rss") -> F | Callable[[F], F]:  # noqa: N802
    """Decorator: a point ``Before f()`` before each call of ``f`` and ``After f()`` after it
    (also when it raises). ``@MEMTRACE`` or ``@MEMTRACE(kind="python")``."""
    _check_kind(kind)
    if func is None:
        return functools.partial(MEMTRACE, kind=kind)  # type: ignore[return-value]
    name = getattr(func, "__name__", repr(func))

    @functools.wraps(func)
    def traced(*args: Any, **kwargs: Any) -> Any:
        MEMPOINT(f"Before {name}()", kind)
        try:
            return func(*args, **kwargs)
        finally:
            MEMPOINT(f"After {name}()", kind)

    return traced  # type: ignore[return-value]


BUILTINS = ("MEMPOINT", "MEMLOGS", "MEMPRINT", "MEMTRACE", "MEMORY")


def install_builtins() -> list[str]:
    """Puts MEMPOINT, MEMLOGS, MEMPRINT, MEMTRACE and MEMORY into ``builtins``, so every module
    can use them without importing (tracemem's behaviour); returns the names."""
    for name in BUILTINS:
        setattr(builtins, name, globals()[name])
    return list(BUILTINS)


point = MEMPOINT
log = MEMLOGS
current = MEMORY
trace = MEMTRACE
print_log = MEMPRINT

MEMPOINT("rankscope.memory import")
if settings.get("memory_builtins"):
    install_builtins()

__all__ = [
    "BUILTINS",
    "KINDS",
    "MEMLOGS",
    "MEMORY",
    "MEMPOINT",
    "MEMPRINT",
    "MEMTRACE",
    "MemLog",
    "MemLogsList",
    "RankedPoint",
    "current",
    "install_builtins",
    "log",
    "merged_points",
    "point",
    "print_log",
    "trace",
]

"""One class per component, generated from the runtime's component table.

    from rankscope.component import WallClock, PeakRss

    wc = WallClock("solve")
    wc.start(); ...; wc.stop()
    wc.get()        # total in the component's display unit (seconds for clocks, MiB for memory)
    wc.push(); ...; wc.pop()   # store the laps measured in between into this thread's call tree

Every component of :data:`TABLE` has a class named in CamelCase (``cpu_util`` -> ``CpuUtil``),
the perf_event ones too (``perf_cycles`` -> ``PerfCycles``). :class:`PerfCounters` counts a set
of perf events chosen at run time::

    pc = PerfCounters(["cycles", "instructions"], "solve")
    with pc: ...
    pc.values()     # {"perf_group_cycles_instructions.cycles": ..., ...}
    marker([pc.kind])  # the same group as a region component
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import NamedTuple

from . import _native


class Metric(NamedTuple):
    """One quantity a component reports."""

    name: str
    unit: str
    display_unit: str
    scale: float
    additive: bool
    description: str


class ComponentInfo(NamedTuple):
    """One row of the component table."""

    name: str
    aliases: tuple[str, ...]
    description: str
    metrics: tuple[Metric, ...]
    unavailable: str | None


def _info(row: tuple) -> ComponentInfo:
    return ComponentInfo(row[0], tuple(row[1]), row[2], tuple(Metric(*m) for m in row[3]), row[4])


TABLE: dict[str, ComponentInfo] = {row[0]: _info(row) for row in _native.components_table()}


def class_name(component: str) -> str:
    """The class name of a component: ``peak_rss`` -> ``PeakRss``."""
    return "".join(part.capitalize() for part in component.split("_"))


class Component:
    """A component measured on its own, like a stopwatch. Subclasses fix ``kind``."""

    kind: str = ""
    info: ComponentInfo

    def __init__(self, label: str | None = None) -> None:
        self._native = _native.Component(self.kind, label or self.kind)

    @property
    def label(self) -> str:
        """The label given at creation (the node name used by ``push``)."""
        return str(self._native.label)

    @property
    def unit(self) -> str:
        """Display unit of :meth:`get`."""
        return self.info.metrics[0].display_unit

    def start(self) -> None:
        """Starts a lap."""
        self._native.start()

    def stop(self) -> None:
        """Ends the lap and adds it to the total."""
        self._native.stop()

    def get(self) -> float:
        """The total of the first metric in its display unit (ratios: the mean over laps)."""
        return float(self._native.get())

    def values(self) -> dict[str, float]:
        """Every metric's total in its display unit."""
        return {m.name: v * m.scale for m, v in zip(self.info.metrics, self._native.values())}

    @property
    def laps(self) -> int:
        """Laps measured so far."""
        return int(self._native.laps())

    def push(self) -> None:
        """Places the component in this thread's call tree under the running region."""
        self._native.push()

    def pop(self) -> None:
        """Stores the laps measured since :meth:`push` as one lap of its tree node."""
        self._native.pop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} '{self.label}': {self.get():.6g} {self.unit}"
            f" ({self.laps} laps)>"
        )

    def __str__(self) -> str:
        return str(self._native)


class PerfCounters(Component):
    """perf_event counters chosen at run time, counted together on each thread:
    ``PerfCounters(["cycles", "instructions", "r01c7"], "solve")``. Event names are those of
    the ``perf_events`` setting (``rankscope components`` lists them; perf's spellings such as
    ``cpu-cycles`` work too). The first use of a set registers the component
    ``perf_group_<event>_<event>...`` (its :attr:`kind`), which ``marker``, ``profile`` and the
    ``components`` setting then accept like any other; :attr:`storage` reads its values.

    Events that cannot count here (no PMU, permissions) make the whole set unavailable:
    ``info.unavailable`` says why per event, :meth:`values` is empty and :meth:`get` is NaN.
    """

    def __init__(self, events: Iterable[str], label: str | None = None) -> None:
        if isinstance(events, str):
            events = [events]
        info = _info(_native.perf_group([str(e) for e in events]))
        self.kind = info.name
        self.info = info
        super().__init__(label)

    @property
    def storage(self) -> type:
        """The storage class of this group's component (``get``, ``dmp_get``)."""
        from .storage import for_component

        return for_component(self.kind)


def _make(info: ComponentInfo) -> type:
    doc = f"{info.description}\n\nUnit of get(): {info.metrics[0].display_unit or 'count'}."
    return type(
        class_name(info.name), (Component,), {"kind": info.name, "info": info, "__doc__": doc}
    )


CLASSES: dict[str, type] = {name: _make(info) for name, info in TABLE.items()}
globals().update({cls.__name__: cls for cls in CLASSES.values()})


def available() -> list[str]:
    """Components that can measure on this machine."""
    return [name for name, info in TABLE.items() if info.unavailable is None]


__all__ = [
    "CLASSES",
    "TABLE",
    "Component",
    "ComponentInfo",
    "Metric",
    "PerfCounters",
    "available",
    "class_name",
]
__all__ += [cls.__name__ for cls in CLASSES.values()]

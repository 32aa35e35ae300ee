"""Decorated module-level functions that tests send to other processes by pickle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Callable

from rankscope.bundle import marker
from rankscope.profiler import profile


def plain_square(i: int) -> int:
    """The undecorated twin of ``square``: the results must be the same."""
    return i * i


@marker(["wall_clock"])
def square(i: int) -> int:
    return i * i


@profile(["wall_clock"])
def profiled_square(i: int) -> int:
    return i * i


@marker(["wall_clock"])
def add(a: int, b: int) -> int:
    return a + b


@marker(["wall_clock"])
def count_up(n: int) -> Iterator[int]:
    yield from range(n)


@profile(["wall_clock"])
def profiled_count_up(n: int) -> Iterator[int]:
    yield from range(n)


@marker(["wall_clock"])
async def doubled(x: int) -> int:
    return 2 * x


@profile(["wall_clock"])
async def profiled_doubled(x: int) -> int:
    return 2 * x


class Scaler:
    """A picklable object whose decorated method is sent as a bound method."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    @marker(["wall_clock"])
    def scale(self, x: int) -> int:
        return self.factor * x

    @profile(["wall_clock"])
    def profiled_scale(self, x: int) -> int:
        return self.factor * x


def pid(_: object = None) -> int:
    return os.getpid()


def listed(func: Callable[..., Iterator[Any]], *args: Any) -> list[Any]:
    """Runs a (decorated) generator function in the process that received it."""
    return list(func(*args))

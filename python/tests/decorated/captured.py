"""Module-level functions decorated by rankscope.capture and rankscope.memory, for the pickle
tests (pickle finds a function by its module and qualified name)."""

from __future__ import annotations

from rankscope.capture import intercept
from rankscope.memory import MEMTRACE


@intercept
def scaled(x: int, factor: int = 2) -> int:
    """x times factor."""
    return x * factor


@MEMTRACE
def traced(x: int) -> int:
    """x plus one."""
    return x + 1

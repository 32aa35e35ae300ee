"""``marker``: measure a function or a block with a chosen set of components.

    from rankscope.bundle import marker

    @marker(["wall_clock", "peak_rss"])
    def solve(n): ...

    with marker(["cpu_clock"], key="setup"):
        ...

A decorated function is measured as a region named after its qualified name (or ``key``),
nested under whatever region is running when it is called. The wrapper is native: a call costs
one native call and no extra Python frame, and the wrapped function's name, doc, signature
(``inspect.signature``), return value and exceptions are unchanged. Generator and coroutine
functions are measured per resumption (each step is one lap).
"""

from __future__ import annotations

import functools
import threading
from types import TracebackType
from typing import Any, Callable, TypeVar

from . import _names, _native, _wrap

F = TypeVar("F", bound=Callable[..., Any])


class marker:
    """Measures a function (as a decorator) or a block (as a context manager)."""

    def __init__(self, components: _names.Components = None, key: str | None = None) -> None:
        self.components: list[str] = _names.components(components)
        self.key = key
        self._region: _native.Region | None = None
        self._open = threading.local()

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"marker decorates callables, got {type(func).__name__}")
        region = _native.Region(self.key or _names.of_callable(func), self.components)
        # Region.steps tells an active profile that each resumed frame is this region's.
        stepped = _wrap.stepwise(func, region.steps(func))
        if stepped is not None:
            return stepped
        wrapper = region.wrap(func)
        functools.update_wrapper(wrapper, func)
        return wrapper  # type: ignore[no-any-return]

    def __enter__(self):
        if self._region is None:
            self._region = _native.Region(_names.of_caller(1, self.key), self.components)
        stack = self._open.__dict__.setdefault("stack", [])
        stack.append(self._region.start())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open.stack.pop().stop()

    def __repr__(self) -> str:
        return f"marker({self.components!r}, key={self.key!r})"


__all__ = ["marker"]

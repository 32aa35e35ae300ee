"""``profile``: measure every Python function called while it is active.

    from rankscope.profiler import profile

    with profile(["wall_clock", "cpu_util"]):
        run()

    @profile                 # or @profile(["wall_clock"])
    def main(): ...

Each Python function call on the profiled thread becomes a region ``qualname@file:line``, nested
as the calls nest, under the region running when profiling began. It uses the interpreter's C
profiling hook (like cProfile), so it replaces any ``sys.setprofile`` function while active.
Profiling nests: an inner ``profile`` inside an active one keeps the outer's components.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from . import _names, _native, _wrap

F = TypeVar("F", bound=Callable[..., Any])


class _Span:
    """Enables the profiler at ``start`` and disables it at ``stop`` (for stepwise wrappers)."""

    __slots__ = ("_profiler",)

    def __init__(self, profiler: _native.Profiler) -> None:
        self._profiler = profiler

    def start(self) -> _Span:
        self._profiler.enable()
        return self

    def stop(self) -> None:
        self._profiler.disable()


class profile(_native.Profiler):
    """Profiles Python calls in a block (context manager) or during calls of a function
    (decorator; also usable bare as ``@profile``). Entering and leaving the block are native,
    so they add no region of their own."""

    components: list[str]

    def __new__(cls, components: Any = None) -> Any:
        if callable(components) and not isinstance(components, (str, list, tuple)):
            # bare @profile: decorate with the default components
            return cls()(components)
        names = _names.components(components)
        self = super().__new__(cls, names)
        self.components = names
        return self

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"profile decorates callables, got {type(func).__name__}")
        profiler: _native.Profiler = self
        stepped = _wrap.stepwise(func, _Span(profiler))
        if stepped is not None:
            return stepped

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            profiler.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profiler.disable()

        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"profile({self.components!r})"


__all__ = ["profile"]

"""``trace``: per-line hits, time and memory of chosen functions (a line profiler).

    from rankscope.trace import trace

    @trace                              # or @trace(["wall_clock", "page_rss"])
    def work(n): ...

    def main():
        with trace():                   # the lines of this block (of main's frame)
            ...

Each traced function is a node ``qualname@path:first_line`` of the call tree, one lap per
call, and each of its lines that runs a node ``line N: source`` under it, one lap per hit: the
line's time runs from its start to the start of the next line of the same call (or the
function's return), calls it makes included; any other component gives the line's increment
the same way (``page_rss``: the change of resident memory over the line, as memory_profiler's
"Increment"; ``peak_rss``: the rise of the peak). Being nodes of the ordinary tree, lines reach
``dmp_get`` and every output; :func:`rankscope.trace.report.print_report` prints them under each
function's source, like line_profiler.

Tracing uses the interpreter's C trace hook (``PyEval_SetTrace``, as line_profiler does on
Python 3.11), so it replaces any ``sys.settrace`` function (a debugger, coverage) while active.
Only the decorated functions' own lines are traced (a nested function or comprehension counts
in the line that runs it), on the thread that calls them. Regions of markers opened on one line
of a traced function and closed on another are cut at the line change (use them around whole
calls instead).

``python -m rankscope.trace script.py args`` traces a script without changing it (see
``rankscope.trace.__main__``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from .. import _names, _native, _wrap

F = TypeVar("F", bound=Callable[..., Any])


class _Span:
    """Enables tracing for one step of a generator or coroutine (see ``_wrap.stepwise``)."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: _native.Tracer) -> None:
        self._tracer = tracer

    def start(self) -> _Span:
        self._tracer.enable()
        return self

    def stop(self) -> None:
        self._tracer.disable()


class trace(_native.Tracer):
    """Traces the lines of a function (decorator, also bare ``@trace``) or of a block (context
    manager: the lines of the function running the ``with``, from the block's start to its
    end), with ``components`` (default: the ``components`` setting)."""

    components: list[str]

    def __new__(cls, components: Any = None) -> Any:
        if callable(components) and not isinstance(components, (str, list, tuple)):
            return cls()(components)  # bare @trace
        names = _names.components(components)
        self = super().__new__(cls, names)
        self.components = names
        return self

    def __call__(self, func: F) -> F:
        code = getattr(func, "__code__", None)
        if code is None:
            raise TypeError(
                "trace decorates Python functions (with a __code__), got "
                f"{type(func).__name__} {func!r}"
            )
        self.add(code)
        tracer: _native.Tracer = self
        stepped = _wrap.stepwise(func, _Span(tracer))
        if stepped is not None:
            return stepped

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracer.enable()
            try:
                return func(*args, **kwargs)
            finally:
                tracer.disable()

        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"trace({self.components!r})"


__all__ = ["trace"]

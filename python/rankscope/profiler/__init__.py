"""``profile``: measure every Python function called while it is active.

    from rankscope.profiler import profile

    with profile(["wall_clock", "cpu_util"]):
        run()

    @profile                 # or @profile(["wall_clock"])
    def main(): ...

Each Python function call on the profiled thread becomes a region ``qualname@file:line``, and
each call of a C function (builtins, extension modules) a region named as cProfile names it
(``{built-in method time.sleep}``, ``{method 'append' of 'list' objects}``; ``c_calls=False`` or
the ``profile_c_calls`` setting turns these off), nested as the calls nest. The ``with`` block is
itself a region, ``function@file:line`` of the ``with`` statement (or ``key``), holding
everything called inside; a decorated function's own call is its region. A function decorated
with ``marker`` is one region per call (the marker's). rankscope's own code is never recorded.

``include``/``exclude`` (regular expressions searched in a function's qualified name, or a C
function's cProfile name) and ``include_file``/``exclude_file`` (searched in its file path; a C
function's is its caller's) choose what is recorded; a function left out is passed through (what
it calls nests under the enclosing region). Each defaults to its setting (``profile_include``,
...). The decision is made once per function, not per call.

It uses the interpreter's C profiling hook (like cProfile), so it replaces any
``sys.setprofile`` function while active. Profiling nests: an inner ``profile`` inside an active
one joins it (the outer's components, no region of its own).

``python -m rankscope.profiler script.py args`` profiles a whole script without changing it
(see ``rankscope.profiler.__main__``).
"""

from __future__ import annotations

import functools
import types
from typing import Any, Callable, TypeVar

from .. import _names, _native, _wrap

F = TypeVar("F", bound=Callable[..., Any])

# Callables implemented in C: calling them starts no Python frame.
_C_FUNCTIONS = (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType)


class _Span:
    """Enables the profiler at ``start`` and disables it at ``stop`` (for stepwise wrappers);
    with a ``key``, each step is that block region."""

    __slots__ = ("_profiler", "_start")

    def __init__(self, profiler: _native.Profiler, keyed: bool) -> None:
        self._profiler = profiler
        self._start = profiler.__enter__ if keyed else profiler.enable

    def start(self) -> _Span:
        self._start()
        return self

    def stop(self) -> None:
        self._profiler.disable()


class profile(_native.Profiler):
    """Profiles Python and C calls in a block (context manager) or during calls of a function
    (decorator; also usable bare as ``@profile``).

    ``key`` names the region of the ``with`` block (default: ``function@file:line`` of the
    ``with``); given to the decorator, each call is a region ``key`` holding the function's.
    ``c_calls`` records C function calls (default: the ``profile_c_calls`` setting).
    ``include``, ``exclude``, ``include_file``, ``exclude_file``: regular expressions choosing
    the functions recorded (default: their ``profile_*`` settings); ValueError names one that
    does not compile. Entering and leaving are native and never recorded."""

    components: list[str]
    key: str | None
    c_calls: bool | None
    filters: dict[str, str]

    def __new__(
        cls,
        components: Any = None,
        *,
        key: str | None = None,
        c_calls: bool | None = None,
        include: str | None = None,
        exclude: str | None = None,
        include_file: str | None = None,
        exclude_file: str | None = None,
    ) -> Any:
        given = (("include", include), ("exclude", exclude))
        given += (("include_file", include_file), ("exclude_file", exclude_file))
        filters = {name: value for name, value in given if value is not None}
        if callable(components) and not isinstance(components, (str, list, tuple)):
            # bare @profile: decorate with the default components
            return cls(key=key, c_calls=c_calls, **filters)(components)
        names = _names.components(components)
        self = super().__new__(cls, names, key, c_calls, **filters)
        self.components = names
        self.key = key
        self.c_calls = c_calls
        self.filters = filters
        return self

    def __call__(self, func: F) -> F:
        if not callable(func):
            raise TypeError(f"profile decorates callables, got {type(func).__name__}")
        profiler: _native.Profiler = self
        if not self.key and isinstance(func, _C_FUNCTIONS):
            # A C function has no frame of its own to be the call's region: a keyed block is.
            profiler = type(self)(
                self.components,
                key=_names.of_callable(func),
                c_calls=self.c_calls,
                **self.filters,
            )
        keyed = profiler is not self or bool(self.key)
        stepped = _wrap.stepwise(func, _Span(profiler, keyed))
        if stepped is not None:
            return stepped

        if keyed:

            @functools.wraps(func)
            def block_wrapper(*args: Any, **kwargs: Any) -> Any:
                with profiler:
                    return func(*args, **kwargs)

            return block_wrapper  # type: ignore[return-value]

        # The function's frame is the region: enabled just before it starts, off after it ends.
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            profiler.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profiler.disable()

        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={value!r}"
            for name, value in (("key", self.key), ("c_calls", self.c_calls), *self.filters.items())
            if value is not None
        )
        return f"profile({self.components!r}{extra})"


__all__ = ["profile"]

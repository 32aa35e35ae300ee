"""Wrapping callables so each call is measured, whatever kind of callable it is.

Plain functions and methods get the native wrapper (no Python frame of its own). Generators and
coroutines run in steps: each resumption is measured as one lap, so a region is never left open
while other code runs on the thread between two steps.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Generator
from typing import Any, Callable, Protocol, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Span(Protocol):
    """Something that can be stopped (a started region)."""

    def stop(self) -> None: ...


class Starter(Protocol):
    """Something that starts a measurement and returns what stops it."""

    def start(self) -> Span: ...


def drive(inner: Generator[Any, Any, Any], starter: Starter) -> Generator[Any, Any, Any]:
    """Runs ``inner`` (a generator or a coroutine's iterator) step by step, measuring each step,
    forwarding sent values, thrown exceptions, ``close`` and the return value."""
    value: Any = None
    error: BaseException | None = None
    while True:
        span = starter.start()
        try:
            if error is not None:
                item = inner.throw(error)
            else:
                item = inner.send(value)
        except StopIteration as done:
            span.stop()
            return done.value
        except BaseException:
            span.stop()
            raise
        span.stop()
        value, error = None, None
        try:
            value = yield item
        except GeneratorExit:
            inner.close()
            raise
        except BaseException as e:  # noqa: BLE001 - thrown into us: passed on at the next step
            error = e


class _Steps:
    """An awaitable running a coroutine step by step (see :func:`drive`)."""

    __slots__ = ("_coro", "_starter")

    def __init__(self, coro: Any, starter: Starter) -> None:
        self._coro = coro
        self._starter = starter

    def __await__(self) -> Generator[Any, Any, Any]:
        return drive(self._coro.__await__(), self._starter)


def stepwise(func: F, starter: Starter) -> F | None:
    """A wrapper measuring each step of a generator or coroutine function; None for others."""
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            return (yield from drive(func(*args, **kwargs), starter))

        return gen_wrapper  # type: ignore[return-value]
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def coro_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await _Steps(func(*args, **kwargs), starter)

        return coro_wrapper  # type: ignore[return-value]
    return None

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from .. import _native

_F = TypeVar("_F", bound=Callable[..., Any])

class trace(_native.Tracer):
    components: list[str]
    @overload
    def __new__(cls, components: _F) -> _F: ...  # type: ignore[misc]
    @overload
    def __new__(cls, components: str | Iterable[str] | None = None) -> trace: ...
    def __call__(self, func: _F) -> _F: ...

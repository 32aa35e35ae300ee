from collections.abc import Callable, Iterable
from typing import Any, TypeVar, overload

from .. import _native

_F = TypeVar("_F", bound=Callable[..., Any])

class profile(_native.Profiler):
    components: list[str]
    key: str | None
    c_calls: bool | None
    filters: dict[str, str]
    @overload
    def __new__(  # type: ignore[misc]
        cls,
        components: _F,
        *,
        key: str | None = None,
        c_calls: bool | None = None,
        include: str | None = None,
        exclude: str | None = None,
        include_file: str | None = None,
        exclude_file: str | None = None,
    ) -> _F: ...
    @overload
    def __new__(
        cls,
        components: str | Iterable[str] | None = None,
        *,
        key: str | None = None,
        c_calls: bool | None = None,
        include: str | None = None,
        exclude: str | None = None,
        include_file: str | None = None,
        exclude_file: str | None = None,
    ) -> profile: ...
    def __call__(self, func: _F) -> _F: ...

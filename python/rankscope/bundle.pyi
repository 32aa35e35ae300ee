from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

from typing_extensions import Self

_F = TypeVar("_F", bound=Callable[..., Any])

class marker:
    components: list[str]
    key: str | None
    def __init__(
        self, components: str | Iterable[str] | None = None, key: str | None = None
    ) -> None: ...
    def __call__(self, func: _F) -> _F: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

from collections.abc import Iterator, Sequence
from typing import Any, Callable, NamedTuple, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

KINDS: tuple[str, ...]
BUILTINS: tuple[str, ...]

class MemLog(NamedTuple):
    ID: str
    memory: int

class RankedPoint(NamedTuple):
    label: str
    values: dict[int, int]
    min: int
    min_rank: int
    max: int
    max_rank: int
    mean: float

class MemLogsList(Sequence[MemLog]):
    @overload
    def __getitem__(self, index: int) -> MemLog: ...
    @overload
    def __getitem__(self, index: slice) -> list[MemLog]: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[MemLog]: ...
    @property
    def memories(self) -> list[int]: ...
    @property
    def IDs(self) -> list[str]: ...  # noqa: N802
    def filter(self, predicate: Callable[[MemLog], bool]) -> list[MemLog]: ...
    def map(self, function: Callable[[MemLog], Any]) -> list[Any]: ...
    def dmp_get(self, kind: str = "rss") -> list[RankedPoint] | None: ...

MEMLOGS: MemLogsList

def MEMORY(kind: str = "rss") -> int: ...  # noqa: N802
def MEMPOINT(label: object = None, kind: str = "rss") -> None: ...  # noqa: N802
def MEMPRINT() -> None: ...  # noqa: N802
@overload
def MEMTRACE(func: F, *, kind: str = "rss") -> F: ...  # noqa: N802
@overload
def MEMTRACE(func: None = None, *, kind: str = "rss") -> Callable[[F], F]: ...  # noqa: N802
def merged_points(profile: dict[str, Any], kind: str = "rss") -> list[RankedPoint]: ...
def install_builtins() -> list[str]: ...

point = MEMPOINT
log = MEMLOGS
current = MEMORY
trace = MEMTRACE
print_log = MEMPRINT

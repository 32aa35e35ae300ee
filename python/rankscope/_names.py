"""Names shared by the modules: default components and region names for callables and blocks.

Region names may be any text: the native ``Region`` (and the profiler) write what UTF-8 cannot
encode, such as a lone surrogate, as backslash escapes, so naming a region never raises."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, Union

from . import _native

Components = Union[str, Iterable[str], None]


def components(names: Components) -> list[str]:
    """Canonical component names; None means the ``components`` setting. ValueError names the
    valid components when one is unknown."""
    if names is None:
        names = [c for c in _native.setting_get("components").split(",") if c]
    elif isinstance(names, str):
        names = [names]
    else:
        names = list(names)
        for n in names:
            if not isinstance(n, str):
                raise TypeError(f"component names must be str, got {type(n).__name__} {n!r}")
    return list(_native.check_components(names))


def of_callable(func: Any) -> str:
    """A callable's region name: its qualified name."""
    return str(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or func)


def of_caller(depth: int, key: str | None) -> str:
    """``key``, or the calling function's name and place (``main@app.py:12``) for a block."""
    if key:
        return key
    frame = sys._getframe(depth + 1)
    code = frame.f_code
    return f"{code.co_name}@{os.path.basename(code.co_filename)}:{frame.f_lineno}"

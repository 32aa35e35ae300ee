"""Every rankscope setting as a typed attribute: ``rankscope.settings.json_output = False``.

The attributes come from the runtime's settings table, so every setting is here with its Python
type: bool, int (unsigned 32-bit), str, list of str, or str from a fixed set of choices.
Environment variables ``RANKSCOPE_<NAME>`` set them at start; :func:`parse` reads them again.
Unknown names raise AttributeError naming the closest setting; values of the wrong type raise
TypeError and rejected values ValueError, both saying what is accepted.
"""

from __future__ import annotations

import builtins
import os
import sys
import types
from typing import Any, NamedTuple

from . import _native


class Setting(NamedTuple):
    """One row of the settings table."""

    name: str
    env_var: str
    type_name: str
    default: str
    accepted: str
    doc: str
    kind: str
    choices: tuple[str, ...]


TABLE: dict[str, Setting] = {
    row[0]: Setting(*row[:7], tuple(row[7])) for row in _native.settings_table()
}

_U32_MAX = 2**32 - 1


def names() -> list[str]:
    """Every setting's name, in table order."""
    return list(TABLE)


def info(name: str) -> Setting:
    """The table row of setting ``name``."""
    _native.setting_get(name)  # AttributeError with the closest name when unknown
    return TABLE[name]


def parse() -> list[str]:
    """Re-reads the ``RANKSCOPE_*`` environment variables on top of the current settings and
    returns warnings about variables that are not settings. ValueError lists rejected values."""
    return list(_native.settings_parse())


def reset() -> None:
    """Puts every setting back to its default (the environment is not read)."""
    _native.settings_reset()


def get_text(name: str) -> str:
    """The canonical text of a setting, as its environment variable would spell it."""
    return str(_native.setting_get(name))


def set_text(name: str, text: str) -> None:
    """Sets a setting from text, with the spellings its environment variable accepts."""
    _native.setting_set(name, text)


def _expected(row: Setting) -> str:
    if row.kind == "bool":
        return f"a bool (or text: {row.accepted})"
    if row.kind == "unsigned":
        return "an int from 0 to 4294967295"
    if row.kind == "list":
        return "a list of str (or comma-separated text)"
    if row.kind == "choice":
        return "one of " + ", ".join(repr(c) for c in row.choices)
    return "a str"


def _to_text(row: Setting, value: Any) -> str:
    """The text spelling of a Python value for ``row``; TypeError/ValueError when unusable."""
    wrong = TypeError(
        f"setting '{row.name}' expects {_expected(row)}, got {type(value).__name__} {value!r}"
    )
    if row.kind == "bool":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value
        raise wrong
    if row.kind == "unsigned":
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= _U32_MAX:
                raise ValueError(f"setting '{row.name}' expects {_expected(row)}, got {value}")
            return str(value)
        if isinstance(value, str):
            return value
        raise wrong
    if row.kind == "list":
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple, builtins.set, frozenset)) and all(
            isinstance(v, str) for v in value
        ):
            return ",".join(value)
        raise wrong
    if row.kind == "text" and isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, str):
        return value
    raise wrong


def _from_text(row: Setting, text: str) -> Any:
    if row.kind == "bool":
        return text == "true"
    if row.kind == "unsigned":
        return int(text)
    if row.kind == "list":
        return [v for v in text.split(",") if v]
    return text


def get(name: str) -> Any:
    """The value of setting ``name`` as its Python type."""
    text = _native.setting_get(name)
    return _from_text(TABLE[name], text)


def set(name: str, value: Any) -> None:
    """Sets setting ``name`` from a Python value (see the module doc for the types)."""
    if name not in TABLE:
        _native.setting_get(name)  # raises AttributeError with the closest name
    row = TABLE[name]
    _native.setting_set(name, _to_text(row, value))


class _SettingsModule(types.ModuleType):
    """Turns attribute access on this module into typed reads and writes of the settings."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in TABLE:
            set(name, value)
        elif name.startswith("_") or name in self.__dict__:
            super().__setattr__(name, value)
        else:
            _native.setting_get(name)  # AttributeError with the closest name

    def __dir__(self) -> list[str]:
        return sorted([*super().__dir__(), *TABLE])


sys.modules[__name__].__class__ = _SettingsModule

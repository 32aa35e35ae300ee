"""``add_arguments``: a ``rankscope-config`` argparse sub-command whose options set settings.

parser = argparse.ArgumentParser()
parser.add_argument("-n", type=int)
rankscope.add_arguments(parser)
args = parser.parse_args()      # ./app.py -n 10 rankscope-config --enabled False
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from . import settings

COMMAND = "rankscope-config"


class _SetSetting(argparse.Action):
    """Sets one setting when its option is parsed; a rejected value is a usage error."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        name = self.dest[len("rankscope_") :]
        if isinstance(values, (list, tuple)):
            values = ",".join(str(v) for v in values)
        try:
            settings.set_text(name, str(values))
        except (ValueError, AttributeError) as e:
            parser.error(str(e))
        setattr(namespace, self.dest, settings.get(name))


def add_arguments(
    parser: argparse.ArgumentParser, command: str = COMMAND
) -> argparse.ArgumentParser:
    """Adds the sub-command ``command`` (default ``rankscope-config``) with one option per
    setting (``--json-output OFF``, ``--components wall_clock peak_rss``); options set the
    settings as they are parsed. Reuses the parser's sub-parsers if it has some. Returns the
    sub-command's parser."""
    subparsers = getattr(parser, "_subparsers", None)
    action = None
    if subparsers is not None:
        action = next(
            (a for a in subparsers._group_actions if isinstance(a, argparse._SubParsersAction)),
            None,
        )
    if action is None:
        action = parser.add_subparsers(dest="rankscope_command", metavar=f"{{{command}}}")
    sub = action.add_parser(
        command, help="rankscope settings", description="Set rankscope settings."
    )
    add_setting_options(sub)
    return sub


def add_setting_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Adds one option per row of the settings table to ``parser`` (``--json-output OFF``,
    ``--components wall_clock peak_rss``; ``--output_path`` spelled with ``_`` too). Each sets
    its setting as it is parsed (a rejected value is a usage error) and stores the setting's
    typed value as ``rankscope_<name>`` in the namespace; options not given are absent."""
    for row in settings.TABLE.values():
        flags = ["--" + row.name.replace("_", "-")]
        if "_" in row.name:
            flags.append("--" + row.name)
        extra: dict = {}
        if row.kind == "bool":
            extra = {"nargs": "?", "const": "true", "metavar": "BOOL"}
        elif row.kind == "list":
            extra = {"nargs": "+", "metavar": "NAME"}
        elif row.kind == "choice":
            extra = {"metavar": "{" + ",".join(row.choices) + "}"}
        elif row.kind == "unsigned":
            extra = {"metavar": "N"}
        parser.add_argument(
            *flags,
            dest="rankscope_" + row.name,
            action=_SetSetting,
            default=argparse.SUPPRESS,
            help=f"{row.doc} [{row.env_var}; default: {row.default or '(empty)'}]",
            **extra,
        )

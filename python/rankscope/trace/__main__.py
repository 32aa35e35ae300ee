"""Traces the lines of a Python program's functions without changing the program, and prints
the line report at exit (stderr, or ``--report-file``).

    python -m rankscope.trace [options] [--] script.py [args...]     # @trace/@profile functions
    python -m rankscope.trace -f 'solve|step' -- script.py            # functions by name
    python -m rankscope.trace --all -- script.py                      # every function of the file
    rankscope-python-trace [options] [--] script.py [args...]         # the console script
    mpirun -n 4 python -m rankscope.trace -- script.py                # merged over ranks
    python -m rankscope.trace report OUTPUT [--rank N]                # from a saved output

The program runs as the real ``__main__`` (see ``rankscope._script``): its ``sys.argv``, stdout,
exceptions and exit status are its own. ``trace`` and ``profile`` are put into builtins, so a
program written for ``kernprof -l`` (bare ``@profile``) runs unchanged: without ``-f``,
``--file`` or ``--all``, only the functions it decorates are traced. Under MPI, every rank
traces and rank 0 prints the report merged over ranks (per line: the sum, and the minimum and
maximum over ranks with their rank); the outputs (``profile.json`` ...) carry the lines too.
"""

from __future__ import annotations

import argparse
import atexit
import builtins
import inspect
import json
import os
import re
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any, Callable, TextIO

from .. import _native, _script, settings
from . import report, trace

PROG = "rankscope-python-trace"

# rankscope's own code is never traced by a selection.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Trace the lines of a Python program's functions (hits, time, memory per "
        "line) without changing it, and print each traced function's source with its figures "
        "at exit. Options of rankscope come before the program, the program's own after it; "
        "put -- before the program when an option takes several values (-c). "
        f"'{PROG} report OUTPUT [--rank N]' prints the report of a saved output.",
        epilog="Without -f, --file or --all, the functions the program decorates with @trace "
        "or @profile (both put into builtins) are traced. Outputs go to the output folder "
        "(setting output_path); every RANKSCOPE_* setting applies too.",
    )
    p.add_argument(
        "-c",
        "--components",
        nargs="+",
        metavar="NAME",
        help="components measured per line (e.g. wall_clock page_rss; commas also separate): "
        "page_rss or peak_rss give the memory increment per line; default: the components "
        "setting, which this sets for the run (a bare @trace the program imports uses them)",
    )
    p.add_argument(
        "-f",
        "--function",
        action="append",
        metavar="REGEX",
        help="trace every function whose qualified name matches (searched; repeat to add "
        "alternatives)",
    )
    p.add_argument(
        "--file",
        action="append",
        metavar="REGEX",
        help="trace every function whose file path matches (searched; repeat to add "
        "alternatives; with -f both must match)",
    )
    p.add_argument(
        "-a", "--all", action="store_true", help="trace every function of the program's file"
    )
    p.add_argument("-o", "--output", metavar="PATH", help="output folder (setting output_path)")
    add_report_options(p)
    p.add_argument(
        "--no-report", action="store_true", help="print no report at exit (outputs only)"
    )
    _script.add_program_arguments(p)
    return p


def add_report_options(p: argparse.ArgumentParser) -> None:
    """The options choosing what the report shows and where it goes."""
    p.add_argument(
        "--rank",
        type=int,
        metavar="N",
        help="report rank N only (default: every rank merged)",
    )
    p.add_argument(
        "--report-file",
        metavar="FILE",
        help="write the report to FILE instead of stderr",
    )


def report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} report",
        description="Print the line report of a saved output: each traced function's source "
        "with its hits, time and memory per line.",
    )
    p.add_argument("output", metavar="OUTPUT", help="an output folder or its profile.json")
    add_report_options(p)
    return p


def write_report(profile: Any, rank: int | None, path: str | None) -> None:
    """The report of ``profile`` for ``rank`` to ``path`` (None: stderr)."""
    text = report.format_report(report.collect(report.load(profile), rank))
    if path is None:
        print(text, end="", file=sys.stderr)
        return
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def main_report(argv: Sequence[str]) -> int:
    p = report_parser()
    args = p.parse_args(argv)
    try:
        write_report(args.output, args.rank, args.report_file)
    except (report.ReportError, OSError) as e:
        p.error(str(e))
    return 0


def selector(p: argparse.ArgumentParser, args: argparse.Namespace, script: str | None) -> Any:
    """The function choosing the traced code objects from -f/--file/--all, or None when the
    decorated functions alone are traced. A usage error names a regex that does not compile."""
    patterns: dict[str, list[re.Pattern[str]]] = {"function": [], "file": []}
    for option in patterns:
        for text in getattr(args, option) or []:
            try:
                patterns[option].append(re.compile(text))
            except re.error as e:
                p.error(f"argument --{option}: {text!r} is not a valid regular expression: {e}")
    if args.all:
        if script is None:
            p.error("argument --all: needs a script file (not -m); use --file REGEX")
        patterns["file"].append(re.compile(f"^{re.escape(script)}$"))
    names, files = patterns["function"], patterns["file"]
    if not names and not files:
        return None

    def chosen(code: types.CodeType) -> bool:
        path = code.co_filename
        return (
            bool(code.co_flags & inspect.CO_NEWLOCALS)  # a function (no module, class body)
            and not path.startswith(_PACKAGE_DIR)
            and (not names or any(r.search(_qualname(code)) for r in names))
            and (not files or any(r.search(path) for r in files))
        )

    return chosen


def _qualname(code: types.CodeType) -> str:
    """The code's qualified name (``co_qualname`` exists from Python 3.11 on)."""
    return getattr(code, "co_qualname", code.co_name)


def builtin(tracer: trace) -> Callable[..., Any]:
    """What ``trace`` and ``profile`` are in the program's builtins: a bare decorator with the
    command line's components, or ``trace(components)`` for others."""

    def injected(func: Any = None) -> Any:
        if func is None:
            return tracer
        if isinstance(func, (str, list, tuple)):
            return trace(func)
        return tracer(func)

    return injected


def report_at_exit(rank: int | None, path: str | None, err: TextIO) -> None:
    """Collective: every rank's profile to rank 0, which prints the report. Never changes the
    program's exit status: a failure is a message on stderr."""
    try:
        merged = _native.dmp_profile_json()
        if merged is not None:
            write_report(json.loads(merged), rank, path)
    except Exception as e:  # noqa: BLE001 - reported, the program's exit stays its own
        print(f"{PROG}: no line report: {e}", file=err)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        return main_report(argv[1:])
    p = parser()
    args = p.parse_args(argv)
    program, program_args, module = _script.program_of(p, args)
    names = None
    if args.components:
        names = [n for arg in args.components for n in arg.split(",") if n]
    try:
        tracer = trace(names)
        if names:
            # Also the default of a bare @trace the program imports itself.
            settings.components = tracer.components
        if args.output is not None:
            settings.output_path = args.output
    except (TypeError, ValueError) as e:
        p.error(str(e))
    chosen = selector(p, args, None if module else os.path.abspath(program))
    loaded = _script.load_or_status(PROG, program, program_args, module)
    if isinstance(loaded, int):
        return loaded
    code, main_module = loaded
    builtins.trace = builtins.profile = builtin(tracer)  # type: ignore[attr-defined]
    if not args.no_report:
        # Registered before the program runs: the program's own atexit handlers run first.
        atexit.register(report_at_exit, args.rank, args.report_file, sys.stderr)
    if chosen is None:
        return _script.run(code, main_module)
    tracer.select(chosen)
    return _script.run(code, main_module, lambda: _script.EveryThread(tracer, threading.settrace))


if __name__ == "__main__":
    sys.exit(main())

"""Profiles a whole Python program without changing it: every Python function call (and C
call) of the program, on every thread it starts, becomes a region of rankscope's call tree.

    python -m rankscope.profiler [options] [--] script.py [args...]
    python -m rankscope.profiler [options] -m module [args...]
    rankscope-python-profiler [options] [--] script.py [args...]      # the console script
    mpirun -n 4 python -m rankscope.profiler -- script.py             # every rank, merged

The program runs as the real ``__main__`` (see ``rankscope._script``): its ``sys.argv``,
stdout, exceptions and exit status are its own. At exit rank 0 writes the merged outputs
(``profile.pstats`` too, for ``pstats.Stats`` and snakeviz). With ``-b`` nothing is profiled
but the functions the program decorates with ``@profile``, a name put into builtins.
"""

from __future__ import annotations

import argparse
import builtins
import os
import sys
from collections.abc import Sequence

from .. import _native, _script, settings
from . import profile

PROG = "rankscope-python-profiler"

# Regex options: (option, profile() argument); each may be given several times.
FILTER_OPTIONS = (
    ("--include", "include"),
    ("--exclude", "exclude"),
    ("--include-file", "include_file"),
    ("--exclude-file", "exclude_file"),
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Profile a Python program without changing it: every function call "
        "becomes a region of rankscope's call tree (per rank under mpirun/srun, merged on "
        "rank 0). Options of rankscope come before the program, the program's own after it; "
        "put -- before the program when an option takes several values (-c).",
        epilog="Outputs go to the output folder (setting output_path): profile.json, "
        "report.txt, profile.pstats (pstats.Stats, snakeviz) and the other enabled outputs. "
        "Every RANKSCOPE_* setting applies too.",
    )
    p.add_argument(
        "-c",
        "--components",
        nargs="+",
        metavar="NAME",
        help="components measured per call (e.g. wall_clock peak_rss; commas also separate); "
        "default: the components setting",
    )
    p.add_argument(
        "-d",
        "--max-depth",
        type=int,
        metavar="N",
        help="deepest call-tree level recorded (setting max_depth)",
    )
    for option, name in FILTER_OPTIONS:
        target = "file paths" if "file" in name else "qualified function names"
        verb = "only record" if name.startswith("include") else "never record"
        p.add_argument(
            option,
            action="append",
            metavar="REGEX",
            help=f"{verb} functions whose {target} match (searched; repeat to add "
            f"alternatives; setting profile_{name})",
        )
    p.add_argument(
        "--builtins",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="record calls of C functions (builtins, extension modules) too "
        "(setting profile_c_calls; default on)",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="output folder (setting output_path)")
    p.add_argument(
        "-b",
        "--builtin",
        action="store_true",
        help="put a bare 'profile' into builtins and profile only the functions the "
        "program decorates with @profile (the whole-program profiler stays off)",
    )
    _script.add_program_arguments(p)
    return p


def make_profiler(p: argparse.ArgumentParser, args: argparse.Namespace) -> profile:
    """The configured profiler; a usage error for a bad component or regular expression."""
    names = None
    if args.components:
        names = [n for arg in args.components for n in arg.split(",") if n]
    filters = {}
    for option, name in FILTER_OPTIONS:
        given = getattr(args, name) or []
        for regex in given:  # one by one, so that the error shows the regex as given
            try:
                _native.Profiler(["wall_clock"], **{name: regex})
            except ValueError as e:
                p.error(f"argument {option}: {e}")
        if given:
            filters[name] = "|".join(f"(?:{r})" for r in given)
    try:
        return profile(names, c_calls=args.builtins, **filters)
    except ValueError as e:
        p.error(str(e))
        raise  # not reached: error() exits


def apply_settings(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Settings from the options; pstats is written unless RANKSCOPE_PSTATS_OUTPUT says no."""
    try:
        if args.max_depth is not None:
            settings.max_depth = args.max_depth
        if args.output is not None:
            settings.output_path = args.output
    except (TypeError, ValueError) as e:
        p.error(str(e))
    if "RANKSCOPE_PSTATS_OUTPUT" not in os.environ:
        settings.pstats_output = True


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    program, program_args, module = _script.program_of(p, args)
    profiler = make_profiler(p, args)
    apply_settings(p, args)
    loaded = _script.load_or_status(PROG, program, program_args, module)
    if isinstance(loaded, int):
        return loaded
    code, main_module = loaded
    if args.builtin:
        builtins.profile = profiler  # type: ignore[attr-defined]
        return _script.run(code, main_module)
    return _script.run(code, main_module, lambda: _script.EveryThread(profiler))


if __name__ == "__main__":
    sys.exit(main())

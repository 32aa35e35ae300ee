"""IPython and Jupyter: ``%load_ext rankscope``, then ``%rankscope_profile`` (line) and
``%%rankscope_profile`` (cell) profile a statement or a cell the way ``%prun`` does, with
rankscope's ``profile``, and print the call tree inline (the runtime's text report).

    %load_ext rankscope
    %rankscope_profile solve(10)
    %rankscope_profile -c wall_clock,peak_rss --no-builtins solve(10)

    %%rankscope_profile --include ^solve
    data = load()
    solve(data)

Options: ``-c NAMES`` (components, comma-separated; default: the ``components`` setting),
``--no-builtins`` (no C calls), ``--include=REGEX``, ``--exclude=REGEX``,
``--include-file=REGEX``, ``--exclude-file=REGEX`` (see ``profile``). The code runs in the
notebook's namespace; each run is a region ``%rankscope_profile [N]`` of this process's tree,
so it is also in ``storage.get()`` and the outputs written at exit. (The line tracer
``rankscope.trace`` has no magic here yet.)
"""

from __future__ import annotations

import itertools
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import _native
from .profiler import profile

# Long options: (IPython's getopt spelling, profile() argument).
_FILTERS = (
    ("include=", "include"),
    ("exclude=", "exclude"),
    ("include-file=", "include_file"),
    ("exclude-file=", "exclude_file"),
)


@magics_class
class RankscopeMagics(Magics):
    """rankscope's magics (registered by ``%load_ext rankscope``)."""

    _runs = itertools.count(1)

    @line_cell_magic
    def rankscope_profile(self, line: str, cell: str | None = None) -> None:
        """Profile a statement (``%rankscope_profile [options] statement``) or a cell
        (``%%rankscope_profile [options]``) and print its call tree.

        -c NAMES          components, comma-separated (default: the components setting)
        --no-builtins     leave C calls (builtins, extension modules) out
        --include=REGEX   record only functions whose qualified name matches
        --exclude=REGEX   never record functions whose qualified name matches
        --include-file=REGEX, --exclude-file=REGEX   the same on file paths
        """
        longs = ["no-builtins", *(spelling for spelling, _ in _FILTERS)]
        opts, statement = self.parse_options(line, "c:", *longs, posix=False, strict=False)
        code = statement if cell is None else cell
        if not code.strip():
            raise UsageError("nothing to profile: %rankscope_profile [options] statement")
        components = None
        if "c" in opts:
            components = [c for c in str(opts["c"]).split(",") if c]
        filters = {name: str(opts[s.rstrip("=")]) for s, name in _FILTERS if s.rstrip("=") in opts}
        run = next(self._runs)
        key = f"%rankscope_profile [{run}]"
        try:
            profiler = profile(
                components, key=key, c_calls=False if "no-builtins" in opts else None, **filters
            )
        except ValueError as e:
            raise UsageError(str(e)) from None
        compiled = compile(code, f"<rankscope_profile-{run}>", "exec")
        namespace = self.shell.user_ns  # type: ignore[union-attr]
        try:
            with profiler:
                exec(compiled, namespace)
        finally:
            self._print_report(key)

    @staticmethod
    def _print_report(key: str) -> None:
        try:
            print(_native.profile_report(key), end="")
        except ValueError:
            # A profile was already active: this run joined it and has no region of its own.
            print(f"{key}: joined the profile already running; its report holds these calls")


def load_ipython_extension(ipython: Any) -> None:
    """Registers the magics (``%load_ext rankscope`` calls it through the package)."""
    ipython.register_magics(RankscopeMagics)

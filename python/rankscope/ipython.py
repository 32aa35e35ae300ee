"""IPython and Jupyter: ``%load_ext rankscope``, then ``%rankscope_profile`` (line) and
``%%rankscope_profile`` (cell) profile a statement or a cell the way ``%prun`` does, with
rankscope's ``profile``, and print the call tree inline (the runtime's text report);
``%rankscope_trace`` and ``%%rankscope_trace`` trace the lines of the functions named with
``-f`` the way ``%lprun`` (and, with ``-c page_rss``, ``%mprun``) does, with ``rankscope.trace``,
and print the line report inline.

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
so it is also in ``storage.get()`` and the outputs written at exit.

    %rankscope_trace -f solve solve(10)
    %rankscope_trace -f solve -f Model.step -c wall_clock,page_rss run()

``-f EXPR`` (repeatable; evaluated in the notebook's namespace: a function, method or a
decorated function) names what to trace, ``-c NAMES`` the components (``page_rss``: memory
increment per line). Each run is a region ``%rankscope_trace [N]``; the report shows the lines
run inside it only.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from . import _native
from .bundle import marker
from .profiler import profile
from .trace import report as line_report
from .trace import trace

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

    @line_cell_magic
    def rankscope_trace(self, line: str, cell: str | None = None) -> None:
        """Trace the lines of the functions named with ``-f`` while a statement
        (``%rankscope_trace -f FUNC [options] statement``) or a cell (``%%rankscope_trace -f
        FUNC [options]``) runs, and print each function's source with its figures per line.

        -f EXPR    a function to trace (repeatable), evaluated in the notebook's namespace
        -c NAMES   components, comma-separated (default: the components setting;
                   page_rss gives the memory increment per line)
        """
        opts, statement = self.parse_options(line, "f:c:", posix=False, strict=False, list_all=True)
        code = statement if cell is None else cell
        if not code.strip():
            raise UsageError("nothing to run: %rankscope_trace -f FUNC [options] statement")
        namespace = self.shell.user_ns  # type: ignore[union-attr]
        names = [str(n) for n in opts.get("f", [])]
        if not names:
            raise UsageError("name what to trace with -f FUNC (as %lprun -f does)")
        components = None
        if "c" in opts:
            components = [c for n in opts["c"] for c in str(n).split(",") if c]
        try:
            tracer = trace(components)
        except ValueError as e:
            raise UsageError(str(e)) from None
        for name in names:
            tracer.add(_code_of(name, namespace))
        run = next(self._runs)
        key = f"%rankscope_trace [{run}]"
        compiled = compile(code, f"<rankscope_trace-{run}>", "exec")
        try:
            with marker(["wall_clock"], key=key):
                tracer.enable()
                try:
                    exec(compiled, namespace)
                finally:
                    tracer.disable()
        finally:
            print(_trace_report(key), end="")

    @staticmethod
    def _print_report(key: str) -> None:
        try:
            print(_native.profile_report(key), end="")
        except ValueError:
            # A profile was already active: this run joined it and has no region of its own.
            print(f"{key}: joined the profile already running; its report holds these calls")


def _code_of(name: str, namespace: dict[str, Any]) -> Any:
    """The code object of the function ``name`` evaluates to (decorators unwrapped, methods
    to their function); a usage error naming it otherwise."""
    try:
        obj = eval(name, namespace)
    except Exception as e:
        raise UsageError(f"-f {name}: {type(e).__name__}: {e}") from None
    obj = inspect.unwrap(getattr(obj, "__func__", obj))
    code = getattr(obj, "__code__", None)
    if code is None:
        raise UsageError(f"-f {name}: not a Python function ({type(obj).__name__})")
    return code


def _trace_report(key: str) -> str:
    """The line report of what ran inside the newest region ``key`` of this process."""
    profile = line_report.load(None)
    nodes = profile.get("nodes", [])
    roots = [n["id"] for n in nodes if n["name"] == key]
    if not roots:
        return f"{key}: nothing was recorded (rankscope is disabled?)\n"
    keep = {roots[-1]}
    for n in nodes:  # pre-order: a parent comes before its children
        if n.get("parent") in keep:
            keep.add(n["id"])
    sub = {**profile, "nodes": [n for n in nodes if n["id"] in keep]}
    # collect() indexes parents by position: renumber the subtree.
    new_id = {n["id"]: i for i, n in enumerate(sub["nodes"])}
    sub["nodes"] = [
        {**n, "id": new_id[n["id"]], "parent": new_id.get(n.get("parent"))} for n in sub["nodes"]
    ]
    found = line_report.collect(sub)
    if not found.functions:
        return f"{key}: the traced functions did not run\n"
    return line_report.format_report(found)


def load_ipython_extension(ipython: Any) -> None:
    """Registers the magics (``%load_ext rankscope`` calls it through the package)."""
    ipython.register_magics(RankscopeMagics)

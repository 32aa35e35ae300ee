"""Runs a program (a script, a folder or zip with ``__main__.py``, or ``-m module``) as the
process's real ``__main__``, the way ``python`` itself would, so that a rankscope command line
(``python -m rankscope.profiler``) can wrap a program without changing what it does:

- ``sys.modules["__main__"]`` is the program's module while it runs and after (atexit handlers,
  ``pickle`` of classes it defines: mpi4py on another rank, where the same happens, unpickles
  them through its own ``__main__``; multiprocessing's spawn re-runs the file);
- ``sys.argv`` is ``[program, *args]``, ``sys.path[0]`` the script's folder (the current one for
  ``-m``);
- ``SystemExit`` propagates unchanged (``sys.exit(3)`` exits 3); any other uncaught exception
  goes to ``sys.excepthook`` with a traceback that starts in the program, as python prints it
  (rankscope's hook under a multi-rank launcher then aborts the job), and the exit status is 1.

The program's code runs from ``exec`` in this file: rankscope's profiler passes its own files
through, so the first region recorded is the program's ``<module>``.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import io
import os
import runpy
import sys
import threading
import types
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

# The module that was ``__main__`` before the program replaced it (the command line's own):
# kept alive, since its functions may still be running.
_replaced_main: list[types.ModuleType] = []


class ProgramNotFound(Exception):
    """The program cannot be opened or imported; the message says what python would say."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _script(path: str) -> tuple[types.CodeType, types.ModuleType]:
    """The code and a fresh ``__main__`` module of a script file."""
    filename = os.path.abspath(path)
    try:
        with io.open_code(filename) as f:
            source = f.read()
    except OSError as e:
        raise ProgramNotFound(
            f"can't open file {filename!r}: [Errno {e.errno}] {e.strerror}", 2
        ) from None
    module = types.ModuleType("__main__")
    module.__file__ = filename
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    module.__spec__ = None
    module.__loader__ = None
    module.__cached__ = None  # type: ignore[attr-defined]
    code = compile(source, filename, "exec", dont_inherit=True)
    return code, module


def _module(name: str) -> tuple[types.CodeType, types.ModuleType]:
    """The code and a fresh ``__main__`` module of ``-m name`` (or of a folder's or zip's
    ``__main__`` when ``name`` is ``__main__`` and that folder leads ``sys.path``)."""
    try:
        if name == "__main__":
            _, spec, code = runpy._get_main_module_details()  # type: ignore[attr-defined]
        else:
            _, spec, code = runpy._get_module_details(name)  # type: ignore[attr-defined]
    except ImportError as e:
        raise ProgramNotFound(str(e), 1) from None
    except runpy._Error as e:  # type: ignore[attr-defined]
        raise ProgramNotFound(str(e), 1) from None
    module = types.ModuleType("__main__")
    module.__file__ = spec.origin
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    module.__spec__ = spec
    module.__loader__ = spec.loader
    module.__package__ = spec.parent
    module.__cached__ = spec.cached  # type: ignore[attr-defined]
    return code, module


def load(program: str, args: list[str], *, module: bool = False) -> tuple[Any, Any]:
    """Prepares ``sys.argv`` and ``sys.path[0]`` for ``program`` and returns its code and its
    ``__main__`` module (not yet installed). Raises ProgramNotFound (message and exit status
    as python's) when there is no such program, SyntaxError when it does not compile."""
    if not sys.path:
        sys.path.append("")
    if module:
        sys.path[0] = os.getcwd()
        code, main = _module(program)
        sys.argv = [main.__file__ or program, *args]
    elif os.path.isdir(program) or zipfile.is_zipfile(program):
        sys.path[0] = program
        code, main = _module("__main__")
        sys.argv = [program, *args]
    else:
        code, main = _script(program)
        sys.path[0] = os.path.dirname(os.path.realpath(program))
        sys.argv = [program, *args]
    return code, main


def run(
    code: types.CodeType,
    main: types.ModuleType,
    around: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext,
) -> int:
    """Runs ``code`` as ``__main__`` inside ``around()``; returns 0, or 1 after an uncaught
    exception was handed to ``sys.excepthook``. SystemExit and KeyboardInterrupt propagate."""
    _replaced_main.append(sys.modules["__main__"])
    sys.modules["__main__"] = main
    try:
        with around():
            exec(code, main.__dict__)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as e:  # noqa: BLE001 - reported as python would, then status 1
        # The hook prints the exception's own traceback (the argument only when it has none).
        tb = _from_program(e.__traceback__, code)
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        return 1
    return 0


def report_syntax_error(error: SyntaxError) -> int:
    """A program that does not compile: reported as python reports it (no traceback), status 1."""
    sys.excepthook(type(error), error.with_traceback(None), None)
    return 1


def _from_program(
    tb: types.TracebackType | None, code: types.CodeType
) -> types.TracebackType | None:
    """The traceback from the program's own module frame on (this file's frames dropped)."""
    start = tb
    while start is not None and start.tb_frame.f_code is not code:
        start = start.tb_next
    return start if start is not None else tb


# ---- what the command lines wrapping a program share -------------------------------------


def add_program_arguments(parser: argparse.ArgumentParser) -> None:
    """``-m MODULE`` and the program with its arguments (everything after it, or after ``--``)."""
    parser.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run library module MODULE as a script, like python -m (its arguments follow)",
    )
    parser.add_argument(
        "program",
        nargs=argparse.REMAINDER,
        metavar="script.py [args ...]",
        help="the program and its arguments",
    )


def program_of(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[str, list[str], bool]:
    """The program from ``add_program_arguments``' options: (script or module, its arguments,
    whether it is a module). A usage error when there is none (with a hint when ``-c`` took
    the script for a component)."""
    program = list(args.program)
    if program[:1] == ["--"]:
        program = program[1:]
    if args.module is not None:
        return args.module, program, True
    if not program:
        hint = ""
        if any(c.endswith(".py") for c in getattr(args, "components", None) or []):
            hint = "; -c took it as a component: put -- between the components and the program"
        parser.error(f"the program to run is missing (script.py [args], or -m module [args]){hint}")
    return program[0], program[1:], False


def load_or_status(
    prog: str, program: str, args: list[str], module: bool
) -> tuple[types.CodeType, types.ModuleType] | int:
    """``load``, or the exit status python would give after saying why it cannot (the message
    on stderr, named after ``prog``)."""
    try:
        return load(program, args, module=module)
    except ProgramNotFound as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return e.status
    except SyntaxError as e:
        return report_syntax_error(e)


class Switch(Protocol):
    def enable(self) -> None: ...
    def disable(self) -> None: ...


class EveryThread:
    """Enables ``switch`` (a profiler, a tracer) on this thread and on every thread started
    meanwhile (each enables itself at its first event, before its ``run``), from ``__enter__``
    to ``__exit__``. ``install`` is the threading hook that reaches a new thread first and that
    the switch's ``enable`` replaces there: ``threading.setprofile`` for a profiler,
    ``threading.settrace`` for a tracer. A class, not a generator context manager: its methods
    are rankscope's own code, which the profiler passes through, so nothing of it shows in the
    outputs."""

    def __init__(
        self, switch: Switch, install: Callable[[Any], None] = threading.setprofile
    ) -> None:
        self.switch = switch
        self.install = install

    def start_in_thread(self, *_: Any) -> None:
        self.switch.enable()  # replaces this hook with the native one, for this thread

    def __enter__(self) -> None:
        self.install(self.start_in_thread)
        self.switch.enable()

    def __exit__(self, *_: Any) -> None:
        self.switch.disable()
        self.install(None)

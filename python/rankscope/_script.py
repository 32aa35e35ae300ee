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

import builtins
import contextlib
import io
import os
import runpy
import sys
import types
import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

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

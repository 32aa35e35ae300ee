"""The process's life: joining MPI when the program does, outputs at exit, and aborting the job
on an uncaught error.

Importing rankscope never initialises MPI: a program may still set ``mpi4py.rc`` and call
``MPI.Init_thread`` itself. rankscope joins MPI (docs/python.md, "When rankscope joins MPI"):

1. at import, if MPI is already initialised (mpi4py imported first): it adopts it;
2. right after mpi4py initialises MPI: when ``mpi4py.MPI`` is imported (``rc.initialize`` on)
   or, with ``rc.initialize = False``, right after the program's ``MPI.Init``/``Init_thread``;
3. at the first rankscope collective (``dmp_get``), on every rank alike;
4. at exit, when the program never started MPI: rankscope initialises it for the final
   reduction and finalises it afterwards.

A process started by a rank (multiprocessing fork or spawn, a subprocess) never joins.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType, TracebackType
from typing import Any, Callable

from . import _native

_started: dict[str, Any] | None = None
_previous_hook = sys.excepthook

_MPI_MODULE = "mpi4py.MPI"


def start() -> dict[str, Any]:
    """Starts the run at import (not collective): adopts MPI if it is already initialised,
    otherwise arranges to join when the program initialises it (or at the first collective, or
    at exit), and registers the final reduction: it runs at the start of ``MPI_Finalize``
    (whoever calls it) or at Python's exit, exactly once."""
    global _started
    if _started is None:
        _started = _native.start()
        if _native.is_rank_child():
            return _started
        atexit.register(_native.finish)
        if _started["launcher"] is not None:
            if not _started["mpi"]:
                _follow_mpi4py()
            if _started["size"] > 1:
                sys.excepthook = _abort_on_uncaught
    return _started


def world() -> dict[str, Any]:
    """This process's place in MPI_COMM_WORLD: ``rank``, ``size``, ``mpi`` (whether rankscope has
    joined MPI; before that, rank and size are the launcher's), ``initialised_by_us``,
    ``launcher``, ``library_version``, ``thread_level``."""
    return dict(_native.world())


def _follow_mpi4py() -> None:
    """Joins right after mpi4py initialises MPI: now if ``mpi4py.MPI`` is loaded, otherwise
    when it is imported."""
    module = sys.modules.get(_MPI_MODULE)
    if module is not None:
        _on_mpi4py(module)
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(_MPI_MODULE, _on_mpi4py))


def _on_mpi4py(mpi: ModuleType) -> None:
    """``mpi4py.MPI`` is loaded: adopt the MPI it initialised, or (``rc.initialize`` off) adopt
    right after the program's own ``Init``/``Init_thread``."""
    try:
        initialised = mpi.Is_initialized() and not mpi.Is_finalized()
    except Exception:  # noqa: BLE001 - an unusual mpi4py: joining at exit still works
        return
    if initialised:
        _native.join()
        return
    for name in ("Init", "Init_thread"):
        original = getattr(mpi, name, None)
        if callable(original) and not hasattr(original, "__rankscope_original__"):
            setattr(mpi, name, _joining_after(original))


def _joining_after(init: Callable[..., Any]) -> Callable[..., Any]:
    """``init`` (mpi4py's ``Init`` or ``Init_thread``), then rankscope adopts the MPI it
    started; arguments, result and exceptions are the original's."""

    def joining(*args: Any, **kwargs: Any) -> Any:
        result = init(*args, **kwargs)
        _native.join()
        return result

    joining.__name__ = getattr(init, "__name__", "Init")
    joining.__qualname__ = getattr(init, "__qualname__", joining.__name__)
    joining.__doc__ = getattr(init, "__doc__", None)
    joining.__wrapped__ = init  # type: ignore[attr-defined]
    joining.__rankscope_original__ = init  # type: ignore[attr-defined]
    return joining


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback(module)`` once, right after the module ``name`` is executed by whatever
    finder and loader would have imported it anyway, then leaves ``sys.meta_path``."""

    def __init__(self, name: str, callback: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, self)
                return spec
        return None

    def loaded(self, module: ModuleType) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        self.callback(module)


class _Loader(importlib.abc.Loader):
    """The original loader, plus the callback after ``exec_module``; the module's
    ``__loader__`` and ``__spec__.loader`` are given back the original."""

    def __init__(self, loader: Any, finder: _AfterImport) -> None:
        self.loader = loader
        self.finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.finder.loaded(module)


def _abort_on_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """Prints the traceback, writes this rank's data, then aborts the whole job so the other
    ranks do not wait forever in their next collective (before rankscope joined MPI, the
    process ends with status 1 instead, which makes the launcher end the job)."""
    _previous_hook(kind, value, tb)
    try:
        sys.stderr.flush()
    finally:
        _native.abort(1)

"""The process's life: MPI at import, outputs at exit, and aborting the job on an uncaught error."""

from __future__ import annotations

import atexit
import sys
from types import TracebackType
from typing import Any

from . import _native

_started: dict[str, Any] | None = None
_previous_hook = sys.excepthook


def start() -> dict[str, Any]:
    """Joins MPI when a launcher is detected (collective: every rank imports rankscope at start)
    and registers the final reduction: it runs at the start of ``MPI_Finalize`` (whoever calls
    it: the script, mpi4py at exit) or at Python's exit, exactly once."""
    global _started
    if _started is None:
        _started = _native.start()
        atexit.register(_native.finish)
        if _started["size"] > 1:
            sys.excepthook = _abort_on_uncaught
    return _started


def world() -> dict[str, Any]:
    """This process's place in MPI_COMM_WORLD: ``rank``, ``size``, ``mpi`` (whether MPI is in
    use), ``initialised_by_us``, ``launcher``, ``library_version``, ``thread_level``."""
    return dict(_native.world())


def _abort_on_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """Prints the traceback, writes this rank's data, then aborts the whole job so the other
    ranks do not wait forever in their next collective."""
    _previous_hook(kind, value, tb)
    try:
        sys.stderr.flush()
    finally:
        _native.abort(1)

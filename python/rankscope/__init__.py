"""rankscope: an MPI-aware profiling runtime.

Importing rankscope joins MPI when a launcher (mpirun, srun) started the program, and arranges
for rank 0 to write the merged outputs of every rank at exit. Nothing is printed on stdout.

- ``rankscope.settings.<name>``: every setting, typed (see ``docs/settings.md``).
- ``rankscope.bundle.marker``: measure a function or a block with chosen components.
- ``rankscope.profiler.profile``: measure every Python function called inside.
- ``rankscope.component``: one class per component (``WallClock``, ``PeakRss``, ...).
- ``rankscope.storage``: this rank's data (``get``) and every rank's on rank 0 (``dmp_get``).
- ``rankscope.add_arguments(parser)``: a ``rankscope-config`` argparse sub-command.
- ``%load_ext rankscope`` (IPython, Jupyter): the ``%rankscope_profile`` magics.
"""

import os as _os
import sys as _sys

from . import _native, _runtime, settings
from ._cli import add_arguments
from ._runtime import world

__version__: str = _native.__version__


def _is_rankscope_run() -> bool:
    """Whether this process is the ``rankscope-run`` wrapper (its console script, or
    ``python -m rankscope.run``): it uses the native module but is not a rank, so it must not
    start the run (join MPI, write outputs, mark the processes it starts as a rank's)."""
    argv0 = _sys.argv[0] if _sys.argv else ""
    if _os.path.basename(argv0) == "rankscope-run":
        return True
    # While `python -m M` imports M's package, argv[0] is "-m" and the module name stands in
    # the interpreter's own arguments just before the program's.
    orig = getattr(_sys, "orig_argv", [])
    if argv0 != "-m" or len(orig) < len(_sys.argv) + 1:
        return False
    return orig[-len(_sys.argv)].removeprefix("-m") == "rankscope.run"


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext rankscope`` in IPython or Jupyter: the ``%rankscope_profile`` magics (see
    ``rankscope.ipython``; IPython is imported only then)."""
    from .ipython import load_ipython_extension as load

    load(ipython)


if not _is_rankscope_run():
    _runtime.start()

__all__ = ["__version__", "add_arguments", "load_ipython_extension", "settings", "world"]

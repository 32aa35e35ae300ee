"""rankscope: an MPI-aware profiling runtime.

Importing rankscope joins MPI when a launcher (mpirun, srun) started the program, and arranges
for rank 0 to write the merged outputs of every rank at exit. Nothing is printed on stdout.

- ``rankscope.settings.<name>``: every setting, typed (see ``docs/settings.md``).
- ``rankscope.bundle.marker``: measure a function or a block with chosen components.
- ``rankscope.profiler.profile``: measure every Python function called inside.
- ``rankscope.component``: one class per component (``WallClock``, ``PeakRss``, ...).
- ``rankscope.storage``: this rank's data (``get``) and every rank's on rank 0 (``dmp_get``).
- ``rankscope.add_arguments(parser)``: a ``rankscope-config`` argparse sub-command.
"""

from . import _native, _runtime, settings
from ._cli import add_arguments
from ._runtime import world

__version__: str = _native.__version__

_runtime.start()

__all__ = ["__version__", "add_arguments", "settings", "world"]

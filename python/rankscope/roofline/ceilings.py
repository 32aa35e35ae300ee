"""The machine phase of the roofline: this host's ceilings.

    from rankscope.roofline import ceilings

    c = ceilings()  # measured once (tens of seconds), then read from the per-host cache
    c["peak_gflops"]["vector_double"], c["bandwidth_gbs"]["dram"]

The same measurement as ``rankscope roofline ceilings`` (docs/roofline.md): peak GFLOP/s of
fused multiply-add kernels (vector and scalar, double and single) and GB/s of load, copy and
triad kernels per memory level, with one pinned thread per PU. Under MPI every rank must call
it: the ranks of each host measure together and every rank gets its host's entry.
"""

from __future__ import annotations

import json
from typing import Any

from .. import _native


def ceilings(refresh: bool = False, node: bool = False, quick: bool = False) -> dict[str, Any]:
    """This host's entry of the ceilings document (``rankscope-ceilings/1``): ``host``,
    ``date``, ``cpu``, ``isa``, ``threads``, ``ranks``, ``quick``, ``bandwidth_gbs`` (GB/s per
    level: ``l1``, ``l2``, ``l3`` or None, ``dram``), ``kernels`` (``load``, ``copy``,
    ``triad``, each per level), ``peak_gflops`` (``vector_double``, ``vector_single``,
    ``scalar_double``, ``scalar_single``), ``cache_bytes``, ``sweep`` and ``notes``.

    ``refresh``: measure even when the cache has this host. ``node``: one thread per PU of the
    whole node instead of this rank's binding. ``quick``: a short sweep (about a second,
    rougher numbers, marked ``quick``). Raises RuntimeError naming what failed.
    """
    return json.loads(_native.roofline_ceilings(refresh=refresh, node=node, quick=quick))

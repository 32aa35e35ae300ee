"""The roofline: how far each region is from what the machine can do.

Two phases, each explicit:

1. the machine: ``rankscope roofline ceilings`` (or :func:`ceilings`) measures its bandwidth
   per memory level and its peak GFLOP/s once per host;
2. the application: regions carrying ``roofline_modelled`` get the counts the program supplies
   with :func:`count` (or ``roofline_measured``, counted by the PMU where there is one), and
   :func:`plot` / ``python -m rankscope.roofline plot OUTPUT`` draws them under the ceilings.

See docs/roofline.md.
"""

from .ceilings import ceilings
from .counts import count
from .plot import load_points, plot

__all__ = ["ceilings", "count", "load_points", "plot"]

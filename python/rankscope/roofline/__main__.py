"""``python -m rankscope.roofline``: the roofline's two phases from the command line.

    python -m rankscope.roofline plot OUTPUT [--ceilings FILE] [--rank N | --all-ranks] \\
        [-o roofline.png] [--title TEXT]
    python -m rankscope.roofline ceilings [--refresh] [--node] [--quick]

``plot`` draws a run's regions (OUTPUT: an output folder or its profile.json) under the
machine's ceilings (``--ceilings FILE``, else OUTPUT's ceilings.json, else this host's cache);
.png or .svg from the file name. ``ceilings`` measures this host's ceilings (or reuses its
cache) and prints them as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..plot import PlotError


def _plot(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from .plot import plot

    fig = plot(args.output, args.out, args.ceilings, args.rank, args.all_ranks, args.title)
    plt.close(fig)
    print(f"rankscope.roofline: wrote {args.out}", file=sys.stderr)
    return 0


def _ceilings(args: argparse.Namespace) -> int:
    try:
        from .ceilings import ceilings
    except ImportError as e:
        raise PlotError(
            f"the ceilings benchmark is not in this build ({e}); run `rankscope roofline "
            "ceilings --json` instead"
        ) from e
    print(json.dumps(ceilings(refresh=args.refresh, node=args.node, quick=args.quick), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rankscope.roofline", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plot", help="draw a run's regions under the machine's ceilings")
    p.add_argument("output", help="output folder or its profile.json")
    p.add_argument("--ceilings", default=None, help="ceilings JSON (rankscope roofline ceilings)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--rank", type=int, default=None, help="only this MPI rank")
    which.add_argument("--all-ranks", action="store_true", help="one point per rank")
    p.add_argument("-o", "--out", default="roofline.png", help="image file (.png or .svg)")
    p.add_argument("--title", default=None)
    p.set_defaults(run=_plot)
    c = commands.add_parser("ceilings", help="this host's ceilings as JSON on stdout")
    c.add_argument("--refresh", action="store_true", help="measure again, ignoring the cache")
    c.add_argument("--node", action="store_true", help="every PU of the node, not the rank's")
    c.add_argument("--quick", action="store_true", help="fewer sizes and trials")
    c.set_defaults(run=_ceilings)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except PlotError as e:
        print(f"rankscope.roofline: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

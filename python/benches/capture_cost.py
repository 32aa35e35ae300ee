"""Cost of rankscope.capture.intercept and of a memory point, per call.

    python python/benches/capture_cost.py [--calls 300] [--repeat 3]

For a few argument kinds and sizes, prints a markdown table of microseconds added per call by
``@intercept`` (saving every call: folder, ``call.pkl``, ``.npy``) and per call once the limit is
reached (counting only), beside ``MEMPOINT`` and a plain ``pickle.dumps`` of the same arguments
(the floor of saving them). Best of ``--repeat``; the captures go to a temporary folder, left
for you to delete (its path is printed). Quote
ratios within one run: disk and Python speed differ between machines.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
from typing import Any, Callable

os.environ.setdefault("RANKSCOPE_AUTO_OUTPUT", "false")

import numpy as np
from rankscope import capture, settings
from rankscope.memory import MEMPOINT


def per_call_us(func: Callable[..., Any], args: tuple[Any, ...], calls: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(calls):
            func(*args)
        best = min(best, time.perf_counter_ns() - start)
    return best / calls / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    o = parser.parse_args()
    root = tempfile.mkdtemp(prefix="rankscope-capture-bench-")
    settings.output_path = os.path.join(root, "out")
    settings.capture_max_bytes = 2**32 - 1
    cases = {
        "two ints": (1, 2),
        "str, 1 kB": ("x" * 1000,),
        "dict of 100 floats": ({i: float(i) for i in range(100)},),
        "ndarray 8 kB": (np.zeros(1000),),
        "ndarray 8 MB": (np.zeros(1_000_000),),
    }

    def plain(*args: Any) -> None:
        return None

    print("| arguments | plain call | pickle.dumps | @intercept saving | @intercept counting |")
    print("|---|---|---|---|---|")
    for name, args in cases.items():
        calls = o.calls if "MB" not in name else max(10, o.calls // 30)
        settings.capture_max_calls = 2**32 - 1
        saving = capture.intercept(plain)
        # Each run saves new calls; the limit is far above calls * repeat.
        t_save = per_call_us(saving, args, calls, o.repeat)
        settings.capture_max_calls = 0
        counting = capture.intercept(plain)
        t_count = per_call_us(counting, args, calls, o.repeat)
        t_plain = per_call_us(plain, args, calls, o.repeat)
        t_pickle = per_call_us(lambda *a: pickle.dumps(a, protocol=5), args, calls, o.repeat)
        print(
            f"| {name} | {t_plain:.2f} | {t_pickle:.1f} | {t_save:.1f} | {t_count - t_plain:.1f} |"
        )
    t_point = per_call_us(lambda: MEMPOINT("bench"), (), 2000, o.repeat)
    print(f"\nMEMPOINT: {t_point:.1f} us per point (statm read, label, tree node)")
    # Left in place: the summaries are written at exit. Delete the folder when done.
    print(f"captures in {root}")


if __name__ == "__main__":
    main()

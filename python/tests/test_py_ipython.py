"""``%load_ext rankscope`` and the ``%rankscope_profile`` magics in a real IPython
(``ipython -c``, a subprocess): the report is printed inline, options apply, the cell's
namespace is the notebook's, and an error in the cell still shows its report."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("IPython")

SESSION = '''
%load_ext rankscope
def work(n):
    return sorted(range(n))[-1] + helper()

def helper():
    return 1

%rankscope_profile -c wall_clock,peak_rss work(10)
_ = get_ipython().run_cell("""%%rankscope_profile --no-builtins --exclude=^helper$
made_in_cell = work(5)
""")
print("made_in_cell", made_in_cell)
_ = get_ipython().run_cell("%rankscope_profile -c no_such_component work(1)")
_ = get_ipython().run_cell("%%rankscope_profile\\nwork(2)\\nraise KeyError('in the cell')\\n")
'''


def test_magics_print_the_report_inline(tmp_path):
    env = dict(os.environ, RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"), RANKSCOPE_BANNER="0")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--no-banner",
            "--colors=NoColor",
            "-c",
            textwrap.dedent(SESSION),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = p.stdout
    assert p.returncode == 0, p.stderr + out
    reports = out.split("rankscope report:")[1:]
    assert len(reports) == 3, out
    first, cell, failing = reports
    assert "wall_clock [s]" in first and "peak_rss [MiB]" in first
    assert "%rankscope_profile [1]" in first and "work@<ipython-input-" in first
    assert "helper@" in first and "{built-in method builtins.sorted}" in first
    # the cell: no C calls, helper left out (its time counts in work)
    assert "%rankscope_profile [2]" in cell and "work@" in cell
    assert "helper@" not in cell and "{built-in" not in cell and "peak_rss" not in cell
    assert "made_in_cell 5" in out
    # a bad option is a usage error naming the component; no report
    assert "no_such_component" in out + p.stderr
    # an error in the cell: its report, then the traceback
    assert "%rankscope_profile [4]" in failing
    assert "KeyError: 'in the cell'" in out + p.stderr

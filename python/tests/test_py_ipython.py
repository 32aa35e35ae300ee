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


def environment(tmp_path) -> dict[str, str]:
    return dict(os.environ, RANKSCOPE_OUTPUT_PATH=str(tmp_path / "out"), RANKSCOPE_BANNER="0")


def ipython(tmp_path, session: str) -> subprocess.CompletedProcess:
    """Runs ``session`` in a real IPython (``ipython -c``); it must end with status 0."""
    p = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c"]
        + [textwrap.dedent(session)],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr + p.stdout
    return p


def test_magics_print_the_report_inline(tmp_path):
    p = ipython(tmp_path, SESSION)
    out = p.stdout
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


TRACE_SESSION = """
%load_ext rankscope
def loop(n):
    total = 0
    for i in range(n):
        total += i
    return total

def grow():
    block = [0] * 2_000_000
    return len(block)

%rankscope_trace -f loop loop(10)
CELL = "%%rankscope_trace -f loop -f grow -c wall_clock,page_rss\\nx = loop(7)\\ngrow()\\n"
_ = get_ipython().run_cell(CELL)
print("x", x)
_ = get_ipython().run_cell("%rankscope_trace -f no_such_function loop(1)")
"""


def test_trace_magic_prints_the_lines_of_each_run_only(tmp_path):
    p = ipython(tmp_path, TRACE_SESSION)
    out = p.stdout
    reports = out.split("rankscope line report")[1:]
    assert len(reports) == 2, out

    def hits(report: str, source: str) -> int:
        (row,) = [r for r in report.splitlines() if r.rstrip().endswith(source)]
        return int(row.split()[1])

    first, cell = reports
    assert hits(first, "total += i") == 10 and hits(first, "for i in range(n):") == 11
    # The second run counts its own 7 iterations, not 17: each run is its own region.
    assert hits(cell, "total += i") == 7
    assert "Function: grow" in cell
    (alloc,) = [r for r in cell.splitlines() if r.rstrip().endswith("block = [0] * 2_000_000")]
    increment = float(alloc.split()[5].lstrip("+"))
    assert 10 < increment < 40, alloc  # 2,000,000 pointers: 15.3 MiB
    assert "x 21" in out
    assert "no_such_function" in out + p.stderr


def test_magics_in_a_jupyter_kernel(tmp_path):
    """The same magics in a Jupyter kernel (ipykernel, driven through jupyter_client as a
    notebook front end drives it): the reports arrive as the cell's stdout stream."""
    manager = pytest.importorskip("jupyter_client.manager")
    km, kc = manager.start_new_kernel(
        kernel_name="python3", cwd=str(tmp_path), env=environment(tmp_path)
    )
    try:
        cells = [
            "%load_ext rankscope",
            textwrap.dedent(
                """\
                def loop(n):
                    total = 0
                    for i in range(n):
                        total += i
                    return total
                """
            ),
            "%rankscope_profile loop(3)",
            "%%rankscope_trace -f loop\nloop(5)",
        ]
        outputs = []
        for code in cells:
            text: list[str] = []
            reply = kc.execute_interactive(
                code,
                timeout=60,
                output_hook=lambda msg, text=text: text.append(msg["content"].get("text", "")),
            )
            assert reply["content"]["status"] == "ok", (code, reply["content"])
            outputs.append("".join(text))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "rankscope report:" in outputs[2] and "loop@" in outputs[2]
    assert "rankscope line report" in outputs[3] and "total += i" in outputs[3]

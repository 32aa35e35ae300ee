"""runtime/examples/custom_collector.rs: a collector registered at run time (the template of
docs/collectors.md) is measured by regions and written to the outputs like a built-in one."""

import json
import os
import subprocess

from conftest import build_example


def test_registered_collector_reaches_the_outputs(tmp_path):
    exe = build_example("custom_collector")
    out = tmp_path / "out"
    proc = subprocess.run(
        [str(exe), str(out)],
        env={**os.environ, "RANKSCOPE_BANNER": "off"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["main: 60 items in 1 laps", "process: 60 items in 3 laps"]
    profile = json.loads((out / "profile.json").read_text())
    metric = next(m for m in profile["metrics"] if m["name"] == "items")
    assert metric["collector"] == "items" and metric["unit"] == "count"
    sums = {n["name"]: n["stats"]["items"]["sum"] for n in profile["nodes"]}
    assert sums == {"main": 60, "process": 60}
    assert "items" in (out / "report.txt").read_text()

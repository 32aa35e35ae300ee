"""perf_event components from Python: one class per event from the catalog, PerfCounters groups
chosen at run time, marker/profile/storage, the perf_events setting end to end into
profile.json, and what an event that cannot count here gives (nothing, with a reason)."""

from __future__ import annotations

import json
import math
import mmap
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import rankscope.component as component
from rankscope.bundle import marker
from rankscope.component import TABLE, PerfCounters, PerfCycles, PerfPageFaults, PerfTaskClock
from rankscope.profiler import profile
from rankscope.storage import PerfTaskClockStorage, for_component

NO_PMU = not Path("/sys/bus/event_source/devices/cpu").exists()


def touch_new_pages(size: int) -> None:
    """Writes one byte in each page of a fresh anonymous mapping: page faults for certain (a heap
    allocation may reuse pages the process already touched; calloc leaves new ones untouched)."""
    with mmap.mmap(-1, size) as m:
        for at in range(0, size, mmap.PAGESIZE):
            m[at] = 1


def busy(n: int = 200_000) -> int:
    return sum(i * i for i in range(n))


def test_every_event_is_a_component_with_its_state():
    perf = {n: info for n, info in TABLE.items() if n.startswith("perf_")}
    assert {"perf_cycles", "perf_instructions", "perf_task_clock", "perf_page_faults"} <= set(perf)
    for name, info in perf.items():
        assert getattr(component, component.class_name(name)).kind == name
        software = len(info.metrics) == 1
        if software:
            assert info.unavailable is None, (name, info.unavailable)
        else:
            assert info.metrics[1].name.endswith(".running") and info.metrics[1].unit == "ppm"
            if NO_PMU:
                assert info.unavailable.startswith("no PMU: "), (name, info.unavailable)
    assert TABLE["perf_task_clock"].metrics[0].unit == "ns"
    # Distinct from the rusage collectors of the same quantities.
    assert TABLE["page_faults"].metrics[0].name != TABLE["perf_page_faults"].metrics[0].name


def test_software_event_components_measure():
    with PerfTaskClock("py-perf-task") as t, PerfPageFaults("py-perf-faults") as f:
        busy()
        touch_new_pages(8 << 20)
    assert t.get() > 0 and t.unit == "s" and t.laps == 1
    assert f.values()["perf.page_faults"] >= 1


@pytest.mark.skipif(not NO_PMU, reason="this machine has a PMU")
def test_an_event_that_cannot_count_gives_nothing():
    c = PerfCycles("py-perf-cycles")
    with c:
        busy(1000)
    assert c.laps == 0 and c.values() == {} and math.isnan(c.get())


def test_marker_and_profile_with_perf_components():
    @marker(["wall_clock", "perf_task_clock", "perf_cycles"], key="py_perf_marker")
    def work() -> int:
        return busy()

    for _ in range(3):
        work()
    with profile(["wall_clock", "perf_task_clock"], key="py_perf_profile"):
        busy()
    rows = {r["name"]: r for r in PerfTaskClockStorage.get()}
    assert rows["py_perf_marker"]["count"] == 3 and rows["py_perf_marker"]["sum"] > 0
    assert rows["py_perf_marker"]["metric"] == "perf.task_clock"
    assert "py_perf_profile" in rows
    if NO_PMU:
        cycles = for_component("perf_cycles").get()
        assert not [r for r in cycles if r["name"] == "py_perf_marker"], "absent, not zero"


def test_perf_counters_group_is_a_component():
    pc = PerfCounters(["task-clock", "page-faults", "cs"], "py-perf-group")
    assert pc.kind == "perf_group_task_clock_page_faults_context_switches"
    assert PerfCounters(["task_clock", "faults", "context-switches"]).kind == pc.kind
    with pc:
        busy()
        touch_new_pages(4 << 20)
    values = pc.values()
    assert values[f"{pc.kind}.task_clock"] > 0 and values[f"{pc.kind}.page_faults"] >= 1

    @marker(["wall_clock", pc.kind], key="py_perf_group_marker")
    def work() -> int:
        return busy()

    work()
    rows = [r for r in pc.storage.get() if r["name"] == "py_perf_group_marker"]
    assert {r["metric"] for r in rows} == {
        f"{pc.kind}.task_clock",
        f"{pc.kind}.page_faults",
        f"{pc.kind}.context_switches",
    }
    with pytest.raises(ValueError, match="unknown perf event 'bogus'.*valid events: cycles"):
        PerfCounters(["cycles", "bogus"])
    if NO_PMU:
        mixed = PerfCounters(["cycles", "task_clock"])
        assert mixed.info.unavailable.startswith("cycles: no PMU")
        assert "task_clock: works" in mixed.info.unavailable
        with mixed:
            busy(1000)
        assert mixed.values() == {}


def run(tmp_path: Path, events: str, code: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "RANKSCOPE_PERF_EVENTS": events,
        "RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out"),
        "RANKSCOPE_TIME_OUTPUT": "false",
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


PROGRAM = """
    import rankscope
    from rankscope.bundle import marker

    @marker(["wall_clock", "perf_events"], key="solve")
    def solve():
        data = bytearray(4 << 20)
        return sum(i * i for i in range(300_000)) + len(data)

    for _ in range(2):
        solve()
"""


def test_perf_events_setting_end_to_end(tmp_path):
    p = run(tmp_path, "task-clock,page-faults,cs", PROGRAM)
    assert p.returncode == 0, p.stderr
    profile = json.loads(next((tmp_path / "out").rglob("profile.json")).read_text())
    metrics = {m["name"]: m for m in profile["metrics"]}
    for event in ["task_clock", "page_faults", "context_switches"]:
        assert metrics[f"perf_events.{event}"]["collector"] == "perf_events"
    assert "perf_events.running" not in metrics  # software only: never multiplexed
    solve = next(n for n in profile["nodes"] if n["name"] == "solve")
    assert solve["stats"]["perf_events.task_clock"]["laps"] == 2
    assert solve["stats"]["perf_events.task_clock"]["sum"] > 0
    assert solve["stats"]["perf_events.page_faults"]["sum"] >= 1024  # 2 x 4 MiB


@pytest.mark.skipif(not NO_PMU, reason="this machine has a PMU")
def test_perf_events_that_cannot_count_are_absent_with_the_reason(tmp_path):
    p = run(tmp_path, "cycles,instructions,task-clock", PROGRAM)
    assert p.returncode == 0, p.stderr
    assert "component 'perf_events' cannot measure here" in p.stderr
    assert "cycles: no PMU" in p.stderr and "task_clock: works" in p.stderr
    profile = json.loads(next((tmp_path / "out").rglob("profile.json")).read_text())
    solve = next(n for n in profile["nodes"] if n["name"] == "solve")
    assert "wall_clock" in solve["stats"]
    assert not [k for k in solve["stats"] if k.startswith("perf_events")]


def test_a_bad_perf_events_value_names_the_valid_events(tmp_path):
    p = run(tmp_path, "cycles,instructionz", "import rankscope\n")
    assert "RANKSCOPE_PERF_EVENTS" in p.stderr, p.stderr
    assert "unknown perf event 'instructionz'" in p.stderr
    assert "valid events: cycles (cpu-cycles), instructions" in p.stderr

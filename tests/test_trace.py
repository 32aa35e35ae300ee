"""trace.json (runtime/src/output/trace.rs): a Chrome Trace Event timeline of a real 4-rank
job, checked against the format's schema (tests/schemas/chrome-trace.schema.json), with one
process per rank, one track per thread, events that nest, and the sampler's counter tracks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import jsonschema
from conftest import MPI_ENV

RANKS = 4
SCHEMA = json.loads((Path(__file__).parent / "schemas/chrome-trace.schema.json").read_text())

PROGRAM = """
import os, threading, time
from rankscope.bundle import marker

rank = int(os.environ["OMPI_COMM_WORLD_RANK"])

@marker(["wall_clock", "cpu_clock"])
def inner():
    time.sleep(0.002)

@marker(["wall_clock"])
def outer():
    for _ in range(rank + 1):
        inner()

@marker(["wall_clock"])
def worker():
    time.sleep(0.01)

for _ in range(2):
    outer()
threads = [threading.Thread(target=worker) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
time.sleep(0.3)  # a few sampler points
print("done", rank)
"""


def run_job(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    script = tmp_path / "job.py"
    script.write_text(PROGRAM)
    out = tmp_path / "out"
    full = {
        **os.environ,
        **MPI_ENV,
        "RANKSCOPE_OUTPUT_PATH": str(out),
        "RANKSCOPE_SAMPLER": "on",
        "RANKSCOPE_SAMPLER_INTERVAL": "0.05",
        **env,
    }
    proc = subprocess.run(
        ["mpirun", "-n", str(RANKS), sys.executable, str(script)],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((out / "trace.json").read_text())


def spans(trace: dict) -> list[dict]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


def test_a_four_rank_trace_is_valid_nested_and_has_a_track_per_rank_and_thread(tmp_path):
    proc, trace = run_job(tmp_path, RANKSCOPE_TRACE_OUTPUT="on")
    # The program's own output is untouched.
    assert sorted(proc.stdout.split("\n")[:-1]) == [f"done {r}" for r in range(RANKS)]
    jsonschema.validate(trace, SCHEMA)

    names = {
        e["pid"]: e["args"]["name"]
        for e in trace["traceEvents"]
        if e["ph"] == "M" and e["name"] == "process_name"
    }
    host = socket.gethostname()
    assert names == {r: f"rank {r} ({host})" for r in range(RANKS)}

    for rank in range(RANKS):
        mine = [e for e in spans(trace) if e["pid"] == rank]
        counts = Counter(e["name"].split("@")[0] for e in mine)
        assert counts == {"outer": 2, "inner": 2 * (rank + 1), "worker": 2}, counts
        # The two workers ran on threads of their own: three tracks in all.
        worker_tracks = {e["tid"] for e in mine if e["name"].startswith("worker")}
        main_track = {e["tid"] for e in mine if e["name"].startswith("outer")}
        assert len(worker_tracks) == 2 and not worker_tracks & main_track
        # inner's other metric travels as an argument
        assert all("cpu_clock (s)" in e["args"] for e in mine if e["name"].startswith("inner"))

    # On every track, events nest: each starts after the enclosing one and ends within it.
    tracks = defaultdict(list)
    for e in spans(trace):
        tracks[e["pid"], e["tid"]].append(e)
    slack = 0.01  # us: float rounding of ts + dur only (instances are clamped into their parent)
    for events in tracks.values():
        open_ends: list[float] = []
        for e in sorted(events, key=lambda e: (e["ts"], -e["dur"])):
            while open_ends and e["ts"] >= open_ends[-1] - slack:
                open_ends.pop()
            if open_ends:
                assert e["ts"] + e["dur"] <= open_ends[-1] + slack, e
            open_ends.append(e["ts"] + e["dur"])
        inners = [e for e in events if e["name"].startswith("inner")]
        outers = [e for e in events if e["name"].startswith("outer")]
        for i in inners:
            assert any(
                o["ts"] <= i["ts"] + slack and i["ts"] + i["dur"] <= o["ts"] + o["dur"] + slack
                for o in outers
            )

    # The sampler's series are counter tracks of every rank, on the same time axis.
    counters = [e for e in trace["traceEvents"] if e["ph"] == "C"]
    assert {e["pid"] for e in counters if e["name"] == "process.rss"} == set(range(RANKS))
    end = max(e["ts"] + e["dur"] for e in spans(trace))
    assert min(e["ts"] for e in counters) < end
    assert trace["otherData"]["notes"] == []


def test_the_event_cap_keeps_the_first_instances_and_says_so(tmp_path):
    _, trace = run_job(tmp_path, RANKSCOPE_TIMELINE_PROFILE="on", RANKSCOPE_TIMELINE_MAX_EVENTS="3")
    jsonschema.validate(trace, SCHEMA)
    per_rank = Counter(e["pid"] for e in spans(trace))
    assert per_rank == {r: 3 for r in range(RANKS)}
    notes = " ".join(trace["otherData"]["notes"])
    assert "timeline_max_events" in notes and "3 region instances" in notes

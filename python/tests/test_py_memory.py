"""rankscope.memory: tracemem's documented behaviours, the points in the call tree, and their
merge on rank 0 under `mpirun -n 4`."""

from __future__ import annotations

import builtins
import inspect
import json
import os
import pickle
import subprocess
import sys
import tracemalloc

import pytest
from rankscope import _native
from rankscope import memory as mem
from rankscope.memory import MEMLOGS, MEMORY, MEMPOINT, MEMTRACE, MemLog, merged_points


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_module_doctests_pass_in_a_fresh_process():
    # A fresh process: the doctests start from the import point alone.
    p = run_python(
        "import doctest, sys, rankscope.memory as m\n"
        "r = doctest.testmod(m, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)\n"
        "print(r.attempted, r.failed)\n"
        "sys.exit(r.failed)"
    )
    assert p.returncode == 0, p.stdout + p.stderr
    attempted, failed = map(int, p.stdout.split())
    assert attempted >= 20 and failed == 0


def test_first_point_is_the_import_and_labels_are_made_unique():
    assert MEMLOGS[0].ID == "rankscope.memory import"
    MEMPOINT(("a", 1))
    MEMPOINT(("a", 1))
    MEMPOINT("('a', 1)-3")  # taken by nobody yet: kept as given
    MEMPOINT(("a", 1))  # -3 is taken: the next free number
    assert MEMLOGS.IDs[-4:] == ["('a', 1)", "('a', 1)-2", "('a', 1)-3", "('a', 1)-4"]


def test_memlogs_is_a_read_only_list_of_named_tuples():
    MEMPOINT("read-only check")
    m = MEMLOGS[-1]
    assert isinstance(m, MemLog) and m == (m.ID, m.memory) and isinstance(m.memory, int)
    assert type(MEMLOGS).__name__ == "MemLogsList"
    before = list(MEMLOGS)
    refused = [
        lambda: MEMLOGS.append(m),
        lambda: MEMLOGS.extend([m]),
        lambda: MEMLOGS.insert(0, m),
        lambda: MEMLOGS.__setitem__(0, m),
        lambda: MEMLOGS.__delitem__(0),
        lambda: MEMLOGS + [m],
        lambda: [m] + MEMLOGS,
        lambda: MEMLOGS * 2,
        lambda: 2 * MEMLOGS,
    ]
    for attempt in refused:
        with pytest.raises(TypeError, match="read-only"):
            attempt()
    assert list(MEMLOGS) == before
    assert isinstance(MEMLOGS[-2:], list) and MEMLOGS[-1] == m


def test_memories_ids_filter_and_map_are_lists():
    MEMPOINT("fm-one")
    MEMPOINT("fm-two")
    assert MEMLOGS.memories == [m.memory for m in MEMLOGS]
    assert MEMLOGS.IDs == [m.ID for m in MEMLOGS]
    got = MEMLOGS.filter(lambda m: m.ID.startswith("fm-"))
    assert [m.ID for m in got] == ["fm-one", "fm-two"]
    assert MEMLOGS.filter(lambda m: m.memory < 0) == []
    assert MEMLOGS.map(lambda m: m.ID)[-2:] == ["fm-one", "fm-two"]


def test_a_big_list_shows_in_the_resident_set():
    MEMPOINT("before big")
    big = [0] * 20_000_000  # 160 MB of pointers
    MEMPOINT("with big")
    del big
    MEMPOINT("after big")
    before, with_big, after = MEMLOGS.memories[-3:]
    assert with_big - before > 120 * 2**20
    assert with_big - after > 120 * 2**20


def test_memtrace_records_before_and_after_and_keeps_the_function():
    @MEMTRACE
    def grow(n: int, pad: str = "x") -> int:
        """Makes a list."""
        return len([pad] * n)

    assert grow(10) == 10
    assert MEMLOGS.IDs[-2:] == ["Before grow()", "After grow()"]
    assert grow.__name__ == "grow" and grow.__doc__ == "Makes a list."
    assert str(inspect.signature(grow)) == "(n: 'int', pad: 'str' = 'x') -> 'int'"

    @MEMTRACE(kind="rss")
    def fails():
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        fails()
    assert MEMLOGS.IDs[-2:] == ["Before fails()", "After fails()"]


def test_traced_functions_pickle_by_reference():
    from decorated import captured

    assert pickle.loads(pickle.dumps(captured.traced)) is captured.traced
    assert captured.traced(1) == 2


def test_memory_records_no_point():
    n = len(MEMLOGS)
    assert MEMORY() > 2**20
    assert len(MEMLOGS) == n
    assert mem.current is MEMORY and mem.point is MEMPOINT and mem.log is MEMLOGS
    assert mem.trace is MEMTRACE


def test_python_kind_is_tracemallocs_traced_size():
    was_tracing = tracemalloc.is_tracing()
    try:
        MEMPOINT("python start", kind="python")
        assert tracemalloc.is_tracing()
        keep = [str(i) * 10 for i in range(200_000)]
        MEMPOINT("python grown", kind="python")
        grown = MEMLOGS[-1].memory - MEMLOGS[-2].memory
        assert grown > 10 * 2**20, grown
        assert abs(MEMORY("python") - tracemalloc.get_traced_memory()[0]) < 2**20
        del keep
        profile = json.loads(_native.profile_json())
        point = next(n for n in profile["nodes"] if n["name"] == "python grown")
        assert point["stats"]["python_heap_point"]["sum"] == MEMLOGS[-1].memory
        assert point["stats"]["memory_point"]["sum"] > MEMLOGS[-1].memory
    finally:
        if not was_tracing:
            tracemalloc.stop()
    with pytest.raises(ValueError, match="kind must be one of"):
        MEMPOINT("x", kind="heap")


def test_points_are_nodes_of_the_call_tree_in_order():
    MEMPOINT("tree-a")
    MEMPOINT("tree-b")
    profile = json.loads(_native.profile_json())
    nodes = profile["nodes"]
    group = next(n for n in nodes if n["name"] == "memory points")
    assert group["parent"] is None
    children = [n for n in nodes if n.get("parent") == group["id"]]
    assert [n["name"] for n in children] == MEMLOGS.IDs[: len(children)]
    by_name = {n["name"]: n["stats"]["memory_point"]["sum"] for n in children}
    for m in MEMLOGS:
        if "python" not in m.ID:
            assert by_name[m.ID] == m.memory, m.ID
    local = MEMLOGS.dmp_get()  # without MPI: this process's points
    assert [p.label for p in local] == [n["name"] for n in children]


def test_merged_points_per_label_min_max_with_rank_and_mean():
    # Arithmetic only, on a profile built by hand; the real merge runs under mpirun below.
    def stats(v):
        return {"laps": 1, "sum": v, "sumsq": v * v, "min": v, "max": v}

    profile = {
        "ranks": [{"rank": 0}, {"rank": 1}, {"rank": 2}],
        "nodes": [
            {"id": 0, "parent": None, "name": "memory points", "per_rank": {}},
            {
                "id": 1,
                "parent": 0,
                "name": "start",
                "per_rank": {"memory_point": [stats(30), stats(10), stats(20)]},
            },
            {
                "id": 2,
                "parent": 0,
                "name": "only 2",
                "per_rank": {"memory_point": [None, None, stats(5)]},
            },
            {"id": 3, "parent": None, "name": "elsewhere", "per_rank": {}},
        ],
    }
    start, only = merged_points(profile)
    assert start == ("start", {0: 30, 1: 10, 2: 20}, 10, 1, 30, 0, 20.0)
    assert only == ("only 2", {2: 5}, 5, 2, 5, 2, 5.0)
    assert merged_points(profile, "python") == []


def test_builtins_only_by_opt_in():
    code = "import builtins, rankscope.memory as m\nprint(hasattr(builtins, 'MEMPOINT'))"
    assert run_python(code).stdout.split() == ["False"]
    assert run_python(code, RANKSCOPE_MEMORY_BUILTINS="1").stdout.split() == ["True"]
    try:
        assert mem.install_builtins() == list(mem.BUILTINS)
        assert builtins.MEMLOGS is MEMLOGS  # type: ignore[attr-defined]
    finally:
        for name in mem.BUILTINS:
            delattr(builtins, name)


def test_points_merge_on_rank_zero_under_mpirun(tmp_path):
    from test_py_mpi import merged_profile, run

    p = run(
        tmp_path,
        """
    import json, rankscope
    from rankscope.memory import MEMLOGS, MEMPOINT
    rank = rankscope.world()["rank"]
    keep = bytearray((rank + 1) * 64 * 2**20)  # zero-filled by calloc: touch the pages
    keep[:: 4096] = b"x" * len(keep[:: 4096])
    MEMPOINT("holding")
    if rank == 3:
        MEMPOINT("rank 3 only")
    merged = MEMLOGS.dmp_get()
    if rank == 0:
        print(json.dumps([p._asdict() for p in merged]))
    else:
        print("other", merged)
    print("mine", rank, MEMLOGS[-1].memory if rank != 3 else MEMLOGS[-2].memory)
    """,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    merged = json.loads(next(line for line in lines if line.startswith("[")))
    assert lines.count("other None") == 3
    mine = {int(r): int(v) for _, r, v in (line.split() for line in lines if line[:4] == "mine")}
    holding = next(m for m in merged if m["label"] == "holding")
    assert {int(k): v for k, v in holding["values"].items()} == mine
    assert holding["max_rank"] == 3 and holding["min_rank"] == 0
    assert holding["max"] - holding["min"] > 150 * 2**20
    only = next(m for m in merged if m["label"] == "rank 3 only")
    assert list(only["values"]) == ["3"]
    assert [m["label"] for m in merged][:2] == ["rankscope.memory import", "holding"]
    # The merged output file carries the same values, one column per rank.
    from_file = merged_points(merged_profile(tmp_path))
    assert next(m for m in from_file if m.label == "holding").values == mine

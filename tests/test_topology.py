"""Topology and binding, end to end, against hwloc's own tools and Open MPI's binding.

- `rankscope topology --json` against `lstopo-no-graphics --of xml` (counts, CPU model, caches,
  cores and their PUs) and `hwloc-bind --get --taskset` (the binding, bound and unbound);
- `runtime/examples/ranks.rs` under `mpirun -n 2` (Open MPI binds each rank to a core) and
  `-n 4` (oversubscribed: unbound): every output carries each rank's binding and one machine
  summary per host (JSON ranks[] and metadata, HDF5 /ranks and attributes, Caliper globals);
- the `rankscope topology` tables: `--ranks` under mpirun and `OUTPUT`, with their flags;
- the collector pinning helper (`collectors/examples/pin_collector.rs`) bound, unbound and
  under mpirun;
- hwloc describing another machine (`HWLOC_SYNTHETIC`): bindings unknown with the reason, the
  run and its outputs go on.
"""

import json
import os
import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET

import h5py
import pytest
from conftest import MPI_ENV, build_bin, build_example

HOST = socket.gethostname()
ENV = {**os.environ, **MPI_ENV}


def tool(name):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} not found (install hwloc-nox)")
    return exe


def run(cmd, env=None, check=True):
    proc = subprocess.run(
        [str(c) for c in cmd],
        env=env or ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def mask_to_pus(mask):
    """hwloc's `0x00000003` or `0xffffffff,0x00000001` (and taskset's `0x3`) as PU indices."""
    value = int("".join(part.strip()[2:] for part in mask.strip().split(",")), 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


def as_list(items):
    """[0, 1, 2, 3, 8] as the kernel's list syntax `0-3,8`."""
    parts, start = [], None
    for i, x in enumerate(items):
        start = x if start is None else start
        if i + 1 == len(items) or items[i + 1] != x + 1:
            parts.append(str(x) if x == start else f"{start}-{x}")
            start = None
    return ",".join(parts)


@pytest.fixture(scope="module")
def lstopo():
    """Objects of `lstopo-no-graphics --of xml`, disallowed PUs included as rankscope does."""
    xml = run([tool("lstopo-no-graphics"), "--disallowed", "--of", "xml", "-"]).stdout
    return ET.fromstring(xml).iter("object")


@pytest.fixture(scope="module")
def rankscope():
    return build_bin("rankscope")


def topology_json(rankscope, *prefix):
    return json.loads(run([*prefix, rankscope, "topology", "--json"]).stdout)


def test_machine_matches_lstopo(rankscope, lstopo):
    objects = list(lstopo)
    of = lambda ty: [o for o in objects if o.get("type") == ty]  # noqa: E731
    m = topology_json(rankscope)["machine"]
    assert m["packages"] == len(of("Package"))
    assert m["cores"] == len(of("Core"))
    assert m["pus"] == len(of("PU"))
    assert m["numa_nodes"] == len(of("NUMANode"))
    assert m["memory_bytes"] == sum(int(n.get("local_memory", 0)) for n in of("NUMANode"))
    models = {i.get("value") for p in of("Package") for i in p.iter("info")}
    assert m["cpu_model"] in models
    # Caches: per (level, kind) the size of one and how many (lstopo's cache_type: 0 unified,
    # 1 data, 2 instruction).
    kinds = {"0": "unified", "1": "data", "2": "instruction"}
    expected = {}
    for c in objects:
        if c.get("type", "").endswith("Cache"):
            key = (int(c.get("depth")), kinds[c.get("cache_type")])
            size, count = expected.get(key, (int(c.get("cache_size")), 0))
            expected[key] = (size, count + 1)
    got = {(c["level"], c["kind"]): (c["size_bytes"], c["count"]) for c in m["caches"]}
    assert got == expected
    # Every core's PUs by OS index, as lstopo nests them.
    cores = sorted(
        sorted(int(pu.get("os_index")) for pu in core.iter("object") if pu.get("type") == "PU")
        for core in of("Core")
    )
    laid_out = sorted(c["pus"] for p in m["package_layout"] for c in p["cores"])
    assert laid_out == cores


def test_binding_matches_hwloc_bind(rankscope):
    hwloc_bind = tool("hwloc-bind")
    # Unbound here (the test's own affinity): the same set as hwloc-bind reads.
    ours = mask_to_pus(run([hwloc_bind, "--get", "--taskset"]).stdout)
    b = topology_json(rankscope)["binding"]
    assert b["error"] is None
    assert b["pus"] == ours
    assert set(b["pus"]) <= set(b["allowed_pus"])
    # Bound to one PU by hwloc-bind: read back as that PU, and bound when more are allowed.
    pu = b["allowed_pus"][-1]
    bound = topology_json(rankscope, hwloc_bind, f"pu:{pu}", "--")["binding"]
    seen = mask_to_pus(run([hwloc_bind, f"pu:{pu}", "--", hwloc_bind, "--get", "--taskset"]).stdout)
    assert bound["pus"] == seen == [pu]
    assert bound["bound"] == (len(b["allowed_pus"]) > 1)


@pytest.fixture(scope="module")
def ranks_runs(mpirun, tmp_path_factory):
    """The `ranks` example under `mpirun -n 2` and `-n 4`: {n: output folder}."""
    exe = build_example("ranks")
    out = {}
    for n in (2, 4):
        folder = tmp_path_factory.mktemp(f"topology-n{n}") / "out"
        run([mpirun, "-n", n, exe], env={**ENV, "RANKSCOPE_OUTPUT_PATH": str(folder)})
        out[n] = folder
    return out


def machine_cores():
    return len(os.sched_getaffinity(0))


def load_profile(folder):
    with open(folder / "profile.json") as f:
        return json.load(f)


def test_two_ranks_are_each_bound_to_a_core(ranks_runs, mpirun):
    if machine_cores() < 2:
        pytest.skip("Open MPI binds 2 ranks to cores only with at least 2 PUs")
    p = load_profile(ranks_runs[2])
    bindings = [r["binding"] for r in p["ranks"]]
    assert [r["rank"] for r in p["ranks"]] == [0, 1]
    assert all(b["bound"] and b["error"] is None for b in bindings), bindings
    assert all(len(b["cores"]) == 1 for b in bindings), bindings
    assert bindings[0]["cores"] != bindings[1]["cores"]
    # Open MPI binds the same way every time: compare with what hwloc-bind reads in each rank.
    hwloc_bind = tool("hwloc-bind")
    lines = run(
        [mpirun, "-n", 2, "sh", "-c", f"echo $OMPI_COMM_WORLD_RANK $({hwloc_bind} --get --taskset)"]
    ).stdout.split("\n")
    by_rank = {int(r): mask_to_pus(m) for r, m in (line.split() for line in lines if line)}
    assert [b["pus"] for b in bindings] == [by_rank[0], by_rank[1]]


def test_oversubscribed_ranks_are_unbound(ranks_runs):
    p = load_profile(ranks_runs[4])
    assert len(p["ranks"]) == 4
    for r in p["ranks"]:
        b = r["binding"]
        assert r["hostname"] == HOST
        assert not b["bound"] and b["error"] is None, r
        assert b["pus"] == b["allowed_pus"]


def test_one_machine_summary_per_host_in_the_metadata(ranks_runs, rankscope):
    here = topology_json(rankscope)["machine"]
    for folder in ranks_runs.values():
        meta = load_profile(folder)["metadata"]
        summaries = {k: v for k, v in meta.items() if k.startswith("topology.")}
        assert summaries == {f"topology.{HOST}": here}


def test_hdf5_carries_bindings_and_the_summary(ranks_runs):
    p = load_profile(ranks_runs[2])
    with h5py.File(ranks_runs[2] / "profile.h5") as f:
        ranks = f["ranks"]
        text = lambda name: [s.decode() for s in ranks[name][()]]  # noqa: E731
        assert list(ranks["bound"][()]) == [int(r["binding"]["bound"]) for r in p["ranks"]]
        for field in ["pus", "cores", "packages", "numa_nodes", "allowed_pus"]:
            assert text(field) == [as_list(r["binding"][field]) for r in p["ranks"]]
        assert text("binding_error") == ["", ""]
        summary = json.loads(f.attrs[f"topology.{HOST}"])
        assert summary == p["metadata"][f"topology.{HOST}"]


def test_caliper_globals_carry_bindings(ranks_runs):
    for n, folder in ranks_runs.items():
        p = load_profile(folder)
        for name in ["profile.cali.json", "profile-summary.cali.json"]:
            with open(folder / name) as f:
                doc = json.load(f)
            for r in p["ranks"]:
                assert doc[f"rank.{r['rank']}.hostname"] == HOST
                assert doc[f"rank.{r['rank']}.bound"] == r["binding"]["bound"]
            bound = sum(r["binding"]["bound"] for r in p["ranks"])
            assert doc["binding.bound_ranks"] == bound
            assert doc["binding.unbound_ranks"] == n - bound
            assert doc[f"topology.{HOST}.cores"] == p["metadata"][f"topology.{HOST}"]["cores"]


def table_rows(text):
    """{rank: (BOUND column, FLAGS column)} of a `rankscope topology` table."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("RANK "))
    flags_at = lines[header].index("FLAGS")
    rows = {}
    for line in lines[header + 1 : -1]:
        cells = line.split()
        rows[int(cells[0])] = (cells[3], line[flags_at:].strip())
    return rows


def test_table_of_an_output_folder(ranks_runs, rankscope):
    rows = table_rows(run([rankscope, "topology", ranks_runs[4]]).stdout)
    assert rows == {r: ("no", "unbound") for r in range(4)}
    if machine_cores() >= 2:
        rows = table_rows(run([rankscope, "topology", ranks_runs[2]]).stdout)
        assert rows == {0: ("yes", "-"), 1: ("yes", "-")}


def test_ranks_table_under_mpirun(mpirun, rankscope):
    out = run([mpirun, "-n", 4, rankscope, "topology", "--ranks"]).stdout
    assert out.startswith(f"4 ranks on 1 host\nhost {HOST}: ")
    assert table_rows(out) == {r: ("no", "unbound") for r in range(4)}
    assert out.endswith("0 bound, 4 unbound, 0 sharing a core, 0 unknown\n")
    if machine_cores() < 2:
        return
    rows = table_rows(run([mpirun, "-n", 2, rankscope, "topology", "--ranks"]).stdout)
    assert rows == {0: ("yes", "-"), 1: ("yes", "-")}
    # More ranks than cores, each bound to a core: ranks on the same core are flagged with
    # exactly the others on it (Open MPI maps round robin over the cores).
    cores = topology_json(rankscope)["machine"]["cores"]
    if cores > 8:
        return
    n = cores + 2
    out = run(
        [mpirun, "-n", n, "--bind-to", "core:overload-allowed", rankscope, "topology", "--ranks"]
    ).stdout
    rows = table_rows(out)
    assert {bound for bound, _ in rows.values()} == {"yes"}, out
    core_of = {int(line.split()[0]): line.split()[5] for line in out.splitlines()[3:-1]}
    for r in range(n):
        others = sorted(o for o in range(n) if o != r and core_of[o] == core_of[r])
        flag = "shares a core with rank" + ("s " if len(others) > 1 else " ")
        assert rows[r][1] == (flag + ",".join(map(str, others)) if others else "-"), out


@pytest.fixture(scope="module")
def pin_collector():
    return build_example("pin_collector")


def pin_report(pin_collector, *prefix, env=None):
    return [
        json.loads(line)
        for line in run([*prefix, pin_collector], env=env).stdout.split("\n")
        if line
    ]


def check_pinned(report):
    pinned, thread = report["pinned"], report["thread"]
    assert "error" not in pinned, pinned
    # Read back on the collector thread: exactly the chosen PU, inside the allowed cpuset.
    assert thread["pus"] == [pinned["pu"]]
    assert pinned["pu"] in report["before"]["allowed_pus"]
    # The rank's own binding is not widened by its pinned collector.
    assert report["during"]["pus"] == report["before"]["pus"]
    assert pinned["free"] == (pinned["pu"] not in report["before"]["pus"])


def test_pinned_collector_avoids_the_rank_pus(pin_collector):
    hwloc_bind = tool("hwloc-bind")
    (alone,) = pin_report(pin_collector)
    check_pinned(alone)
    if len(alone["before"]["allowed_pus"]) < 2:
        pytest.skip("one PU: nowhere else to pin")
    # Unbound: every allowed PU is the rank's, so the collector shares one.
    assert alone["pinned"]["free"] is (alone["before"]["pus"] != alone["before"]["allowed_pus"])
    # Bound to the first PU: the collector goes to another allowed PU.
    first = alone["before"]["allowed_pus"][0]
    (bound,) = pin_report(pin_collector, hwloc_bind, f"pu:{first}", "--")
    check_pinned(bound)
    assert bound["before"]["pus"] == [first]
    assert bound["pinned"]["free"] and bound["pinned"]["pu"] != first


def test_pinned_collectors_under_mpirun(pin_collector, mpirun):
    reports = pin_report(pin_collector, mpirun, "-n", 2)
    assert sorted(r["rank"] for r in reports) == [0, 1]
    for r in reports:
        check_pinned(r)
        if machine_cores() >= 2:
            # Bound to one core each: the collector lands on a PU the rank does not use.
            assert r["before"]["bound"] and r["pinned"]["free"], r


def test_hwloc_describing_another_machine_degrades_with_a_reason(mpirun, rankscope, tmp_path):
    synthetic = "pack:2 core:2 pu:2"
    env = {**ENV, "HWLOC_SYNTHETIC": synthetic, "RANKSCOPE_OUTPUT_PATH": str(tmp_path / "out")}
    run([mpirun, "-x", "HWLOC_SYNTHETIC", "-n", 2, build_example("ranks")], env=env)
    p = load_profile(tmp_path / "out")
    assert len(p["nodes"]) > 0, "the run measured as usual"
    for r in p["ranks"]:
        assert "does not describe this machine" in r["binding"]["error"], r
        assert r["binding"]["pus"] == []
    summary = p["metadata"][f"topology.{HOST}"]
    assert (summary["packages"], summary["cores"], summary["pus"]) == (2, 4, 8)
    out = run([rankscope, "topology", tmp_path / "out"]).stdout
    rows = table_rows(out)
    assert all(flags.startswith("binding unknown: ") for _, flags in rows.values()), out
    assert out.endswith("0 bound, 0 unbound, 0 sharing a core, 2 unknown\n")

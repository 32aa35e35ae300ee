#!/usr/bin/env bash
# Validation of the roofline ceilings (issue 14): likwid-bench and rankscope's full sweep on the
# same machine in one go, then a Markdown table of every level with the ratio rankscope/likwid.
#
#   ./scripts/bench-roofline.sh            # needs likwid-bench: apt-get install likwid
#
# likwid-bench runs with all cores (one thread per core, pinned by likwid): the peak kernel
# (peakflops_avx512_fma or peakflops_avx_fma, whichever the CPU has) at an L1-sized working
# set, and the load kernel (load_avx512 or load_avx) at one working set per level: half of L1,
# half of L2 and half of L3 per thread, and 2 GB in all. Each is run three times and the best
# kept; rankscope's full sweep (plateaus of medians of 7 trials) runs twice, between the likwid
# runs, and the best of each number is kept. Best, because other work on the machine only ever
# lowers a ceiling: run it on a quiet machine all the same.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v likwid-bench >/dev/null || { echo "likwid-bench not found: apt-get install likwid" >&2; exit 1; }
cargo build --release -q -p rankscope --bin rankscope
RANKSCOPE=target/release/rankscope
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

if grep -qw avx512f /proc/cpuinfo; then ISA=avx512; else ISA=avx; fi
CORES=$(lscpu -p=CORE | grep -v '^#' | sort -u | wc -l)
# Cache sizes in kB: one instance (L1d, L2) and the whole L3 (lscpu -B gives bytes).
cache_kb() { lscpu -B -C | awk -v n="$1" -v col="$2" '$1 == n {print int($col / 1024)}'; }
L1=$(cache_kb L1d 2) L2=$(cache_kb L2 2) L3=$(cache_kb L3 3)
L3=${L3:-0}

# likwid-bench's rate line (MFlops/s or MByte/s), best of three runs, in G per s.
likwid() {
  local test=$1 size=$2 what=$3
  for _ in 1 2 3; do
    likwid-bench -t "$test" -W "N:${size}:${CORES}" 2>/dev/null | awk -v w="$what:" '$1 == w {print $2 / 1000}'
  done | sort -g | tail -1
}

LOAD_BEFORE=$(cut -d" " -f1 /proc/loadavg)
echo "rankscope roofline ceilings (full sweep), first run" >&2
"$RANKSCOPE" roofline ceilings --refresh --json --cache "$TMP/ceilings.json" >"$TMP/rankscope-1.json"
echo "likwid-bench: ${CORES} threads, peakflops_${ISA}_fma and load_${ISA}" >&2
PEAK=$(likwid "peakflops_${ISA}_fma" "$((L1 * CORES / 2))kB" MFlops/s)
LOAD_L1=$(likwid "load_${ISA}" "$((L1 * CORES / 2))kB" MByte/s)
LOAD_L2=$(likwid "load_${ISA}" "$((L2 * CORES / 2))kB" MByte/s)
LOAD_L3=""
if [ "$L3" -gt 0 ]; then
  # Half of the L3 in all (it is shared), so each thread's part fits too.
  LOAD_L3=$(likwid "load_${ISA}" "$((L3 / 2))kB" MByte/s)
fi
LOAD_DRAM=$(likwid "load_${ISA}" 2GB MByte/s)

echo "rankscope roofline ceilings (full sweep), second run" >&2
"$RANKSCOPE" roofline ceilings --refresh --json --cache "$TMP/ceilings.json" >"$TMP/rankscope-2.json"

python3 - "$TMP/rankscope-1.json,$TMP/rankscope-2.json" "$PEAK" "$LOAD_L1" "$LOAD_L2" "${LOAD_L3:-nan}" "$LOAD_DRAM" "$ISA" "$CORES" "$LOAD_BEFORE" <<'PY'
import json, math, os, sys
doc, peak, l1, l2, l3, dram, isa, cores, load_before = sys.argv[1:]
runs = [json.load(open(d))["hosts"][0] for d in doc.split(",")]


def best(*keys):
    """The best of the runs' values at keys (None when a run lacks it)."""
    values = []
    for r in runs:
        for k in keys:
            r = r[k]
        values.append(r)
    return None if None in values else max(values)


h = runs[-1]
bw = {lv: best("bandwidth_gbs", lv) for lv in ("l1", "l2", "l3", "dram")}
rows = [
    (f"peak GFLOP/s, vector double (likwid peakflops_{isa}_fma, L1 working set)", peak, best("peak_gflops", "vector_double")),
    (f"load GB/s, L1 (likwid load_{isa})", l1, bw["l1"]),
    (f"load GB/s, L2 (likwid load_{isa})", l2, bw["l2"]),
    (f"load GB/s, L3 (likwid load_{isa})", l3, bw["l3"]),
    (f"load GB/s, DRAM (likwid load_{isa}, 2 GB)", dram, bw["dram"]),
]
print(f"{h['date'][:10]}, {h['cpu']}, {h['isa']}, {cores} cores, rankscope {h['threads']} threads; "
      f"load average {load_before} before, {os.getloadavg()[0]:.2f} after\n")
print("| ceiling | likwid-bench | rankscope | rankscope / likwid |")
print("|---|---|---|---|")
for name, ref, ours in rows:
    ref = float(ref)
    if ours is None or math.isnan(ref):
        print(f"| {name} | {'-' if math.isnan(ref) else f'{ref:.1f}'} | {'-' if ours is None else f'{ours:.1f}'} | - |")
    else:
        print(f"| {name} | {ref:.1f} | {ours:.1f} | {ours / ref:.2f} |")
p = {k: best("peak_gflops", k) for k in ("vector_single", "scalar_double", "scalar_single")}
print(f"\nrankscope also (best of {len(runs)}): vector single {p['vector_single']:.1f}, "
      f"scalar double {p['scalar_double']:.1f}, scalar single {p['scalar_single']:.1f} GFLOP/s")
for kernel in ("copy", "triad"):
    levels = ", ".join(f"{lv} {best('kernels', kernel, lv) or 0:.1f}" for lv in ("l1", "l2", "l3", "dram"))
    print(f"rankscope {kernel} GB/s: {levels}")
for i, r in enumerate(runs, 1):
    for n in r["notes"]:
        print(f"note (run {i}): {n}")
PY

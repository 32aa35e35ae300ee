#!/usr/bin/env bash
# Extra finalize time on rank 0, rankscope beside LLNL Caliper's runtime-report (issue 18): both
# programs build the same call tree on every rank (root, 100 children, 10 or 100 grandchildren
# each: 1,101 or 10,101 paths, every region entered 3 times), meet in a barrier, and rank 0
# times its finalize. Each program also runs without its final reduction and report (Caliper
# with CALI_CONFIG unset, rankscope with RANKSCOPE_AUTO_OUTPUT=off), so that finalize is
# MPI_Finalize alone; the extra cost is the difference, taken within each repetition (the runs
# of one repetition follow each other), and the table shows the median over the repetitions.
# A second table does the same with the CPU seconds of the whole job (every rank and mpirun).
#
#   CALIPER_BENCH=/tmp/calbench/bench ./scripts/bench-finalize.sh
#
# Variables: CALIPER_BENCH (required), RANKS (default "4 16 64"), GRANDCHILDREN ("10 100"),
# REPS (3). Ranks are oversubscribed on this machine's cores: run it on a quiet machine, and quote
# the load printed with the table.
#
# rankscope runs twice with outputs: its default outputs (JSON, text report, HDF5, Caliper
# json-split) and the text report only (the closest to Caliper's one text report).
# Caliper writes its runtime-report (cross-rank min/max/avg time per region) to a file.
#
# Neither Caliper nor the Caliper-side program is part of this repository: run the script
# without CALIPER_BENCH to be told how to build one outside it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CALIPER_BENCH:-}" ]; then
  cat >&2 <<'EOF'
CALIPER_BENCH is not set: point it at the Caliper-side program, e.g.
  CALIPER_BENCH=/tmp/calbench/bench ./scripts/bench-finalize.sh
Neither Caliper nor that program belongs in this repository: make both outside it (in /tmp).
What the program needs: LLNL Caliper 2.x built from its public source with MPI support, in
release mode; a C++ MPI program linked with it that builds, with CALI_MARK_BEGIN/CALI_MARK_END,
the tree of runtime/examples/finalize_bench.rs (root, 100 children child_<c>, G grandchildren
grand_<g> each, the whole tree walked 3 times), takes `--grandchildren G`, calls MPI_Barrier,
times MPI_Finalize on rank 0 and prints there one line with `paths=<N>` and `finalize_s=<seconds>`,
as finalize_bench does. This script runs it with CALI_CONFIG unset and with
CALI_CONFIG=runtime-report,output=report.txt (Caliper's report is written inside MPI_Finalize).
EOF
  exit 2
fi
[ -x "$CALIPER_BENCH" ] || { echo "CALIPER_BENCH=$CALIPER_BENCH is not an executable" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "mpirun not found: ./scripts/setup.sh installs Open MPI" >&2; exit 1; }
source scripts/mpi-env.sh

RANKS=${RANKS:-4 16 64}
GRANDCHILDREN=${GRANDCHILDREN:-10 100}
REPS=${REPS:-3}

cargo build --release -q -p rankscope --example finalize_bench
RANKSCOPE_BENCH=${CARGO_TARGET_DIR:-target}/release/examples/finalize_bench
RANKSCOPE_BENCH=$(realpath "$RANKSCOPE_BENCH")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
RESULTS=$TMP/results.txt

# One run: `run LABEL RANKS G REP "VAR=VALUE ..." PROGRAM ARGS...` runs PROGRAM under mpirun with
# those variables (`-u VAR` unsets one), in a scratch folder (Caliper also reads a caliper.config
# from the working directory); appends the result line, prefixed with what was run and followed
# by the CPU seconds (user + system) of mpirun and all its ranks, to RESULTS; deletes the
# outputs (the default outputs reach 150 MB at 64 ranks x 10k paths).
run() {
  local label=$1 ranks=$2 g=$3 rep=$4 vars=$5
  shift 5
  local dir=$TMP/run line cpu
  rm -rf "$dir" && mkdir -p "$dir"
  # bash's `time` reports the children's rusage: mpirun waits for its ranks, so theirs is in it.
  # $vars is split into words on purpose: each is one env argument.
  # shellcheck disable=SC2086
  if ! { TIMEFORMAT='%U %S'; time (cd "$dir" && env $vars mpirun --oversubscribe -n "$ranks" "$@" \
    >"$TMP/stdout.log" 2>"$TMP/stderr.log"); } 2>"$TMP/time.log" ||
    ! line=$(grep -E 'finalize_s=' "$TMP/stdout.log"); then
    echo "run failed: $label, $ranks ranks, $g grandchildren:" >&2
    tail -20 "$TMP/stderr.log" >&2
    exit 1
  fi
  cpu=$(awk '{print $1 + $2}' "$TMP/time.log")
  echo "$label $ranks $rep $line cpu_s=$cpu" >>"$RESULTS"
  rm -rf "$dir"
}

LOAD_BEFORE=$(uptime)
for ranks in $RANKS; do
  for g in $GRANDCHILDREN; do
    echo "$ranks ranks, $g grandchildren per child: $REPS repetitions" >&2
    for rep in $(seq "$REPS"); do
      run caliper_base "$ranks" "$g" "$rep" "-u CALI_CONFIG" \
        "$CALIPER_BENCH" --grandchildren "$g"
      run caliper_report "$ranks" "$g" "$rep" "CALI_CONFIG=runtime-report,output=report.txt" \
        "$CALIPER_BENCH" --grandchildren "$g"
      run rankscope_base "$ranks" "$g" "$rep" "RANKSCOPE_AUTO_OUTPUT=off" \
        "$RANKSCOPE_BENCH" out --grandchildren "$g"
      run rankscope_default "$ranks" "$g" "$rep" "RANKSCOPE_AUTO_OUTPUT=on" \
        "$RANKSCOPE_BENCH" out --grandchildren "$g"
      run rankscope_text "$ranks" "$g" "$rep" "RANKSCOPE_AUTO_OUTPUT=on RANKSCOPE_JSON_OUTPUT=off
        RANKSCOPE_HDF5_OUTPUT=off RANKSCOPE_CALIPER_OUTPUT=off" \
        "$RANKSCOPE_BENCH" out --grandchildren "$g"
    done
  done
done
LOAD_AFTER=$(uptime)

python3 - "$RESULTS" "$LOAD_BEFORE" "$LOAD_AFTER" <<'PY'
import re
import statistics
import sys
from collections import defaultdict

results, load_before, load_after = sys.argv[1:]
# finalize[(ranks, paths)][label][rep] = rank 0's finalize seconds; cpu: the whole job's CPU seconds
finalize = defaultdict(lambda: defaultdict(dict))
cpu = defaultdict(lambda: defaultdict(dict))
for line in open(results):
    label, ranks, rep, rest = line.split(maxsplit=3)
    fields = dict(re.findall(r"(\w+)=(\S+)", rest))
    key = (int(ranks), int(fields["paths"]))
    finalize[key][label][rep] = float(fields["finalize_s"])
    cpu[key][label][rep] = float(fields["cpu_s"])


def extra(runs, label, base):
    """Median over repetitions of (finalize with label - finalize of base), and its range."""
    d = [runs[label][r] - runs[base][r] for r in runs[base] if r in runs[label]]
    return statistics.median(d), min(d), max(d)


def cell(x):
    med, lo, hi = x
    return f"{med:.3f} ({lo:.3f}-{hi:.3f})"


print(f"load before: {load_before.strip()}")
print(f"load after:  {load_after.strip()}")
print()
print("Extra finalize time on rank 0, seconds: median over repetitions (range); ratio = rankscope / Caliper.")
print()
print("| ranks x paths | Caliper runtime-report | rankscope default outputs | ratio | rankscope text only | ratio | MPI_Finalize alone: Caliper / rankscope |")
print("|---|---|---|---|---|---|---|")
for (ranks, paths), runs in sorted(finalize.items()):
    cal = extra(runs, "caliper_report", "caliper_base")
    dflt = extra(runs, "rankscope_default", "rankscope_base")
    text = extra(runs, "rankscope_text", "rankscope_base")
    base_c = statistics.median(runs["caliper_base"].values())
    base_r = statistics.median(runs["rankscope_base"].values())
    print(
        f"| {ranks} x {paths:,} | {cell(cal)} | {cell(dflt)} | {dflt[0] / cal[0]:.2f}x "
        f"| {cell(text)} | {text[0] / cal[0]:.2f}x | {base_c:.3f} / {base_r:.3f} |"
    )
print()
print("Extra CPU seconds of the whole job (every rank and mpirun, user + system), same runs: what the")
print("finalize costs all ranks together, less sensitive than rank 0's wall time to other work on the machine.")
print()
print("| ranks x paths | Caliper runtime-report | rankscope default outputs | ratio | rankscope text only | ratio |")
print("|---|---|---|---|---|---|")
for (ranks, paths), runs in sorted(cpu.items()):
    cal = extra(runs, "caliper_report", "caliper_base")
    dflt = extra(runs, "rankscope_default", "rankscope_base")
    text = extra(runs, "rankscope_text", "rankscope_base")
    print(
        f"| {ranks} x {paths:,} | {cell(cal)} | {cell(dflt)} | {dflt[0] / cal[0]:.2f}x "
        f"| {cell(text)} | {text[0] / cal[0]:.2f}x |"
    )
PY

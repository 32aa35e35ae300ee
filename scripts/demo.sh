#!/usr/bin/env bash
# Sets up what is missing, builds rankscope (Rust runtime and Python package) and profiles the
# built-in example under `mpirun -n 4`: examples/python/app.py, a Python program with uneven
# work per rank, decorated with marker/profile and using components and storage. Rank 0
# merges every rank; the script prints the text report and where the outputs are.
# RANKSCOPE_DEMO=rust runs the Rust example (runtime/examples/ranks.rs) instead.
# Usage: scripts/demo.sh [output folder]   (default: rankscope-output, never overwritten)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/mpi-env.sh
export RANKSCOPE_OUTPUT_PATH=${1:-${RANKSCOPE_OUTPUT_PATH:-rankscope-output}}

cargo build -q --release -p rankscope --example ranks --bin rankscope
log=$(mktemp)
if [ "${RANKSCOPE_DEMO:-python}" = rust ]; then
  mpirun -n 4 ./target/release/examples/ranks 2>"$log"
else
  mpirun -n 4 .venv/bin/python examples/python/app.py 2>"$log"
fi
# Rank 0 says on stderr where it wrote the merged outputs.
dir=$(sed -n 's/^rankscope: outputs written to //p' "$log" | tail -n 1)
rm -f "$log"
[ -n "$dir" ] || { echo "demo: no outputs were written" >&2; exit 1; }
echo
./target/release/rankscope report "$dir/profile.json"
echo
echo "outputs in $dir:"
ls -1 "$dir" | sed 's/^/  /'

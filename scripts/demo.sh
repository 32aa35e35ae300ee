#!/usr/bin/env bash
# Sets up what is missing, builds rankscope and profiles the built-in example under
# `mpirun -n 4`: uneven work per rank and a region only odd ranks enter, merged on rank 0.
# Prints the text report and where the outputs are.
# Usage: scripts/demo.sh [output folder]   (default: rankscope-output, never overwritten)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/mpi-env.sh
export RANKSCOPE_OUTPUT_PATH=${1:-${RANKSCOPE_OUTPUT_PATH:-rankscope-output}}

cargo build -q --release -p rankscope --example ranks --bin rankscope
files=$(mpirun -n 4 ./target/release/examples/ranks)
json=$(printf '%s\n' "$files" | grep 'profile.json$' | head -n 1)
./target/release/rankscope report "$json"
echo
echo "outputs:"
printf '  %s\n' $files

#!/usr/bin/env bash
# Sets up what is missing, builds rankscope and profiles the built-in example: nested regions
# over 8 threads. Prints the text report and where the outputs are.
# Usage: scripts/demo.sh [output folder]   (default: rankscope-output, never overwritten)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/mpi-env.sh
export RANKSCOPE_OUTPUT_PATH=${1:-${RANKSCOPE_OUTPUT_PATH:-rankscope-output}}
export RANKSCOPE_COMPONENTS=${RANKSCOPE_COMPONENTS:-wall_clock,cpu_clock,peak_rss}

cargo build -q --release -p rankscope --example threads --bin rankscope
files=$(./target/release/examples/threads)
json=$(printf '%s\n' "$files" | grep 'profile.json$' | head -n 1)
./target/release/rankscope report "$json"
echo
echo "outputs:"
printf '  %s\n' $files

#!/usr/bin/env bash
# Instructions per region (start + stop + aggregation) of runtime/examples/region_loop.rs,
# counted by callgrind at two iteration counts so that start-up cancels out. Instruction counts
# repeat exactly for the same binary and inputs, whatever else the machine is doing.
# Usage: scripts/region-instructions.sh [components, default wall_clock]
set -euo pipefail
cd "$(dirname "$0")/.."
components=${1:-wall_clock}
cargo build -q --release -p rankscope --example region_loop
count() {
  RANKSCOPE_AUTO_OUTPUT=off valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "${CARGO_TARGET_DIR:-target}"/release/examples/region_loop "$1" "$components" 2>&1 |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
}
small=$(count 100000)
large=$(count 200000)
echo "$components: $(( (large - small) / 300000 )) instructions per region"

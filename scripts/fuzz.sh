#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (the profile/snapshot JSON reader and the reduction's wire
# decoder), installing cargo-fuzz from crates.io when it is missing. docs/reliability.md says what
# each target checks.
#
#   scripts/fuzz.sh                      every target for FUZZ_SECONDS (default 20) each: the brief
#                                        run of ./scripts/test.sh
#   scripts/fuzz.sh -runs=1000000 wire   one target, any libFuzzer options (a long run)
#
# Runs on the stable toolchain: `-s none` builds without a sanitizer (sanitizers need nightly);
# libFuzzer's coverage instrumentation, debug assertions and overflow checks stay on. Inputs found
# are kept under target-fuzz/corpus/<target> (not committed); fuzz/seeds/<target> holds the saved
# captures every run starts from; a crash is saved under fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install -q --locked cargo-fuzz@0.13.2
fi

options=() targets=()
for arg in "$@"; do
  case "$arg" in
    -*) options+=("$arg") ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
[ ${#options[@]} -gt 0 ] || options=("-max_total_time=${FUZZ_SECONDS:-20}")

export CARGO_TARGET_DIR=$PWD/target-fuzz
for target in "${targets[@]}"; do
  corpus=target-fuzz/corpus/$target
  mkdir -p "$corpus"
  echo "fuzz: $target ${options[*]}" >&2
  log=$(mktemp)
  status=0
  dict=()
  if [ -f "fuzz/dictionaries/$target.dict" ]; then dict=("-dict=fuzz/dictionaries/$target.dict"); fi
  cargo fuzz run -s none "$target" "$corpus" "fuzz/seeds/$target" -- \
    "${dict[@]}" "${options[@]}" 2>"$log" || status=$?
  # libFuzzer's last line says how many inputs ran ("Done 123456 runs in 20 second(s)").
  grep -E '^Done [0-9]+ runs|ERROR|panicked|SUMMARY|artifact' "$log" | sed "s/^/fuzz: $target: /" >&2 || true
  if [ $status -ne 0 ]; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    echo "fuzz: $target failed (exit $status); the input is under fuzz/artifacts/$target/" >&2
    exit $status
  fi
  rm -f "$log"
done

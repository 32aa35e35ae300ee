#!/usr/bin/env bash
# Sets up what is missing, then runs every check: formatting, clippy, Rust tests (with and
# without MPI), ruff, and the Python and end-to-end tests (mpirun, HDF5, Hatchet, Thicket).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/mpi-env.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --workspace
step "cargo check without MPI and HDF5"
cargo check -p rankscope --no-default-features

if [ -f python/pyproject.toml ]; then
  step "ruff"
  .venv/bin/pip install -q ruff >&2
  .venv/bin/ruff check python examples tests
  step "pip install ./python"
  .venv/bin/pip install -q ./python >&2
fi

pytest_dirs=()
for d in tests python/tests; do
  ls "$d"/test_*.py >/dev/null 2>&1 && pytest_dirs+=("$d")
done
if [ ${#pytest_dirs[@]} -gt 0 ]; then
  step "pytest ${pytest_dirs[*]}"
  .venv/bin/python -m pytest -q "${pytest_dirs[@]}"
fi

#!/usr/bin/env bash
# Sets up what is missing, then runs every check: formatting, clippy, Rust tests (with and
# without MPI), a brief run of the fuzzers, ruff, and the Python and end-to-end tests (mpirun, HDF5, Hatchet, Thicket).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/mpi-env.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --workspace
step "cargo check without MPI and HDF5"
cargo check -p rankscope --no-default-features
step "fuzz the profile/snapshot JSON reader and the wire decoder briefly (scripts/fuzz.sh)"
./scripts/fuzz.sh

step "ruff"
.venv/bin/ruff check python examples tests
.venv/bin/ruff format --check python examples tests

step "pytest (Python API, mpirun end-to-end, HDF5, Hatchet, Thicket)"
.venv/bin/python -m pytest -q -rs python/tests tests

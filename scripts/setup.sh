#!/usr/bin/env bash
# Installs what rankscope needs on a Debian machine, only what is missing: system packages
# (MPI, HDF5, hwloc, clang for bindgen, Slurm and munge for the Slurm test, Python), then a
# virtualenv at .venv with the Python packages of the tests, and builds the rankscope Python
# package into it (incrementally: the Rust build shares ./target). Safe to run again.
# Needs nothing beyond the Rust toolchain (rustup), the Debian packages below and what it installs
# into .venv: every Python tool (pip, maturin, ruff, pytest) is run from .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config ca-certificates
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libhwloc-dev hwloc-nox libudev-dev
  libclang1-14 libclang-common-14-dev
  # A one-node Slurm on loopback for tests/test_slurm.py (the daemons are started by the test,
  # never as services): about 8 s to install, once.
  slurmctld slurmd slurm-client munge
)
# Debian's python3 (installed here when there is none, or already /usr/bin/python3) needs
# python3-venv for `python3 -m venv` and python3-dev for libpython, which `cargo test` links for the
# Python bindings. Another python3 (e.g. pyenv) brings both itself.
case "$(command -v python3 || true)" in
  "" | /usr/bin/python3) packages+=(python3 python3-venv python3-dev) ;;
esac
if ! command -v cargo >/dev/null; then
  # Debian's own cargo (1.63 in bookworm) is older than the workspace's rust-version (1.89).
  echo "setup: cargo not found: install Rust 1.89 or newer with rustup (https://rustup.rs)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements-stamp
if [ ! -f "$stamp" ] || [ tests/requirements.txt -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >&2
  # maturin within the range python/pyproject.toml asks for: --no-build-isolation does not check it.
  .venv/bin/pip install -q -r tests/requirements.txt "maturin>=1.5,<2" ruff >&2
  touch "$stamp"
fi

# The rankscope package itself, built from source against the system MPI (never a wheel that
# bundles its own libmpi: see docs/python.md). maturin's build backend runs the `maturin` command
# by name, so the venv's bin goes first on PATH for the build: otherwise it is found only on
# machines that happen to have another maturin installed (and then maybe another version).
PATH="$PWD/.venv/bin:$PATH" .venv/bin/pip install -q --no-build-isolation ./python >&2

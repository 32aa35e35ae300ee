#!/usr/bin/env bash
# Installs what rankscope needs on a Debian machine, only what is missing: system packages
# (MPI, HDF5, hwloc, clang for bindgen, Python), then a virtualenv at .venv with the Python
# packages of the tests, and builds the rankscope Python package into it (incrementally: the
# Rust build shares ./target). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config ca-certificates
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libhwloc-dev hwloc-nox libudev-dev
  libclang1-14 libclang-common-14-dev
)
command -v python3 >/dev/null || packages+=(python3 python3-venv python3-dev python3-pip)
command -v cargo >/dev/null || packages+=(cargo rustc)

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
  .venv/bin/pip install -q -r tests/requirements.txt maturin ruff >&2
  touch "$stamp"
fi

# The rankscope package itself, built from source against the system MPI (never a wheel that
# bundles its own libmpi: see docs/python.md).
.venv/bin/pip install -q --no-build-isolation ./python >&2

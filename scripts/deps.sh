#!/bin/sh
# deps.sh — installs the Debian packages sten needs, and only those missing.
# Idempotent: a second run installs nothing. Needs root or sudo when
# something is missing; says so clearly otherwise.
#   scripts/deps.sh          build + test dependencies
#   scripts/deps.sh --check  only report what is missing (exit 1 if any)
set -eu

PKGS="build-essential cmake pkg-config libopenblas-openmp-dev libnetcdf-dev netcdf-bin libjansson-dev zlib1g-dev python3-numpy python3-scipy python3-pytest libmicrohttpd-dev liblmdb-dev curl"
# MPI (sten train/predict across ranks; the build option STEN_MPI, which scripts/test.sh turns on)
PKGS="$PKGS openmpi-bin libopenmpi-dev"
# the fuzz build (scripts/fuzz.sh): clang, and its sanitizer and libFuzzer
# runtimes (only recommended by clang, so named here)
PKGS="$PKGS clang libclang-rt-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "deps: all present ($PKGS)"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "deps: missing:$missing"
    exit 1
fi

echo "deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "deps: need root to install:$missing" >&2
    echo "deps: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or a first try fails.
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi

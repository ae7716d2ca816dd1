#!/usr/bin/env bash
# Runs every test: installs missing Debian packages, builds everything, runs ctest.
# Usage: bash scripts/test.sh [extra ctest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
build=${WTSERVE_BUILD_DIR:-$root/build/release}
jobs=${WTSERVE_JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"
cd "$build"
ctest --output-on-failure -j "$jobs" "$@"

#!/bin/bash
# Installs the client package (component "client") into a temporary prefix and builds and runs
# a separate CMake project against it with find_package(wtserve_client).
set -euo pipefail
binary_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$binary_dir" --component client --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/wtserve/client.h"
test -f "$work/prefix/lib/cmake/wtserve_client/wtserve_clientConfig.cmake" ||
  test -n "$(find "$work/prefix" -name wtserve_clientConfig.cmake)"
# Server headers must not leak into the client package.
if find "$work/prefix" -path '*server*' | grep -q .; then echo "server files installed" >&2; exit 1; fi
cmake -S "$source_dir/tests/client/consumer" -B "$work/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
"$work/build/consumer"

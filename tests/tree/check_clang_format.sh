#!/usr/bin/env bash
# Every C++ file of the tree is formatted as .clang-format says: clang-format --dry-run reports
# each change it would make, and --Werror turns them into a failure. Files are those git tracks,
# so build folders and generated code are not checked.
# Usage: check_clang_format.sh SOURCE_DIR
set -euo pipefail
cd "$1"
if ! command -v clang-format >/dev/null; then
  echo "clang-format is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cc' '*.h')
if [ "${#files[@]}" -eq 0 ]; then
  echo "no C++ files found under $1 (not a git checkout?)" >&2
  exit 1
fi
clang-format --dry-run --Werror "${files[@]}"
echo "${#files[@]} files formatted as .clang-format says"

#!/usr/bin/env bash
# Prints, one per line, the Debian packages that own the shared libraries the given ELF binaries
# load (as ldd resolves them), so the runtime image installs exactly those and no -dev packages.
#
# Usage: runtime-packages.sh BINARY...
# Env:   SKIP_DIRS     colon-separated directories whose libraries ship outside dpkg (e.g. an
#                      unpacked LibTorch at /opt/libtorch/lib); they are not looked up.
#        ALLOW_MISSING space-separated sonames that may be unresolved at build time (e.g. the
#                      NVIDIA driver's libcuda.so.1, which the host provides at run time).
# Exits non-zero if a library is missing or owned by no package.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi

IFS=: read -r -a skip_dirs <<< "${SKIP_DIRS:-}"
read -r -a allow_missing <<< "${ALLOW_MISSING:-}"

status=0
declare -A libraries=()
for binary in "$@"; do
  while read -r line; do
    case $line in
      *"=> not found"*)
        soname=${line%% *}
        allowed=0
        for a in "${allow_missing[@]}"; do [ "$a" = "$soname" ] && allowed=1; done
        if [ $allowed -eq 0 ]; then
          echo "$binary: $soname not found" >&2
          status=1
        fi
        continue ;;
      *"=> /"*) path=${line#*=> }; path=${path%% (*} ;;
      /*) path=${line%% (*} ;;
      *) continue ;;
    esac
    skip=0
    for d in "${skip_dirs[@]}"; do
      [ -n "$d" ] && [ "${path#"$d"/}" != "$path" ] && skip=1
    done
    [ $skip -eq 0 ] && libraries[$path]=1
  done < <(ldd "$binary")
done

# dpkg records a file under the path its package shipped it at; with merged /usr that may be
# /lib/... or /usr/lib/..., and alternatives (libblas.so.3) resolve elsewhere. Ask for every
# candidate of every library in one dpkg-query call (each call reads the whole database).
declare -A candidates_of=()
all_candidates=()
for path in "${!libraries[@]}"; do
  real=$(readlink -f "$path")
  list=("$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real")
  candidates_of[$path]="${list[*]}"
  all_candidates+=("${list[@]}")
done
declare -A owner_of=()
while IFS= read -r line; do
  case $line in
    "diversion "*) continue ;;
    *": /"*) owner_of[${line#*: }]=${line%%: *} ;;
  esac
done < <(dpkg-query -S "${all_candidates[@]}" 2>/dev/null || true)

declare -A packages=()
for path in "${!libraries[@]}"; do
  found=""
  for candidate in ${candidates_of[$path]}; do
    if [ -n "${owner_of[$candidate]:-}" ]; then
      found=${owner_of[$candidate]%%,*}
      break
    fi
  done
  if [ -n "$found" ]; then
    packages[$found]=1
  else
    echo "$path belongs to no Debian package" >&2
    status=1
  fi
done

if [ ${#packages[@]} -gt 0 ]; then
  printf '%s\n' "${!packages[@]}" | sort
fi
exit $status

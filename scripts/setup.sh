#!/usr/bin/env bash
# Installs the Debian 12 packages wtserve needs. Idempotent: packages already present are
# skipped. Nothing is fetched from outside Debian.
#
# Usage: bash scripts/setup.sh [--job] [--log FILE]
#   (default)   everything: build, every test, benchmarks, fuzzing, training, the main job
#   --job       only what scripts/main-job.sh needs (build the server, load generator and
#               evaluation tool; Fashion-MNIST; the report's plots)
#   --log FILE  apt's full output goes here (default: $TMPDIR/wtserve-setup.log); the terminal
#               gets one line per step, and the log's tail if a step fails
set -euo pipefail

profile=all
log="${TMPDIR:-/tmp}/wtserve-setup.log"
while [ $# -gt 0 ]; do
  case "$1" in
    --job) profile=job; shift ;;
    --log) log=${2:?--log needs a file}; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

job_packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config
  # inference stack
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev prometheus-cpp-dev libopencv-dev zlib1g-dev nlohmann-json3-dev libcpp-httplib-dev
  # data and reports
  dataset-fashion-mnist python3-matplotlib
)
test_packages=(
  git curl
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev openssl
  python3-torch python3-pywt python3-numpy python3-grpcio python3-grpc-tools python3-protobuf
  prometheus
  # fuzzing (scripts/fuzz.sh: libFuzzer, sanitizers) and its seed generator
  clang libclang-rt-14-dev python3-pil
  # formatting check (tests/tree)
  clang-format
  # deployment checks (tests/deploy)
  yamllint shellcheck docker-compose python3-yaml
)
packages=("${job_packages[@]}")
[ "$profile" = all ] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages ($profile) present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

mkdir -p "$(dirname "$log")"
: >"$log"
# One line per step: what it does, then ok and its time, or the log's tail and the exit status.
step() {
  local what=$1 start rc=0
  shift
  start=$(date +%s)
  printf 'setup: %s ... ' "$what"
  echo "== $what: $*" >>"$log"
  "$@" >>"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "failed (exit $rc); last lines of $log:"
    tail -n 20 "$log" >&2
    exit "$rc"
  fi
  echo "ok ($(( $(date +%s) - start )) s)"
}

echo "setup: ${#missing[@]} of ${#packages[@]} packages ($profile) missing; apt's log: $log"
export DEBIAN_FRONTEND=noninteractive
step "apt-get update" apt-get update -q
noun=packages
[ ${#missing[@]} -eq 1 ] && noun=package
step "installing ${#missing[@]} $noun" apt-get install -y -q --no-install-recommends "${missing[@]}"

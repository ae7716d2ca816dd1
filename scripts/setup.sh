#!/usr/bin/env bash
# Installs every Debian 12 package wtserve needs to build, test, train and run its main job.
# Idempotent: packages already present are skipped by apt. Nothing is fetched from outside Debian.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # inference stack
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler grpc-proto
  libabsl-dev prometheus-cpp-dev libopencv-dev zlib1g-dev nlohmann-json3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev openssl
  python3-torch python3-pywt python3-numpy python3-grpcio python3-grpc-tools python3-protobuf
  prometheus
  # fuzzing (scripts/fuzz.sh: libFuzzer, sanitizers) and its seed generator
  clang libclang-rt-14-dev python3-pil
  # deployment checks (tests/deploy)
  yamllint shellcheck docker-compose python3-yaml
  # data and reports
  dataset-fashion-mnist python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "setup.sh: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

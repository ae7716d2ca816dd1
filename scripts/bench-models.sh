#!/usr/bin/env bash
# Builds and runs the whole-network benchmark (bench/models, LibTorch + Google Benchmark only),
# times the Python reference networks on the same cases and threads, and prints a Markdown table
# (bench/models/report.py) plus the top ops of each WTConv model by LibTorch's profiler.
#
# Usage: bash scripts/bench-models.sh [extra models_bench flags, e.g. --benchmark_filter=case:[45]]
# Environment:
#   WTSERVE_THREADS         intra-op and OpenBLAS threads for both sides (default: nproc)
#   WTSERVE_DTYPE           float32 (default) or bfloat16 (C++ side only)
#   WTSERVE_BUILD_DIR       build folder (default: build/bench-models)
#   WTSERVE_BENCH_MIN_TIME  seconds per measurement (default 0.5), 3 repetitions, median
#   WTSERVE_BENCH_REF_FILTER  only time Python cases whose "ARCH,N=.." contains this
#   WTSERVE_BENCH_OUT       folder for the JSON results (default: $WTSERVE_BUILD_DIR/results)
#   WTSERVE_PYTHON          interpreter with python3-torch and python3-pywt (default /usr/bin/python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

threads=${WTSERVE_THREADS:-$(nproc)}
dtype=${WTSERVE_DTYPE:-float32}
build=${WTSERVE_BUILD_DIR:-$root/build/bench-models}
min_time=${WTSERVE_BENCH_MIN_TIME:-0.5}
out=${WTSERVE_BENCH_OUT:-$build/results}
python=${WTSERVE_PYTHON:-/usr/bin/python3}
if ! [[ "$threads" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench-models.sh: WTSERVE_THREADS must be a positive integer, got '$threads'" >&2
  exit 2
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DWTSERVE_WITH_SERVING=OFF -DWTSERVE_BUILD_TESTS=OFF -DWTSERVE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target models_bench -j "$(nproc)"
mkdir -p "$out"
bench="$build/bench/models/models_bench"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "C++ (threads=$threads, $dtype)..."
"$bench" --threads="$threads" --dtype="$dtype" \
  --benchmark_min_time="$min_time" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=console --benchmark_out_format=json --benchmark_out="$out/models_bench.json" "$@"
echo "Python reference (threads=$threads, float32)..."
# The same glibc heap settings as the C++ side (server/process/heap.h), and OpenBLAS governed
# like models_bench governs it.
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
OPENBLAS_NUM_THREADS="$threads" \
"$python" bench/models/bench_ref.py --threads "$threads" --min-time "$min_time" --repetitions 3 \
  --filter "${WTSERVE_BENCH_REF_FILTER:-}" >"$out/models_ref.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
{
  "$python" bench/models/report.py "$out/models_bench.json" "$out/models_ref.json"
  for spec in wtconvnext_tiny:8 wtconvnext_fmnist:64; do
    echo
    "$bench" --threads="$threads" --dtype="$dtype" --profile="$spec"
  done
} | tee "$out/table.md"

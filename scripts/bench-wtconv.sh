#!/usr/bin/env bash
# Builds and runs the WTConv2d benchmark (LibTorch + Google Benchmark only), times the Python
# reference layer (tests/reference/wtconv_ref.py) on the same shapes and thread count, and prints
# a Markdown table with the speed-up. Results are kept in $WTSERVE_BENCH_OUT.
#
# Usage: bash scripts/bench-wtconv.sh [extra wtconv_bench flags, e.g. --benchmark_filter=N:1/]
# Environment:
#   WTSERVE_THREADS      torch intra-op threads for both sides (default: nproc)
#   WTSERVE_BUILD_DIR    build folder (default: build/bench-wtconv)
#   WTSERVE_JOBS         parallel compile jobs (default: nproc)
#   WTSERVE_BENCH_MIN_TIME  seconds per measurement (default 0.5), 3 repetitions, median
#   WTSERVE_BENCH_OUT    folder for the JSON results (default: $WTSERVE_BUILD_DIR/results)
#   WTSERVE_BENCH_REF_FILTER  only time Python shapes whose "C=..,HW=..,N=..,L=.." contains this
#   WTSERVE_PYTHON       interpreter with python3-torch and python3-pywt (default /usr/bin/python3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

threads=${WTSERVE_THREADS:-$(nproc)}
build=${WTSERVE_BUILD_DIR:-$root/build/bench-wtconv}
jobs=${WTSERVE_JOBS:-$(nproc)}
min_time=${WTSERVE_BENCH_MIN_TIME:-0.5}
out=${WTSERVE_BENCH_OUT:-$build/results}
python=${WTSERVE_PYTHON:-/usr/bin/python3}
if ! [[ "$threads" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench-wtconv.sh: WTSERVE_THREADS must be a positive integer, got '$threads'" >&2
  exit 2
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DWTSERVE_WITH_SERVING=OFF -DWTSERVE_BUILD_TESTS=OFF -DWTSERVE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target wtconv_bench -j "$jobs"
mkdir -p "$out"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "C++ benchmark (threads=$threads)..."
"$build/bench/wtconv/wtconv_bench" --threads="$threads" \
  --benchmark_min_time="$min_time" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=console --benchmark_out_format=json --benchmark_out="$out/wtconv_bench.json" "$@"
echo "Python reference (threads=$threads)..."
# The same glibc heap settings wtconv_bench (and wtserve) apply with mallopt, so that neither side
# pays page faults the other does not (server/process/heap.h).
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
"$python" bench/wtconv/bench_ref.py --threads "$threads" --min-time "$min_time" --repetitions 3 \
  --filter "${WTSERVE_BENCH_REF_FILTER:-}" >"$out/wtconv_ref.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
{
  "$python" bench/wtconv/report.py "$out/wtconv_bench.json" "$out/wtconv_ref.json"
  # With one thread, CPU time is comparable on both sides and much less disturbed by other load.
  if [ "$threads" -eq 1 ]; then
    echo
    "$python" bench/wtconv/report.py --cpu "$out/wtconv_bench.json" "$out/wtconv_ref.json"
  fi
} | tee "$out/table.md"

#!/usr/bin/env bash
# The fused WTConv2d CPU kernel against the 7x7 depthwise conv it replaces in ConvNeXt, at 1 and
# 2 threads (or WTSERVE_THREAD_COUNTS), every shape of wtconv_bench (WTConvNeXt-T's stages 0
# and 2, batch 1 and 32, levels 1-5), channels_last. Repetitions are interleaved at random, and
# each benchmark's minimum is kept, so both sides of a ratio come from the same stretch of time
# on a noisy host. Prints a Markdown table (bench/wtconv/ratio_report.py).
#
# Usage: bash scripts/bench-wtconv-vs-dw.sh
# Environment:
#   WTSERVE_THREAD_COUNTS   thread counts to run (default "1 2")
#   WTSERVE_BENCH_REPS      repetitions per benchmark (default 5)
#   WTSERVE_BUILD_DIR       build folder (default: build/bench-wtconv)
#   WTSERVE_BENCH_OUT       folder for the JSON results (default: $WTSERVE_BUILD_DIR/results)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${WTSERVE_BUILD_DIR:-$root/build/bench-wtconv}
out=${WTSERVE_BENCH_OUT:-$build/results}
reps=${WTSERVE_BENCH_REPS:-5}
counts=${WTSERVE_THREAD_COUNTS:-1 2}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DWTSERVE_WITH_SERVING=OFF -DWTSERVE_BUILD_TESTS=OFF -DWTSERVE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target wtconv_bench -j "$(nproc)"
mkdir -p "$out"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
files=()
for threads in $counts; do
  echo "threads=$threads (load $(cut -d' ' -f1 /proc/loadavg))..."
  "$build/bench/wtconv/wtconv_bench" --threads="$threads" --benchmark_filter='HaarNHWC/|Depthwise7x7' \
    --benchmark_min_time=0.1 --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
    --benchmark_format=json >"$out/vs_dw_t$threads.json" 2>"$out/vs_dw_t$threads.log"
  files+=("$out/vs_dw_t$threads.json")
done
python3 bench/wtconv/ratio_report.py "${files[@]}" | tee "$out/vs_dw.md"

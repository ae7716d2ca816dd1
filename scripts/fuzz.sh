#!/usr/bin/env bash
# Fuzzes the parsers that meet outside bytes (fuzz/), each target for a fixed time, with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (LeakSanitizer included).
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
#   bash scripts/fuzz.sh 10      # a smoke of every target
# Inputs that add coverage are kept in build/fuzz/corpus/<target> (seeds: fuzz/corpus/<target>);
# a crash, leak, timeout or out-of-memory input is written to build/fuzz/findings/<target>/.
# Prints one line per target (executions, corpus size, findings); exits 1 on any finding.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true
all_targets=(fuzz_checkpoint fuzz_pickle fuzz_model_config fuzz_infer_request fuzz_rest_request fuzz_image fuzz_idx)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $target "*) ;;
    *) echo "fuzz.sh: unknown target '$target' (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh
build=${WTSERVE_FUZZ_BUILD_DIR:-$root/build/fuzz}
CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWTSERVE_FUZZ=ON \
  -DWTSERVE_BUILD_TESTS=OFF -DWTSERVE_BUILD_BENCHMARKS=OFF > "$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
cmake --build "$build" --target fuzz_targets -j "${WTSERVE_JOBS:-$(nproc)}"

# LibTorch and OpenBLAS start thread pools; one thread keeps runs reproducible and fast.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export LSAN_OPTIONS="suppressions=$root/fuzz/lsan.supp:print_suppressions=0"
status=0
printf '%-20s %12s %8s %8s\n' target executions corpus findings
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  findings="$build/findings/$target"
  mkdir -p "$corpus" "$findings"
  log="$build/$target.log"
  # -rss_limit_mb: an input that makes the parser allocate 2 GiB is a finding (a declared size
  # the file does not hold). -timeout: one input taking 10 s is a finding too.
  "$build/fuzz/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$corpus" "fuzz/corpus/$target" > "$log" 2>&1 || true
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  found=$(find "$findings" -type f | wc -l)
  printf '%-20s %12s %8s %8s\n' "$target" "${executions:-0}" "$(find "$corpus" -type f | wc -l)" "$found"
  if [ "$found" -gt 0 ] || ! grep -q 'Done [0-9]* runs' "$log"; then
    status=1
    echo "  see $log and $findings/" >&2
  fi
done
exit $status

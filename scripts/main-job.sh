#!/usr/bin/env bash
# The main job: build wtserve, serve the shipped model repository (the WTConv classifier and its
# ConvNeXt baseline, three training seeds each), measure every seed pair over gRPC on
# Fashion-MNIST test images, clean and under all 19 corruptions at severities 1-5, stop the
# server with SIGTERM, compute each model's effective receptive field offline, and write a
# report folder.
#
# Usage: bash scripts/main-job.sh [--samples N | --full] [--seeds N] [--out DIR] [--concurrency N]
#   --samples N      test images per condition (default 1000; --full: all 10000)
#   --seeds N        training seeds measured per architecture, 1-3 (default 3)
#   --out DIR        report folder (default ./report)
#   --concurrency N  requests in flight per model (default 16)
#   --input FORM     wire form of the images: uint8 (default), fp32 or png
#   --prebuilt DIR   use the binaries already built in DIR: no package install, no build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
job_start=$(date +%s)

samples=1000
seeds=3
out="$root/report"
concurrency=16
input=uint8
prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --samples) samples=${2:?--samples needs a number}; shift 2 ;;
    --full) samples=0; shift ;;
    --seeds) seeds=${2:?--seeds needs a number}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --concurrency) concurrency=${2:?--concurrency needs a number}; shift 2 ;;
    --input) input=${2:?--input needs uint8, fp32 or png}; shift 2 ;;
    --prebuilt) prebuilt=${2:?--prebuilt needs a build folder}; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "main-job.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$samples" in ''|*[!0-9]*) echo "main-job.sh: --samples must be a non-negative integer" >&2; exit 2 ;; esac
case "$seeds" in 1|2|3) ;; *) echo "main-job.sh: --seeds must be 1, 2 or 3" >&2; exit 2 ;; esac
case "$concurrency" in ''|*[!0-9]*|0) echo "main-job.sh: --concurrency must be a positive integer" >&2; exit 2 ;; esac

python=/usr/bin/python3
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -n "$prebuilt" ]; then
  build=$(cd "$prebuilt" && pwd)
else
  bash scripts/setup.sh --job --log "$out/setup.log"
  # Its own build folder: without tests and benchmarks it needs fewer packages, and flipping
  # those options in build/release would drop the tests that scripts/test.sh builds there.
  build=$root/build/job
  build_start=$(date +%s)
  printf '== building wtserve, wtserve-loadgen, wtserve-health and wtserve-eval in %s (log: %s) ... ' "$build" "$out/build.log"
  if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWTSERVE_BUILD_TESTS=OFF \
           -DWTSERVE_BUILD_BENCHMARKS=OFF &&
         cmake --build "$build" -j "$(nproc)" --target wtserve wtserve-loadgen wtserve-health wtserve-eval; } >"$out/build.log" 2>&1; then
    echo "failed"
    tail -n 40 "$out/build.log" >&2
    echo "main-job.sh: build failed (full log: $out/build.log)" >&2
    exit 1
  fi
  echo "ok ($(( $(date +%s) - build_start )) s)"
fi

rm -rf "$out/samples" "$out"/seed* "$out/erf"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
target="127.0.0.1:$grpc_port"

"$build/server/wtserve" --model_repository="$root/models" --bind_address=127.0.0.1 \
  --grpc_port="$grpc_port" --metrics_port="$metrics_port" --http_port=-1 >"$out/server.log" 2>&1 &
server_pid=$!
stop_server() { if kill -TERM "$server_pid" 2>/dev/null; then wait "$server_pid" 2>/dev/null || true; fi; }
trap stop_server EXIT

echo "== waiting for wtserve (pid $server_pid) to report SERVING on $target"
ready_by=$(( $(date +%s) + 300 ))
until "$build/deploy/health/wtserve-health" --address="$target" --timeout=2s >/dev/null 2>&1; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "main-job.sh: wtserve exited before it was ready; its log:" >&2; cat "$out/server.log" >&2; exit 1
  fi
  if [ "$(date +%s)" -ge "$ready_by" ]; then
    echo "main-job.sh: wtserve not SERVING after 300 s; its log:" >&2; cat "$out/server.log" >&2; exit 1
  fi
  sleep 0.5  # poll interval; readiness itself is decided by the health service
done
echo "== wtserve is SERVING"

# Seed 0 is the plain model folder; seeds 1 and 2 are <model>_seed<N> (docs/models.md, "Shipped models").
folder_of() { if [ "$2" = 0 ]; then echo "$1"; else echo "$1_seed$2"; fi; }
images_text=$([ "$samples" = 0 ] && echo all || echo "$samples")
for seed in $(seq 0 $((seeds - 1))); do
  model=$(folder_of wtconvnext_fmnist "$seed")
  baseline=$(folder_of convnext_fmnist "$seed")
  mkdir -p "$out/seed$seed"
  dump=()
  [ "$seed" = 0 ] && dump=(--dump_samples="$out/samples")
  echo "== seed $seed ($((seed + 1)) of $seeds): $model against $baseline ($images_text test images x (clean + 19 corruptions x 5 severities))"
  # Progress goes to stderr: a live bar on a terminal, a line every 5 s otherwise.
  "$build/client/loadgen/wtserve-loadgen" --target="$target" \
    --model="$model" --baseline_model="$baseline" \
    --data=fmnist --samples="$samples" --corruptions=all --severities=1-5 --seed=0 \
    --transport=async --concurrency="$concurrency" --input="$input" --warmup=64 \
    --output_json="$out/seed$seed/loadgen.json" --output_csv="$out/seed$seed/loadgen.csv" \
    "${dump[@]}" >"$out/seed$seed/loadgen.txt"
done

"$python" - "$metrics_port" "$out/metrics.txt" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10) as r:
    open(sys.argv[2], "wb").write(r.read())
PY

echo "== stopping wtserve with SIGTERM"
trap - EXIT
kill -TERM "$server_pid"
server_rc=0
wait "$server_pid" || server_rc=$?
if [ "$server_rc" -ne 0 ]; then
  echo "main-job.sh: wtserve exited with status $server_rc after SIGTERM; its log:" >&2
  tail -n 30 "$out/server.log" >&2
  exit 1
fi

# Offline, with gradients (docs/models.md "Effective receptive field"): on 500 test images and on
# 200 mosaics of 4x4 test images (112x112), where the input border does not cut the field off.
mkdir -p "$out/erf"
for seed in $(seq 0 $((seeds - 1))); do
  for arch in wtconvnext_fmnist convnext_fmnist; do
    model=$(folder_of "$arch" "$seed")
    printf '== effective receptive field of %s ... ' "$model"
    for tiles in 1 4; do
      count=$([ "$tiles" = 1 ] && echo 500 || echo 200)
      if ! "$build/server/tools/wtserve-eval" --model_dir="$root/models/$model" --limit=500 \
             --erf_output="$out/erf/${model}_tiles$tiles.json" --erf_tiles="$tiles" --erf_images="$count" \
             >>"$out/erf/eval.log" 2>&1; then
        echo "failed"; tail -n 20 "$out/erf/eval.log" >&2; exit 1
      fi
    done
    echo "ok"
  done
done

"$python" scripts/report.py "$out" | tee "$out/report.txt"
elapsed=$(( $(date +%s) - job_start ))
echo "== report: $out/report.txt (plots and data beside it in $out)"
echo "== main job took $((elapsed / 60)) min $((elapsed % 60)) s"

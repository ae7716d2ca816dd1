#!/usr/bin/env bash
# The main job: build wtserve, serve the shipped model repository (the WTConv classifier and its
# ConvNeXt baseline), measure both over gRPC on Fashion-MNIST test images, clean and under all 19
# corruptions at severities 1-5, then stop the server with SIGTERM and write a report folder.
#
# Usage: bash scripts/main-job.sh [--samples N | --full] [--out DIR] [--concurrency N]
#   --samples N      test images per condition (default 1000; --full: all 10000)
#   --out DIR        report folder (default ./report)
#   --concurrency N  requests in flight per model (default 16)
#   --input FORM     wire form of the images: uint8 (default), fp32 or png
#   --prebuilt DIR   use the binaries already built in DIR: no package install, no build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

samples=1000
out="$root/report"
concurrency=16
input=uint8
prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --samples) samples=${2:?--samples needs a number}; shift 2 ;;
    --full) samples=0; shift ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --concurrency) concurrency=${2:?--concurrency needs a number}; shift 2 ;;
    --input) input=${2:?--input needs uint8, fp32 or png}; shift 2 ;;
    --prebuilt) prebuilt=${2:?--prebuilt needs a build folder}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "main-job.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$samples" in ''|*[!0-9]*) echo "main-job.sh: --samples must be a non-negative integer" >&2; exit 2 ;; esac
case "$concurrency" in ''|*[!0-9]*|0) echo "main-job.sh: --concurrency must be a positive integer" >&2; exit 2 ;; esac

python=/usr/bin/python3
if [ -n "$prebuilt" ]; then
  build=$(cd "$prebuilt" && pwd)
else
  bash scripts/setup.sh
  build=$root/build/release
  mkdir -p "$out"
  echo "== building wtserve, wtserve-loadgen and wtserve-health in $build (log: $out/build.log)"
  if ! { cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
         cmake --build "$build" -j "$(nproc)" --target wtserve wtserve-loadgen wtserve-health; } >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "main-job.sh: build failed (full log: $out/build.log)" >&2
    exit 1
  fi
fi

mkdir -p "$out"
rm -rf "$out/samples"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
target="127.0.0.1:$grpc_port"

"$build/server/wtserve" --model_repository="$root/models" --bind_address=127.0.0.1 \
  --grpc_port="$grpc_port" --metrics_port="$metrics_port" >"$out/server.log" 2>&1 &
server_pid=$!
stop_server() { kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; }
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

echo "== measuring wtconvnext_fmnist against convnext_fmnist ($([ "$samples" = 0 ] && echo all || echo "$samples") test images x (clean + 19 corruptions x 5 severities))"
"$build/client/loadgen/wtserve-loadgen" --target="$target" \
  --model=wtconvnext_fmnist --baseline_model=convnext_fmnist \
  --data=fmnist --samples="$samples" --corruptions=all --severities=1-5 --seed=0 \
  --transport=async --concurrency="$concurrency" --input="$input" --warmup=64 \
  --output_json="$out/loadgen.json" --output_csv="$out/loadgen.csv" \
  --dump_samples="$out/samples" --progress=false >"$out/loadgen.txt"

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

"$python" scripts/report.py "$out"
echo "== report written to $out"

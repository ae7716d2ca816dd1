#!/usr/bin/env bash
# Serving benchmark: wtserve and the load generator on disjoint CPUs (taskset), closed loop at
# several concurrencies, both shipped models; prints served img/s and p50/p99 against the offline
# speed of the same model on the same CPU at the batch size the server formed (server
# efficiency), the server's CPU time outside model compute per request, and at concurrency 1 the
# client's latency beyond the server's compute and beyond gRPC's own round trip
# (bench/serving/serving_report.py explains each).
#
# Usage: bash scripts/bench-serving.sh [--prebuilt BUILD_DIR]
# Environment:
#   WTSERVE_SERVER_CPUS   CPU list for wtserve (default 0)
#   WTSERVE_CLIENT_CPUS   CPU list for wtserve-loadgen (default 1)
#   WTSERVE_CONCURRENCY   concurrencies (default "1 4 16")
#   WTSERVE_DURATION      seconds per run (default 10)
#   WTSERVE_BENCH_OUT     results folder (default: BUILD_DIR/serving-results)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prebuilt=""
if [ "${1:-}" = "--prebuilt" ]; then prebuilt=${2:?--prebuilt needs a build folder}; fi
server_cpus=${WTSERVE_SERVER_CPUS:-0}
client_cpus=${WTSERVE_CLIENT_CPUS:-1}
concurrencies=${WTSERVE_CONCURRENCY:-1 4 16}
duration=${WTSERVE_DURATION:-10}
python=/usr/bin/python3
[ "$(nproc)" -ge 2 ] || { echo "bench-serving.sh: needs at least 2 CPUs (server and client on disjoint ones)" >&2; exit 1; }

if [ -n "$prebuilt" ]; then
  build=$(cd "$prebuilt" && pwd)
else
  build=$root/build/release
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target wtserve wtserve-loadgen wtserve-health models_bench grpc_round_trip
fi
out=${WTSERVE_BENCH_OUT:-$build/serving-results}
mkdir -p "$out"
rm -f "$out/results.jsonl"
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
metrics_port=$(free_port)
target="127.0.0.1:$grpc_port"

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); server on CPUs $server_cpus, load generator on $client_cpus"
taskset -c "$server_cpus" "$build/server/wtserve" --model_repository="$root/models" --bind_address=127.0.0.1 \
  --grpc_port="$grpc_port" --metrics_port="$metrics_port" --http_port=-1 >"$out/server.log" 2>&1 &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
until "$build/deploy/health/wtserve-health" --address="$target" --timeout=2s >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
  sleep 0.5  # poll interval; readiness is decided by the health service
done
head -n 1 "$out/server.log"
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f\n", ($14 + $15) / hz}' "/proc/$server_pid/stat"; }
# gRPC's own round trip (ServerLive, no model) from the load generator's CPU at each concurrency,
# with the server's CPU time per call: the floor under an inference call's latency and CPU.
rm -f "$out/round_trip.jsonl"
for c in $concurrencies; do
  calls=$((3000 * c < 20000 ? 3000 * c : 20000))
  cpu0=$(cpu_seconds)
  trip=$(taskset -c "$client_cpus" "$build/bench/serving/grpc_round_trip" --target="$target" --threads="$c" \
    --calls="$calls" --warmup=300)
  cpu1=$(cpu_seconds)
  "$python" -c 'import json, sys; r = json.loads(sys.argv[1]); r["server_cpu_us"] = round(1e6 * (float(sys.argv[3]) - float(sys.argv[2])) / (r["calls"] + 300), 1); print(json.dumps(r))' \
    "$trip" "$cpu0" "$cpu1" >>"$out/round_trip.jsonl"
  echo "gRPC round trip: $(tail -n 1 "$out/round_trip.jsonl")"
done
scrape() { "$python" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' "http://127.0.0.1:$metrics_port/metrics" >"$1"; }

for model in wtconvnext_fmnist convnext_fmnist; do
  for c in $concurrencies; do
    scrape "$out/before.txt"
    cpu0=$(cpu_seconds)
    taskset -c "$client_cpus" "$build/client/loadgen/wtserve-loadgen" --target="$target" --model="$model" \
      --transport=async --concurrency="$c" --duration="${duration}s" --input=uint8 --samples=2000 \
      --progress=false --output_json="$out/loadgen.json" >"$out/loadgen_${model}_$c.txt" 2>&1
    cpu1=$(cpu_seconds)
    scrape "$out/after.txt"
    server=$("$python" bench/serving/serving_report.py delta "$out/before.txt" "$out/after.txt" "$model")
    "$python" - "$model" "$c" "$cpu0" "$cpu1" "$server" "$out/loadgen.json" >>"$out/results.jsonl" <<'PY'
import json, sys
model, c, cpu0, cpu1, server, path = sys.argv[1:]
m = json.load(open(path))["models"][0]
print(json.dumps({"model": model, "concurrency": int(c), "server_cpu_s": float(cpu1) - float(cpu0),
                  "server": json.loads(server), "client": m}))
PY
    echo "$model, concurrency $c: done"
  done
done
kill -TERM "$server_pid"; wait "$server_pid" || true
trap - EXIT

# Offline, same CPUs and threads as the server (its default for the usable cores), at the batch
# sizes the server formed.
batches=$("$python" -c '
import json, sys
sizes = sorted({max(1, round(r["server"]["inferences"] / max(1, r["server"]["executions"]))) for r in map(json.loads, open(sys.argv[1]))})
print(",".join(map(str, sizes)))' "$out/results.jsonl")
threads=$(grep -o 'intra-op threads: [0-9]*' "$out/server.log" | grep -o '[0-9]*$')
echo "offline: models_bench on CPUs $server_cpus, $threads thread(s), batch sizes $batches"
# NCHW input, as the shipped configs leave optimization.channels_last false; then the same with
# the caches flushed before every forward (--evict_mib), the server's situation between batches.
for cold in 0 8; do
  taskset -c "$server_cpus" "$build/bench/models/models_bench" --threads="$threads" --batch_sizes="$batches" \
    --memory_format=contiguous --evict_mib="$cold" --benchmark_filter='case:[45]/' --benchmark_min_time=1 \
    --benchmark_format=json >"$out/offline_evict$cold.json"
done
echo
"$python" bench/serving/serving_report.py table "$out/results.jsonl" "$out/offline_evict0.json" \
  "$out/offline_evict8.json" "$out/round_trip.jsonl" | tee "$out/table.md"

#!/usr/bin/env bash
# REST against gRPC: one wtserve (CPU list WTSERVE_SERVER_CPUS, default 0) serving the shipped
# models, bench/rest/rest_vs_grpc on the other CPUs (default 1) sending the same UINT8 images
# closed loop over REST (binary tensors, keep-alive) and gRPC in alternating rounds; prints img/s
# per round and the REST / gRPC ratio.
#
# Usage: bash scripts/bench-rest.sh [--prebuilt BUILD_DIR]
# Environment: WTSERVE_MODEL (default wtconvnext_fmnist), WTSERVE_CONCURRENCY (default "1 16"),
#              WTSERVE_DURATION (seconds per run, default 5), WTSERVE_ROUNDS (default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prebuilt=""
if [ "${1:-}" = "--prebuilt" ]; then prebuilt=${2:?--prebuilt needs a build folder}; fi
server_cpus=${WTSERVE_SERVER_CPUS:-0}
client_cpus=${WTSERVE_CLIENT_CPUS:-1}
model=${WTSERVE_MODEL:-wtconvnext_fmnist}
concurrencies=${WTSERVE_CONCURRENCY:-1 16}
duration=${WTSERVE_DURATION:-5}
rounds=${WTSERVE_ROUNDS:-3}
python=/usr/bin/python3
[ "$(nproc)" -ge 2 ] || { echo "bench-rest.sh: needs at least 2 CPUs (server and client on disjoint ones)" >&2; exit 1; }
if [ -n "$prebuilt" ]; then
  build=$(cd "$prebuilt" && pwd)
else
  build=$root/build/release
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$(nproc)" --target wtserve wtserve-health rest_vs_grpc
fi
free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc_port=$(free_port)
http_port=$(free_port)
log=$(mktemp)
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); server on CPUs $server_cpus, client on $client_cpus"
taskset -c "$server_cpus" "$build/server/wtserve" --model_repository="$root/models" --bind_address=127.0.0.1 \
  --grpc_port="$grpc_port" --http_port="$http_port" --metrics_port=-1 >"$log" 2>&1 &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; rm -f "$log"' EXIT
until "$build/deploy/health/wtserve-health" --address="127.0.0.1:$grpc_port" --timeout=2s >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5  # poll interval; readiness is decided by the health service
done
for c in $concurrencies; do
  taskset -c "$client_cpus" "$build/bench/rest/rest_vs_grpc" --http="127.0.0.1:$http_port" \
    --grpc="127.0.0.1:$grpc_port" --model="$model" --concurrency="$c" --seconds="$duration" --rounds="$rounds"
done

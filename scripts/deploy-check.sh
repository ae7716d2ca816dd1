#!/usr/bin/env bash
# The slow, real deployment check (not part of CI; run it before changing Dockerfile, .dockerignore
# or deploy/): builds the image with podman from a locally made Debian base, runs it on host
# networking, checks health and a real classification from a client outside the container,
# checks the image's HEALTHCHECK, and checks that `podman stop` ends it cleanly (exit 0) within
# the drain timeout. Needs root (apt-get, podman), a Debian 12 machine and its Debian mirror.
#
# Usage: bash scripts/deploy-check.sh
# Env:   WTSERVE_DEPLOY_WORK  work folder: podman storage, cached base image, logs
#                             (default /var/tmp/wtserve-deploy)
#        WTSERVE_GRPC_PORT / WTSERVE_METRICS_PORT  host ports to use (default 18001 / 18002)
#        JOBS                 compile jobs inside the build (default 2)
#        WTSERVE_DEPLOY_MODELS  a host model repository to mount over /models (default: serve the
#                             models baked into the image); WTSERVE_DEPLOY_MODEL names the model to
#                             classify with (default wtconvnext_fmnist) and WTSERVE_DEPLOY_MIN_ACCURACY
#                             the accuracy it must reach (default 0.8; 0 for random-weight models)
#        WTSERVE_DEPLOY_CONTEXT  "head" (default): build from the committed HEAD (git archive), so
#                             uncommitted edits cannot leak in; "worktree": the working tree as is
# Exit 0 only if every step passed; the log says which step failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${WTSERVE_DEPLOY_WORK:-/var/tmp/wtserve-deploy}
grpc_port=${WTSERVE_GRPC_PORT:-18001}
metrics_port=${WTSERVE_METRICS_PORT:-18002}
http_port=${WTSERVE_HTTP_PORT:-18000}
jobs=${JOBS:-2}
image=localhost/wtserve:deploy-check
loadgen_image=localhost/wtserve-loadgen:deploy-check
container=wtserve-deploy-check
exit_timeout_s=30
model=${WTSERVE_DEPLOY_MODEL:-wtconvnext_fmnist}
min_accuracy=${WTSERVE_DEPLOY_MIN_ACCURACY:-0.8}
mounts=()
if [ -n "${WTSERVE_DEPLOY_MODELS:-}" ]; then
  mounts=(-v "$(cd "$WTSERVE_DEPLOY_MODELS" && pwd):/models:ro")
fi

step() { printf '\n=== %s  [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() { echo "deploy-check: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (apt-get and podman need it)"
mkdir -p "$work"

step "packages: podman buildah runc debootstrap"
need=()
for p in podman buildah runc debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# A private podman configuration: runc (crun refuses this host's hybrid cgroups), ulimits within
# the host's hard limits, and storage in the work folder instead of the system store.
cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
cat > "$work/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$work/storage"
runroot = "$work/run"
CONF
export CONTAINERS_CONF="$work/containers.conf" CONTAINERS_STORAGE_CONF="$work/storage.conf"

step "base image debian:bookworm-slim (debootstrap, cached in $work)"
base=docker.io/library/debian:bookworm-slim
if podman image exists "$base"; then
  echo "cached: $(podman image inspect --format '{{.Id}} {{.Created}}' "$base")"
else
  # The mirror apt already uses (deb822 or one-line sources), so the build reaches it too.
  mirror=$(grep -hoE '^URIs: *http[^ ]*/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | head -n1 | sed 's/^URIs: *//')
  if [ -z "$mirror" ]; then
    mirror=$(grep -hoE '^deb +http[^ ]*/debian/? +bookworm ' /etc/apt/sources.list 2>/dev/null \
               | head -n1 | awk '{print $2}')
  fi
  [ -n "$mirror" ] || fail "cannot find the Debian mirror in /etc/apt"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$work/debootstrap.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  rm -f "$rootfs/etc/apt/sources.list"
  if ls /etc/apt/sources.list.d/*.sources > /dev/null 2>&1; then
    cp /etc/apt/sources.list.d/*.sources "$rootfs/etc/apt/sources.list.d/"
  else
    cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list"
  fi
  tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$base"
  rm -rf "$rootfs"
fi

step "build context (${WTSERVE_DEPLOY_CONTEXT:-head})"
if [ "${WTSERVE_DEPLOY_CONTEXT:-head}" = worktree ]; then
  context=$root
else
  context="$work/context"
  rm -rf "$context"
  mkdir -p "$context"
  git -C "$root" archive HEAD | tar -x -C "$context"
  echo "HEAD $(git -C "$root" rev-parse --short HEAD) -> $context"
fi
if [ -z "$(ls -A "$context/models" 2>/dev/null)" ]; then
  # git keeps no empty folders; without shipped models the image gets an empty /models and the
  # check needs WTSERVE_DEPLOY_MODELS.
  echo "warning: no shipped models in the build context; /models in the image will be empty"
  [ -n "${WTSERVE_DEPLOY_MODELS:-}" ] || fail "no shipped models: set WTSERVE_DEPLOY_MODELS"
  mkdir -p "$context/models"
fi

step "seed the image build's ccache from the host's"
# The Dockerfile compiles with ccache in a build cache mount (id wtserve-ccache), in a build folder
# laid out like the host's build/<name>, with the same Debian compiler and headers; objects the
# host already compiled are reused (identical by ccache's hashing) instead of recompiled on this
# 2-core machine. WTSERVE_DEPLOY_SEED_CCACHE=0 measures a cold build.
host_ccache=$(ccache -k cache_dir 2>/dev/null || true)
mount_ccache=/var/tmp/buildah-cache/wtserve-ccache
if [ "${WTSERVE_DEPLOY_SEED_CCACHE:-1}" = 1 ] && [ -n "$host_ccache" ] && [ -d "$host_ccache" ]; then
  mkdir -p "$mount_ccache"
  cp -a -n "$host_ccache/." "$mount_ccache/"
  echo "seeded $mount_ccache from $host_ccache ($(du -sh "$host_ccache" | cut -f1))"
else
  echo "not seeded"
fi

step "podman build (default target: runtime) -> $image"
# --format docker keeps HEALTHCHECK (the OCI format has no such field).
start=$(date +%s)
podman build --pull=never --network host --format docker --build-arg "JOBS=$jobs" \
  -t "$image" "$context"
echo "build took $(( $(date +%s) - start )) s"
podman image inspect --format 'size {{.Size}} bytes, user {{.Config.User}}, exposed {{.Config.ExposedPorts}}' "$image"

step "podman build --target loadgen -> $loadgen_image"
start=$(date +%s)
podman build --pull=never --network host --format docker --build-arg "JOBS=$jobs" \
  --target loadgen -t "$loadgen_image" "$context"
echo "build took $(( $(date +%s) - start )) s"

step "the runtime image holds no compiler"
for tool in gcc g++ cc c++ cmake; do
  if podman run --rm --entrypoint sh "$image" -c "command -v $tool"; then
    fail "$tool found in the runtime image"
  fi
done
echo "none of gcc g++ cc c++ cmake in $image"
[ "$(podman run --rm --entrypoint id "$image" -u)" = 10001 ] || fail "image does not run as uid 10001"
echo "runs as uid 10001"

step "run $container on host networking (gRPC $grpc_port, metrics $metrics_port)"
podman rm -f "$container" > /dev/null 2>&1 || true
podman run -d --name "$container" --network host "${mounts[@]}" \
  -e WTSERVE_GRPC_PORT="$grpc_port" "$image" \
  --model_repository=/models --grpc_port="$grpc_port" --metrics_port="$metrics_port" \
  --http_port="$http_port" --exit_timeout="${exit_timeout_s}s"
cleanup() { podman rm -f "$container" > /dev/null 2>&1 || true; }
trap cleanup EXIT

step "client: health SERVING and classification of Fashion-MNIST test images by $model"
start=$(date +%s)
/usr/bin/python3 "$root/tests/deploy/oip_client.py" --target "127.0.0.1:$grpc_port" \
  --model "$model" --images 200 --min-accuracy "$min_accuracy" --wait 600 \
  || { podman logs --tail 50 "$container"; fail "client check"; }
echo "client check took $(( $(date +%s) - start )) s (including model load)"

step "the image's HEALTHCHECK (wtserve-health inside the container)"
podman healthcheck run "$container" || fail "podman healthcheck run"
echo "healthcheck: healthy"

step "metrics on :$metrics_port"
/usr/bin/python3 - "$metrics_port" <<'PY' || fail "metrics scrape"
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode()
names = sorted({l.split()[2] for l in text.splitlines() if l.startswith("# TYPE wtserve_")})
print(f"{len(names)} wtserve metric families: {', '.join(names)}")
sys.exit(0 if names else 1)
PY

step "loadgen image against the running server"
podman run --rm --network host "$loadgen_image" --target="127.0.0.1:$grpc_port" \
  --model="$model" --samples=100 --corruptions=noise --severities=1,5 --input=uint8 \
  --concurrency=4 --progress=false \
  || fail "loadgen container"

step "podman stop: SIGTERM, drain, exit 0 within ${exit_timeout_s}s"
start_ms=$(( $(date +%s%N) / 1000000 ))
podman stop --time $(( exit_timeout_s + 10 )) "$container" > /dev/null
elapsed_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$container")
echo "stopped in ${elapsed_ms} ms, exit code $code"
podman logs --tail 5 "$container"
[ "$code" -eq 0 ] || fail "exit code $code after SIGTERM"
[ "$elapsed_ms" -lt $(( exit_timeout_s * 1000 )) ] \
  || fail "stop took ${elapsed_ms} ms, not within the ${exit_timeout_s} s drain timeout"

step "deploy-check: all passed"

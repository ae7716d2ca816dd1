#!/usr/bin/env bash
# GPU check, for a machine with an NVIDIA GPU and a CUDA LibTorch (e.g. the one inside an
# installed PyTorch wheel), no network needed: builds the LibTorch-only targets
# (-DWTSERVE_WITH_SERVING=OFF), runs the WTConv unit tests and the CUDA tests, runs the layer and
# whole-network benchmarks on CUDA in float32, bfloat16 and float16, and prints one Markdown table.
# It stops with a clear message at the first thing missing.
#
# Usage: bash scripts/gpu-check.sh
# Environment:
#   TORCH_PREFIX     CMake prefix of the CUDA LibTorch (default: torch.utils.cmake_prefix_path)
#   WTSERVE_PYTHON   Python with that PyTorch (default: python3)
#   WTSERVE_GPU_DEPS folder where Debian's libgtest-dev, libgmock-dev and libbenchmark-dev were
#                    unpacked with `dpkg -x PKG.deb DIR` (when they are not installed)
#   WTSERVE_BUILD_DIR  build folder (default: build/gpu)
#   WTSERVE_BENCH_MIN_TIME  seconds per benchmark (default 0.2)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
python=${WTSERVE_PYTHON:-python3}
build=${WTSERVE_BUILD_DIR:-$root/build/gpu}
min_time=${WTSERVE_BENCH_MIN_TIME:-0.2}
fail() { echo "gpu-check.sh: $*" >&2; exit 1; }

command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: no NVIDIA driver on this machine"
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n 1) ||
  fail "nvidia-smi cannot read the GPU"
command -v cmake >/dev/null || fail "cmake not found"
command -v "$python" >/dev/null || fail "$python not found (set WTSERVE_PYTHON)"
torch_info=$("$python" -c 'import torch; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), int(torch._C._GLIBCXX_USE_CXX11_ABI))') ||
  fail "$python cannot import torch"
read -r torch_version cuda_version cuda_ok abi <<<"$torch_info"
[ "$cuda_ok" = "True" ] || fail "PyTorch $torch_version (CUDA $cuda_version) sees no GPU"
[ "$abi" = "1" ] || fail "PyTorch $torch_version uses the old C++ ABI (_GLIBCXX_USE_CXX11_ABI=0); Debian's GoogleTest and Benchmark need a CXX11-ABI LibTorch"
prefix=${TORCH_PREFIX:-$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')}
[ -f "$prefix/Torch/TorchConfig.cmake" ] || fail "no Torch/TorchConfig.cmake under $prefix (set TORCH_PREFIX)"
prefix_path="$prefix"
if [ -n "${WTSERVE_GPU_DEPS:-}" ]; then prefix_path="$prefix;$WTSERVE_GPU_DEPS/usr"; fi
generator="Unix Makefiles"
if command -v ninja >/dev/null; then generator=Ninja; fi

echo "== GPU: $gpu; PyTorch $torch_version, CUDA $cuda_version; LibTorch at $prefix"
mkdir -p "$build"
if ! cmake -S . -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DWTSERVE_WITH_SERVING=OFF \
     -DWTSERVE_BUILD_TESTS=ON -DWTSERVE_BUILD_BENCHMARKS=ON -DCMAKE_PREFIX_PATH="$prefix_path" \
     >"$build/configure.log" 2>&1; then
  tail -n 30 "$build/configure.log" >&2
  fail "configure failed (log: $build/configure.log). Needed besides LibTorch: GoogleTest + GoogleMock (libgtest-dev, libgmock-dev), Google Benchmark (libbenchmark-dev) and OpenMP (GCC's libgomp); unpack the .debs with dpkg -x into a folder and set WTSERVE_GPU_DEPS"
fi
grep -q "wtconv_cuda_test" "$build/tests/nn/CTestTestfile.cmake" 2>/dev/null ||
  fail "the LibTorch at $prefix has no CUDA libraries (TORCH_CUDA_LIBRARIES empty): wtconv_cuda_test was not configured"
echo "== building (log: $build/build.log)"
if ! cmake --build "$build" -j "$(nproc)" --target wtconv2d_test libtorch_quirks_test wtconv_cuda_test \
     wtconv_bench models_bench >"$build/build.log" 2>&1; then
  tail -n 40 "$build/build.log" >&2
  fail "build failed (log: $build/build.log)"
fi
echo "== tests: WTConv2d unit tests (CPU), LibTorch quirks, CUDA vs CPU"
(cd "$build" && ctest --output-on-failure -R "WTConv2dTest|LibTorchQuirksTest|WTConv2dCudaTest") ||
  fail "tests failed (see above)"

echo "== benchmarks on CUDA"
results="$build/results"
mkdir -p "$results"
for dtype in float32 bfloat16 float16; do
  "$build/bench/wtconv/wtconv_bench" --device=cuda --dtype="$dtype" \
    --benchmark_filter='(WTConvHaarNHWC/|WTConvGeneral|Depthwise7x7NHWC)' --benchmark_min_time="$min_time" \
    --benchmark_format=json >"$results/wtconv_$dtype.json" || fail "wtconv_bench failed in $dtype"
  "$build/bench/models/models_bench" --device=cuda --dtype="$dtype" --benchmark_filter='case:[0-3]/' \
    --benchmark_min_time="$min_time" --benchmark_format=json >"$results/models_$dtype.json" ||
    fail "models_bench failed in $dtype"
done
"$python" - "$results" "$gpu" <<'PY'
import json, re, sys
results, gpu = sys.argv[1], sys.argv[2]
print(f"\nGPU: {gpu}; ms per forward call (CUDA, synchronised), ratios within the run\n")
print("| dtype | layer shape | WTConv2d Haar NHWC | WTConv2d general | dw 7x7 NHWC | Haar / dw |")
print("|---|---|---|---|---|---|")
for dtype in ("float32", "bfloat16", "float16"):
    t = {}
    for b in json.load(open(f"{results}/wtconv_{dtype}.json"))["benchmarks"]:
        m = re.match(r"BM_(\w+)/C:(\d+)/HW:(\d+)/N:(\d+)/L:(\d+)", b["name"])
        if m:
            t[(m.group(1), m.group(2), m.group(3), m.group(4), m.group(5))] = b["real_time"]
    for (kind, c, hw, n, l), ms in sorted(t.items()):
        if kind != "WTConvHaarNHWC":
            continue
        dw = t.get(("Depthwise7x7NHWC", c, hw, n, "0"))
        gen = t.get(("WTConvGeneral", c, hw, n, l))
        print(f"| {dtype} | C={c} {hw}x{hw} N={n} L={l} | {ms:.3f} | {gen:.3f} | {dw:.3f} | {ms / dw:.2f}x |")
print("\n| dtype | network, input, batch | ms | img/s |")
print("|---|---|---|---|")
for dtype in ("float32", "bfloat16", "float16"):
    for b in json.load(open(f"{results}/models_{dtype}.json"))["benchmarks"]:
        print(f"| {dtype} | {b['label']} | {b['real_time']:.2f} | {b.get('img/s', 0):.0f} |")
PY

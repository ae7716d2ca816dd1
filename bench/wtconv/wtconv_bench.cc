// WTConv2d forward (inference) on CPU or CUDA: Haar fast path vs the reference algorithm
// (general path) vs a plain 7x7 depthwise conv, on the shapes of WTConvNeXt-T's stages.
//
//   wtconv_bench [--threads=N] [--device=cpu|cuda] [--dtype=float32|bfloat16|float16]
//                [Google Benchmark flags]
// --threads defaults to $WTSERVE_THREADS, else the number of online CPUs (LibTorch's own
// default here is 1). scripts/bench-wtconv.sh runs it next to the Python reference.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "bench/common/bench_setup.h"
#include "server/nn/wtconv/wtconv2d.h"

namespace {

using wtserve::nn::WTConv2d;
using wtserve::nn::WTConv2dOptions;

at::Device g_device = at::kCPU;
at::ScalarType g_dtype = at::kFloat;

void Sync() { wtserve::bench::SyncDevice(g_device); }

at::Tensor Input(const benchmark::State& state, bool channels_last = false) {
  const int64_t c = state.range(0), hw = state.range(1), n = state.range(2);
  const at::Tensor x = at::randn({n, c, hw, hw}).to(g_device, g_dtype);
  return channels_last ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

void SetCounters(benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1), n = state.range(2);
  state.counters["img/s"] =
      benchmark::Counter(static_cast<double>(n * state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel("C=" + std::to_string(c) + " " + std::to_string(hw) + "x" + std::to_string(hw) +
                 " N=" + std::to_string(n) + (state.range(3) > 0 ? " L=" + std::to_string(state.range(3)) : ""));
}

// Args: channels, size, batch, levels. k = 5 as in WTConvNeXt.
void RunWTConv(benchmark::State& state, bool fast, bool channels_last, bool fused = true) {
  // Built outside InferenceMode, as wtserve loads models: parameters that are inference tensors
  // have no version counter, so the fused kernel would fold its weights on every call.
  WTConv2d m(WTConv2dOptions(state.range(0)).kernel_size(5).wt_levels(state.range(3)).fast_haar(fast).fused_cpu(fused));
  m->to(g_device, g_dtype);
  c10::InferenceMode inference;
  const at::Tensor x = Input(state, channels_last);
  m->forward(x);  // warm-up: allocator, oneDNN primitive cache
  Sync();
  for (auto _ : state) {
    at::Tensor y = m->forward(x);
    benchmark::DoNotOptimize(y.data_ptr());
    Sync();
  }
  SetCounters(state);
}

// NCHW input and output, like the Python reference is fed.
void BM_WTConvHaar(benchmark::State& state) { RunWTConv(state, true, false); }
// channels_last input and output: no layout copies (how a model should run it).
void BM_WTConvHaarNHWC(benchmark::State& state) { RunWTConv(state, true, true); }
// channels_last, the Haar path's per-level kernels instead of the fused CPU kernel (float32 CPU).
void BM_WTConvHaarNHWCPerLevel(benchmark::State& state) { RunWTConv(state, true, true, false); }
// The reference algorithm in C++ (NCHW).
void BM_WTConvGeneral(benchmark::State& state) { RunWTConv(state, false, false); }

// The layer WTConv2d replaces in ConvNeXt: depthwise 7x7 with bias.
void RunDepthwise7x7(benchmark::State& state, bool channels_last) {
  c10::InferenceMode inference;
  const int64_t c = state.range(0);
  const at::TensorOptions opts = at::TensorOptions().device(g_device).dtype(g_dtype);
  const at::Tensor w = at::randn({c, 1, 7, 7}, opts), b = at::randn({c}, opts);
  const at::Tensor x = Input(state, channels_last);
  at::conv2d(x, w, b, 1, at::IntArrayRef{3}, 1, c);
  Sync();
  for (auto _ : state) {
    at::Tensor y = at::conv2d(x, w, b, 1, at::IntArrayRef{3}, 1, c);
    benchmark::DoNotOptimize(y.data_ptr());
    Sync();
  }
  SetCounters(state);
}
void BM_Depthwise7x7(benchmark::State& state) { RunDepthwise7x7(state, false); }
void BM_Depthwise7x7NHWC(benchmark::State& state) { RunDepthwise7x7(state, true); }

// WTConvNeXt-T: C=96 at 56x56 (stage 0) and C=384 at 14x14 (stage 2), levels 1-5, batch 1, 32.
void WTConvShapes(benchmark::internal::Benchmark* b) {
  for (const auto& shape : std::vector<std::pair<int64_t, int64_t>>{{96, 56}, {384, 14}}) {
    for (int64_t n : {1, 32}) {
      for (int64_t levels = 1; levels <= 5; ++levels) b->Args({shape.first, shape.second, n, levels});
    }
  }
  b->ArgNames({"C", "HW", "N", "L"});
}
void ConvShapes(benchmark::internal::Benchmark* b) {
  for (const auto& shape : std::vector<std::pair<int64_t, int64_t>>{{96, 56}, {384, 14}}) {
    for (int64_t n : {1, 32}) b->Args({shape.first, shape.second, n, 0});
  }
  b->ArgNames({"C", "HW", "N", "L"});
}

BENCHMARK(BM_WTConvHaar)->Apply(WTConvShapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WTConvHaarNHWC)->Apply(WTConvShapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WTConvHaarNHWCPerLevel)->Apply(WTConvShapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WTConvGeneral)->Apply(WTConvShapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Depthwise7x7)->Apply(ConvShapes)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Depthwise7x7NHWC)->Apply(ConvShapes)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  wtserve::bench::BenchSetup setup;
  if (const int rc = wtserve::bench::SetUpBenchmark("wtconv_bench", &argc, argv, &setup); rc != 0) return rc;
  g_device = setup.device;
  g_dtype = setup.dtype;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// Whole-network forward (inference) on CPU: WTConvNeXt-T/S against ConvNeXt-T/S at 224x224 and
// the compact Fashion-MNIST pair at 28x28, the networks wtserve serves, randomly initialised
// (speed does not depend on the weights' values). scripts/bench-models.sh runs it next to the
// Python reference (bench/models/bench_ref.py) with the same threads and prints the ratios.
//
//   models_bench [--threads=N] [--device=cpu|cuda] [--dtype=float32|bfloat16|float16]
//                [--batch_sizes=LIST] [--memory_format=channels_last|contiguous]
//                [--evict_mib=M] [--profile=ARCH:BATCH] [Google Benchmark flags]
// --threads: LibTorch intra-op and OpenBLAS threads (default $WTSERVE_THREADS, else the usable
// cores). --memory_format: the input's layout (default channels_last; contiguous is NCHW, what
// wtserve feeds a model whose config leaves optimization.channels_last false). --evict_mib: before
// each timed forward, write M MiB untimed (cold caches). --profile: instead of benchmarking, run
// one warm forward of ARCH at BATCH under LibTorch's profiler and print the ops with the most self CPU time.
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "bench/common/bench_setup.h"
#include "server/nn/models/registry.h"

namespace {

using wtserve::nn::ClassifierOptions;
using wtserve::nn::CreateClassifier;

at::ScalarType g_dtype = at::kFloat;
at::Device g_device = at::kCPU;
at::MemoryFormat g_memory_format = at::MemoryFormat::ChannelsLast;
size_t g_evict_bytes = 0;

void Sync() { wtserve::bench::SyncDevice(g_device); }

struct Case {
  const char* arch;
  int64_t in_chans, num_classes, size;
};
// Index = the benchmark's first argument; pairs (WTConv, baseline) side by side.
const std::vector<Case> kCases = {
    {"wtconvnext_tiny", 3, 1000, 224}, {"convnext_tiny", 3, 1000, 224},  {"wtconvnext_small", 3, 1000, 224},
    {"convnext_small", 3, 1000, 224},  {"wtconvnext_fmnist", 1, 10, 28}, {"convnext_fmnist", 1, 10, 28},
};

// Called outside InferenceMode, as wtserve loads models: parameters made as inference tensors
// have no version counter, so WTConv2d's fused kernel would fold its weights on every call.
std::shared_ptr<wtserve::nn::ClassifierImpl> Build(const Case& c) {
  ClassifierOptions options;
  options.in_chans = c.in_chans;
  options.num_classes = c.num_classes;
  auto net = CreateClassifier(c.arch, options);
  net->eval();
  net->to(g_device, g_dtype);
  return net;
}

at::Tensor Input(const Case& c, int64_t batch) {
  return at::randn({batch, c.in_chans, c.size, c.size}).to(g_device, g_dtype).contiguous(g_memory_format);
}

// Peak resident set of the process so far (MiB): benchmarks run in order, so a row's value
// is the peak over it and every row before it.
double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Args: case index, batch.
void BM_Forward(benchmark::State& state) {
  const Case& c = kCases[state.range(0)];
  const int64_t batch = state.range(1);
  auto net = Build(c);
  c10::InferenceMode inference;
  const at::Tensor x = Input(c, batch);
  net->forward(x);  // warm-up: allocator, oneDNN primitive cache
  Sync();
  std::vector<char> evict(g_evict_bytes);
  for (auto _ : state) {
    if (!evict.empty()) {
      // Untimed: every cache line of a buffer larger than L2 is written, so the forward starts
      // with the weights and activations out of L1/L2, as in a server whose other threads ran
      // on the same core between two requests.
      state.PauseTiming();
      for (size_t i = 0; i < evict.size(); i += 64) ++evict[i];
      benchmark::ClobberMemory();
      state.ResumeTiming();
    }
    at::Tensor logits = net->forward(x);
    benchmark::DoNotOptimize(logits.data_ptr());
    Sync();
  }
  state.counters["img/s"] =
      benchmark::Counter(static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MiB"] = PeakRssMiB();
  state.SetLabel(std::string(c.arch) + " " + std::to_string(c.size) + "x" + std::to_string(c.size) +
                 " N=" + std::to_string(batch));
}

// Batch sizes per case: 1, 8, 32 at 224x224 and 1, 8, 64 for the compact pair, or the
// --batch_sizes list for every case (scripts/bench-serving.sh passes the sizes the server formed).
std::vector<int64_t> g_batch_sizes;

void Cases(benchmark::internal::Benchmark* b) {
  for (int64_t i = 0; i < static_cast<int64_t>(kCases.size()); ++i) {
    const bool compact = kCases[i].size == 28;
    std::vector<int64_t> batches = compact ? std::vector<int64_t>{1, 8, 64} : std::vector<int64_t>{1, 8, 32};
    if (!g_batch_sizes.empty()) batches = g_batch_sizes;
    for (int64_t n : batches) b->Args({i, n});
  }
  b->ArgNames({"case", "N"});
}

// "1,8,13" -> {1, 8, 13}; empty on any malformed or non-positive entry.
std::vector<int64_t> ParseBatchSizes(const std::string& list) {
  std::vector<int64_t> sizes;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, end - start);
    char* rest = nullptr;
    const long long v = std::strtoll(item.c_str(), &rest, 10);
    if (item.empty() || *rest != '\0' || v < 1) return {};
    sizes.push_back(v);
    start = end + 1;
  }
  return sizes;
}

// One warm forward under LibTorch's (legacy) profiler; prints the top ops by self CPU time,
// summed over threads.
int Profile(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string arch = spec.substr(0, colon);
  const int64_t batch = colon == std::string::npos ? 1 : std::atoll(spec.c_str() + colon + 1);
  const auto it = std::find_if(kCases.begin(), kCases.end(), [&](const Case& c) { return arch == c.arch; });
  if (it == kCases.end() || batch < 1) {
    std::cerr << "models_bench: --profile=ARCH:BATCH with ARCH one of the benchmarked networks\n";
    return 2;
  }
  auto net = Build(*it);
  c10::InferenceMode inference;
  const at::Tensor x = Input(*it, batch);
  net->forward(x);
  using namespace torch::autograd::profiler;
  enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  net->forward(x);
  const thread_event_lists lists = disableProfilerLegacy();
  std::map<std::string, std::pair<double, int64_t>> self_us;  // name -> (self time, calls)
  double total_us = 0;
  for (const auto& events : lists) {
    struct Open {
      const LegacyEvent* start;
      double children_us;
    };
    std::vector<Open> stack;
    for (const LegacyEvent& e : events) {
      if (e.kindStr() == "push") {
        stack.push_back({&e, 0.0});
      } else if (e.kindStr() == "pop" && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double elapsed = open.start->cpuElapsedUs(e);
        auto& entry = self_us[open.start->name()];
        entry.first += elapsed - open.children_us;
        entry.second += 1;
        if (!stack.empty()) {
          stack.back().children_us += elapsed;
        } else {
          total_us += elapsed;
        }
      }
    }
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(self_us.begin(), self_us.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::cout << "| op (" << arch << ", N=" << batch << ", " << at::get_num_threads()
            << " threads) | self CPU ms | share | calls |\n|---|---|---|---|\n";
  for (size_t i = 0; i < std::min<size_t>(12, rows.size()); ++i) {
    std::cout << "| " << rows[i].first << " | " << rows[i].second.first / 1000 << " | "
              << (total_us > 0 ? 100 * rows[i].second.first / total_us : 0) << "% | " << rows[i].second.second
              << " |\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string profile = wtserve::bench::TakeFlag(&argc, argv, "profile");
  wtserve::bench::BenchSetup setup;
  if (const int rc = wtserve::bench::SetUpBenchmark("models_bench", &argc, argv, &setup); rc != 0) return rc;
  g_device = setup.device;
  g_dtype = setup.dtype;
  if (const std::string format = wtserve::bench::TakeFlag(&argc, argv, "memory_format"); !format.empty()) {
    if (format != "channels_last" && format != "contiguous") {
      std::cerr << "models_bench: --memory_format must be channels_last or contiguous\n";
      return 2;
    }
    g_memory_format = format == "contiguous" ? at::MemoryFormat::Contiguous : at::MemoryFormat::ChannelsLast;
  }
  if (const std::string mib = wtserve::bench::TakeFlag(&argc, argv, "evict_mib"); !mib.empty()) {
    char* rest = nullptr;
    const long long value = std::strtoll(mib.c_str(), &rest, 10);
    if (*rest != '\0' || value < 0 || value > 1024) {
      std::cerr << "models_bench: --evict_mib must be an integer in [0, 1024]\n";
      return 2;
    }
    g_evict_bytes = static_cast<size_t>(value) << 20;
  }
  if (!profile.empty()) return Profile(profile);
  if (const std::string list = wtserve::bench::TakeFlag(&argc, argv, "batch_sizes"); !list.empty()) {
    g_batch_sizes = ParseBatchSizes(list);
    if (g_batch_sizes.empty()) {
      std::cerr << "models_bench: --batch_sizes must be a comma-separated list of positive integers\n";
      return 2;
    }
  }
  // Registered here, after --batch_sizes is known.
  benchmark::RegisterBenchmark("BM_Forward", BM_Forward)->Apply(Cases)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

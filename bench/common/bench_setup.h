// The common start of the benchmark programs (wtconv_bench, models_bench): wtserve's heap
// settings, then --threads, --device and --dtype taken out of argv (before Google Benchmark parses
// it), the thread count applied to LibTorch and OpenBLAS as wtserve does, and the settings written
// into Google Benchmark's context so that every JSON result says how it was measured.
#ifndef WTSERVE_BENCH_COMMON_BENCH_SETUP_H_
#define WTSERVE_BENCH_COMMON_BENCH_SETUP_H_

#include <cstdlib>
#include <iostream>
#include <string>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include "bench/common/take_flag.h"
#include "common/system/usable_cores.h"
#include "server/nn/wtconv/fused_haar_cpu.h"
#include "server/process/heap.h"
#include "server/process/threads.h"

namespace wtserve::bench {

struct BenchSetup {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
};

// Waits for the device's queued work (CUDA: reading a scalar synchronises); no-op on CPU.
inline void SyncDevice(const at::Device& device) {
  if (device.is_cuda()) at::zeros({1}, at::TensorOptions().device(device)).item<float>();
}

// --threads=N (default $WTSERVE_THREADS, else the usable cores), --device=cpu|cuda,
// --dtype=float32|bfloat16|float16. Returns 0, or the exit code after printing the error.
inline int SetUpBenchmark(const char* program, int* argc, char** argv, BenchSetup* setup) {
  // As wtserve runs (server/process/heap.h); the scripts give the Python references the same.
  if (const std::string refused = process::RetainFreedTensorMemory(); !refused.empty()) {
    std::cerr << program << ": " << refused << "\n";
    return 1;
  }
  std::string threads = TakeFlag(argc, argv, "threads");
  if (threads.empty() && std::getenv("WTSERVE_THREADS") != nullptr) threads = std::getenv("WTSERVE_THREADS");
  const int n_threads = threads.empty() ? system::UsableCores() : std::atoi(threads.c_str());
  if (n_threads < 1) {
    std::cerr << program << ": --threads must be >= 1, got '" << threads << "'\n";
    return 2;
  }
  const std::string device = TakeFlag(argc, argv, "device");
  if (device == "cuda") {
    setup->device = at::Device(at::kCUDA);
  } else if (!device.empty() && device != "cpu") {
    std::cerr << program << ": --device must be cpu or cuda, got '" << device << "'\n";
    return 2;
  }
  const std::string dtype = TakeFlag(argc, argv, "dtype");
  if (dtype == "bfloat16") {
    setup->dtype = at::kBFloat16;
  } else if (dtype == "float16") {
    setup->dtype = at::kHalf;
  } else if (!dtype.empty() && dtype != "float32") {
    std::cerr << program << ": --dtype must be float32, bfloat16 or float16, got '" << dtype << "'\n";
    return 2;
  }
  at::set_num_threads(n_threads);
  benchmark::AddCustomContext("torch_threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("blas", process::SetBlasThreads(n_threads));
  benchmark::AddCustomContext("device", setup->device.str());
  benchmark::AddCustomContext("dtype", std::string(c10::toString(setup->dtype)));
  benchmark::AddCustomContext("fused_haar_isa", nn::detail::FusedHaarIsa());
  benchmark::AddCustomContext("heap", "mmap_threshold 256 MiB, trim_threshold 1 GiB (server/process/heap.h)");
  return 0;
}

}  // namespace wtserve::bench

#endif  // WTSERVE_BENCH_COMMON_BENCH_SETUP_H_

// Speed of every corruption on a 28x28 grey Fashion-MNIST image (CIFAR table) and a 224x224 RGB
// scene (ImageNet table).  Each iteration corrupts one image at severity 1..5 in turn with a new
// image index, so the time per iteration is the mean over severities and random draws.
#include <string>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>

#include "client/corrupt/corruptions.h"
#include "tests/corrupt/test_images.h"

namespace {

using wtserve::corrupt::Corrupt;
using wtserve::corrupt::CorruptionNames;

void BM_Corrupt(benchmark::State& state, const std::string& name, const cv::Mat& image) {
  if (image.empty()) {
    state.SkipWithError("test image not found");
    return;
  }
  // The first call builds the frost textures; keep that out of the timing.
  benchmark::DoNotOptimize(Corrupt(image, name, 1, 0, 0));
  uint64_t index = 0;
  for (auto _ : state) {
    auto out = Corrupt(image, name, static_cast<int>(index % 5) + 1, 1, index);
    if (!out.ok()) {
      state.SkipWithError(std::string(out.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(out->data);
    ++index;
  }
  state.SetItemsProcessed(state.iterations());
}

const int kRegistered = [] {
  static const cv::Mat fmnist =
      wtserve::corrupt::testing::ReadIdxImage(wtserve::corrupt::testing::kFashionMnistTestImages, 0);
  static const cv::Mat scene = wtserve::corrupt::testing::SyntheticScene(224, 224);
  for (const std::string& name : CorruptionNames()) {
    benchmark::RegisterBenchmark(("gray28/" + name).c_str(), BM_Corrupt, name, fmnist)->Unit(benchmark::kMicrosecond);
  }
  for (const std::string& name : CorruptionNames()) {
    benchmark::RegisterBenchmark(("rgb224/" + name).c_str(), BM_Corrupt, name, scene)->Unit(benchmark::kMicrosecond);
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();

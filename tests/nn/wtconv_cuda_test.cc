// WTConv2d and the WTConvNeXt model on CUDA against the same modules on CPU. Built and
// registered only when the LibTorch found by CMake has CUDA (tests/nn/CMakeLists.txt), so a CPU
// build never skips it; scripts/gpu-check.sh builds and runs it on a GPU machine.
#include <algorithm>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "server/nn/models/registry.h"
#include "server/nn/wtconv/wtconv2d.h"

namespace wtserve::nn {
namespace {

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kCPU, at::kDouble) - b.to(at::kCPU, at::kDouble)).abs().max().item<double>();
}

void RandomizeParameters(torch::nn::Module& m) {
  at::NoGradGuard no_grad;
  for (auto& p : m.named_parameters()) {
    if (p.value().requires_grad()) p.value().copy_(at::randn(p.value().sizes()) * 0.3);
  }
}

TEST(WTConv2dCudaTest, CudaIsAvailable) { ASSERT_TRUE(torch::cuda::is_available()) << "built with CUDA, no GPU"; }

// Both paths, several sizes and levels, float32 on CUDA within 1e-4 of CPU; bfloat16/float16
// within 2% of the output magnitude.
TEST(WTConv2dCudaTest, BothPathsMatchCpu) {
  ASSERT_TRUE(torch::cuda::is_available());
  at::NoGradGuard no_grad;
  for (bool fast : {true, false}) {
    for (auto hw : {std::pair<int64_t, int64_t>{7, 9}, {56, 56}}) {
      for (int64_t levels : {1, 3}) {
        WTConv2d cpu(WTConv2dOptions(8).wt_levels(levels).fast_haar(fast));
        RandomizeParameters(*cpu);
        const at::Tensor x = at::randn({2, 8, hw.first, hw.second});
        const at::Tensor expected = cpu->forward(x);
        const double scale = std::max(1.0, expected.abs().max().item<double>());
        for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
          SCOPED_TRACE(std::string(c10::toString(dtype)) + (fast ? " haar " : " general ") + std::to_string(hw.first) +
                       "x" + std::to_string(hw.second) + " L" + std::to_string(levels));
          auto gpu = std::dynamic_pointer_cast<WTConv2dImpl>(cpu->clone());
          gpu->to(at::Device(at::kCUDA), dtype);
          const at::Tensor y = gpu->forward(x.to(at::kCUDA, dtype));
          EXPECT_TRUE(y.is_cuda());
          EXPECT_LE(MaxAbsDiff(y, expected), dtype == at::kFloat ? 1e-4 * scale : 0.02 * scale);
        }
      }
    }
  }
}

TEST(WTConv2dCudaTest, WTConvNeXtTinyLogitsMatchCpu) {
  ASSERT_TRUE(torch::cuda::is_available());
  c10::InferenceMode inference;
  auto net = CreateClassifier("wtconvnext_tiny", ClassifierOptions{});
  net->eval();
  const at::Tensor x = at::randn({2, 3, 64, 64});
  const at::Tensor expected = net->forward(x);
  net->to(at::Device(at::kCUDA));
  const at::Tensor logits = net->forward(x.to(at::kCUDA));
  EXPECT_LE(MaxAbsDiff(logits, expected), 1e-3 * std::max(1.0, expected.abs().max().item<double>()));
}

}  // namespace
}  // namespace wtserve::nn

// Behaviours of LibTorch itself that WTConv2d works around, reproduced on the raw ops, so that a
// LibTorch upgrade shows (by a failing expectation) whether a workaround is still needed.
//
// bfloat16 grouped conv_transpose2d on CPU (the general path's synthesis, issue: CI on hosts with
// AVX-512). LibTorch 1.13 decides per host:
//   - CPUs with AVX-512 BW/VL/DQ (its mkldnn_bf16_device_check): bfloat16 convolutions go to
//     oneDNN through at::mkldnn_convolution, a *forward* convolution with no transposed mode.
//     Its shape check reads the transposed weight [4C, 1, f, f] as a forward one and throws.
//   - other CPUs: slow_conv_transpose2d has no bfloat16 kernel and throws "not implemented".
// WTConv2d therefore runs that synthesis in float32 on CPU (GroupedSynthesis in wtconv2d.cc).
#include <algorithm>
#include <functional>
#include <iostream>
#include <string>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/version.h>

namespace wtserve::nn {
namespace {

using ::testing::HasSubstr;

constexpr bool kLibTorch113 = TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 13;

// The CPU test LibTorch 1.13 uses to send bfloat16 convolutions to oneDNN (GCC's cpuid-based
// answer is the same as cpuinfo's for these three flags).
bool HasAvx512BwVlDq() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

// Synthesis of WTConv2d(4 channels, db1) at one level: 16 bands of 2x2 -> 4 channels of 4x4.
struct SynthesisCase {
  at::Tensor bands = at::randn({2, 16, 2, 2});
  at::Tensor filter = at::randn({16, 1, 2, 2});
  static constexpr int64_t kGroups = 4;
  at::Tensor Float32() const { return at::conv_transpose2d(bands, filter, {}, 2, 0, 0, kGroups); }
};

std::string ErrorOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "";
}

// The oneDNN entry point LibTorch 1.13 uses for bfloat16 convs is a forward conv: given the
// transposed weight it throws its forward shape check. The check runs before oneDNN does, so this
// reproduces the exact error of the AVX-512 hosts on every host, in float32.
TEST(LibTorchQuirksTest, MkldnnConvolutionIsForwardOnlyAndRejectsTheSynthesisWeight) {
  if (!at::hasMKLDNN()) GTEST_FAIL() << "this LibTorch has no oneDNN; the quirk cannot be checked";
  SynthesisCase c;
  const std::string error = ErrorOf([&] {
    at::mkldnn_convolution(c.bands, c.filter, {}, {0, 0}, {2, 2}, {1, 1}, SynthesisCase::kGroups);
  });
  EXPECT_THAT(error, HasSubstr("weight of size [16, 1, 2, 2], expected input[2, 16, 2, 2] to have 4 channels"));
}

// What at::conv_transpose2d does in bfloat16 on this host. On LibTorch 1.13 it must fail in one
// of the two ways above, chosen by the CPU; when it stops failing (another LibTorch), it must
// match float32, and WTConv2d's float32 detour can be reconsidered.
TEST(LibTorchQuirksTest, Bfloat16GroupedConvTransposeOnCpu) {
  SynthesisCase c;
  const at::Tensor expected = c.Float32();
  at::Tensor got;
  const std::string error = ErrorOf([&] {
    got = at::conv_transpose2d(c.bands.to(at::kBFloat16), c.filter.to(at::kBFloat16), {}, 2, 0, 0,
                               SynthesisCase::kGroups);
  });
  const bool onednn_bf16 = HasAvx512BwVlDq() && at::hasMKLDNN();
  std::cout << "host: AVX-512 BW/VL/DQ " << (HasAvx512BwVlDq() ? "yes" : "no") << "; LibTorch " << TORCH_VERSION
            << "; bf16 conv_transpose2d: " << (error.empty() ? "works" : error.substr(0, 160)) << "\n";
  if (kLibTorch113) {
    if (onednn_bf16) {
      EXPECT_THAT(error, HasSubstr("expected input[2, 16, 2, 2] to have 4 channels"));
    } else {
      EXPECT_THAT(error, HasSubstr("not implemented for 'BFloat16'"));
    }
  } else if (error.empty()) {
    EXPECT_LE((got.to(at::kFloat) - expected).abs().max().item<double>(),
              0.02 * std::max(1.0, expected.abs().max().item<double>()));
  }
}

}  // namespace
}  // namespace wtserve::nn

// Unit tests of WTConv2d: parameters, errors, shapes, Haar round trip, fast vs general path,
// dtypes and autograd. The cross-check against the Python reference is wtconv_crosscheck_test.cc.
#include "server/nn/wtconv/wtconv2d.h"

#include <algorithm>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include "server/nn/wtconv/fused_haar_cpu.h"
#include "server/nn/wtconv/wavelets.h"

namespace wtserve::nn {
namespace {

using at::indexing::None;
using at::indexing::Slice;

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Random trainable parameters of trained-layer magnitudes (conv weights ~N(0, 1/k^2) so a k x k
// kernel has gain ~1, biases ~N(0, 0.1^2), scales ~U(-1, 1)), so scales and biases are not their
// symmetric initial values. Outputs are then O(1-10), where the 1e-5 tolerances are meaningful.
void Randomize(WTConv2dImpl& m, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double k = static_cast<double>(m.options.kernel_size());
  for (auto& p : m.named_parameters()) {
    at::Tensor v = p.value();
    if (!v.requires_grad()) continue;
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat);
    if (p.key().find("scale") != std::string::npos) {
      v.copy_(at::rand(v.sizes(), gen, f32) * 2 - 1);
    } else if (p.key().find("bias") != std::string::npos) {
      v.copy_(at::randn(v.sizes(), gen, f32) * 0.1);
    } else {
      v.copy_(at::randn(v.sizes(), gen, f32) / k);
    }
  }
}

void CopyParameters(const WTConv2dImpl& from, WTConv2dImpl& to) {
  at::NoGradGuard no_grad;
  auto dst = to.named_parameters();
  for (const auto& p : from.named_parameters()) dst[p.key()].copy_(p.value());
}

TEST(WTConv2dTest, ParameterNamesShapesAndOrderMatchTheReference) {
  const int64_t c = 3, k = 5, levels = 2;
  WTConv2d m(WTConv2dOptions(c).kernel_size(k).wt_levels(levels));
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"wt_filter", {4 * c, 1, 2, 2}},
      {"iwt_filter", {4 * c, 1, 2, 2}},
      {"base_conv.weight", {c, 1, k, k}},
      {"base_conv.bias", {c}},
      {"base_scale.weight", {1, c, 1, 1}},
      {"wavelet_convs.0.weight", {4 * c, 1, k, k}},
      {"wavelet_convs.1.weight", {4 * c, 1, k, k}},
      {"wavelet_scale.0.weight", {1, 4 * c, 1, 1}},
      {"wavelet_scale.1.weight", {1, 4 * c, 1, 1}},
  };
  auto params = m->named_parameters();
  ASSERT_EQ(params.size(), expected.size());
  size_t i = 0;
  for (const auto& p : params) {
    EXPECT_EQ(p.key(), expected[i].first);
    EXPECT_EQ(p.value().sizes(), at::IntArrayRef(expected[i].second)) << p.key();
    EXPECT_EQ(p.value().scalar_type(), at::kFloat) << p.key();
    EXPECT_EQ(p.value().requires_grad(), i >= 2) << p.key();
    ++i;
  }
  EXPECT_TRUE(m->buffers().empty());
  // Initial scales as in the reference.
  EXPECT_TRUE(at::all(m->base_scale->weight == 1.0).item<bool>());
  EXPECT_TRUE(at::all(params["wavelet_scale.1.weight"] == 0.1f).item<bool>());
}

TEST(WTConv2dTest, NoBiasDropsTheBiasKey) {
  WTConv2d m(WTConv2dOptions(2).bias(false).wt_levels(0));
  auto params = m->named_parameters();
  EXPECT_EQ(params.size(), 4u);
  EXPECT_EQ(params.find("base_conv.bias"), nullptr);
}

TEST(WTConv2dTest, TrainableParametersPerChannelAre27Plus104PerLevelAtK5) {
  for (int64_t levels = 0; levels <= 5; ++levels) {
    const int64_t c = 4;
    WTConv2d m(WTConv2dOptions(c).kernel_size(5).wt_levels(levels));
    int64_t trainable = 0;
    for (const auto& p : m->parameters()) {
      if (p.requires_grad()) trainable += p.numel();
    }
    EXPECT_EQ(trainable, c * (27 + 104 * levels)) << "levels " << levels;
  }
}

TEST(WTConv2dTest, LongerWaveletsHaveLongerFrozenFilters) {
  EXPECT_EQ(WTConv2d(WTConv2dOptions(2).wavelet("db2"))->wt_filter.sizes(), at::IntArrayRef({8, 1, 4, 4}));
  EXPECT_EQ(WTConv2d(WTConv2dOptions(2).wavelet("coif3"))->iwt_filter.sizes(), at::IntArrayRef({8, 1, 18, 18}));
  EXPECT_EQ(WTConv2d(WTConv2dOptions(1).wavelet("sym6"))->wt_filter.size(3), 12);
}

TEST(WTConv2dTest, ConstructionErrorsAreInvalidArgument) {
  EXPECT_THROW(WTConv2dOptions(4, 8), std::invalid_argument);
  EXPECT_NO_THROW(WTConv2dOptions(4, 4));
  EXPECT_THROW(WTConv2d(WTConv2dOptions(0)), std::invalid_argument);
  EXPECT_THROW(WTConv2d(WTConv2dOptions(2).kernel_size(0)), std::invalid_argument);
  EXPECT_THROW(WTConv2d(WTConv2dOptions(2).stride(0)), std::invalid_argument);
  EXPECT_THROW(WTConv2d(WTConv2dOptions(2).wt_levels(-1)), std::invalid_argument);
  try {
    WTConv2d(WTConv2dOptions(2).wavelet("db7"));
    FAIL() << "unknown wavelet accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("db7"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("coif3"), std::string::npos) << "should list supported names";
  }
}

TEST(WTConv2dTest, BadInputsThrowWithClearText) {
  WTConv2d m(WTConv2dOptions(3));
  auto expect_error = [&](const at::Tensor& x, const std::string& needle) {
    try {
      m->forward(x);
      ADD_FAILURE() << "accepted input " << x.sizes();
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(at::zeros({3, 8, 8}), "4-D");
  expect_error(at::zeros({1, 4, 8, 8}), "3 input channels");
  expect_error(at::zeros({1, 3, 0, 8}), "H, W >= 1");
  expect_error(at::zeros({1, 3, 8, 8}, at::kDouble), "dtype");
  EXPECT_THROW(WTConv2d(WTConv2dOptions(3).wavelet("db2"))->forward_haar(at::zeros({1, 3, 8, 8})), c10::Error);
}

TEST(WTConv2dTest, OutputShapeIsCeilOfSizeOverStride) {
  at::NoGradGuard no_grad;
  for (int64_t stride : {1, 2, 3, 4}) {
    for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {5, 8}, {7, 7}, {13, 21}}) {
      for (bool fast : {true, false}) {
        WTConv2d m(WTConv2dOptions(2).stride(stride).wt_levels(2).fast_haar(fast));
        auto y = m->forward(at::randn({2, 2, hw.first, hw.second}));
        EXPECT_EQ(y.sizes(),
                  at::IntArrayRef({2, 2, (hw.first + stride - 1) / stride, (hw.second + stride - 1) / stride}))
            << "stride " << stride << " fast " << fast;
      }
    }
  }
}

TEST(WTConv2dTest, StrideSubsamplesTheStrideOneOutput) {
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 3, 13, 10});
  for (int64_t k : {4, 5}) {
    for (int64_t stride : {2, 3, 4}) {
      for (bool fast : {true, false}) {
        WTConv2d s1(WTConv2dOptions(3).kernel_size(k).wt_levels(3).fast_haar(fast));
        Randomize(*s1, 7);
        WTConv2d sn(WTConv2dOptions(3).kernel_size(k).wt_levels(3).stride(stride).fast_haar(fast));
        CopyParameters(*s1, *sn);
        const at::Tensor full = s1->forward(x);
        const at::Tensor sub = full.index({Slice(), Slice(), Slice(None, None, stride), Slice(None, None, stride)});
        EXPECT_LE(MaxAbsDiff(sn->forward(x), sub), 1e-5) << "k " << k << " stride " << stride << " fast " << fast;
      }
    }
  }
}

// Frozen filters: db1 analysis then synthesis gives back the input.
TEST(WTConv2dTest, HaarFiltersRoundTrip) {
  const int64_t c = 3;
  auto filters = CreateWaveletFilters("db1", c);
  const at::Tensor x = at::randn({2, c, 8, 6});
  const at::Tensor bands = at::conv2d(x, filters.first, {}, 2, at::IntArrayRef{0}, 1, c);
  const at::Tensor back = at::conv_transpose2d(bands, filters.second, {}, 2, at::IntArrayRef{0}, 0, c);
  EXPECT_LE(MaxAbsDiff(back, x), 1e-6);
  // The 2x2 block formulas of docs/reference.md §1 for channel 0's first block.
  const at::Tensor blk = x.index({0, 0, Slice(0, 2), Slice(0, 2)});
  const double a = blk[0][0].item<double>(), b = blk[0][1].item<double>();
  const double cc = blk[1][0].item<double>(), d = blk[1][1].item<double>();
  const double expect[4] = {0.5 * (a + b + cc + d), 0.5 * (a + b - cc - d), 0.5 * (a - b + cc - d),
                            0.5 * (a - b - cc + d)};
  for (int s = 0; s < 4; ++s) EXPECT_NEAR(bands.index({0, s, 0, 0}).item<double>(), expect[s], 1e-6) << s;
}

// Whole layer as a multi-level Haar round trip: identity wavelet convs, base branch off, and
// every LL band but the deepest dropped, so the synthesis must rebuild x exactly (odd sizes too).
TEST(WTConv2dTest, LayerWithIdentityBandsReconstructsTheInput) {
  at::NoGradGuard no_grad;
  const int64_t c = 2, k = 3;
  for (int64_t levels : {1, 2, 4}) {
    for (bool fast : {true, false}) {
      WTConv2d m(WTConv2dOptions(c).kernel_size(k).wt_levels(levels).fast_haar(fast));
      m->base_conv->weight.zero_();
      m->base_scale->weight.zero_();
      for (int64_t i = 0; i < levels; ++i) {
        auto& w = m->wavelet_convs[i]->as<torch::nn::Conv2d>()->weight;
        w.zero_();
        w.index_put_({Slice(), 0, k / 2, k / 2}, 1.0);
        auto& s = m->wavelet_scale[i]->as<ChannelScale>()->weight;
        s.fill_(1.0);
        if (i < levels - 1) s.index_put_({0, Slice(None, None, 4)}, 0.0);
      }
      const at::Tensor x = at::randn({2, c, 13, 21});
      const at::Tensor y = m->forward(x);
      EXPECT_LE(MaxAbsDiff(y, x), 1e-5) << "levels " << levels << " fast " << fast;
    }
  }
}

TEST(WTConv2dTest, FastHaarPathMatchesGeneralPath) {
  at::NoGradGuard no_grad;
  double worst = 0;
  for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {2, 3}, {3, 5}, {7, 7}, {13, 21}, {56, 56}}) {
    for (int64_t levels = 0; levels <= 5; ++levels) {
      for (int64_t k : {1, 2, 3, 5, 7}) {
        for (int64_t stride : {1, 2, 3}) {
          WTConv2d m(WTConv2dOptions(3).kernel_size(k).wt_levels(levels).stride(stride));
          ASSERT_TRUE(m->uses_fast_haar());
          Randomize(*m, 11 + levels);
          const at::Tensor x = at::randn({2, 3, hw.first, hw.second});
          const double diff = MaxAbsDiff(m->forward_haar(x), m->forward_general(x));
          worst = std::max(worst, diff);
          EXPECT_LE(diff, 1e-5) << hw.first << "x" << hw.second << " L" << levels << " k" << k << " s" << stride;
        }
      }
    }
  }
  std::cout << "max |haar - general| = " << worst << "\n";
}

// The fused CPU kernel (float32 inference, stride 1) against the per-level kernels of the same
// path (fused_cpu false), for every ISA this CPU runs: channel counts that leave tails for each
// vector width (16, 8, 4 floats) and channel slices of several widths (C = 100: 32 + 32 + 32 + 4),
// odd sizes, levels past log2 of the size, even and odd k (3, 5, 7 take the register-blocked
// row conv, 2 the general one), one and two threads, NCHW and channels_last inputs.
TEST(WTConv2dTest, FusedCpuKernelMatchesPerLevelKernelsOnEveryIsa) {
  at::NoGradGuard no_grad;
  const int threads = at::get_num_threads();
  std::cout << "fused Haar ISAs on this CPU:";
  for (const std::string& isa : detail::FusedHaarIsas()) std::cout << " " << isa;
  std::cout << " (default " << detail::FusedHaarIsa() << ")\n";
  double worst = 0;
  int cases = 0;
  for (int num_threads : {1, 2}) {
    at::set_num_threads(num_threads);
    for (int64_t c : {1, 7, 17, 24, 40, 100}) {
      for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {5, 2}, {29, 31}, {56, 56}}) {
        if (c == 100 && hw.first == 56) continue;  // slices of 32 and 4 (or 48, 48, 4) are covered at 29 x 31
        for (int64_t k : {2, 3, 5, 7}) {
          for (int64_t levels : {1, 3, 6}) {
            WTConv2d fused(WTConv2dOptions(c).kernel_size(k).wt_levels(levels).bias(c % 2 == 1));
            WTConv2d unfused(WTConv2dOptions(c).kernel_size(k).wt_levels(levels).bias(c % 2 == 1).fused_cpu(false));
            Randomize(*fused, 100 + c + k);
            CopyParameters(*fused, *unfused);
            at::Tensor x = at::randn({num_threads == 1 ? 2 : 3, c, hw.first, hw.second});
            if ((c + k) % 2 == 0) x = x.contiguous(at::MemoryFormat::ChannelsLast);
            const at::Tensor expected = unfused->forward(x);
            const double scale = std::max(1.0, expected.abs().max().item<double>());
            for (const std::string& isa : detail::FusedHaarIsas()) {
              detail::HaarLayerParams p;
              p.base_weight = fused->base_conv->weight;
              p.base_bias = fused->base_conv->bias;
              p.base_scale = fused->base_scale->weight;
              for (int64_t j = 0; j < levels; ++j) {
                p.level_weight.push_back(fused->wavelet_convs[j]->as<torch::nn::Conv2d>()->weight);
                p.level_scale.push_back(fused->wavelet_scale[j]->as<ChannelScale>()->weight);
              }
              p.tap = fused->wt_filter.index({0, 0, 0, 0}).item<double>();
              const double diff = MaxAbsDiff(detail::FusedHaarForwardCpu(x, p, isa), expected) / scale;
              worst = std::max(worst, diff);
              ++cases;
              EXPECT_LE(diff, 2e-6) << isa << " C" << c << " " << hw.first << "x" << hw.second << " k" << k << " L"
                                    << levels << " threads " << num_threads;
            }
            // The module takes the fused kernel on its own and keeps the input's memory format.
            const at::Tensor y = fused->forward(x);
            EXPECT_TRUE(y.is_contiguous(x.suggest_memory_format()));
            EXPECT_LE(MaxAbsDiff(y, expected) / scale, 2e-6);
          }
        }
      }
    }
  }
  at::set_num_threads(threads);
  std::cout << cases << " cases, max |fused - per-level| / max(1, |y|) = " << worst << "\n";
}

// The Haar path computes in channels_last internally and returns the input's memory format.
TEST(WTConv2dTest, OutputKeepsTheInputMemoryFormat) {
  at::NoGradGuard no_grad;
  WTConv2d m(WTConv2dOptions(5).wt_levels(3));
  Randomize(*m, 4);
  const at::Tensor x = at::randn({2, 5, 12, 9});
  const at::Tensor x_nhwc = x.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor y = m->forward(x), y_nhwc = m->forward(x_nhwc);
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_TRUE(y_nhwc.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_LE(MaxAbsDiff(y, y_nhwc), 1e-6);
  EXPECT_LE(MaxAbsDiff(y, m->forward_general(x)), 1e-5);
  // A non-contiguous view is accepted too.
  const at::Tensor big = at::randn({2, 5, 24, 9});
  const at::Tensor view = big.slice(2, 0, None, 2);
  EXPECT_LE(MaxAbsDiff(m->forward(view), m->forward_general(view.contiguous())), 1e-5);
}

// The Haar path has three implementations of its adds: single-pass CPU kernels (no gradient
// possible), torch ops writing with out= (parameters need gradients, x does not) and pure
// differentiable torch ops (x needs gradients). All must agree.
TEST(WTConv2dTest, HaarKernelsAndTorchOpVariantsAgree) {
  for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 5}, {13, 21}, {32, 32}}) {
    for (int64_t stride : {1, 2, 3}) {
      WTConv2d m(WTConv2dOptions(6).wt_levels(4).kernel_size(3).stride(stride));
      Randomize(*m, 21);
      const at::Tensor x = at::randn({3, 6, hw.first, hw.second});
      at::Tensor kernels;
      {
        at::NoGradGuard no_grad;
        kernels = m->forward(x);
      }
      const at::Tensor out_ops = m->forward(x);
      const at::Tensor diff_ops = m->forward(x.clone().requires_grad_(true));
      EXPECT_TRUE(out_ops.requires_grad());
      EXPECT_LE(MaxAbsDiff(kernels, out_ops), 1e-5) << hw.first << "x" << hw.second << " s" << stride;
      EXPECT_LE(MaxAbsDiff(kernels, diff_ops.detach()), 1e-5) << hw.first << "x" << hw.second << " s" << stride;
      at::NoGradGuard no_grad;
      EXPECT_LE(MaxAbsDiff(kernels, m->forward_general(x)), 1e-5);
    }
  }
}

TEST(WTConv2dTest, HaarNameUsesTheFastPathAndSameFilters) {
  WTConv2d haar(WTConv2dOptions(2).wavelet("haar"));
  WTConv2d db1(WTConv2dOptions(2));
  WTConv2d general(WTConv2dOptions(2).fast_haar(false));
  WTConv2d db2(WTConv2dOptions(2).wavelet("db2"));
  EXPECT_TRUE(haar->uses_fast_haar());
  EXPECT_TRUE(db1->uses_fast_haar());
  EXPECT_FALSE(general->uses_fast_haar());
  EXPECT_FALSE(db2->uses_fast_haar());
  EXPECT_TRUE(at::equal(haar->wt_filter, db1->wt_filter));
}

// wt_levels = 0 is the scaled depthwise conv.
TEST(WTConv2dTest, ZeroLevelsIsAScaledDepthwiseConv) {
  at::NoGradGuard no_grad;
  for (bool fast : {true, false}) {
    WTConv2d m(WTConv2dOptions(4).kernel_size(7).wt_levels(0).fast_haar(fast));
    Randomize(*m, 3);
    const at::Tensor x = at::randn({2, 4, 9, 11});
    const at::Tensor expect =
        at::conv2d(x, m->base_conv->weight, m->base_conv->bias, 1, 3, 1, 4) * m->base_scale->weight;
    EXPECT_LE(MaxAbsDiff(m->forward(x), expect), 1e-5);
  }
}

TEST(WTConv2dTest, BackwardReachesEveryTrainableParameterOnBothPaths) {
  for (bool fast : {true, false}) {
    WTConv2d m(WTConv2dOptions(3).wt_levels(3).stride(2).fast_haar(fast));
    const at::Tensor x = at::randn({2, 3, 15, 12}).requires_grad_(true);
    m->forward(x).pow(2).sum().backward();
    ASSERT_TRUE(x.grad().defined());
    for (const auto& p : m->named_parameters()) {
      if (p.value().requires_grad()) {
        ASSERT_TRUE(p.value().grad().defined()) << p.key();
        EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key() << " fast " << fast;
      } else {
        EXPECT_FALSE(p.value().grad().defined()) << p.key();
      }
    }
  }
}

TEST(WTConv2dTest, GradientsOfBothPathsAgree) {
  WTConv2d fast(WTConv2dOptions(3).wt_levels(3).kernel_size(3));
  Randomize(*fast, 5);
  WTConv2d general(WTConv2dOptions(3).wt_levels(3).kernel_size(3).fast_haar(false));
  CopyParameters(*fast, *general);
  const at::Tensor x0 = at::randn({2, 3, 11, 14});
  const at::Tensor x1 = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
  fast->forward(x1).sin().sum().backward();
  general->forward(x2).sin().sum().backward();
  EXPECT_LE(MaxAbsDiff(x1.grad(), x2.grad()), 1e-4);
  auto pf = fast->named_parameters(), pg = general->named_parameters();
  for (const auto& p : pf) {
    if (!p.value().requires_grad()) continue;
    const at::Tensor& g = pg[p.key()].grad();
    const double scale = std::max(1.0, g.abs().max().item<double>());
    EXPECT_LE(MaxAbsDiff(p.value().grad(), g) / scale, 1e-4) << p.key();
  }
}

// Whether this LibTorch has a float16 depthwise conv2d on CPU (1.13: no; later versions may).
bool CpuHalfConvAvailable() {
  try {
    const at::Tensor x = at::ones({1, 2, 4, 4}, at::kHalf), w = at::ones({2, 1, 3, 3}, at::kHalf);
    at::conv2d(x, w, {}, 1, at::IntArrayRef{1}, 1, 2);
    return true;
  } catch (const c10::Error&) {
    return false;
  }
}

// float64 and bfloat16 must work on both paths on every CPU: the Haar path needs only conv2d,
// and the general path runs its synthesis in float32 for reduced precision on CPU, so no
// branch depends on the host (tests/nn/libtorch_quirks_test.cc shows why it must). float16 has
// no CPU conv in LibTorch 1.13; the layer must then throw a c10::Error, not return garbage.
TEST(WTConv2dTest, ReducedAndDoublePrecisionOnCpu) {
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 4, 14, 9});
  const bool half_conv = CpuHalfConvAvailable();
#if TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 13
  EXPECT_FALSE(half_conv) << "LibTorch 1.13 has a float16 CPU conv here: update docs/wtconv.md";
#endif
  for (bool fast : {true, false}) {
    WTConv2d ref(WTConv2dOptions(4).wt_levels(3).fast_haar(fast));
    Randomize(*ref, 9);
    const at::Tensor y = ref->forward(x);
    const double scale = std::max(1.0, y.abs().max().item<double>());
    for (auto t : {at::kDouble, at::kBFloat16, at::kHalf}) {
      SCOPED_TRACE(std::string(c10::toString(t)) + (fast ? " haar" : " general"));
      WTConv2d m(WTConv2dOptions(4).wt_levels(3).fast_haar(fast));
      CopyParameters(*ref, *m);
      m->to(t);
      EXPECT_EQ(m->wt_filter.scalar_type(), t);
      if (t == at::kHalf && !half_conv) {
        EXPECT_THROW(m->forward(x.to(t)), c10::Error);
        continue;
      }
      const at::Tensor yt = m->forward(x.to(t));
      EXPECT_EQ(yt.scalar_type(), t);
      // bfloat16 keeps 8 significant bits (relative step 2^-8 = 0.4%); the roundings of three
      // levels stayed below 0.8% of the output's magnitude here (AMD host, both paths).
      const double tol = t == at::kDouble ? 1e-5 : 0.02 * scale;
      EXPECT_LE(MaxAbsDiff(yt, y), tol);
      std::cout << t << (fast ? " haar" : " general") << ": max diff to float32 " << MaxAbsDiff(yt, y)
                << " (output magnitude " << scale << ")\n";
    }
  }
}

// bfloat16 inference on CPU takes the float32 fused kernel: the input and parameters are
// widened exactly, the output rounded once. So the module's output equals the kernel's on the
// widened tensors rounded to bf16, bit for bit, is at least as close to the float32 layer as the
// per-level bf16 path, and keeps bf16 and the input's memory format.
TEST(WTConv2dTest, BFloat16InferenceRunsTheFusedKernelAndRoundsOnce) {
  at::NoGradGuard no_grad;
  for (int64_t levels : {1, 3}) {
    WTConv2d ref(WTConv2dOptions(24).kernel_size(5).wt_levels(levels));
    Randomize(*ref, 31 + levels);
    WTConv2d fused(WTConv2dOptions(24).kernel_size(5).wt_levels(levels));
    WTConv2d per_level(WTConv2dOptions(24).kernel_size(5).wt_levels(levels).fused_cpu(false));
    CopyParameters(*ref, *fused);
    CopyParameters(*ref, *per_level);
    fused->to(at::kBFloat16);
    per_level->to(at::kBFloat16);
    for (bool channels_last : {true, false}) {
      at::Tensor x = at::randn({2, 24, 21, 18}).to(at::kBFloat16);
      if (channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
      const at::Tensor y = fused->forward(x);
      EXPECT_EQ(y.scalar_type(), at::kBFloat16);
      EXPECT_TRUE(y.is_contiguous(x.suggest_memory_format()));

      detail::HaarLayerParams p;
      p.base_weight = fused->base_conv->weight.to(at::kFloat);
      p.base_bias = fused->base_conv->bias.to(at::kFloat);
      p.base_scale = fused->base_scale->weight.to(at::kFloat);
      for (int64_t j = 0; j < levels; ++j) {
        p.level_weight.push_back(fused->wavelet_convs[j]->as<torch::nn::Conv2d>()->weight.to(at::kFloat));
        p.level_scale.push_back(fused->wavelet_scale[j]->as<ChannelScale>()->weight.to(at::kFloat));
      }
      // The layer keeps the float32 tap it was built with; its bf16 wt_filter is rounded.
      p.tap = ref->wt_filter.index({0, 0, 0, 0}).item<double>();
      EXPECT_TRUE(at::equal(y, detail::FusedHaarForwardCpu(x.to(at::kFloat), p).to(at::kBFloat16)))
          << "L" << levels << (channels_last ? " channels_last" : " NCHW");

      // Against the float32 layer with the same (bf16-valued) parameters and input: one rounding,
      // at most half a bf16 step (2^-8 of the value), against the per-level path's several; the
      // margin of half a step keeps the comparison of two maxima over ~18k outputs from hinging on
      // one lucky rounding.
      WTConv2d widened(WTConv2dOptions(24).kernel_size(5).wt_levels(levels).fused_cpu(false));
      CopyParameters(*ref, *widened);
      widened->to(at::kBFloat16);
      widened->to(at::kFloat);
      const at::Tensor exact = widened->forward(x.to(at::kFloat));
      const double scale = std::max(1.0, exact.abs().max().item<double>());
      EXPECT_LE(MaxAbsDiff(y, exact), scale / 256 + 1e-5);
      EXPECT_LE(MaxAbsDiff(y, exact), MaxAbsDiff(per_level->forward(x), exact) + scale / 512);
    }
  }
}

TEST(WTConv2dTest, CloneCopiesParametersAndOptions) {
  WTConv2d m(WTConv2dOptions(2).wt_levels(2).kernel_size(3));
  Randomize(*m, 1);
  auto copy = std::dynamic_pointer_cast<WTConv2dImpl>(m->clone());
  ASSERT_NE(copy, nullptr);
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({1, 2, 9, 9});
  EXPECT_TRUE(at::equal(copy->forward(x), m->forward(x)));
  EXPECT_EQ(copy->named_parameters().size(), m->named_parameters().size());
}

// The fused kernel keeps its folded weights between calls; every way a parameter changes must
// reach the next forward: an in-place update (copy_, as load_state_dict does, or an optimizer's
// add_), a new tensor (set_data), and a clone's own parameters.
TEST(WTConv2dTest, FusedKernelSeesEveryParameterChange) {
  WTConv2d fused(WTConv2dOptions(24).kernel_size(5).wt_levels(3));
  WTConv2d unfused(WTConv2dOptions(24).kernel_size(5).wt_levels(3).fused_cpu(false));
  Randomize(*fused, 7);
  const at::Tensor x = at::randn({2, 24, 20, 20}).contiguous(at::MemoryFormat::ChannelsLast);
  auto expect_matches = [&](const char* after) {
    CopyParameters(*fused, *unfused);
    at::NoGradGuard no_grad;
    EXPECT_LE(MaxAbsDiff(fused->forward(x), unfused->forward(x)), 2e-5) << "after " << after;
  };
  expect_matches("construction");
  {
    at::NoGradGuard no_grad;
    fused->base_conv->weight.copy_(at::randn_like(fused->base_conv->weight) / 5);
  }
  expect_matches("copy_ into the base conv weight");
  {
    at::NoGradGuard no_grad;
    fused->wavelet_scale[2]->as<ChannelScale>()->weight.add_(0.5);
  }
  expect_matches("add_ to the deepest level's scale");
  {
    c10::InferenceMode inference;  // in-place inside InferenceMode still bumps the version counter
    fused->base_conv->bias.mul_(-3);
  }
  expect_matches("mul_ of the bias inside InferenceMode");
  fused->wavelet_convs[0]->as<torch::nn::Conv2d>()->weight.set_data(
      at::randn_like(fused->wavelet_convs[0]->as<torch::nn::Conv2d>()->weight));
  expect_matches("set_data on level 0's weight");
  auto copy = std::dynamic_pointer_cast<WTConv2dImpl>(fused->clone());
  {
    at::NoGradGuard no_grad;
    copy->base_scale->weight.fill_(2);
    EXPECT_FALSE(at::allclose(copy->forward(x), fused->forward(x))) << "a clone shares the original's weights";
  }
  expect_matches("forwarding a modified clone");
}

// Parameters made inside InferenceMode are inference tensors, which have no version counter;
// their folded weights are made on every call, so in-place changes still take effect.
TEST(WTConv2dTest, FusedKernelWithInferenceTensorParameters) {
  c10::InferenceMode inference;
  WTConv2d fused(WTConv2dOptions(16).kernel_size(5).wt_levels(2));
  WTConv2d unfused(WTConv2dOptions(16).kernel_size(5).wt_levels(2).fused_cpu(false));
  ASSERT_TRUE(fused->base_conv->weight.is_inference());
  const at::Tensor x = at::randn({1, 16, 12, 12});
  const at::Tensor before = fused->forward(x);
  fused->base_conv->weight.mul_(2);
  CopyParameters(*fused, *unfused);
  EXPECT_LE(MaxAbsDiff(fused->forward(x), unfused->forward(x)), 2e-5);
  EXPECT_FALSE(at::allclose(fused->forward(x), before));
}

}  // namespace
}  // namespace wtserve::nn

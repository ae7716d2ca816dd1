// Registry, architecture shapes/parameter counts, checkpoint errors and round trips, and the
// training form of WTConv2d. Needs LibTorch only.
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "server/nn/models/checkpoint.h"
#include "server/nn/models/convnext.h"
#include "server/nn/models/registry.h"
#include "server/nn/models/training_forward.h"

namespace wtserve::nn {
namespace {

using ::testing::HasSubstr;

int64_t CountParameters(const torch::nn::Module& m, bool trainable_only) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("wtserve_models_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

ClassifierOptions Fmnist() {
  ClassifierOptions o;
  o.num_classes = 10;
  o.in_chans = 1;
  return o;
}

TEST(RegistryTest, ListsEveryFamily) {
  EXPECT_THAT(RegisteredArchitectures(),
              ::testing::ElementsAre("convnext_base", "convnext_fmnist", "convnext_small", "convnext_tiny",
                                     "mobilenetv2", "wtconvnext_base", "wtconvnext_fmnist", "wtconvnext_small",
                                     "wtconvnext_tiny", "wtmobilenetv2"));
}

TEST(RegistryTest, UnknownNameListsRegisteredOnes) {
  try {
    CreateClassifier("resnet50", ClassifierOptions{});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown architecture 'resnet50'"));
    EXPECT_THAT(e.what(), HasSubstr("wtconvnext_tiny"));
  }
  ClassifierOptions bad;
  bad.num_classes = 0;
  EXPECT_THROW(CreateClassifier("convnext_fmnist", bad), std::invalid_argument);
}

// docs/reference.md §2: released parameter counts include the frozen wavelet filters; tiny has 356 keys.
TEST(ArchitectureTest, WtConvNeXtMatchesReleasedCounts) {
  const std::map<std::string, double> released_millions = {
      {"wtconvnext_tiny", 30.6}, {"wtconvnext_small", 54.4}, {"wtconvnext_base", 94.2}};
  for (const auto& [name, millions] : released_millions) {
    auto net = CreateClassifier(name, ClassifierOptions{});
    const double got = static_cast<double>(CountParameters(*net, false)) / 1e6;
    std::printf("%s: %.3fM parameters (%.3fM trainable), %zu state-dict keys\n", name.c_str(), got,
                CountParameters(*net, true) / 1e6, ModuleStateDict(*net).size());
    EXPECT_NEAR(got, millions, 0.05) << name;
  }
  auto tiny = CreateClassifier("wtconvnext_tiny", ClassifierOptions{});
  const StateDict keys = ModuleStateDict(*tiny);
  ASSERT_EQ(keys.size(), 356u);
  EXPECT_EQ(keys.front().first, "stem.0.weight");
  EXPECT_EQ(keys.back().first, "head.fc.bias");
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [k, t] : keys) shapes[k] = t.sizes().vec();
  EXPECT_EQ(shapes.at("stem.0.weight"), (std::vector<int64_t>{96, 3, 4, 4}));
  EXPECT_EQ(shapes.at("stages.0.blocks.0.conv_dw.wt_filter"), (std::vector<int64_t>{384, 1, 2, 2}));
  EXPECT_EQ(shapes.at("stages.0.blocks.0.conv_dw.wavelet_convs.4.weight"), (std::vector<int64_t>{384, 1, 5, 5}));
  EXPECT_EQ(shapes.at("stages.3.blocks.2.conv_dw.wavelet_scale.1.weight"), (std::vector<int64_t>{1, 3072, 1, 1}));
  EXPECT_EQ(shapes.count("stages.3.blocks.2.conv_dw.wavelet_convs.2.weight"), 0u);
  EXPECT_EQ(shapes.at("stages.1.downsample.1.weight"), (std::vector<int64_t>{192, 96, 2, 2}));
  EXPECT_EQ(shapes.at("stages.2.blocks.8.mlp.fc1.weight"), (std::vector<int64_t>{1536, 384}));
  EXPECT_EQ(shapes.at("head.norm.weight"), (std::vector<int64_t>{768}));
}

TEST(ArchitectureTest, BaselinesAndMobileNets) {
  auto convnext = CreateClassifier("convnext_tiny", ClassifierOptions{});
  std::printf("convnext_tiny: %.3fM parameters\n", CountParameters(*convnext, false) / 1e6);
  EXPECT_NEAR(CountParameters(*convnext, false) / 1e6, 28.59, 0.01);  // timm convnext_tiny
  const StateDict keys = ModuleStateDict(*convnext);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [k, t] : keys) shapes[k] = t.sizes().vec();
  EXPECT_EQ(shapes.at("stages.0.blocks.0.conv_dw.weight"), (std::vector<int64_t>{96, 1, 7, 7}));
  EXPECT_EQ(shapes.at("stages.0.blocks.0.conv_dw.bias"), (std::vector<int64_t>{96}));

  auto mobilenet = CreateClassifier("mobilenetv2", ClassifierOptions{});
  std::printf("mobilenetv2: %.3fM parameters\n", CountParameters(*mobilenet, false) / 1e6);
  EXPECT_EQ(CountParameters(*mobilenet, false), 3504872);  // torchvision mobilenet_v2
  std::map<std::string, std::vector<int64_t>> mshapes;
  for (const auto& [k, t] : ModuleStateDict(*mobilenet)) mshapes[k] = t.sizes().vec();
  EXPECT_EQ(mshapes.at("features.0.0.weight"), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(mshapes.at("features.1.conv.0.0.weight"), (std::vector<int64_t>{32, 1, 3, 3}));
  EXPECT_EQ(mshapes.at("features.2.conv.1.1.running_var"), (std::vector<int64_t>{96}));
  EXPECT_EQ(mshapes.at("features.18.0.weight"), (std::vector<int64_t>{1280, 320, 1, 1}));
  EXPECT_EQ(mshapes.at("classifier.1.weight"), (std::vector<int64_t>{1000, 1280}));

  ClassifierOptions half;
  half.width_mult = 0.5;
  half.num_classes = 7;
  auto wt = CreateClassifier("wtmobilenetv2", half);
  std::printf("wtmobilenetv2 (width 0.5): %.3fM parameters; mobilenetv2 (width 0.5): %.3fM\n",
              CountParameters(*wt, false) / 1e6, CountParameters(*CreateClassifier("mobilenetv2", half), false) / 1e6);
  std::map<std::string, std::vector<int64_t>> wshapes;
  for (const auto& [k, t] : ModuleStateDict(*wt)) wshapes[k] = t.sizes().vec();
  EXPECT_EQ(wshapes.at("features.2.conv.1.0.wavelet_convs.2.weight"), (std::vector<int64_t>{192, 1, 3, 3}));
  wt->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(wt->forward(torch::randn({2, 3, 40, 40})).sizes(), (std::vector<int64_t>{2, 7}));
}

TEST(ArchitectureTest, FmnistVariantsAreSmallAndComparable) {
  auto wt = CreateClassifier("wtconvnext_fmnist", Fmnist());
  auto plain = CreateClassifier("convnext_fmnist", Fmnist());
  const int64_t wt_all = CountParameters(*wt, false), wt_train = CountParameters(*wt, true);
  const int64_t plain_all = CountParameters(*plain, false);
  std::printf("wtconvnext_fmnist: %lld parameters (%lld trainable); convnext_fmnist: %lld\n",
              static_cast<long long>(wt_all), static_cast<long long>(wt_train), static_cast<long long>(plain_all));
  EXPECT_LT(wt_all, 1000000);
  EXPECT_LT(plain_all, 1000000);
  // Within 10% counting the frozen filters (state-dict count) and counting trainable only.
  EXPECT_LT(std::abs(wt_all - plain_all), 0.1 * std::max(wt_all, plain_all));
  EXPECT_LT(std::abs(wt_train - plain_all), 0.1 * std::max(wt_train, plain_all));
  torch::NoGradGuard no_grad;
  wt->eval();
  plain->eval();
  EXPECT_EQ(wt->forward(torch::randn({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_EQ(plain->forward(torch::randn({3, 1, 28, 28})).sizes(), (std::vector<int64_t>{3, 10}));
}

// The autograd-friendly training form computes WTConv2d::forward's function, gradients included.
TEST(WTConvTrainingFormTest, MatchesForward) {
  torch::manual_seed(3);
  for (int64_t stride : {1, 2}) {
    WTConv2d m(WTConv2dOptions(6).kernel_size(5).wt_levels(3).stride(stride));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : m->parameters()) {
        if (p.requires_grad()) p.copy_(torch::randn_like(p));
      }
    }
    auto x = torch::randn({2, 6, 13, 11}, torch::requires_grad());
    auto reference = m->forward_general(x);
    auto training = WTConv2dTrainingForward(*m, x);
    ASSERT_EQ(training.sizes(), reference.sizes());
    EXPECT_LT((training - reference).abs().max().item<double>(), 1e-4);
    // Gradients of the input and of every trainable parameter (base conv, its bias, the
    // per-level convs and scales): 13x11 reaches 4x3 and 2x2 maps, the small-map bmm path.
    std::vector<torch::Tensor> inputs = {x};
    for (auto& p : m->parameters()) {
      if (p.requires_grad()) inputs.push_back(p);
    }
    auto g = torch::randn_like(reference);
    auto grad_ref = torch::autograd::grad({reference}, inputs, {g});
    auto grad_train = torch::autograd::grad({training}, inputs, {g});
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_LT((grad_train[i] - grad_ref[i]).abs().max().item<double>(), 1e-3) << "input " << i;
    }
  }
}

// The small-map (Toeplitz bmm) and channels_last forms of a depthwise conv match Conv2d::forward
// in values and in the gradients of input, weight and bias, at every map size the compact models
// reach and across the kSmallMapPixels boundary.
TEST(DepthwiseTrainingFormTest, MatchesConvForward) {
  torch::manual_seed(4);
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{1, 1}, {2, 2}, {3, 2}, {3, 3},  {4, 4},
                                                          {5, 3}, {4, 5}, {7, 7}, {14, 14}};
  for (int64_t k : {5, 7}) {
    for (bool bias : {true, false}) {
      torch::nn::Conv2d conv(torch::nn::Conv2dOptions(5, 5, k).padding(k / 2).groups(5).bias(bias));
      for (const auto& [h, w] : sizes) {
        SCOPED_TRACE("k=" + std::to_string(k) + " bias=" + std::to_string(bias) + " " + std::to_string(h) + "x" +
                     std::to_string(w));
        auto x = torch::randn({3, 5, h, w}, torch::requires_grad());
        auto reference = conv->forward(x);
        auto training = DepthwiseConv2dTrainingForward(*conv, x);
        ASSERT_EQ(training.sizes(), reference.sizes());
        EXPECT_LT((training - reference).abs().max().item<double>(), 1e-5);
        std::vector<torch::Tensor> inputs = {x, conv->weight};
        if (bias) inputs.push_back(conv->bias);
        auto g = torch::randn_like(reference);
        auto grad_ref = torch::autograd::grad({reference}, inputs, {g});
        auto grad_train = torch::autograd::grad({training}, inputs, {g});
        for (size_t i = 0; i < inputs.size(); ++i) {
          EXPECT_LT((grad_train[i] - grad_ref[i]).abs().max().item<double>(), 1e-4) << "input " << i;
        }
      }
    }
  }
  // Not depthwise (a full 3->4 conv): handed to Conv2d::forward unchanged.
  torch::nn::Conv2d full(torch::nn::Conv2dOptions(3, 4, 3).padding(1));
  auto x = torch::randn({2, 3, 4, 4});
  EXPECT_TRUE(torch::equal(DepthwiseConv2dTrainingForward(*full, x), full->forward(x)));
  // Depthwise but not "same" (no padding, reflect padding): also handed over unchanged.
  torch::nn::Conv2d valid(torch::nn::Conv2dOptions(3, 3, 3).groups(3));
  EXPECT_TRUE(torch::equal(DepthwiseConv2dTrainingForward(*valid, x), valid->forward(x)));
  torch::nn::Conv2d reflect(torch::nn::Conv2dOptions(3, 3, 3).groups(3).padding(1).padding_mode(torch::kReflect));
  EXPECT_TRUE(torch::equal(DepthwiseConv2dTrainingForward(*reflect, x), reflect->forward(x)));
  torch::nn::Conv2d same(torch::nn::Conv2dOptions(3, 3, 3).groups(3).padding(torch::kSame));
  EXPECT_LT((DepthwiseConv2dTrainingForward(*same, x) - same->forward(x)).abs().max().item<double>(), 1e-5);
}

TEST(CheckpointTest, SaveThenLoadRoundTrips) {
  torch::manual_seed(1);
  auto a = CreateClassifier("wtconvnext_fmnist", Fmnist());
  auto b = CreateClassifier("wtconvnext_fmnist", Fmnist());
  const std::string path = TempPath("roundtrip.pt");
  SaveStateDict(*a, path);
  const StateDict read = ReadStateDict(path);
  const StateDict expected = ModuleStateDict(*a);
  ASSERT_EQ(read.size(), expected.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].first, expected[i].first);  // same order as Python's state_dict()
    EXPECT_TRUE(torch::equal(read[i].second, expected[i].second)) << read[i].first;
  }
  LoadStateDict(*b, path);
  a->eval();
  b->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(a->forward(x), b->forward(x)));
  std::filesystem::remove(path);
}

TEST(CheckpointTest, MismatchListsEveryProblemInOneError) {
  const std::string path = TempPath("mismatch.pt");
  SaveStateDict(*CreateClassifier("convnext_fmnist", Fmnist()), path);
  auto wt = CreateClassifier("wtconvnext_fmnist", Fmnist());
  try {
    LoadStateDict(*wt, path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr(path));
    EXPECT_THAT(msg, HasSubstr("missing keys [25]"));
    EXPECT_THAT(msg, HasSubstr("stages.0.blocks.0.conv_dw.wt_filter"));
    EXPECT_THAT(msg, HasSubstr("unexpected keys [6]: stages.0.blocks.0.conv_dw.weight"));
    EXPECT_THAT(msg, HasSubstr("mis-shaped keys"));
    EXPECT_THAT(msg, HasSubstr("stages.2.blocks.0.gamma (checkpoint [104], model [96])"));
  }
  ClassifierOptions five = Fmnist();
  five.num_classes = 5;
  auto other = CreateClassifier("convnext_fmnist", five);
  try {
    LoadStateDict(*other, path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("mis-shaped keys [2]: head.fc.weight (checkpoint [10, 104], "
                                    "model [5, 104]), head.fc.bias"));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("missing")));
  }
  std::filesystem::remove(path);
}

TEST(CheckpointTest, UnreadableFilesFailClearly) {
  auto net = CreateClassifier("convnext_fmnist", Fmnist());
  EXPECT_THROW(
      {
        try {
          LoadStateDict(*net, "/nonexistent/model.pt");
        } catch (const std::runtime_error& e) {
          EXPECT_THAT(e.what(), HasSubstr("checkpoint '/nonexistent/model.pt': cannot open"));
          throw;
        }
      },
      std::runtime_error);
  const std::string path = TempPath("garbage.pt");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    std::fputs("not a checkpoint", f);
    std::fclose(f);
  }
  try {
    LoadStateDict(*net, path);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a PyTorch zip checkpoint"));
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace wtserve::nn

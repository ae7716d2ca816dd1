// The effective-receptive-field analysis on networks whose gradients are known by hand, and on a
// registry network (forward_features must feed the head exactly as forward does).
#include "server/tools/erf.h"

#include <cmath>
#include <stdexcept>

#include <gtest/gtest.h>
#include <torch/nn/functional/conv.h>
#include <torch/torch.h>

#include "server/nn/models/convnext.h"
#include "server/nn/models/registry.h"

namespace wtserve::tools {
namespace {

// forward_features = a 3x3 box filter with zero padding, one channel: for positive inputs the
// centre unit's gradient is 1 on the 3x3 block around the centre and 0 elsewhere.
class BoxFeatures : public nn::ClassifierImpl {
 public:
  torch::Tensor forward(torch::Tensor images) override { return forward_features(images).mean({2, 3}); }
  torch::Tensor forward_features(torch::Tensor images) override {
    return torch::nn::functional::conv2d(images, torch::ones({1, 1, 3, 3}),
                                         torch::nn::functional::Conv2dFuncOptions().padding(1));
  }
};

class NoFeatures : public nn::ClassifierImpl {
 public:
  torch::Tensor forward(torch::Tensor images) override { return images.flatten(1); }
};

TEST(ErfTest, BoxFilterGradientIsTheCentreBlock) {
  BoxFeatures box;
  const at::Tensor images = torch::rand({6, 1, 9, 9}) + 0.1;  // positive: the relu passes
  absl::StatusOr<EffectiveReceptiveField> erf = ComputeEffectiveReceptiveField(box, images, 4, {0.5, 0.99});
  ASSERT_TRUE(erf.ok()) << erf.status();
  EXPECT_EQ(erf->images, 6);
  EXPECT_EQ(erf->feature_height, 9);
  for (int64_t y = 0; y < 9; ++y) {
    for (int64_t x = 0; x < 9; ++x) {
      const bool inside = std::abs(y - 4) <= 1 && std::abs(x - 4) <= 1;
      EXPECT_DOUBLE_EQ(erf->contribution[static_cast<size_t>(y * 9 + x)], inside ? 1.0 : 0.0) << y << "," << x;
    }
  }
  EXPECT_EQ(erf->squares[1].side, 3);
  EXPECT_DOUBLE_EQ(erf->squares[1].area_fraction, 9.0 / 81);
  EXPECT_DOUBLE_EQ(erf->pixel_fractions[1], 9.0 / 81);
  EXPECT_DOUBLE_EQ(erf->pixel_fractions[0], 5.0 / 81);  // 5 of the 9 equal pixels reach half
}

TEST(ErfTest, NegativeCentreContributesNothing) {
  BoxFeatures box;
  absl::StatusOr<EffectiveReceptiveField> erf =
      ComputeEffectiveReceptiveField(box, -torch::ones({2, 1, 5, 5}), 2, {0.5});
  ASSERT_TRUE(erf.ok());
  for (double v : erf->contribution) EXPECT_EQ(v, 0.0);  // relu of a negative centre: no gradient
  EXPECT_EQ(erf->squares[0].side, 1);
}

TEST(ErfTest, CentredSquaresAndPixelFractions) {
  std::vector<double> uniform(10 * 10, 1.0);
  // Centre (5, 5) of an even size: the square of side 2i+1 is clipped at the low edge last.
  const CentredSquare half = SmallestCentredSquare(uniform, 10, 10, 0.5);
  EXPECT_EQ(half.side, 9);  // 7x7 = 49% < 50%, 9x9 = 81%
  EXPECT_DOUBLE_EQ(half.area_fraction, 0.81);
  const CentredSquare all = SmallestCentredSquare(uniform, 10, 10, 1.0);
  EXPECT_DOUBLE_EQ(all.area_fraction, 1.0);
  EXPECT_DOUBLE_EQ(SmallestPixelFraction(uniform, 0.5), 0.5);
  std::vector<double> corner(16, 0.0);
  corner[0] = 1.0;  // all mass at (0, 0): the centred square must grow to the whole image
  EXPECT_DOUBLE_EQ(SmallestCentredSquare(corner, 4, 4, 0.9).area_fraction, 1.0);
  EXPECT_DOUBLE_EQ(SmallestPixelFraction(corner, 0.9), 1.0 / 16);
}

TEST(ErfTest, TilesAreConsecutiveImagesRowMajor) {
  const at::Tensor images = torch::arange(5, torch::kFloat).view({5, 1, 1, 1}).expand({5, 1, 2, 2}).contiguous();
  const at::Tensor mosaic = TileImages(images, 2, 2);
  ASSERT_EQ(mosaic.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  EXPECT_EQ(mosaic[0][0][0][0].item<float>(), 0);
  EXPECT_EQ(mosaic[0][0][0][3].item<float>(), 1);  // row 0, column 1
  EXPECT_EQ(mosaic[0][0][3][0].item<float>(), 2);  // row 1, column 0
  EXPECT_EQ(mosaic[1][0][3][3].item<float>(), 2);  // image 7 mod 5
}

TEST(ErfTest, RegistryNetworkFeaturesFeedTheHead) {
  std::shared_ptr<nn::ClassifierImpl> net = nn::CreateClassifier("wtconvnext_fmnist", {10, 1, 1.0});
  net->eval();
  const at::Tensor x = torch::randn({2, 1, 28, 28});
  torch::NoGradGuard no_grad;
  const at::Tensor features = net->forward_features(x);
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 96, 3, 3}));
  EXPECT_TRUE(
      net->forward(x).allclose(std::dynamic_pointer_cast<nn::ConvNeXtImpl>(net)->head->forward(features), 1e-5, 1e-6));
}

TEST(ErfTest, NetworkWithoutFeatureMapIsAFailedPrecondition) {
  NoFeatures flat;
  absl::StatusOr<EffectiveReceptiveField> erf =
      ComputeEffectiveReceptiveField(flat, torch::ones({1, 1, 4, 4}), 1, {0.5});
  EXPECT_EQ(erf.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ComputeEffectiveReceptiveField(flat, torch::ones({0, 1, 4, 4}), 1, {0.5}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wtserve::tools

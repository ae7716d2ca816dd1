// server/tools/accuracy.h: CountTop1 counts argmax(logits) == label overall and per true class,
// over batches that do not divide the data evenly, and passes errors through; ComparePredictions
// counts top-1 agreement and the largest logit difference between two forwards.
#include "server/tools/accuracy.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace wtserve::tools {
namespace {

// Five 1x1x2 images; the "network" predicts the class of the brighter pixel (0 = left).
PixelData TwoPixelImages() {
  PixelData data{at::tensor({10, 200, 250, 5, 9, 8, 1, 2, 7, 70}, at::kByte).reshape({5, 1, 1, 2}),
                 at::tensor({1, 0, 1, 0, 0}, at::kLong)};
  return data;  // predictions 1, 0, 0, 1, 1: right for images 0 (class 1) and 1 (class 0)
}

absl::StatusOr<at::Tensor> BrighterPixel(const at::Tensor& x) { return x.reshape({x.size(0), 2}); }

// x / 255 per channel: keeps the order of the pixels.
config::InputPreprocessing Plain() {
  config::InputPreprocessing pp;
  pp.set_scale(1.f / 255);
  pp.add_mean(0.f);
  pp.add_std(1.f);
  return pp;
}

TEST(AccuracyTest, CountsOverallAndPerClassOverUnevenBatches) {
  const config::InputPreprocessing pp = Plain();
  for (int64_t batch : {1, 2, 5, 64}) {
    auto counts = CountTop1(TwoPixelImages(), pp, 2, batch, BrighterPixel);
    ASSERT_TRUE(counts.ok()) << counts.status();
    EXPECT_EQ(counts->correct, 2) << "batch " << batch;
    EXPECT_EQ(counts->total, 5);
    EXPECT_EQ(counts->class_total, (std::vector<int64_t>{3, 2}));
    EXPECT_EQ(counts->class_correct, (std::vector<int64_t>{1, 1}));
    EXPECT_DOUBLE_EQ(counts->Percent(), 40.0);
  }
}

TEST(AccuracyTest, RefusesBadBatchLabelsAndLogits) {
  const config::InputPreprocessing pp = Plain();
  EXPECT_EQ(CountTop1(TwoPixelImages(), pp, 2, 0, BrighterPixel).status().code(), absl::StatusCode::kInvalidArgument);
  PixelData bad_label = TwoPixelImages();
  bad_label.labels[4] = 2;
  EXPECT_EQ(CountTop1(bad_label, pp, 2, 2, BrighterPixel).status().code(), absl::StatusCode::kInvalidArgument);
  auto flat = [](const at::Tensor& x) -> absl::StatusOr<at::Tensor> { return x.reshape({-1}); };
  EXPECT_EQ(CountTop1(TwoPixelImages(), pp, 2, 2, flat).status().code(), absl::StatusCode::kInvalidArgument);
  auto failing = [](const at::Tensor&) -> absl::StatusOr<at::Tensor> { return absl::InternalError("no model"); };
  EXPECT_EQ(CountTop1(TwoPixelImages(), pp, 2, 2, failing).status().message(), "no model");
}

TEST(AccuracyTest, ComparePredictionsCountsAgreementAndTheLargestLogitDifference) {
  const config::InputPreprocessing pp = Plain();
  // Swaps the two logits of image 1 (pixels 250 and 5: its right prediction becomes wrong) and
  // adds 0.25 to the left logit of image 4 (7 and 70: its wrong prediction becomes right). Two
  // disagreements, the same number correct, largest difference (250 - 5) / 255.
  auto perturbed = [](const at::Tensor& x) -> absl::StatusOr<at::Tensor> {
    at::Tensor logits = x.reshape({x.size(0), 2}).clone();
    for (int64_t i = 0; i < x.size(0); ++i) {
      if (std::abs(logits[i][0].item<float>() - 250.f / 255) < 1e-6) logits[i] = logits[i].flip(0);
      if (std::abs(logits[i][1].item<float>() - 70.f / 255) < 1e-6) logits[i][0] += 0.25f;
    }
    return logits;
  };
  for (int64_t batch : {1, 2, 5}) {
    auto same = ComparePredictions(TwoPixelImages(), pp, batch, BrighterPixel, BrighterPixel);
    ASSERT_TRUE(same.ok()) << same.status();
    EXPECT_EQ(same->images, 5);
    EXPECT_EQ(same->top1_agree, 5);
    EXPECT_EQ(same->reference_correct, 2);
    EXPECT_EQ(same->other_correct, 2);
    EXPECT_EQ(same->max_abs_logit_diff, 0.0);
    EXPECT_NEAR(same->max_reference_abs_logit, 250.0 / 255, 1e-6);

    auto other = ComparePredictions(TwoPixelImages(), pp, batch, BrighterPixel, perturbed);
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_EQ(other->top1_agree, 3) << "batch " << batch;
    EXPECT_EQ(other->reference_correct, 2);
    EXPECT_EQ(other->other_correct, 2);
    EXPECT_NEAR(other->max_abs_logit_diff, 245.0 / 255, 1e-6);
  }
  auto narrow = [](const at::Tensor& x) -> absl::StatusOr<at::Tensor> {
    return x.reshape({x.size(0), 2}).slice(1, 0, 1);
  };
  EXPECT_EQ(ComparePredictions(TwoPixelImages(), pp, 2, BrighterPixel, narrow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComparePredictions(TwoPixelImages(), pp, 0, BrighterPixel, BrighterPixel).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wtserve::tools

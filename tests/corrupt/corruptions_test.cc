#include "client/corrupt/corruptions.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "tests/corrupt/test_images.h"

namespace wtserve::corrupt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

cv::Mat Gray(const cv::Mat& rgb) {
  cv::Mat g;
  cv::cvtColor(rgb, g, cv::COLOR_RGB2GRAY);
  return g;
}

double MeanAbsDiff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  return cv::mean(d.reshape(1))[0];
}

bool SameBytes(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

cv::Mat MustCorrupt(const cv::Mat& image, const std::string& name, int severity,
                    uint64_t seed = 1, uint64_t index = 0) {
  auto result = Corrupt(image, name, severity, seed, index);
  EXPECT_TRUE(result.ok()) << name << " " << severity << ": " << result.status();
  return result.ok() ? *result : cv::Mat();
}

// Corruptions that draw random numbers.
const std::set<std::string>& RandomCorruptions() {
  static const std::set<std::string> names = {
      "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "glass_blur",
      "motion_blur",    "snow",       "frost",         "fog",           "elastic_transform",
      "spatter"};
  return names;
}

// ---------------------------------------------------------------------------------------------
// Names, groups, specs.

TEST(CorruptionNames, ImageNetCOrderThenExtras) {
  EXPECT_THAT(CorruptionNames(),
              ElementsAre("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur",
                          "glass_blur", "motion_blur", "zoom_blur", "snow", "frost", "fog",
                          "brightness", "contrast", "elastic_transform", "pixelate",
                          "jpeg_compression", "speckle_noise", "gaussian_blur", "spatter",
                          "saturate"));
}

TEST(GroupOf, EveryNameHasItsGroup) {
  EXPECT_EQ(GroupOf("shot_noise"), "noise");
  EXPECT_EQ(GroupOf("zoom_blur"), "blur");
  EXPECT_EQ(GroupOf("brightness"), "weather");
  EXPECT_EQ(GroupOf("jpeg_compression"), "digital");
  EXPECT_EQ(GroupOf("speckle_noise"), "extra");
  EXPECT_EQ(GroupOf("saturate"), "extra");
  for (const std::string& name : CorruptionNames()) EXPECT_FALSE(GroupOf(name).empty()) << name;
}

TEST(GroupOf, UnknownNameIsEmpty) {
  EXPECT_TRUE(GroupOf("").empty());
  EXPECT_TRUE(GroupOf("noise").empty());
  EXPECT_TRUE(GroupOf("Gaussian_Noise").empty());
}

TEST(ParseCorruptions, Sets) {
  EXPECT_EQ(ParseCorruptions("all").value(), CorruptionNames());
  const std::vector<std::string> imagenet_c(CorruptionNames().begin(),
                                            CorruptionNames().begin() + 15);
  EXPECT_EQ(ParseCorruptions("imagenet-c").value(), imagenet_c);
  EXPECT_THAT(ParseCorruptions("extra").value(),
              ElementsAre("speckle_noise", "gaussian_blur", "spatter", "saturate"));
  EXPECT_THAT(ParseCorruptions("noise").value(),
              ElementsAre("gaussian_noise", "shot_noise", "impulse_noise"));
  EXPECT_THAT(ParseCorruptions("weather").value(),
              ElementsAre("snow", "frost", "fog", "brightness"));
  EXPECT_THAT(ParseCorruptions("digital").value(),
              ElementsAre("contrast", "elastic_transform", "pixelate", "jpeg_compression"));
}

TEST(ParseCorruptions, ListsKeepOrderTrimCaseAndDropDuplicates) {
  EXPECT_THAT(ParseCorruptions(" Fog, gaussian_noise ,fog,FOG").value(),
              ElementsAre("fog", "gaussian_noise"));
  EXPECT_THAT(ParseCorruptions("saturate,blur,zoom_blur").value(),
              ElementsAre("saturate", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur"));
}

TEST(ParseCorruptions, Errors) {
  for (const char* spec : {"", "  ", "fog,,snow", "fog,", "bogus", "noise,bogus", "all,x"}) {
    const auto result = ParseCorruptions(spec);
    ASSERT_FALSE(result.ok()) << "'" << spec << "'";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(std::string(ParseCorruptions("noise,bogus").status().message()),
              HasSubstr("'bogus'"));
}

TEST(ParameterTableFor, SmallerSideChoosesTheTable) {
  EXPECT_EQ(ParameterTableFor(1, 1), ParameterTable::kCifar);
  EXPECT_EQ(ParameterTableFor(28, 28), ParameterTable::kCifar);
  EXPECT_EQ(ParameterTableFor(47, 500), ParameterTable::kCifar);
  EXPECT_EQ(ParameterTableFor(48, 48), ParameterTable::kTinyImageNet);
  EXPECT_EQ(ParameterTableFor(300, 127), ParameterTable::kTinyImageNet);
  EXPECT_EQ(ParameterTableFor(128, 128), ParameterTable::kImageNet);
  EXPECT_EQ(ReferenceSize(ParameterTable::kCifar), 32);
  EXPECT_EQ(ReferenceSize(ParameterTable::kTinyImageNet), 64);
  EXPECT_EQ(ReferenceSize(ParameterTable::kImageNet), 224);
}

TEST(DeriveSeed, DependsOnEveryInput) {
  const uint64_t base = DeriveSeed(1, 2, "fog", 3);
  EXPECT_EQ(base, DeriveSeed(1, 2, "fog", 3));
  EXPECT_NE(base, DeriveSeed(2, 2, "fog", 3));
  EXPECT_NE(base, DeriveSeed(1, 3, "fog", 3));
  EXPECT_NE(base, DeriveSeed(1, 2, "snow", 3));
  EXPECT_NE(base, DeriveSeed(1, 2, "fog", 4));
  // Swapping seed and index must not collide (a plain XOR would).
  EXPECT_NE(DeriveSeed(5, 9, "fog", 1), DeriveSeed(9, 5, "fog", 1));
}

TEST(Corrupt, RejectsBadInputs) {
  const cv::Mat gray(8, 8, CV_8UC1, cv::Scalar(100));
  EXPECT_EQ(Corrupt(cv::Mat(), "fog", 1, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Corrupt(cv::Mat(8, 8, CV_32FC1, cv::Scalar(0.5)), "fog", 1, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Corrupt(cv::Mat(8, 8, CV_8UC4, cv::Scalar::all(9)), "fog", 1, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Corrupt(cv::Mat(8, 8, CV_8UC2, cv::Scalar::all(9)), "fog", 1, 0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  const auto unknown = Corrupt(gray, "rain", 1, 0, 0);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("rain"));
  EXPECT_EQ(Corrupt(gray, "fog", 0, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Corrupt(gray, "fog", 6, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Corrupt(gray, "FOG", 1, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Corrupt, AcceptsNonContinuousInputAndLeavesItAlone) {
  const cv::Mat big = testing::SyntheticScene(80, 80);
  const cv::Mat roi = big(cv::Rect(3, 5, 60, 50));
  ASSERT_FALSE(roi.isContinuous());
  const cv::Mat before = big.clone();
  const cv::Mat out = MustCorrupt(roi, "elastic_transform", 3);
  EXPECT_EQ(out.size(), roi.size());
  EXPECT_TRUE(SameBytes(out, MustCorrupt(roi.clone(), "elastic_transform", 3)));
  EXPECT_TRUE(SameBytes(big, before));
}

// ---------------------------------------------------------------------------------------------
// Properties every corruption has.

class EveryCorruption : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryCorruption, KeepsShapeAndTypeAtAnySize) {
  for (const cv::Size size : {cv::Size(1, 1), cv::Size(5, 7), cv::Size(2, 40), cv::Size(28, 28),
                              cv::Size(64, 64), cv::Size(224, 224)}) {
    const cv::Mat rgb = testing::SyntheticScene(size.height, size.width);
    for (const cv::Mat& image : {rgb, Gray(rgb)}) {
      for (int severity = 1; severity <= 5; ++severity) {
        const cv::Mat out = MustCorrupt(image, GetParam(), severity, 3, 4);
        EXPECT_EQ(out.size(), image.size()) << severity;
        EXPECT_EQ(out.type(), image.type()) << severity;
      }
    }
  }
}

TEST_P(EveryCorruption, ChangesNaturalImages) {
  const cv::Mat fmnist = testing::ReadIdxImage(testing::kFashionMnistTestImages, 0);
  ASSERT_FALSE(fmnist.empty());
  for (const cv::Size size : {cv::Size(28, 28), cv::Size(64, 64), cv::Size(224, 224)}) {
    const cv::Mat rgb = testing::SyntheticScene(size.height, size.width);
    for (const cv::Mat& image : {rgb, Gray(rgb)}) {
      for (int severity = 1; severity <= 5; ++severity) {
        EXPECT_GT(MeanAbsDiff(MustCorrupt(image, GetParam(), severity), image), 0.0)
            << size << " channels " << image.channels() << " severity " << severity;
      }
    }
  }
  for (int severity = 1; severity <= 5; ++severity) {
    EXPECT_GT(MeanAbsDiff(MustCorrupt(fmnist, GetParam(), severity), fmnist), 0.0) << severity;
  }
}

TEST_P(EveryCorruption, IsDeterministic) {
  const cv::Mat rgb = testing::SyntheticScene(64, 48);
  for (const cv::Mat& image : {rgb, Gray(rgb)}) {
    for (int severity = 1; severity <= 5; ++severity) {
      const cv::Mat a = MustCorrupt(image, GetParam(), severity, 42, 7);
      const cv::Mat b = MustCorrupt(image, GetParam(), severity, 42, 7);
      EXPECT_TRUE(SameBytes(a, b)) << severity;
    }
  }
}

TEST_P(EveryCorruption, RandomOnesDependOnSeedAndIndex) {
  if (RandomCorruptions().count(GetParam()) == 0) {
    // Deterministic corruptions ignore seed and index.
    const cv::Mat image = testing::SyntheticScene(32, 32);
    EXPECT_TRUE(SameBytes(MustCorrupt(image, GetParam(), 3, 1, 1),
                          MustCorrupt(image, GetParam(), 3, 2, 9)));
    return;
  }
  const cv::Mat rgb = testing::SyntheticScene(64, 64);
  for (const cv::Mat& image : {rgb, Gray(rgb)}) {
    for (int severity = 1; severity <= 5; ++severity) {
      const cv::Mat base = MustCorrupt(image, GetParam(), severity, 42, 7);
      EXPECT_FALSE(SameBytes(base, MustCorrupt(image, GetParam(), severity, 42, 8))) << severity;
      EXPECT_FALSE(SameBytes(base, MustCorrupt(image, GetParam(), severity, 43, 7))) << severity;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, EveryCorruption, ::testing::ValuesIn(CorruptionNames()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace wtserve::corrupt

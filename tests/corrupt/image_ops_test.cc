// Internal helpers of the corruption library.
#include "client/corrupt/image_ops.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "client/corrupt/rng.h"

namespace wtserve::corrupt {
namespace {

// Standard deviation and lag-`lag` autocorrelation along rows, averaged over `draws` fields.
std::pair<double, double> FieldStats(int size, double sigma, int lag, bool direct, int draws) {
  double sd_sum = 0, corr_sum = 0;
  for (int d = 0; d < draws; ++d) {
    Rng rng(100 + d);
    cv::Mat f;
    if (direct) {
      cv::Mat noise(size, size, CV_32F);
      for (int r = 0; r < size; ++r) {
        for (int c = 0; c < size; ++c) {
          noise.at<float>(r, c) = static_cast<float>(rng.Uniform(-1, 1));
        }
      }
      f = ScipyGaussian(noise, sigma, cv::BORDER_REFLECT, 3.0);
    } else {
      f = SmoothedUniformField(size, size, sigma, rng);
    }
    cv::Scalar mean, sd;
    cv::meanStdDev(f, mean, sd);
    const cv::Mat a = f.colRange(0, size - lag) - mean[0];
    const cv::Mat b = f.colRange(lag, size) - mean[0];
    corr_sum += cv::mean(a.mul(b))[0] / (sd[0] * sd[0]);
    sd_sum += sd[0];
  }
  return {sd_sum / draws, corr_sum / draws};
}

TEST(SmoothedUniformField, CoarseGridKeepsAmplitudeAndSmoothness) {
  for (const double sigma : {8.0, 19.52}) {
    const int lag = static_cast<int>(sigma);
    const auto [direct_sd, direct_corr] = FieldStats(224, sigma, lag, true, 6);
    const auto [coarse_sd, coarse_corr] = FieldStats(224, sigma, lag, false, 6);
    EXPECT_NEAR(coarse_sd, direct_sd, 0.2 * direct_sd) << sigma;
    EXPECT_NEAR(coarse_corr, direct_corr, 0.1) << sigma;
  }
  // At or below the direct limit it is exactly the scripts' filter.
  Rng a(7), b(7);
  cv::Mat noise(50, 60, CV_32F);
  for (int r = 0; r < 50; ++r) {
    for (int c = 0; c < 60; ++c) noise.at<float>(r, c) = static_cast<float>(b.Uniform(-1, 1));
  }
  const cv::Mat expected = ScipyGaussian(noise, 3.0, cv::BORDER_REFLECT, 3.0);
  EXPECT_EQ(cv::norm(SmoothedUniformField(50, 60, 3.0, a), expected, cv::NORM_INF), 0.0);
}

TEST(MotionBlur, OneSidedLineOfGaussianWeights) {
  // An impulse spreads along the opposite direction of the kernel's offsets: at angle 0 the
  // output at x reads input x + i, so the impulse at column 20 reaches columns 20 - i.
  cv::Mat impulse = cv::Mat::zeros(9, 41, CV_32F);
  impulse.at<float>(4, 20) = 1.0f;
  const cv::Mat out = MotionBlur(impulse, 3, 1.5, 0.0);
  double total = 0;
  for (int i = 0; i <= 6; ++i) total += std::exp(-i * i / (2 * 1.5 * 1.5));
  for (int i = 0; i <= 6; ++i) {
    EXPECT_NEAR(out.at<float>(4, 20 - i), std::exp(-i * i / (2 * 1.5 * 1.5)) / total, 1e-6) << i;
  }
  EXPECT_EQ(out.at<float>(4, 21), 0.0f);
  EXPECT_EQ(out.at<float>(3, 20), 0.0f);
  EXPECT_NEAR(cv::sum(out)[0], 1.0, 1e-6);
}

TEST(ClippedZoom, FactorOneIsIdentityAndZoomMagnifiesTheCentre) {
  cv::Mat ramp(20, 30, CV_32F);
  for (int r = 0; r < 20; ++r) {
    for (int c = 0; c < 30; ++c) ramp.at<float>(r, c) = static_cast<float>(c);
  }
  EXPECT_LE(cv::norm(ClippedZoom(ramp, 1.0), ramp, cv::NORM_INF), 1e-4);
  const cv::Mat zoomed = ClippedZoom(ramp, 2.0);
  // Crop 15 centred columns (7.5..21.5 -> 7..21), zoomed to 30: slope (15 - 1) / (30 - 1).
  EXPECT_NEAR(zoomed.at<float>(10, 29) - zoomed.at<float>(10, 0), 14.0, 0.05);
}

TEST(PlasmaFractal, NormalisedToUnitRange) {
  Rng rng(3);
  for (const int n : {2, 32, 256}) {
    const cv::Mat p = PlasmaFractal(n, 2.0, rng);
    double lo, hi;
    cv::minMaxLoc(p, &lo, &hi);
    EXPECT_EQ(lo, 0.0) << n;
    EXPECT_EQ(hi, 1.0) << n;
  }
}

TEST(Rng, UniformIntIsHalfOpenAndCoversTheRange) {
  Rng rng(11);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 30000; ++i) {
    const int64_t v = rng.UniformInt(-1, 2);
    ASSERT_GE(v, -1);
    ASSERT_LT(v, 2);
    ++counts[v + 1];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(Rng, NormalAndPoissonMoments) {
  Rng rng(12);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = rng.Normal();
    s += z;
    s2 += z * z;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.02);
  for (const double mean : {0.5, 4.0, 30.0, 400.0}) {  // both Poisson algorithms
    double m = 0, m2 = 0;
    for (int i = 0; i < n; ++i) {
      const double k = static_cast<double>(rng.Poisson(mean));
      m += k;
      m2 += k * k;
    }
    m /= n;
    EXPECT_NEAR(m, mean, 5 * std::sqrt(mean / n)) << mean;
    EXPECT_NEAR(m2 / n - m * m, mean, 0.03 * mean) << mean;
  }
}

}  // namespace
}  // namespace wtserve::corrupt

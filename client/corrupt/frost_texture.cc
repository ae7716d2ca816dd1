#include "client/corrupt/frost_texture.h"

#include <array>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "client/corrupt/image_ops.h"
#include "client/corrupt/rng.h"

namespace wtserve::corrupt {
namespace {

constexpr double kSegmentPx = 3.0;

// Grows one dendrite: a slightly wandering line with side branches at +-60 degrees (the
// hexagonal habit of ice), each weaker and shorter than its parent.
void Grow(cv::Mat& canvas, Rng& rng, cv::Point2d p, double angle, double length, double intensity, int depth) {
  double since_branch = 0.0;
  const double branch_every = rng.Uniform(6.0, 14.0);
  for (double done = 0.0; done < length; done += kSegmentPx) {
    angle += rng.Uniform(-0.12, 0.12);
    const cv::Point2d q = p + kSegmentPx * cv::Point2d(std::cos(angle), std::sin(angle));
    const double fade = 1.0 - 0.5 * done / length;
    cv::line(canvas, cv::Point(cvRound(p.x * 16), cvRound(p.y * 16)), cv::Point(cvRound(q.x * 16), cvRound(q.y * 16)),
             cv::Scalar(255.0 * intensity * fade), 1, cv::LINE_AA, 4);
    p = q;
    since_branch += kSegmentPx;
    if (depth < 3 && since_branch >= branch_every) {
      since_branch = 0.0;
      const double side = rng.Uniform() < 0.5 ? -1.0 : 1.0;
      const double sub = (length - done) * rng.Uniform(0.25, 0.5);
      Grow(canvas, rng, p, angle + side * M_PI / 3.0, sub, intensity * 0.8, depth + 1);
    }
    if (p.x < -kFrostTextureSize || p.y < -kFrostTextureSize || p.x > 2 * kFrostTextureSize ||
        p.y > 2 * kFrostTextureSize) {
      return;
    }
  }
}

cv::Mat MakeFrostTexture(int index) {
  Rng rng(Mix64(0x46524f5354ULL + static_cast<uint64_t>(index)));  // "FROST" + index
  const int n = kFrostTextureSize;
  cv::Mat crystals = cv::Mat::zeros(n, n, CV_8UC1);
  const int nuclei = 60;
  for (int i = 0; i < nuclei; ++i) {
    const cv::Point2d start(rng.Uniform(0, n), rng.Uniform(0, n));
    const double angle = rng.Uniform(0, 2 * M_PI);
    const double length = rng.Uniform(40.0, 160.0);
    const double intensity = rng.Uniform(0.45, 1.0);
    // Dendrites grow both ways from the nucleus.
    Grow(crystals, rng, start, angle, length, intensity, 0);
    Grow(crystals, rng, start, angle + M_PI, length * rng.Uniform(0.5, 1.0), intensity, 0);
  }
  cv::Mat lines;
  crystals.convertTo(lines, CV_32F, 1.0 / 255.0);
  cv::Mat glow;
  cv::GaussianBlur(lines, glow, cv::Size(0, 0), 4.0);
  cv::Mat haze;
  cv::resize(PlasmaFractal(n, 2.0, rng), haze, cv::Size(n, n));
  cv::Mat frost = 0.12 + 0.3 * haze + 0.8 * lines + 1.5 * glow;
  cv::min(frost, 1.0, frost);
  // Pale blue-white, like the photographs.
  cv::Mat rgb;
  cv::merge(std::array<cv::Mat, 3>{frost * 0.88, frost * 0.95, frost * 1.0}.data(), 3, rgb);
  return rgb;
}

}  // namespace

const cv::Mat& FrostTexture(int index) {
  static const std::array<cv::Mat, kNumFrostTextures> textures = [] {
    std::array<cv::Mat, kNumFrostTextures> t;
    for (int i = 0; i < kNumFrostTextures; ++i) t[i] = MakeFrostTexture(i);
    return t;
  }();
  return textures.at(static_cast<size_t>(index));
}

}  // namespace wtserve::corrupt

// Internal: the per-corruption functions behind Corrupt() and what they share.
#ifndef WTSERVE_CLIENT_CORRUPT_CORRUPTION_IMPL_H_
#define WTSERVE_CLIENT_CORRUPT_CORRUPTION_IMPL_H_

#include <opencv2/core.hpp>

#include "client/corrupt/params.h"
#include "client/corrupt/rng.h"

namespace wtserve::corrupt {

struct Context {
  int severity;  // 1..5
  const SeverityTable& table;
  // The image's smaller side over the table's reference size: pixel-valued parameters of snow,
  // spatter, elastic_transform and frost's crop are multiplied by it.
  double size_scale;
  Rng& rng;

  int row() const { return severity - 1; }
};

// Every corruption takes a CV_8UC1 or CV_8UC3 (RGB) image and returns one of the same size/type.
using CorruptionFn = cv::Mat (*)(const cv::Mat& image, Context& ctx);

// noise.cc
cv::Mat GaussianNoise(const cv::Mat& image, Context& ctx);
cv::Mat ShotNoise(const cv::Mat& image, Context& ctx);
cv::Mat ImpulseNoise(const cv::Mat& image, Context& ctx);
cv::Mat SpeckleNoise(const cv::Mat& image, Context& ctx);
// blur.cc
cv::Mat DefocusBlur(const cv::Mat& image, Context& ctx);
cv::Mat GlassBlur(const cv::Mat& image, Context& ctx);
cv::Mat MotionBlurCorruption(const cv::Mat& image, Context& ctx);
cv::Mat ZoomBlur(const cv::Mat& image, Context& ctx);
cv::Mat GaussianBlurCorruption(const cv::Mat& image, Context& ctx);
// weather.cc
cv::Mat Snow(const cv::Mat& image, Context& ctx);
cv::Mat Frost(const cv::Mat& image, Context& ctx);
cv::Mat Fog(const cv::Mat& image, Context& ctx);
cv::Mat Brightness(const cv::Mat& image, Context& ctx);
cv::Mat Spatter(const cv::Mat& image, Context& ctx);
// digital.cc
cv::Mat Contrast(const cv::Mat& image, Context& ctx);
cv::Mat ElasticTransform(const cv::Mat& image, Context& ctx);
cv::Mat Pixelate(const cv::Mat& image, Context& ctx);
cv::Mat JpegCompression(const cv::Mat& image, Context& ctx);
cv::Mat Saturate(const cv::Mat& image, Context& ctx);

}  // namespace wtserve::corrupt

#endif  // WTSERVE_CLIENT_CORRUPT_CORRUPTION_IMPL_H_

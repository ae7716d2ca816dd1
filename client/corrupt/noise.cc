// Noise corruptions: per-value random perturbations of x/255 (every channel value independently,
// as numpy draws them in the scripts).
#include <cstdint>

#include "client/corrupt/corruption_impl.h"
#include "client/corrupt/image_ops.h"

namespace wtserve::corrupt {
namespace {

template <typename F>
void ForEachValue(cv::Mat& image_f, F&& f) {
  CV_Assert(image_f.isContinuous() && image_f.depth() == CV_32F);
  float* p = image_f.ptr<float>();
  const size_t n = image_f.total() * image_f.channels();
  for (size_t i = 0; i < n; ++i) p[i] = f(p[i]);
}

}  // namespace

cv::Mat GaussianNoise(const cv::Mat& image, Context& ctx) {
  const double sigma = ctx.table.gaussian_noise[ctx.row()];
  cv::Mat x = ToFloat(image);
  ForEachValue(x, [&](float v) { return static_cast<float>(v + sigma * ctx.rng.Normal()); });
  return ToU8(x);
}

cv::Mat ShotNoise(const cv::Mat& image, Context& ctx) {
  const double photons = ctx.table.shot_noise[ctx.row()];
  cv::Mat x = ToFloat(image);
  ForEachValue(
      x, [&](float v) { return static_cast<float>(static_cast<double>(ctx.rng.Poisson(v * photons)) / photons); });
  return ToU8(x);
}

cv::Mat ImpulseNoise(const cv::Mat& image, Context& ctx) {
  // skimage.util.random_noise(mode='s&p', salt_vs_pepper=0.5): each value is replaced with
  // probability `amount`, by 0 or 1 with equal odds.  Works on uint8 directly: 0 and 1 map to 0
  // and 255 exactly.
  const double amount = ctx.table.impulse_noise[ctx.row()];
  cv::Mat out = image.clone();
  uint8_t* p = out.ptr<uint8_t>();
  const size_t n = out.total() * out.channels();
  for (size_t i = 0; i < n; ++i) {
    if (ctx.rng.Uniform() < amount) p[i] = ctx.rng.Uniform() < 0.5 ? 255 : 0;
  }
  return out;
}

cv::Mat SpeckleNoise(const cv::Mat& image, Context& ctx) {
  const double sigma = ctx.table.speckle_noise[ctx.row()];
  cv::Mat x = ToFloat(image);
  ForEachValue(x, [&](float v) { return static_cast<float>(v + v * sigma * ctx.rng.Normal()); });
  return ToU8(x);
}

}  // namespace wtserve::corrupt

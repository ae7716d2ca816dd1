// Blur corruptions.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <opencv2/imgproc.hpp>

#include "client/corrupt/corruption_impl.h"
#include "client/corrupt/image_ops.h"

namespace wtserve::corrupt {
namespace {

// disk() of the scripts: a normalised binary disk on a 17x17 grid (radius <= 8) or a
// (2r+1)^2 grid, antialiased by a small Gaussian (3x3 or 5x5 kernel).
cv::Mat DiskKernel(double radius, double alias_sigma) {
  int half;
  cv::Size ksize;
  if (radius <= 8) {
    half = 8;
    ksize = cv::Size(3, 3);
  } else {
    half = static_cast<int>(radius);
    ksize = cv::Size(5, 5);
  }
  const int n = 2 * half + 1;
  cv::Mat disk(n, n, CV_32F);
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      const double y = r - half, x = c - half;
      disk.at<float>(r, c) = (x * x + y * y <= radius * radius) ? 1.0f : 0.0f;
    }
  }
  disk /= cv::sum(disk)[0];
  cv::Mat kernel;
  cv::GaussianBlur(disk, kernel, ksize, alias_sigma);
  // Small radii leave most of the 17x17 grid zero; dropping the zero border (symmetric, so the
  // centre stays the anchor) gives the same filter at a fraction of the cost.
  int keep = half;
  while (keep > 0 && cv::countNonZero(kernel.row(half - keep)) == 0 && cv::countNonZero(kernel.row(half + keep)) == 0 &&
         cv::countNonZero(kernel.col(half - keep)) == 0 && cv::countNonZero(kernel.col(half + keep)) == 0) {
    --keep;
  }
  return kernel(cv::Range(half - keep, half + keep + 1), cv::Range(half - keep, half + keep + 1)).clone();
}

}  // namespace

cv::Mat GaussianBlurCorruption(const cv::Mat& image, Context& ctx) {
  // skimage.filters.gaussian defaults: mode 'nearest' (edge repeat), truncate 4.
  return ToU8(ScipyGaussian(ToFloat(image), ctx.table.gaussian_blur[ctx.row()], cv::BORDER_REPLICATE));
}

cv::Mat DefocusBlur(const cv::Mat& image, Context& ctx) {
  const DefocusParams& p = ctx.table.defocus_blur[ctx.row()];
  const cv::Mat kernel = DiskKernel(p.radius, p.alias_sigma);
  cv::Mat out;
  // filter2D applies the kernel to each channel separately, as the scripts' per-channel loop.
  cv::filter2D(ToFloat(image), out, -1, kernel, cv::Point(-1, -1), 0, cv::BORDER_REFLECT_101);
  return ToU8(out);
}

cv::Mat GlassBlur(const cv::Mat& image, Context& ctx) {
  const GlassBlurParams& p = ctx.table.glass_blur[ctx.row()];
  cv::Mat x = ToU8(ScipyGaussian(ToFloat(image), p.sigma, cv::BORDER_REPLICATE));
  // Locally shuffle pixels: the scripts' loop, generalised from the fixed size to rows x cols.
  // Rows and columns run downwards from n - delta to delta + 1 and offsets are drawn from
  // [-delta, delta) (numpy.random.randint's half-open range), so every swap stays inside.
  const int d = p.max_delta;
  const size_t pixel_bytes = x.elemSize();
  uint8_t tmp[4];
  for (int it = 0; it < p.iterations; ++it) {
    for (int h = x.rows - d; h > d; --h) {
      for (int w = x.cols - d; w > d; --w) {
        const int dx = static_cast<int>(ctx.rng.UniformInt(-d, d));
        const int dy = static_cast<int>(ctx.rng.UniformInt(-d, d));
        uint8_t* a = x.ptr<uint8_t>(h, w);
        uint8_t* b = x.ptr<uint8_t>(h + dy, w + dx);
        std::memcpy(tmp, a, pixel_bytes);
        std::memcpy(a, b, pixel_bytes);
        std::memcpy(b, tmp, pixel_bytes);
      }
    }
  }
  return ToU8(ScipyGaussian(ToFloat(x), p.sigma, cv::BORDER_REPLICATE));
}

cv::Mat MotionBlurCorruption(const cv::Mat& image, Context& ctx) {
  const MotionParams& p = ctx.table.motion_blur[ctx.row()];
  const double angle = ctx.rng.Uniform(-45.0, 45.0);
  return ToU8(MotionBlur(ToFloat(image), p.radius, p.sigma, angle));
}

cv::Mat ZoomBlur(const cv::Mat& image, Context& ctx) {
  const ZoomParams& p = ctx.table.zoom_blur[ctx.row()];
  const cv::Mat x = ToFloat(image);
  cv::Mat sum = x.clone();
  for (int i = 0; i < p.count; ++i) sum += ClippedZoom(x, 1.0 + i * p.step);
  return ToU8(sum / (p.count + 1));
}

}  // namespace wtserve::corrupt

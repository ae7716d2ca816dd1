// Digital corruptions (and the saturate extra).
#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "client/corrupt/corruption_impl.h"
#include "client/corrupt/image_ops.h"

namespace wtserve::corrupt {

cv::Mat Contrast(const cv::Mat& image, Context& ctx) {
  const double c = ctx.table.contrast[ctx.row()];
  const cv::Mat x = ToFloat(image);
  const cv::Scalar mean = cv::mean(x);  // per channel
  cv::Mat out = (x - mean) * c + mean;
  return ToU8(out);
}

cv::Mat ElasticTransform(const cv::Mat& image, Context& ctx) {
  // The table is in pixels of the reference size: scale with the image (the scripts write the
  // values as fractions of their fixed size).
  const ElasticParams& t = ctx.table.elastic_transform[ctx.row()];
  const double alpha = t.alpha * ctx.size_scale;
  const double sigma = t.sigma * ctx.size_scale;
  const double affine = t.affine * ctx.size_scale;
  const cv::Mat x = ToFloat(image);
  const int rows = x.rows, cols = x.cols;

  // Random affine: jitter a triangle around the centre.
  const float cx = static_cast<float>(cols / 2), cy = static_cast<float>(rows / 2);
  const float sq = static_cast<float>(std::max(1, std::min(rows, cols) / 3));
  const cv::Point2f src[3] = {{cx + sq, cy + sq}, {cx + sq, cy - sq}, {cx - sq, cy - sq}};
  cv::Point2f dst[3];
  for (int i = 0; i < 3; ++i) {
    const double jx = ctx.rng.Uniform(-affine, affine);
    const double jy = ctx.rng.Uniform(-affine, affine);
    dst[i] = src[i] + cv::Point2f(static_cast<float>(jx), static_cast<float>(jy));
  }
  const cv::Mat m = cv::getAffineTransform(src, dst);
  cv::Mat warped;
  cv::warpAffine(x, warped, m, x.size(), cv::INTER_LINEAR, cv::BORDER_REFLECT_101);
  if (!(alpha > 0.0)) return ToU8(warped);

  auto field = [&]() { return cv::Mat(SmoothedUniformField(rows, cols, sigma, ctx.rng) * alpha); };
  const cv::Mat dx = field();
  const cv::Mat dy = field();
  cv::Mat map_x(rows, cols, CV_32F), map_y(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      map_x.at<float>(r, c) = c + dx.at<float>(r, c);
      map_y.at<float>(r, c) = r + dy.at<float>(r, c);
    }
  }
  cv::Mat out;
  // map_coordinates(order=1, mode='reflect') = bilinear with half-sample symmetric borders.
  cv::remap(warped, out, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_REFLECT);
  return ToU8(out);
}

namespace {

// Pillow's BOX reduction weights for one axis (out x in): output pixel i averages, with equal
// weights, the input pixels whose centres fall in ((i + 0.5) s - s/2, (i + 0.5) s + s/2],
// s = in / out.  This differs from OpenCV's INTER_AREA (fractional coverage) at non-integer
// ratios, which the CIFAR table's factors (0.95, 0.9, ...) always are.
cv::Mat PilBoxWeights(int in, int out) {
  const double scale = static_cast<double>(in) / out;
  cv::Mat w = cv::Mat::zeros(out, in, CV_32F);
  for (int i = 0; i < out; ++i) {
    const double centre = (i + 0.5) * scale;
    int count = 0;
    for (int j = 0; j < in; ++j) {
      const double t = (j + 0.5 - centre) / scale;
      if (t > -0.5 && t <= 0.5) {
        w.at<float>(i, j) = 1.0f;
        ++count;
      }
    }
    if (count > 0) w.row(i) /= count;
  }
  return w;
}

// Pillow's two-pass resample: horizontal, round to uint8, vertical, round to uint8.
cv::Mat PilBoxReduce(const cv::Mat& image, cv::Size size) {
  const cv::Mat wx = PilBoxWeights(image.cols, size.width);
  const cv::Mat wy = PilBoxWeights(image.rows, size.height);
  std::vector<cv::Mat> planes;
  cv::split(image, planes);
  for (cv::Mat& p : planes) {
    cv::Mat f, tmp;
    p.convertTo(f, CV_32F);
    cv::gemm(f, wx, 1.0, cv::noArray(), 0.0, tmp, cv::GEMM_2_T);
    tmp.convertTo(p, CV_8U);
    p.convertTo(f, CV_32F);
    cv::gemm(wy, f, 1.0, cv::noArray(), 0.0, tmp);
    tmp.convertTo(p, CV_8U);
  }
  cv::Mat out;
  cv::merge(planes, out);
  return out;
}

}  // namespace

cv::Mat Pixelate(const cv::Mat& image, Context& ctx) {
  // PIL resize with BOX down to factor * size, then BOX back up (which is centre-aligned
  // nearest neighbour, OpenCV's INTER_NEAREST_EXACT).
  const double f = ctx.table.pixelate[ctx.row()];
  const int w = std::max(1, static_cast<int>(image.cols * f));
  const int h = std::max(1, static_cast<int>(image.rows * f));
  cv::Mat out;
  cv::resize(PilBoxReduce(image, cv::Size(w, h)), out, image.size(), 0, 0, cv::INTER_NEAREST_EXACT);
  return out;
}

cv::Mat JpegCompression(const cv::Mat& image, Context& ctx) {
  const int quality = ctx.table.jpeg_compression[ctx.row()];
  cv::Mat bgr;
  if (image.channels() == 3) {
    cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
  } else {
    bgr = image;
  }
  std::vector<uchar> buffer;
  cv::imencode(".jpg", bgr, buffer, {cv::IMWRITE_JPEG_QUALITY, quality});
  cv::Mat decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  CV_Assert(!decoded.empty() && decoded.size() == image.size() && decoded.channels() == image.channels());
  if (decoded.channels() == 3) cv::cvtColor(decoded, decoded, cv::COLOR_BGR2RGB);
  return decoded;
}

// Grayscale analogue of saturate: see kGraySaturation in docs/corruptions.md.  A grey value is
// read as the luminance of a colour pixel of value V and saturation S0, whose luminance is
// V * (1 - k S) with k = 1/2 (the luminance lost per unit saturation, averaged over hues); the
// table's S' = clip(S0 * m + a) then changes the grey value by the gain (1 - k S') / (1 - k S0).
constexpr double kGraySaturation = 0.15;
constexpr double kLuminanceLossPerSaturation = 0.5;

cv::Mat Saturate(const cv::Mat& image, Context& ctx) {
  const SaturateParams& p = ctx.table.saturate[ctx.row()];
  const cv::Mat x = ToFloat(image);
  if (x.channels() == 1) {
    const double s = std::clamp(kGraySaturation * p.scale + p.shift, 0.0, 1.0);
    const double gain = (1.0 - kLuminanceLossPerSaturation * s) / (1.0 - kLuminanceLossPerSaturation * kGraySaturation);
    return ToU8(x * gain);
  }
  cv::Mat hsv;
  cv::cvtColor(x, hsv, cv::COLOR_RGB2HSV);  // float: H in degrees, S and V in [0, 1]
  std::vector<cv::Mat> planes;
  cv::split(hsv, planes);
  planes[1] = planes[1] * p.scale + p.shift;
  cv::min(planes[1], 1.0, planes[1]);
  cv::max(planes[1], 0.0, planes[1]);
  cv::merge(planes, hsv);
  cv::Mat rgb;
  cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
  return ToU8(rgb);
}

}  // namespace wtserve::corrupt

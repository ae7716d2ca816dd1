#include "client/corrupt/image_ops.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace wtserve::corrupt {

cv::Mat ToFloat(const cv::Mat& image_u8) {
  cv::Mat out;
  image_u8.convertTo(out, CV_32F, 1.0 / 255.0);
  return out;
}

cv::Mat ToU8(const cv::Mat& image_f) {
  // convertTo saturates to [0, 255] and rounds, which is clip-then-scale.
  cv::Mat out;
  image_f.convertTo(out, CV_8U, 255.0);
  return out;
}

cv::Mat ScipyGaussian(const cv::Mat& image_f, double sigma, int border_type, double truncate) {
  if (!(sigma > 0.0)) return image_f.clone();
  const int radius = static_cast<int>(truncate * sigma + 0.5);
  if (radius == 0) return image_f.clone();
  const int ksize = 2 * radius + 1;
  cv::Mat out;
  cv::GaussianBlur(image_f, out, cv::Size(ksize, ksize), sigma, sigma, border_type);
  return out;
}

cv::Mat ClippedZoom(const cv::Mat& image_f, double zoom) {
  const int rows = image_f.rows, cols = image_f.cols;
  // Per axis: crop ceil(n / zoom) centred, zoom it to round(crop * zoom) with corner-aligned
  // bilinear sampling, then take the centred n.  The composition is one affine map from output
  // to input coordinates.
  auto axis = [zoom](int n, double* scale, double* offset) {
    const int crop = static_cast<int>(std::ceil(n / zoom));
    const int start = (n - crop) / 2;
    // Python's round() (half to even), as scipy computes the zoomed shape.
    const int zoomed = static_cast<int>(std::nearbyint(crop * zoom));
    const int trim = (zoomed - n) / 2;
    *scale = zoomed > 1 ? static_cast<double>(crop - 1) / (zoomed - 1) : 0.0;
    *offset = start + trim * *scale;
  };
  double sx, ox, sy, oy;
  axis(cols, &sx, &ox);
  axis(rows, &sy, &oy);
  const cv::Matx23d m(sx, 0, ox, 0, sy, oy);
  cv::Mat out;
  cv::warpAffine(image_f, out, m, image_f.size(), cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REPLICATE);
  return out;
}

cv::Mat MotionBlur(const cv::Mat& image_f, double radius, double sigma, double angle_degrees) {
  const int width = 2 * static_cast<int>(std::ceil(std::max(radius, 1e-9))) + 1;
  sigma = std::max(sigma, 1e-6);
  // ImageMagick's taps and offsets; taps that land on the same pixel are merged.
  const double angle = angle_degrees * M_PI / 180.0;
  const double px = width * std::sin(angle), py = width * std::cos(angle);
  const double hyp = std::hypot(px, py);
  std::map<std::pair<int, int>, double> taps;
  double total = 0.0;
  for (int i = 0; i < width; ++i) {
    const double w = std::exp(-static_cast<double>(i) * i / (2.0 * sigma * sigma));
    const int dx = static_cast<int>(std::ceil(i * py / hyp - 0.5));
    const int dy = static_cast<int>(std::ceil(i * px / hyp - 0.5));
    taps[{dx, dy}] += w;
    total += w;
  }
  const int pad = width;
  cv::Mat padded;
  cv::copyMakeBorder(image_f, padded, pad, pad, pad, pad, cv::BORDER_REPLICATE);
  cv::Mat acc = cv::Mat::zeros(image_f.size(), image_f.type());
  for (const auto& [offset, w] : taps) {
    const cv::Rect roi(pad + offset.first, pad + offset.second, image_f.cols, image_f.rows);
    cv::scaleAdd(padded(roi), w / total, acc, acc);
  }
  return acc;
}

cv::Mat PlasmaFractal(int mapsize, double wibble_decay, Rng& rng) {
  const int n = mapsize;
  std::vector<double> map(static_cast<size_t>(n) * n, 0.0);
  auto at = [&](int r, int c) -> double& { return map[static_cast<size_t>(r) * n + c]; };
  auto wrap = [n](int i) { return (i % n + n) % n; };
  double wibble = 100.0;
  for (int step = n; step >= 2; step /= 2) {
    const int half = step / 2;
    auto wibbled_mean = [&](double sum) { return sum / 4.0 + wibble * rng.Uniform(-wibble, wibble); };
    // Squares: centre of each step x step cell = mean of its four corners (toroidal) + wibble.
    for (int r = 0; r < n; r += step) {
      for (int c = 0; c < n; c += step) {
        const double sum =
            at(r, c) + at(wrap(r + step), c) + at(r, wrap(c + step)) + at(wrap(r + step), wrap(c + step));
        at(r + half, c + half) = wibbled_mean(sum);
      }
    }
    // Diamonds on the corner rows (between corners horizontally) ...
    for (int r = 0; r < n; r += step) {
      for (int c = 0; c < n; c += step) {
        const double sum = at(r + half, c + half) + at(wrap(r - half), c + half) + at(r, c) + at(r, wrap(c + step));
        at(r, c + half) = wibbled_mean(sum);
      }
    }
    // ... and on the centre rows (between corners vertically).
    for (int r = 0; r < n; r += step) {
      for (int c = 0; c < n; c += step) {
        const double sum = at(r + half, c + half) + at(r + half, wrap(c - half)) + at(r, c) + at(wrap(r + step), c);
        at(r + half, c) = wibbled_mean(sum);
      }
    }
    wibble /= wibble_decay;
  }
  const auto [lo, hi] = std::minmax_element(map.begin(), map.end());
  const double min = *lo, range = *hi - *lo;
  cv::Mat out(n, n, CV_32F);
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) {
      out.at<float>(r, c) = range > 0 ? static_cast<float>((at(r, c) - min) / range) : 0.0f;
    }
  }
  return out;
}

cv::Mat SmoothedUniformField(int rows, int cols, double sigma, Rng& rng) {
  const double factor = std::max(1.0, sigma / kMaxDirectFieldSigma);
  const int grid_rows = std::max(1, static_cast<int>(std::ceil(rows / factor)));
  const int grid_cols = std::max(1, static_cast<int>(std::ceil(cols / factor)));
  cv::Mat noise(grid_rows, grid_cols, CV_32F);
  for (int r = 0; r < grid_rows; ++r) {
    float* p = noise.ptr<float>(r);
    for (int c = 0; c < grid_cols; ++c) p[c] = static_cast<float>(rng.Uniform(-1.0, 1.0));
  }
  if (grid_rows == rows && grid_cols == cols) {
    return ScipyGaussian(noise, sigma, cv::BORDER_REFLECT, 3.0);
  }
  // Grid spacings in fine pixels; the smoothing sigma in grid cells follows each axis.
  const double sy = static_cast<double>(rows) / grid_rows;
  const double sx = static_cast<double>(cols) / grid_cols;
  const double sigma_y = sigma / sy, sigma_x = sigma / sx;
  const cv::Size ksize(2 * static_cast<int>(3.0 * sigma_x + 0.5) + 1, 2 * static_cast<int>(3.0 * sigma_y + 0.5) + 1);
  cv::Mat smooth;
  cv::GaussianBlur(noise, smooth, ksize, sigma_x, sigma_y, cv::BORDER_REFLECT);
  cv::Mat field;
  cv::resize(smooth, field, cv::Size(cols, rows), 0, 0, cv::INTER_LINEAR);
  // The smoothed field's variance is proportional to 1 / (sigma_x * sigma_y) in grid cells.
  return field / std::sqrt(sx * sy);
}

cv::Mat GrayOf(const cv::Mat& image_f) {
  if (image_f.channels() == 1) return image_f.clone();
  cv::Mat gray;
  cv::cvtColor(image_f, gray, cv::COLOR_RGB2GRAY);
  return gray;
}

}  // namespace wtserve::corrupt

// Weather corruptions (and the spatter extra).
#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "client/corrupt/corruption_impl.h"
#include "client/corrupt/frost_texture.h"
#include "client/corrupt/image_ops.h"

namespace wtserve::corrupt {
namespace {

cv::Mat NormalLayer(int rows, int cols, double mean, double stddev, Rng& rng) {
  cv::Mat layer(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r) {
    float* p = layer.ptr<float>(r);
    for (int c = 0; c < cols; ++c) p[c] = static_cast<float>(rng.Normal(mean, stddev));
  }
  return layer;
}

// Broadcasts a one-channel layer to the image's channel count.
cv::Mat ToChannels(const cv::Mat& layer, int channels) {
  if (channels == 1) return layer;
  cv::Mat out;
  cv::merge(std::vector<cv::Mat>(static_cast<size_t>(channels), layer), out);
  return out;
}

int NextPowerOfTwo(int n) {
  int p = 2;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

cv::Mat Snow(const cv::Mat& image, Context& ctx) {
  const SnowParams& p = ctx.table.snow[ctx.row()];
  const cv::Mat x = ToFloat(image);
  // Flake size (zoom) and streak length (motion radius, sigma) scale with the image.
  const double zoom = std::max(1.0, p.zoom * ctx.size_scale);
  cv::Mat layer = ClippedZoom(NormalLayer(x.rows, x.cols, p.mean, p.stddev, ctx.rng), zoom);
  cv::threshold(layer, layer, p.threshold, 0, cv::THRESH_TOZERO);  // below threshold -> 0
  layer = ToFloat(ToU8(layer));                                    // the scripts pass the layer through an 8-bit PNG
  const double angle = ctx.rng.Uniform(-135.0, -45.0);
  layer = ToFloat(ToU8(MotionBlur(layer, p.motion_radius * ctx.size_scale, p.motion_sigma * ctx.size_scale, angle)));
  cv::Mat rotated;
  cv::flip(layer, rotated, -1);  // np.rot90(k=2)
  // Brighten: blend with max(x, 1.5 * grey + 0.5).
  const cv::Mat bright = ToChannels(GrayOf(x) * 1.5 + 0.5, x.channels());
  cv::Mat out = p.image_weight * x + (1.0 - p.image_weight) * cv::max(x, bright);
  out += ToChannels(layer + rotated, x.channels());
  return ToU8(out);
}

cv::Mat Frost(const cv::Mat& image, Context& ctx) {
  const FrostParams& p = ctx.table.frost[ctx.row()];
  const int index = static_cast<int>(ctx.rng.UniformInt(0, kNumFrostTextures));
  const cv::Mat& texture = FrostTexture(index);
  // The scripts shrink the photograph by frost_texture_scale and crop the image size; here the
  // window of image_size / scale texture pixels is cropped and resized to the image (capped at
  // the texture's size for very large images, keeping the aspect ratio).
  double win_w = image.cols / ctx.table.frost_texture_scale;
  double win_h = image.rows / ctx.table.frost_texture_scale;
  const double cap = std::min(1.0, kFrostTextureSize / std::max(win_w, win_h));
  const int w = std::clamp(static_cast<int>(std::lround(win_w * cap)), 1, kFrostTextureSize);
  const int h = std::clamp(static_cast<int>(std::lround(win_h * cap)), 1, kFrostTextureSize);
  const int y0 = static_cast<int>(ctx.rng.UniformInt(0, kFrostTextureSize - h + 1));
  const int x0 = static_cast<int>(ctx.rng.UniformInt(0, kFrostTextureSize - w + 1));
  cv::Mat frost;
  const cv::Mat window = texture(cv::Rect(x0, y0, w, h));
  if (window.size() == image.size()) {
    frost = window.clone();
  } else {
    cv::resize(window, frost, image.size(), 0, 0, w > image.cols ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  if (image.channels() == 1) frost = GrayOf(frost);
  cv::Mat out = p.image_weight * ToFloat(image) + p.frost_weight * frost;
  return ToU8(out);
}

cv::Mat Fog(const cv::Mat& image, Context& ctx) {
  const FogParams& p = ctx.table.fog[ctx.row()];
  cv::Mat x = ToFloat(image);
  double max_value;
  cv::minMaxLoc(x.reshape(1), nullptr, &max_value);
  // The scripts use a map of the next power of two (32, 64 or 256) cropped to the image.
  const int mapsize = NextPowerOfTwo(std::max(x.rows, x.cols));
  const cv::Mat plasma = PlasmaFractal(mapsize, p.decay, ctx.rng)(cv::Rect(0, 0, x.cols, x.rows));
  x += ToChannels(plasma * p.amount, x.channels());
  return ToU8(x * (max_value / (max_value + p.amount)));
}

cv::Mat Brightness(const cv::Mat& image, Context& ctx) {
  const double c = ctx.table.brightness[ctx.row()];
  const cv::Mat x = ToFloat(image);
  // A grey pixel is an RGB pixel with R = G = B: S = 0 and V = the grey value, so the HSV shift
  // is exactly x + c.
  if (x.channels() == 1) return ToU8(x + c);
  cv::Mat hsv;
  cv::cvtColor(x, hsv, cv::COLOR_RGB2HSV);
  std::vector<cv::Mat> planes;
  cv::split(hsv, planes);
  planes[2] += c;
  cv::min(planes[2], 1.0, planes[2]);
  cv::merge(planes, hsv);
  cv::Mat rgb;
  cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
  return ToU8(rgb);
}

cv::Mat Spatter(const cv::Mat& image, Context& ctx) {
  const SpatterParams& p = ctx.table.spatter[ctx.row()];
  cv::Mat x = ToFloat(image);
  cv::Mat liquid = NormalLayer(x.rows, x.cols, p.mean, p.stddev, ctx.rng);
  // Drop size scales with the image.
  liquid = ScipyGaussian(liquid, p.sigma * ctx.size_scale, cv::BORDER_REPLICATE);
  cv::threshold(liquid, liquid, p.threshold, 0, cv::THRESH_TOZERO);
  // Colours are RGB; on grey images their grey level (RGB2GRAY weights) is used.
  auto colour = [&](double r, double g, double b) {
    if (x.channels() == 1) return cv::Scalar((0.299 * r + 0.587 * g + 0.114 * b) / 255.0);
    return cv::Scalar(r / 255.0, g / 255.0, b / 255.0);
  };
  if (!p.mud) {
    // Water: drops with shaded rims, from the distance to the edges of the liquid layer.
    const cv::Mat liquid8 = ToU8(liquid);
    cv::Mat edges;
    cv::Canny(liquid8, edges, 50, 150);
    cv::Mat dist;
    cv::distanceTransform(255 - edges, dist, cv::DIST_L2, 5);
    cv::threshold(dist, dist, 20, 20, cv::THRESH_TRUNC);
    cv::blur(dist, dist, cv::Size(3, 3));
    cv::Mat dist8;
    dist.convertTo(dist8, CV_8U);
    cv::equalizeHist(dist8, dist8);
    const cv::Matx33f ker(-2, -1, 0, -1, 1, 1, 0, 1, 2);
    cv::filter2D(dist8, dist8, CV_8U, ker);
    cv::blur(dist8, dist8, cv::Size(3, 3));
    cv::Mat m;
    dist8.convertTo(dist, CV_32F);
    liquid8.convertTo(m, CV_32F);
    m = m.mul(dist);
    double peak;
    cv::minMaxLoc(m, nullptr, &peak);
    if (peak > 0) m *= p.intensity / peak;
    cv::Mat tint(x.size(), x.type(), colour(175, 238, 238));
    x += tint.mul(ToChannels(m, x.channels()));
    return ToU8(x);
  }
  // Mud: opaque brown blots from the blurred, thresholded layer.
  cv::Mat mask;
  cv::compare(liquid, p.threshold, mask, cv::CMP_GT);
  mask.convertTo(mask, CV_32F, 1.0 / 255.0);
  mask = ScipyGaussian(mask, p.intensity * ctx.size_scale, cv::BORDER_REPLICATE);
  cv::threshold(mask, mask, 0.8, 0, cv::THRESH_TOZERO);
  const cv::Mat m = ToChannels(mask, x.channels());
  cv::Mat mud(x.size(), x.type(), colour(63, 42, 20));
  // Scalar::all: a bare double would only fill the first channel.
  cv::Mat out = x.mul(cv::Scalar::all(1.0) - m) + mud.mul(m);
  return ToU8(out);
}

}  // namespace wtserve::corrupt

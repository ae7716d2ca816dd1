#include "server/tools/erf.h"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include <torch/autograd.h>
#include <torch/nn/functional/activation.h>

#include "absl/strings/str_cat.h"
#include "server/nn/exception_text.h"

namespace wtserve::tools {

CentredSquare SmallestCentredSquare(const std::vector<double>& map, int64_t height, int64_t width,
                                    double mass_fraction) {
  CentredSquare square;
  square.mass_fraction = mass_fraction;
  double total = 0;
  for (double v : map) total += v;
  const int64_t cy = height / 2, cx = width / 2;
  const int64_t last = std::max({cy, height - 1 - cy, cx, width - 1 - cx});
  for (int64_t i = 0; i <= last; ++i) {
    const int64_t y0 = std::max<int64_t>(0, cy - i), y1 = std::min(height - 1, cy + i);
    const int64_t x0 = std::max<int64_t>(0, cx - i), x1 = std::min(width - 1, cx + i);
    double inside = 0;
    for (int64_t y = y0; y <= y1; ++y) {
      for (int64_t x = x0; x <= x1; ++x) inside += map[static_cast<size_t>(y * width + x)];
    }
    // The last square covers the whole image: it always qualifies (rounding included).
    if (inside >= mass_fraction * total || i == last) {
      square.side = 2 * i + 1;
      square.area_fraction = static_cast<double>((y1 - y0 + 1) * (x1 - x0 + 1)) / static_cast<double>(height * width);
      return square;
    }
  }
  return square;
}

double SmallestPixelFraction(const std::vector<double>& map, double mass_fraction) {
  std::vector<double> sorted = map;
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  double total = 0;
  for (double v : sorted) total += v;
  double running = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    running += sorted[i];
    if (running >= mass_fraction * total) return static_cast<double>(i + 1) / static_cast<double>(sorted.size());
  }
  return 1.0;
}

at::Tensor TileImages(const at::Tensor& images, int64_t tiles, int64_t count) {
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  at::Tensor out = torch::empty({count, c, tiles * h, tiles * w}, images.options());
  for (int64_t m = 0; m < count; ++m) {
    for (int64_t r = 0; r < tiles; ++r) {
      for (int64_t col = 0; col < tiles; ++col) {
        const int64_t source = (m * tiles * tiles + r * tiles + col) % n;
        out[m].slice(1, r * h, (r + 1) * h).slice(2, col * w, (col + 1) * w).copy_(images[source]);
      }
    }
  }
  return out;
}

absl::StatusOr<EffectiveReceptiveField> ComputeEffectiveReceptiveField(nn::ClassifierImpl& network,
                                                                       const at::Tensor& images, int64_t batch_size,
                                                                       const std::vector<double>& mass_fractions) {
  if (images.dim() != 4 || images.size(0) == 0) {
    return absl::InvalidArgumentError("the effective receptive field needs a non-empty [N, C, H, W] batch");
  }
  if (batch_size < 1) return absl::InvalidArgumentError("batch size must be >= 1");
  EffectiveReceptiveField erf;
  erf.images = images.size(0);
  erf.height = images.size(2);
  erf.width = images.size(3);
  try {
    at::Tensor sum = torch::zeros({erf.height, erf.width}, torch::kDouble);
    for (int64_t begin = 0; begin < erf.images; begin += batch_size) {
      const int64_t end = std::min(erf.images, begin + batch_size);
      at::Tensor x = images.slice(0, begin, end).to(torch::kFloat).clone().set_requires_grad(true);
      at::Tensor features = network.forward_features(x);
      if (features.dim() != 4) {
        return absl::InternalError(absl::StrCat("forward_features returned a ", features.dim(), "-D tensor"));
      }
      erf.feature_height = features.size(2);
      erf.feature_width = features.size(3);
      at::Tensor centre =
          torch::relu(features.select(3, erf.feature_width / 2).select(2, erf.feature_height / 2)).sum();
      at::Tensor grad = torch::autograd::grad({centre}, {x})[0];
      sum += torch::relu(grad).sum(at::IntArrayRef{0, 1}).to(torch::kDouble);
    }
    sum /= static_cast<double>(erf.images);
    const at::Tensor flat = sum.contiguous().view({-1});
    erf.contribution.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  } catch (const std::logic_error& e) {
    return absl::FailedPreconditionError(e.what());
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("effective receptive field: ", nn::ExceptionText(e)));
  }
  for (double f : mass_fractions) {
    erf.squares.push_back(SmallestCentredSquare(erf.contribution, erf.height, erf.width, f));
    erf.pixel_fractions.push_back(SmallestPixelFraction(erf.contribution, f));
  }
  return erf;
}

}  // namespace wtserve::tools

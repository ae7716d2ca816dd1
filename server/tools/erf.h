// Effective receptive field (ERF): how strongly each input pixel moves the network's centre
// output, averaged over real images: the picture the WTConv paper uses to show that wavelet
// convolutions widen what a layer sees. docs/models.md ("Effective receptive field") describes
// the computation and how to read the numbers.
#ifndef WTSERVE_SERVER_TOOLS_ERF_H_
#define WTSERVE_SERVER_TOOLS_ERF_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "server/nn/models/registry.h"

namespace wtserve::tools {

// The smallest square centred on pixel (height / 2, width / 2), clipped to the image, whose
// cells hold at least `mass_fraction` of the map's total.
struct CentredSquare {
  double mass_fraction = 0;  // requested
  int64_t side = 0;          // 2 i + 1 before clipping
  double area_fraction = 0;  // clipped area / (height * width)
};
// map: row-major [height * width], non-negative. mass_fraction in (0, 1]. A map of all zeros
// gives side 1 (nothing to cover).
CentredSquare SmallestCentredSquare(const std::vector<double>& map, int64_t height, int64_t width,
                                    double mass_fraction);

// The smallest fraction of the pixels, taken in order of falling contribution, that holds at
// least `mass_fraction` of the map's total (shape-free: how concentrated the map is).
double SmallestPixelFraction(const std::vector<double>& map, double mass_fraction);

// Mosaics of tiles x tiles consecutive images: images [N, C, H, W] -> [count, C, tiles*H,
// tiles*W], image (m * tiles^2 + r * tiles + c) mod N at row r, column c of mosaic m. A canvas
// larger than the training size, filled with real content, on which the receptive field of a
// fully convolutional network is not cut off by the image border.
at::Tensor TileImages(const at::Tensor& images, int64_t tiles, int64_t count);

struct EffectiveReceptiveField {
  int64_t images = 0, height = 0, width = 0;
  int64_t feature_height = 0, feature_width = 0;  // of forward_features' map
  // Mean over images of the contribution of each input pixel, row-major [height * width].
  std::vector<double> contribution;
  std::vector<CentredSquare> squares;   // one per requested mass fraction
  std::vector<double> pixel_fractions;  // SmallestPixelFraction, one per requested mass fraction
};

// For each image: s = sum over channels of relu(F[c, h/2, w/2]) with F = forward_features(x), the
// last feature map before pooling; contribution = sum over input channels of relu(ds/dx). The
// positive part follows the published ERF procedure (Luo et al. 2016, as used by RepLKNet and
// the WTConv paper): it shows what drives the centre unit up. images: normalised float
// [N, C, H, W] on the CPU; network: LoadNetworkForGradients (eval mode, frozen parameters).
// InvalidArgument for an empty or non-4-D batch; FailedPrecondition when the network has no
// feature map; Internal for a LibTorch failure.
absl::StatusOr<EffectiveReceptiveField> ComputeEffectiveReceptiveField(nn::ClassifierImpl& network,
                                                                       const at::Tensor& images, int64_t batch_size,
                                                                       const std::vector<double>& mass_fractions);

}  // namespace wtserve::tools

#endif  // WTSERVE_SERVER_TOOLS_ERF_H_

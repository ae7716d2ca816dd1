// ImageNet-C-style image corruptions (Hendrycks & Dietterich, "Benchmarking Neural Network
// Robustness to Common Corruptions and Perturbations", ICLR 2019), re-implemented with OpenCV.
//
// Nineteen corruptions, five severities each: the 15 of ImageNet-C (groups noise, blur, weather,
// digital) and the 4 extras the paper ships for validation (group "extra").  Parameters follow the
// published scripts (make_imagenet_c.py, make_tinyimagenet_c.py, make_cifar_c.py); which of their
// tables applies depends on the image's smaller side (see ParameterTableFor).  Every departure from
// the published algorithms is listed in docs/corruptions.md.
//
// Thread safety: all functions are safe to call concurrently.
#ifndef WTSERVE_CLIENT_CORRUPT_CORRUPTIONS_H_
#define WTSERVE_CLIENT_CORRUPT_CORRUPTIONS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "absl/status/statusor.h"

namespace wtserve::corrupt {

// Severities are 1 (mildest) .. 5 (strongest).
inline constexpr int kMinSeverity = 1;
inline constexpr int kMaxSeverity = 5;

// All corruption names: the 15 ImageNet-C corruptions in the paper's order
//   gaussian_noise shot_noise impulse_noise            (noise)
//   defocus_blur glass_blur motion_blur zoom_blur       (blur)
//   snow frost fog brightness                           (weather)
//   contrast elastic_transform pixelate jpeg_compression (digital)
// followed by the 4 extras: speckle_noise gaussian_blur spatter saturate (extra).
const std::vector<std::string>& CorruptionNames();

// The group of a corruption: "noise", "blur", "weather", "digital" or "extra"; an empty view for
// an unknown name.
std::string_view GroupOf(std::string_view name);

// Expands a user spec into corruption names.  The spec is a comma-separated list whose items are
// corruption names or the sets "all" (all 19), "imagenet-c" (the 15), "extra" (the 4 extras) and
// the groups "noise", "blur", "weather", "digital".  Items are trimmed of blanks and matched
// case-insensitively; the result keeps first-appearance order and has no duplicates.
// Errors: InvalidArgument for an empty spec, an empty item or an unknown item (the message lists
// what is accepted).
absl::StatusOr<std::vector<std::string>> ParseCorruptions(std::string_view spec);

// Which published parameter table a size uses; "size" is the image's smaller side in pixels.
enum class ParameterTable {
  kCifar,         // <= 47 px   (CIFAR-10-C, 32 px reference; Fashion-MNIST's 28x28 lands here)
  kTinyImageNet,  // 48..127 px (Tiny-ImageNet-C, 64 px reference)
  kImageNet,      // >= 128 px  (ImageNet-C, 224 px reference)
};
ParameterTable ParameterTableFor(int rows, int cols);
// The side length the table was made for: 32, 64 or 224.
int ReferenceSize(ParameterTable table);

// The RNG seed used for one corrupted image: a 64-bit mix of all four inputs (SplitMix64
// finaliser chained over seed, image index, FNV-1a of the name, severity).  Every random draw of
// the corruption (noise, angles, crops, swaps, layers) comes from one generator seeded with it.
uint64_t DeriveSeed(uint64_t seed, uint64_t image_index, std::string_view corruption, int severity);

// Corrupts one image.
//   image:      CV_8UC1 (grayscale) or CV_8UC3 (RGB channel order), any size >= 1x1; or a 3-D
//               H x W x C array of CV_8UC1 with C = 1 or 3 (numpy's layout), corrupted as the
//               same pixels and returned in the same shape.  It is not modified.  Pixel values
//               are treated as x/255 in [0, 1].
//   corruption: one of CorruptionNames() (exact, lower case).
//   severity:   1..5.
//   seed, image_index: together with corruption and severity they fully determine the output
//               (bit-identical across calls and threads on one build).
// Returns a new image of the same size and type.
// Errors: InvalidArgument for an empty image, another number of dimensions or channels, a type
// other than CV_8UC1/CV_8UC3, an unknown corruption or a severity outside 1..5.
absl::StatusOr<cv::Mat> Corrupt(const cv::Mat& image, std::string_view corruption, int severity, uint64_t seed,
                                uint64_t image_index);

}  // namespace wtserve::corrupt

#endif  // WTSERVE_CLIENT_CORRUPT_CORRUPTIONS_H_

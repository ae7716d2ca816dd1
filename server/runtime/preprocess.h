// Pixel preprocessing shared by the server and the offline evaluation CLI, so that served and
// offline accuracy agree bit for bit. Semantics (proto/model_config.proto, InputPreprocessing):
//   encoded images:            decode -> gray/RGB -> resize (straight to H x W, or shorter
//                              side to R then center crop S) -> uint8 [C, H, W]; inputs of
//                              dims [C, -1, -1] keep the decoded size, or resize the shorter
//                              side to R (aspect kept), or resize and crop S x S

//   UINT8 pixels:              x = float(pixel) * scale          (float32 arithmetic)
//   FP32 wire inputs:          x = value (the client already multiplied by scale)
//   all:                       x = (x - mean[c]) / std[c]       (float32 arithmetic)
#ifndef WTSERVE_SERVER_RUNTIME_PREPROCESS_H_
#define WTSERVE_SERVER_RUNTIME_PREPROCESS_H_

#include <cstdint>
#include <string_view>

#include <ATen/core/Tensor.h>
#include <opencv2/core/mat.hpp>

#include "absl/status/statusor.h"
#include "model_config.pb.h"

namespace wtserve::runtime {

// pixels: uint8 or float32 tensor [N, C, H, W] on the CPU, C = mean/std size of `pp`
// (a validated config). Returns a new contiguous float32 [N, C, H, W] tensor.
// Errors: INVALID_ARGUMENT for another dtype, rank or channel count.
absl::StatusOr<at::Tensor> NormalizePixels(const at::Tensor& pixels, const config::InputPreprocessing& pp);

// image: CV_8UC1 (gray), CV_8UC3 (RGB order) or CV_8UC4 (RGBA, alpha dropped), any size.
// Converts to the input's channel count (ITU-R 601 luma for RGB -> gray, as OpenCV), resizes
// per `pp`, and returns uint8 [C, H, W] with C, H, W = input.dims (for dims [C, -1, -1]: the
// size the pipeline above gives, which must lie within [min_side, max_side]).
// Errors: INVALID_ARGUMENT for an empty image, another Mat type, an image too small to crop or
// one outside the size bounds.
absl::StatusOr<at::Tensor> ImageToPixels(const cv::Mat& image, const config::ModelInput& input,
                                         const config::InputPreprocessing& pp);

// Largest image DecodeImage accepts, in pixels (width x height as the file's header says).
inline constexpr int64_t kMaxDecodedPixels = int64_t{64} << 20;

// encoded: the bytes of one PNG or JPEG image. Reads the size from the header and refuses images
// over kMaxDecodedPixels before decoding (a few KB of PNG can declare gigapixels), then decodes
// (8-bit; 16-bit PNGs are scaled down by OpenCV) and applies ImageToPixels.
// Errors: INVALID_ARGUMENT "cannot decode ..." for bytes that are not a decodable PNG/JPEG or
// an image that is too large.
absl::StatusOr<at::Tensor> DecodeImage(std::string_view encoded, const config::ModelInput& input,
                                       const config::InputPreprocessing& pp);

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_PREPROCESS_H_

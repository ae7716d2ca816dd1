// Turning a labelled image data set into the pixel tensors a model's config describes, with the
// server's own preprocessing code (server/runtime/preprocess.h), so that training, offline
// evaluation and serving see identical inputs.
#ifndef WTSERVE_SERVER_TOOLS_DATASET_TENSORS_H_
#define WTSERVE_SERVER_TOOLS_DATASET_TENSORS_H_

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "model_config.pb.h"

namespace wtserve::tools {

struct PixelData {
  at::Tensor pixels;  // uint8 [N, C, H, W], C/H/W = input.dims
  at::Tensor labels;  // int64 [N]
};

// Images of exactly the input's size and channel count are copied as they are (HWC -> CHW);
// others go through runtime::ImageToPixels (channel conversion, resize / center crop per `pp`).
// `limit` > 0 keeps only the first `limit` samples. Errors: INVALID_ARGUMENT for an empty data
// set, a label outside [0, num_classes) or an image ImageToPixels rejects (naming its index).
absl::StatusOr<PixelData> DatasetToPixels(const data::ImageDataset& dataset, const config::ModelInput& input,
                                          const config::InputPreprocessing& pp, int64_t num_classes, int64_t limit = 0);

// Reads the named data set: "fashion-mnist" (from `fashion_mnist_dir`, split `split`) or an
// image folder path (one subfolder per class) read with `channels`.
absl::StatusOr<data::ImageDataset> ReadDataset(const std::string& source, const std::string& fashion_mnist_dir,
                                               data::Split split, int64_t channels);

}  // namespace wtserve::tools

#endif  // WTSERVE_SERVER_TOOLS_DATASET_TENSORS_H_

#include "server/tools/dataset_tensors.h"

#include <cstring>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "server/runtime/model_config.h"
#include "server/runtime/preprocess.h"

namespace wtserve::tools {

absl::StatusOr<PixelData> DatasetToPixels(const data::ImageDataset& dataset, const config::ModelInput& input,
                                          const config::InputPreprocessing& pp, int64_t num_classes, int64_t limit) {
  if (input.dims_size() != 3) {
    return absl::InvalidArgumentError("model input dims must be [C, H, W]");
  }
  int64_t n = dataset.size();
  if (limit > 0 && limit < n) n = limit;
  if (n == 0) return absl::InvalidArgumentError("the data set has no images");
  if (static_cast<int64_t>(dataset.labels.size()) < n) {
    return absl::InvalidArgumentError("the data set has fewer labels than images");
  }
  const int64_t c = input.dims(0);
  int64_t h = input.dims(1), w = input.dims(2);
  if (runtime::HasVariableSpatialDims(input)) {
    // One tensor holds every image, so they share the size the first one is served at.
    absl::StatusOr<at::Tensor> first = runtime::ImageToPixels(dataset.images[0], input, pp);
    if (!first.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("sample 0: ", first.status().message()));
    }
    h = first->size(1);
    w = first->size(2);
  }
  PixelData out;
  out.pixels = at::empty({n, c, h, w}, at::kByte);
  out.labels = at::empty({n}, at::kLong);
  auto* labels = out.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t label = dataset.labels[i];
    if (label < 0 || label >= num_classes) {
      return absl::InvalidArgumentError(
          absl::StrCat("sample ", i, ": label ", label, " outside [0, ", num_classes, ")"));
    }
    labels[i] = label;
    const cv::Mat& image = dataset.images[i];
    at::Tensor dst = out.pixels[i];
    if (image.rows == h && image.cols == w && image.channels() == c && image.depth() == CV_8U) {
      cv::Mat packed = image.isContinuous() ? image : image.clone();
      at::Tensor hwc = at::from_blob(packed.data, {h, w, c}, at::kByte);
      dst.copy_(hwc.permute({2, 0, 1}));
    } else {
      absl::StatusOr<at::Tensor> pixels = runtime::ImageToPixels(image, input, pp);
      if (!pixels.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("sample ", i, ": ", pixels.status().message()));
      }
      if (pixels->size(1) != h || pixels->size(2) != w) {
        return absl::InvalidArgumentError(absl::StrCat("sample ", i, " is ", pixels->size(2), "x", pixels->size(1),
                                                       " after preprocessing, "
                                                       "sample 0 is ",
                                                       w, "x", h,
                                                       "; evaluating a model of dims [C, -1, -1] needs images of "
                                                       "one size (or input_preprocessing that crops them to one)"));
      }
      dst.copy_(*pixels);
    }
  }
  return out;
}

absl::StatusOr<data::ImageDataset> ReadDataset(const std::string& source, const std::string& fashion_mnist_dir,
                                               data::Split split, int64_t channels) {
  if (source == "fashion-mnist") return data::ReadFashionMnist(fashion_mnist_dir, split);
  return data::ReadImageFolder(source, channels);
}

}  // namespace wtserve::tools

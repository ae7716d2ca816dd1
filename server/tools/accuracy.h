// Top-1 accuracy of a classifier over pixel data, offline, with the server's own preprocessing
// (runtime::NormalizePixels) per batch: the one evaluation loop of the evaluator, the trainer's
// test-set check and the loadgen's offline reference.
#ifndef WTSERVE_SERVER_TOOLS_ACCURACY_H_
#define WTSERVE_SERVER_TOOLS_ACCURACY_H_

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "model_config.pb.h"
#include "server/tools/dataset_tensors.h"

namespace wtserve::tools {

// Normalised float32 images [B, C, H, W] -> logits [B, classes]; errors are passed through.
using ForwardFn = std::function<absl::StatusOr<at::Tensor>(const at::Tensor& images)>;

struct AccuracyCounts {
  int64_t correct = 0, total = 0;
  std::vector<int64_t> class_correct, class_total;  // indexed by the true label

  double Percent() const { return total > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0; }
};

// Classifies data.pixels (uint8 [N, C, H, W]) in batches of `batch_size` (>= 1) under
// InferenceMode and counts argmax(logits) == data.labels, overall and per true class (labels in
// [0, num_classes), as DatasetToPixels guarantees). Errors: INVALID_ARGUMENT for batch_size < 1,
// a label outside [0, num_classes) or logits of the wrong shape; NormalizePixels' and forward's
// errors as they are.
absl::StatusOr<AccuracyCounts> CountTop1(const PixelData& data, const config::InputPreprocessing& pp,
                                         int64_t num_classes, int64_t batch_size, const ForwardFn& forward);

}  // namespace wtserve::tools

#endif  // WTSERVE_SERVER_TOOLS_ACCURACY_H_

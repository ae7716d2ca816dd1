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

// How far a second precision (or any second forward) strays from a reference, image by image.
struct PrecisionAgreement {
  int64_t images = 0;
  int64_t top1_agree = 0;              // argmax equal
  int64_t reference_correct = 0;       // argmax == label, reference forward
  int64_t other_correct = 0;           // argmax == label, other forward
  double max_abs_logit_diff = 0;       // over every logit of every image
  double max_reference_abs_logit = 0;  // the scale that difference is to be read against
};

// Runs `reference` and `other` on the same normalised batches of data.pixels (as CountTop1) and
// compares their float32 logits. Errors: as CountTop1, and INVALID_ARGUMENT when the two return
// logits of different shapes.
absl::StatusOr<PrecisionAgreement> ComparePredictions(const PixelData& data, const config::InputPreprocessing& pp,
                                                      int64_t batch_size, const ForwardFn& reference,
                                                      const ForwardFn& other);

}  // namespace wtserve::tools

#endif  // WTSERVE_SERVER_TOOLS_ACCURACY_H_

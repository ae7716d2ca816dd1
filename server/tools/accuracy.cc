#include "server/tools/accuracy.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/runtime/preprocess.h"

namespace wtserve::tools {

absl::StatusOr<AccuracyCounts> CountTop1(const PixelData& data, const config::InputPreprocessing& pp,
                                         int64_t num_classes, int64_t batch_size, const ForwardFn& forward) {
  if (batch_size < 1) return absl::InvalidArgumentError(absl::StrCat("batch size must be >= 1, got ", batch_size));
  c10::InferenceMode guard;
  AccuracyCounts counts;
  counts.class_correct.assign(static_cast<size_t>(num_classes), 0);
  counts.class_total.assign(static_cast<size_t>(num_classes), 0);
  const int64_t n = data.pixels.size(0);
  const at::Tensor labels = data.labels.to(at::kLong).contiguous();
  const int64_t* truth = labels.data_ptr<int64_t>();
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    auto x = runtime::NormalizePixels(data.pixels.slice(0, begin, end), pp);
    if (!x.ok()) return x.status();
    auto logits = forward(*x);
    if (!logits.ok()) return logits.status();
    if (logits->dim() != 2 || logits->size(0) != end - begin) {
      return absl::InvalidArgumentError(absl::StrCat("logits of shape [", absl::StrJoin(logits->sizes(), ", "),
                                                     "] for a batch of ", end - begin, " images"));
    }
    const at::Tensor predicted = logits->argmax(1).contiguous();
    const int64_t* p = predicted.data_ptr<int64_t>();
    for (int64_t i = 0; i < end - begin; ++i) {
      const int64_t t = truth[begin + i];
      if (t < 0 || t >= num_classes) {
        return absl::InvalidArgumentError(
            absl::StrCat("label ", t, " of image ", begin + i, " is outside [0, ", num_classes, ")"));
      }
      ++counts.class_total[static_cast<size_t>(t)];
      if (p[i] == t) {
        ++counts.correct;
        ++counts.class_correct[static_cast<size_t>(t)];
      }
    }
  }
  counts.total = n;
  return counts;
}

}  // namespace wtserve::tools

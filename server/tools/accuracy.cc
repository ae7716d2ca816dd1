#include "server/tools/accuracy.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/runtime/preprocess.h"

namespace wtserve::tools {
namespace {

// The evaluation loop both functions share: data.pixels in batches of `batch_size` (>= 1) under
// InferenceMode, each normalised with the server's preprocessing and handed to
// visit(begin, end, images); the first error stops it.
template <typename Visit>
absl::Status ForEachNormalizedBatch(const PixelData& data, const config::InputPreprocessing& pp, int64_t batch_size,
                                    Visit&& visit) {
  if (batch_size < 1) return absl::InvalidArgumentError(absl::StrCat("batch size must be >= 1, got ", batch_size));
  c10::InferenceMode guard;
  const int64_t n = data.pixels.size(0);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    auto x = runtime::NormalizePixels(data.pixels.slice(0, begin, end), pp);
    if (!x.ok()) return x.status();
    if (absl::Status s = visit(begin, end, *x); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AccuracyCounts> CountTop1(const PixelData& data, const config::InputPreprocessing& pp,
                                         int64_t num_classes, int64_t batch_size, const ForwardFn& forward) {
  AccuracyCounts counts;
  counts.class_correct.assign(static_cast<size_t>(num_classes), 0);
  counts.class_total.assign(static_cast<size_t>(num_classes), 0);
  const at::Tensor labels = data.labels.to(at::kLong).contiguous();
  const int64_t* truth = labels.data_ptr<int64_t>();
  absl::Status status = ForEachNormalizedBatch(
      data, pp, batch_size, [&](int64_t begin, int64_t end, const at::Tensor& x) -> absl::Status {
        auto logits = forward(x);
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
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  counts.total = data.pixels.size(0);
  return counts;
}

absl::StatusOr<PrecisionAgreement> ComparePredictions(const PixelData& data, const config::InputPreprocessing& pp,
                                                      int64_t batch_size, const ForwardFn& reference,
                                                      const ForwardFn& other) {
  PrecisionAgreement agreement;
  const at::Tensor labels = data.labels.to(at::kLong);
  absl::Status status = ForEachNormalizedBatch(
      data, pp, batch_size, [&](int64_t begin, int64_t end, const at::Tensor& x) -> absl::Status {
        auto a = reference(x);
        if (!a.ok()) return a.status();
        auto b = other(x);
        if (!b.ok()) return b.status();
        if (a->dim() != 2 || a->size(0) != end - begin || a->sizes() != b->sizes()) {
          return absl::InvalidArgumentError(absl::StrCat("logits of shapes [", absl::StrJoin(a->sizes(), ", "),
                                                         "] and [", absl::StrJoin(b->sizes(), ", "),
                                                         "] for a batch of ", end - begin, " images"));
        }
        const at::Tensor ref = a->to(at::kFloat), oth = b->to(at::kFloat);
        const at::Tensor truth = labels.slice(0, begin, end);
        const at::Tensor ref_top1 = ref.argmax(1), other_top1 = oth.argmax(1);
        agreement.top1_agree += ref_top1.eq(other_top1).sum().item<int64_t>();
        agreement.reference_correct += ref_top1.eq(truth).sum().item<int64_t>();
        agreement.other_correct += other_top1.eq(truth).sum().item<int64_t>();
        agreement.max_abs_logit_diff = std::max(agreement.max_abs_logit_diff, (ref - oth).abs().max().item<double>());
        agreement.max_reference_abs_logit = std::max(agreement.max_reference_abs_logit, ref.abs().max().item<double>());
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  agreement.images = data.pixels.size(0);
  return agreement;
}

}  // namespace wtserve::tools

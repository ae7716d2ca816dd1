// One inference request on its way through a model's queue: what a front end (gRPC unary, gRPC
// stream, REST) creates once and moves into the dynamic batcher, which hands it to a worker and
// answers it exactly once. A new attribute (a priority, a trace id) is one field here plus the
// code that sets and reads it.
//
// Ownership: DynamicBatcher::Enqueue / ServedModel::Enqueue take a std::unique_ptr<InferenceRequest>*
// and move the request out only when they accept it (as TF Serving's Schedule does). A refused
// request stays with its caller, who answers it — for example by calling its own on_complete with
// the refusal — so no second handle on the completion is needed.
//
// Lifetime: the completion holds whatever it needs to encode the answer, including a
// std::shared_ptr to the ServedModel it ran on (the model is pinned until the request is
// destroyed, as Triton's requests pin their model).
#ifndef WTSERVE_SERVER_RUNTIME_INFERENCE_REQUEST_H_
#define WTSERVE_SERVER_RUNTIME_INFERENCE_REQUEST_H_

#include <cstdint>
#include <functional>
#include <optional>

#include <ATen/core/Tensor.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wtserve::runtime {

// What happened to one request, for statistics (queue / compute latency, batch size).
struct RequestTimings {
  absl::Time enqueue_time;
  // Enqueue until its batch started executing, or until it was answered without running.
  absl::Duration queue_time;
  // Batch concatenation + the model call of its batch; zero if it never ran.
  absl::Duration compute_time;
  // Elements in the batch it ran in; 0 if it never ran.
  int64_t batch_size = 0;
  // Instance that ran it; -1 if it never ran.
  int instance = -1;
};

// What the front end makes of a finished request: the status its client will get — a response
// that cannot be delivered (too large to send, say) is a failure although the model ran — and
// the action that delivers it. The batcher lets the statistics record `status` first, then runs
// `send` (which may be empty), so a client that has its answer also sees it counted.
struct Reply {
  absl::Status status;
  absl::AnyInvocable<void() &&> send;
};

// Receives the request's output rows [n, ...] (a view into the batch output; for a ServedModel
// float32 CPU logits [n, num_classes]) or its error, with the request's timings. Called exactly
// once, on a batcher thread, for every accepted request; must be short and must not throw.
using CompletionCallback = absl::AnyInvocable<Reply(absl::StatusOr<at::Tensor> output, const RequestTimings& timings)>;

struct InferenceRequest {
  // [n, ...], 1 <= n <= max_batch_size (for a ServedModel normalized float32 images
  // [n, C, H, W]). Requests are batched only with requests of the same dtype, device and
  // trailing shape.
  at::Tensor input;
  // When the server received the request (request-latency statistics).
  absl::Time received = absl::Now();
  // Absolute deadline (e.g. the gRPC deadline); passing it before execution -> DEADLINE_EXCEEDED.
  absl::Time deadline = absl::InfiniteFuture();
  // Overrides the model's default queue timeout when set; zero means no queue timeout.
  std::optional<absl::Duration> queue_timeout;
  // Optional; checked when the request would join a batch (e.g. wraps
  // grpc::CallbackServerContext::IsCancelled). Must be cheap, thread-safe and must not call into
  // the batcher.
  std::function<bool()> is_cancelled;
  // Required. See CompletionCallback.
  CompletionCallback on_complete;

  // Elements along dim 0 (0 while `input` is undefined or a scalar).
  int64_t elements() const { return input.defined() && input.dim() >= 1 ? input.size(0) : 0; }
};

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_INFERENCE_REQUEST_H_

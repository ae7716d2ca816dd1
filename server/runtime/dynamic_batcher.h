// Dynamic batcher: one request queue per model, one worker thread per model instance.
//
// Requests (InferenceRequest, inference_request.h) carry an input tensor [n, ...] (n >= 1 batch
// elements); the batcher owns each request it accepts until it has answered it. Workers concatenate queued
// requests along dim 0 into batches of at most max_batch_size elements (a request is never split),
// run them through the injected ExecuteFn (the model) and hand each caller exactly its rows of the
// output. Requests are batched only with requests of the same dtype, device and trailing shape,
// as if each shape had its own queue; per shape, batch formation follows Triton's
// dynamic_batching semantics (docs/batcher.md has the rules in full):
//   - a batch of a preferred size that can be formed from the shape's oldest requests runs at
//     once (the largest such size);
//   - otherwise a batch runs at once when no further request of its shape fits (max_batch_size
//     reached, or the next one would overflow it), and else once max_queue_delay has passed since
//     its OLDEST request arrived (delay 0: run whatever is queued);
//   - among ready batches, the one whose oldest request is oldest runs first.
// Failure answers (each accepted request is answered exactly once; a refused one stays with the
// caller):
//   - queue full                      -> Enqueue returns UNAVAILABLE "Exceeds maximum queue size"
//   - after Shutdown() began          -> Enqueue returns UNAVAILABLE
//   - deadline passed before running  -> callback gets DEADLINE_EXCEEDED (answered when it passes,
//                                        even while every instance is busy)
//   - queue timeout passed            -> callback gets UNAVAILABLE "Request timeout expired"
//   - cancelled before running        -> callback gets CANCELLED, never executed
//   - ExecuteFn error or exception    -> every request of that batch gets the error
//
// Thread safety: every public method may be called from any thread. ExecuteFn runs on the worker
// thread of its instance (one call at a time per instance, instances in parallel). Completion
// callbacks and observer calls run on batcher threads; they must be short, must not throw and
// must not call Shutdown() (which joins those threads).
#ifndef WTSERVE_SERVER_RUNTIME_DYNAMIC_BATCHER_H_
#define WTSERVE_SERVER_RUNTIME_DYNAMIC_BATCHER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/batcher_clock.h"
#include "server/runtime/batching_policy.h"
#include "server/runtime/inference_request.h"

namespace wtserve::runtime {

struct DynamicBatcherOptions {
  // Used in error messages only, e.g. "wtconvnext_fmnist".
  std::string model_name;
  // Elements (rows along dim 0) per batch; >= 1. A request may carry up to this many.
  int64_t max_batch_size = 1;
  // Batch sizes (elements) the batcher runs as soon as it can form them; each in
  // [1, max_batch_size] (Create sorts them). Empty: batches are as large as possible.
  std::vector<int64_t> preferred_batch_sizes;
  // How long a batch may wait for more requests, counted from the arrival of the oldest queued
  // request (Triton max_queue_delay_microseconds). Zero: run what is queued at once.
  absl::Duration max_queue_delay = absl::ZeroDuration();
  // Queued REQUESTS (not elements, as Triton's max_queue_size) beyond which Enqueue rejects;
  // batches being executed do not count. 0: unbounded.
  int64_t max_queue_size = 0;
  // Longest time a request may wait in the queue before it is answered UNAVAILABLE "Request
  // timeout expired" (Triton default_timeout_microseconds). Zero: no queue timeout.
  absl::Duration default_queue_timeout = absl::ZeroDuration();
  // Model instances = worker threads; ExecuteFn is called with instance in [0, instance_count).
  int instance_count = 1;
};

// INVALID_ARGUMENT naming the field when an option is out of range.
absl::Status ValidateDynamicBatcherOptions(const DynamicBatcherOptions& options);

// One executed batch, for metrics (execution count, batch size histogram, compute latency).
struct ExecutedBatch {
  int instance = 0;
  int64_t batch_size = 0;     // elements
  int64_t request_count = 0;  // requests in the batch
  absl::Duration compute_time;
  absl::Status status;  // OK or the error every request of the batch received
};

// Queue, batch and request events, so that statistics stay outside the batcher. All calls run on
// batcher threads; OnQueueDepthChanged runs under the batcher's lock (so successive depths arrive
// in order) and must only record the numbers. OnBatchExecuted runs before the batch's callbacks.
// OnRequestAnswered runs for every accepted request after its on_complete returned `reply_status`
// and before the reply's `send`.
class DynamicBatcherObserver {
 public:
  virtual ~DynamicBatcherObserver() = default;
  virtual void OnQueueDepthChanged(int64_t queued_requests, int64_t queued_elements) {}
  virtual void OnBatchExecuted(const ExecutedBatch& batch) {}
  virtual void OnRequestAnswered(const InferenceRequest& request, const absl::Status& reply_status,
                                 const RequestTimings& timings) {}
};

// The model: batch [B, ...] -> output [B, ...] (same B). An error status or a thrown exception
// (c10::Error, std::exception) fails every request of the batch; the worker keeps going.
using ExecuteFn = std::function<absl::StatusOr<at::Tensor>(int instance, const at::Tensor& batch)>;

class DynamicBatcher {
 public:
  // Starts instance_count worker threads plus one thread that answers expired requests. `observer`
  // and `clock` (nullptr: the real clock) must outlive the batcher.
  static absl::StatusOr<std::unique_ptr<DynamicBatcher>> Create(DynamicBatcherOptions options, ExecuteFn execute,
                                                                DynamicBatcherObserver* observer = nullptr,
                                                                Clock* clock = nullptr);

  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;
  // Shutdown() with no drain deadline.
  ~DynamicBatcher();

  // Never blocks on the queue. OK: the request was accepted (*request is now null) and its
  // on_complete will be called exactly once. Otherwise *request is left with the caller, untouched,
  // and the status says why: INVALID_ARGUMENT (null or bad input, missing on_complete),
  // UNAVAILABLE (queue full, shutting down), DEADLINE_EXCEEDED (deadline already passed),
  // CANCELLED (already cancelled).
  absl::Status Enqueue(std::unique_ptr<InferenceRequest>* request);

  // Stops accepting requests, then runs every accepted request without waiting for
  // max_queue_delay and joins the threads. Requests still queued at `drain_deadline` are answered
  // UNAVAILABLE instead (batches already executing finish). Idempotent; blocks until drained.
  void Shutdown(absl::Time drain_deadline = absl::InfiniteFuture());

  bool shutting_down() const;
  int64_t queued_requests() const;
  int64_t queued_elements() const;
  const DynamicBatcherOptions& options() const { return options_; }

 private:
  struct Pending;
  struct Dropped;

  DynamicBatcher(DynamicBatcherOptions options, ExecuteFn execute, DynamicBatcherObserver* observer, Clock* clock);

  void WorkerLoop(int instance);
  void ReaperLoop();
  // Runs one batch outside the lock and answers its requests.
  void Execute(int instance, std::vector<Pending> batch);
  // Calls the request's on_complete, tells the observer, runs the reply's send. No lock held.
  void Answer(InferenceRequest& request, absl::StatusOr<at::Tensor> output, const RequestTimings& timings);
  void AnswerDropped(std::vector<Dropped>& dropped);
  // What the batching policy sees of `p` (is_cancelled asked only if `check_cancelled`).
  static QueuedRequestView ViewOf(const Pending& p, bool check_cancelled);
  BatcherState StateLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes queue_[it] and returns the next position.
  std::list<Pending>::iterator EraseLocked(std::list<Pending>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports the new depth and wakes the threads that may act on it.
  void QueueShrunkLocked(bool wake_a_worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DynamicBatcherOptions options_;
  const BatchingPolicyOptions policy_;  // the batching rules' part of options_
  const ExecuteFn execute_;
  DynamicBatcherObserver* const observer_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;    // workers: the queue changed, or shutdown
  absl::CondVar reaper_cv_;  // reaper: an earlier expiry was queued, or shutdown
  // FIFO by arrival; a list because expired requests leave from anywhere in it.
  std::list<Pending> queue_ ABSL_GUARDED_BY(mu_);
  int64_t queued_elements_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time reaper_wake_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  absl::Mutex join_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_DYNAMIC_BATCHER_H_

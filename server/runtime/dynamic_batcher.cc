#include "server/runtime/dynamic_batcher.h"

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <exception>
#include <utility>

#include <ATen/ops/cat.h>
#include <c10/util/Exception.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/nn/exception_text.h"

namespace wtserve::runtime {

struct DynamicBatcher::Pending {
  std::unique_ptr<InferenceRequest> request;  // never null
  int64_t elements = 0;
  absl::Time enqueue_time;
  absl::Time queue_expiry;  // enqueue_time + queue timeout

  const at::Tensor& input() const { return request->input; }
  absl::Time expiry() const { return std::min(request->deadline, queue_expiry); }
};

// A request answered without running, to be called back once the lock is released.
struct DynamicBatcher::Dropped {
  std::unique_ptr<InferenceRequest> request;
  absl::Status status;
  RequestTimings timings;
};

namespace {

// The batcher's timed waits (max_queue_delay, queue timeouts, deadlines) are latency budgets of
// a few hundred microseconds; Linux lets a normal thread's timers fire up to 50 us late (the
// default timer slack) to group wake-ups. 1 us keeps a delayed batch from starting late.
void TightenTimerSlack() {
#ifdef __linux__
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);  // nanoseconds; affects this thread only
#endif
}

// Requests are concatenated only when cat along dim 0 gives one well-formed batch.
bool Compatible(const at::Tensor& a, const at::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.device() == b.device() && a.layout() == b.layout() &&
         a.dim() == b.dim() && a.sizes().slice(1) == b.sizes().slice(1);
}

}  // namespace

absl::Status ValidateDynamicBatcherOptions(const DynamicBatcherOptions& o) {
  if (o.max_batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch_size must be >= 1, got ", o.max_batch_size));
  }
  for (int64_t size : o.preferred_batch_sizes) {
    if (size < 1 || size > o.max_batch_size) {
      return absl::InvalidArgumentError(
          absl::StrCat("preferred_batch_size ", size, " is outside [1, max_batch_size=", o.max_batch_size,
                       "] (preferred sizes: ", absl::StrJoin(o.preferred_batch_sizes, ", "), ")"));
    }
  }
  if (o.max_queue_delay < absl::ZeroDuration() || o.max_queue_delay == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_delay must be finite and >= 0, got ", absl::FormatDuration(o.max_queue_delay)));
  }
  if (o.max_queue_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queue_size must be >= 0 (0: unbounded), got ", o.max_queue_size));
  }
  if (o.default_queue_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("default_queue_timeout must be >= 0 (0: none), got ",
                                                   absl::FormatDuration(o.default_queue_timeout)));
  }
  if (o.instance_count < 1) {
    return absl::InvalidArgumentError(absl::StrCat("instance_count must be >= 1, got ", o.instance_count));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DynamicBatcher>> DynamicBatcher::Create(DynamicBatcherOptions options, ExecuteFn execute,
                                                                       DynamicBatcherObserver* observer, Clock* clock) {
  if (absl::Status s = ValidateDynamicBatcherOptions(options); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dynamic batcher of model '", options.model_name, "': ", s.message()));
  }
  if (!execute) return absl::InvalidArgumentError("dynamic batcher: execute function is empty");
  // Sorted and unique, as the batching policy expects.
  std::vector<int64_t>& preferred = options.preferred_batch_sizes;
  std::sort(preferred.begin(), preferred.end());
  preferred.erase(std::unique(preferred.begin(), preferred.end()), preferred.end());
  std::unique_ptr<DynamicBatcher> batcher(
      new DynamicBatcher(std::move(options), std::move(execute), observer, clock ? clock : Clock::Real()));
  absl::MutexLock lock(&batcher->join_mu_);
  for (int i = 0; i < batcher->options_.instance_count; ++i) {
    batcher->threads_.emplace_back(&DynamicBatcher::WorkerLoop, batcher.get(), i);
  }
  batcher->threads_.emplace_back(&DynamicBatcher::ReaperLoop, batcher.get());
  return batcher;
}

DynamicBatcher::DynamicBatcher(DynamicBatcherOptions options, ExecuteFn execute, DynamicBatcherObserver* observer,
                               Clock* clock)
    : options_(std::move(options)),
      policy_{options_.model_name, options_.max_batch_size, options_.preferred_batch_sizes, options_.max_queue_delay},
      execute_(std::move(execute)),
      observer_(observer),
      clock_(clock) {}

DynamicBatcher::~DynamicBatcher() { Shutdown(); }

absl::Status DynamicBatcher::Enqueue(std::unique_ptr<InferenceRequest>* request_slot) {
  if (request_slot == nullptr || *request_slot == nullptr) {
    return absl::InvalidArgumentError("no batcher request");
  }
  const InferenceRequest& request = **request_slot;
  if (!request.on_complete) {
    return absl::InvalidArgumentError("batcher request has no completion callback");
  }
  if (!request.input.defined() || request.input.dim() < 1) {
    return absl::InvalidArgumentError("batcher request input must be a tensor with a batch dimension [n, ...]");
  }
  const int64_t n = request.input.size(0);
  if (n < 1 || n > options_.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrCat("batch size ", n, " of the request is outside [1, max_batch_size=",
                                                   options_.max_batch_size, "] of model '", options_.model_name, "'"));
  }
  const absl::Duration timeout = request.queue_timeout.value_or(options_.default_queue_timeout);
  if (timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("queue timeout must be >= 0 (0: none), got ", absl::FormatDuration(timeout)));
  }
  if (request.is_cancelled && request.is_cancelled()) {
    return absl::CancelledError("Request cancelled");
  }

  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    return absl::UnavailableError(absl::StrCat("model '", options_.model_name, "' is shutting down"));
  }
  const absl::Time now = clock_->Now();
  if (now >= request.deadline) {
    return absl::DeadlineExceededError("Deadline exceeded before the request was queued");
  }
  if (options_.max_queue_size > 0 && static_cast<int64_t>(queue_.size()) >= options_.max_queue_size) {
    return absl::UnavailableError("Exceeds maximum queue size");
  }
  Pending& p = queue_.emplace_back();
  p.request = std::move(*request_slot);
  p.elements = n;
  p.enqueue_time = now;
  p.queue_expiry = timeout == absl::ZeroDuration() ? absl::InfiniteFuture() : now + timeout;
  queued_elements_ += n;
  if (observer_) {
    observer_->OnQueueDepthChanged(static_cast<int64_t>(queue_.size()), queued_elements_);
  }
  work_cv_.Signal();
  if (p.expiry() < reaper_wake_at_) reaper_cv_.Signal();
  return absl::OkStatus();
}

void DynamicBatcher::Shutdown(absl::Time drain_deadline) {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    drain_deadline_ = std::min(drain_deadline_, drain_deadline);
    work_cv_.SignalAll();
    reaper_cv_.SignalAll();
  }
  absl::MutexLock lock(&join_mu_);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool DynamicBatcher::shutting_down() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

int64_t DynamicBatcher::queued_requests() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

int64_t DynamicBatcher::queued_elements() const {
  absl::MutexLock lock(&mu_);
  return queued_elements_;
}

QueuedRequestView DynamicBatcher::ViewOf(const Pending& p, bool check_cancelled) {
  const std::function<bool()>& is_cancelled = p.request->is_cancelled;
  return QueuedRequestView{p.elements, p.enqueue_time, p.request->deadline, p.queue_expiry,
                           check_cancelled && is_cancelled && is_cancelled()};
}

void DynamicBatcher::Answer(InferenceRequest& request, absl::StatusOr<at::Tensor> output,
                            const RequestTimings& timings) {
  Reply reply = request.on_complete(std::move(output), timings);
  if (observer_) observer_->OnRequestAnswered(request, reply.status, timings);
  if (reply.send) std::move(reply.send)();
}

void DynamicBatcher::AnswerDropped(std::vector<Dropped>& dropped) {
  for (Dropped& d : dropped) Answer(*d.request, std::move(d.status), d.timings);
  dropped.clear();
}

BatcherState DynamicBatcher::StateLocked(absl::Time now) const {
  return BatcherState{now, drain_deadline_, shutting_down_};
}

std::list<DynamicBatcher::Pending>::iterator DynamicBatcher::EraseLocked(std::list<Pending>::iterator it) {
  queued_elements_ -= it->elements;
  return queue_.erase(it);
}

void DynamicBatcher::QueueShrunkLocked(bool wake_a_worker) {
  if (observer_) {
    observer_->OnQueueDepthChanged(static_cast<int64_t>(queue_.size()), queued_elements_);
  }
  if (!queue_.empty()) {
    if (wake_a_worker) work_cv_.Signal();
  } else if (shutting_down_) {
    // Drained: the reaper may be waiting with no deadline and must see that it can exit.
    reaper_cv_.Signal();
  }
}

void DynamicBatcher::WorkerLoop(int instance) {
  TightenTimerSlack();
  std::vector<Dropped> dropped;
  mu_.Lock();
  while (true) {
    // The policy (batching_policy.h) decides; this loop applies it. It sees the queue through
    // `view`, in order and only as far as it needs, and shapes through Compatible.
    const absl::Time now = clock_->Now();
    std::vector<std::list<Pending>::iterator> seen;
    auto next = queue_.begin();
    const BatchDecision decision = DecideBatch(
        queue_.size(),
        [&](size_t) {
          seen.push_back(next);
          return ViewOf(*next++, /*check_cancelled=*/true);
        },
        [&](size_t a, size_t b) { return Compatible(seen[a]->input(), seen[b]->input()); }, StateLocked(now), policy_);
    for (const BatchDecision::Drop& d : decision.drop) {
      Pending& p = *seen[d.index];
      dropped.push_back({std::move(p.request), d.status,
                         RequestTimings{p.enqueue_time, now - p.enqueue_time, absl::ZeroDuration(), 0, -1}});
      EraseLocked(seen[d.index]);
    }
    std::vector<std::list<Pending>::iterator> take;
    for (size_t index : decision.take) take.push_back(seen[index]);
    const absl::Time wake_at = decision.wake_at;

    if (!take.empty()) {
      std::vector<Pending> batch;
      batch.reserve(take.size());
      for (auto it : take) {
        batch.push_back(std::move(*it));
        EraseLocked(it);
      }
      // Another idle worker may be able to start on what is left.
      QueueShrunkLocked(/*wake_a_worker=*/true);
      mu_.Unlock();
      AnswerDropped(dropped);
      Execute(instance, std::move(batch));
      mu_.Lock();
      continue;
    }
    if (!dropped.empty()) {
      QueueShrunkLocked(/*wake_a_worker=*/false);
      mu_.Unlock();
      AnswerDropped(dropped);
      mu_.Lock();
      continue;
    }
    if (shutting_down_ && queue_.empty()) break;
    clock_->WaitWithDeadline(&work_cv_, &mu_, wake_at);
  }
  mu_.Unlock();
}

void DynamicBatcher::ReaperLoop() {
  TightenTimerSlack();
  // Answers expired requests when they expire, even while every worker is busy executing.
  std::vector<Dropped> dropped;
  mu_.Lock();
  while (true) {
    const absl::Time now = clock_->Now();
    absl::Time next = absl::InfiniteFuture();
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (std::optional<absl::Status> reason =
              ExpiryReason(ViewOf(*it, /*check_cancelled=*/false), StateLocked(now), policy_)) {
        dropped.push_back({std::move(it->request), *std::move(reason),
                           RequestTimings{it->enqueue_time, now - it->enqueue_time, absl::ZeroDuration(), 0, -1}});
        it = EraseLocked(it);
        continue;
      }
      next = std::min(next, it->expiry());
      ++it;
    }
    if (!dropped.empty()) {
      // Removing requests can make a preferred size reachable for a waiting worker.
      QueueShrunkLocked(/*wake_a_worker=*/true);
      mu_.Unlock();
      AnswerDropped(dropped);
      mu_.Lock();
      continue;
    }
    if (shutting_down_ && queue_.empty()) break;
    if (shutting_down_) next = std::min(next, drain_deadline_);
    reaper_wake_at_ = next;
    clock_->WaitWithDeadline(&reaper_cv_, &mu_, next);
    reaper_wake_at_ = absl::InfiniteFuture();
  }
  mu_.Unlock();
}

void DynamicBatcher::Execute(int instance, std::vector<Pending> batch) {
  const absl::Time start = clock_->Now();
  int64_t total = 0;
  for (const Pending& p : batch) total += p.elements;

  absl::StatusOr<at::Tensor> output;
  try {
    at::Tensor input;
    if (batch.size() == 1) {
      input = batch.front().input();
    } else {
      std::vector<at::Tensor> inputs;
      inputs.reserve(batch.size());
      for (const Pending& p : batch) inputs.push_back(p.input());
      input = at::cat(inputs, 0);
    }
    output = execute_(instance, input);
  } catch (const std::exception& e) {
    output = absl::InternalError(
        absl::StrCat("model '", options_.model_name, "' failed on instance ", instance, ": ", nn::ExceptionText(e)));
  } catch (...) {
    output = absl::InternalError(absl::StrCat("model '", options_.model_name, "' failed on instance ", instance,
                                              " with an exception that is not a std::exception"));
  }
  if (output.ok() && (!output->defined() || output->dim() < 1 || output->size(0) != total)) {
    output = absl::InternalError(absl::StrCat("model '", options_.model_name, "' returned ",
                                              output->defined() && output->dim() >= 1
                                                  ? absl::StrCat(output->size(0), " rows")
                                                  : std::string("no batch dimension"),
                                              " for a batch of ", total));
  }
  const absl::Duration compute_time = clock_->Now() - start;

  if (observer_) {
    observer_->OnBatchExecuted(
        ExecutedBatch{instance, total, static_cast<int64_t>(batch.size()), compute_time, output.status()});
  }
  int64_t offset = 0;
  for (Pending& p : batch) {
    RequestTimings timings{p.enqueue_time, start - p.enqueue_time, compute_time, total, instance};
    if (output.ok()) {
      Answer(*p.request, output->narrow(0, offset, p.elements), timings);
    } else {
      Answer(*p.request, output.status(), timings);
    }
    offset += p.elements;
  }
}

}  // namespace wtserve::runtime

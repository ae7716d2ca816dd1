// The dynamic batcher's decision: which queued requests to answer without running (expired,
// cancelled), which batch to run now, and when to decide again. A function of what it is shown
// of the queue, the clock and the options, with no state of its own, so the rules of
// docs/batcher.md are tested on their own (tests/runtime/batching_policy_test.cc) and the worker
// loop (dynamic_batcher.cc) only applies the decision under its lock.
//
// Rules: requests of one shape form a candidate batch from the oldest of them on, in arrival
// order, up to max_batch_size elements (never split, never passed by a later one of the same
// shape). The first candidate, oldest first, that is ready runs: the largest preferred size it
// reaches; else all of it when it cannot grow (full, or the next request of its shape does not
// fit), when max_queue_delay has passed since its oldest request arrived, or when the batcher is
// shutting down. Otherwise the decision says when the earliest delay ends.
#ifndef WTSERVE_SERVER_RUNTIME_BATCHING_POLICY_H_
#define WTSERVE_SERVER_RUNTIME_BATCHING_POLICY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace wtserve::runtime {

// What the policy sees of one queued request.
struct QueuedRequestView {
  int64_t elements = 1;
  absl::Time enqueue_time;
  absl::Time deadline = absl::InfiniteFuture();      // the caller's deadline
  absl::Time queue_expiry = absl::InfiniteFuture();  // enqueue_time + queue timeout
  bool cancelled = false;
};

struct BatchingPolicyOptions {
  std::string model_name;  // for messages
  int64_t max_batch_size = 1;
  std::vector<int64_t> preferred_batch_sizes;  // sorted, unique, each in [1, max_batch_size]
  absl::Duration max_queue_delay = absl::ZeroDuration();
};

struct BatcherState {
  absl::Time now;
  absl::Time drain_deadline = absl::InfiniteFuture();  // queued requests left then: UNAVAILABLE
  bool shutting_down = false;                          // run partial batches at once
};

struct BatchDecision {
  struct Drop {
    size_t index;  // into the queue, oldest first
    absl::Status status;
  };
  std::vector<Drop> drop;                       // answer these without running, in queue order
  std::vector<size_t> take;                     // the batch to run now, in arrival order; empty: none is ready
  absl::Time wake_at = absl::InfiniteFuture();  // with nothing taken: when to decide again
};

// Why a request must be answered without running at `state.now`, cancellation aside (the reaper
// answers expiries even while every worker is busy). The caller's deadline wins over the queue
// timeout when both have passed, so the client gets the code of what it asked for.
std::optional<absl::Status> ExpiryReason(const QueuedRequestView& request, const BatcherState& state,
                                         const BatchingPolicyOptions& options);

// `queued` requests, oldest first, seen through `view(i)` (asked in increasing i, once each, and
// only as far as the decision needs: a single-shape queue is looked at only as far as one batch)
// and `same_shape(i, j)` (whether two of the requests already viewed may share a batch).
BatchDecision DecideBatch(size_t queued, absl::FunctionRef<QueuedRequestView(size_t)> view,
                          absl::FunctionRef<bool(size_t, size_t)> same_shape, const BatcherState& state,
                          const BatchingPolicyOptions& options);

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_BATCHING_POLICY_H_

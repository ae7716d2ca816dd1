#include "server/runtime/batching_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace wtserve::runtime {
namespace {

// The batch that the requests of one shape would form now.
struct Candidate {
  std::vector<size_t> members;  // queue indices, arrival order
  int64_t total = 0;            // elements
  size_t preferred_count = 0;   // members that make the largest preferred size reached; 0: none
  bool closed = false;          // full, or the next request of this shape does not fit

  void Offer(size_t index, int64_t elements, const BatchingPolicyOptions& options) {
    if (closed) return;
    if (total + elements > options.max_batch_size) {
      closed = true;
      return;
    }
    total += elements;
    members.push_back(index);
    if (std::binary_search(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end(), total)) {
      preferred_count = members.size();
    }
    if (total == options.max_batch_size) closed = true;
  }
};

}  // namespace

std::optional<absl::Status> ExpiryReason(const QueuedRequestView& request, const BatcherState& state,
                                         const BatchingPolicyOptions& options) {
  if (state.now >= request.deadline) {
    return absl::DeadlineExceededError("Deadline exceeded while the request was queued");
  }
  if (state.now >= request.queue_expiry) return absl::UnavailableError("Request timeout expired");
  if (state.now >= state.drain_deadline) {
    return absl::UnavailableError(
        absl::StrCat("model '", options.model_name, "' shut down before the request could run"));
  }
  return std::nullopt;
}

BatchDecision DecideBatch(size_t queued, absl::FunctionRef<QueuedRequestView(size_t)> view,
                          absl::FunctionRef<bool(size_t, size_t)> same_shape, const BatcherState& state,
                          const BatchingPolicyOptions& options) {
  BatchDecision decision;
  std::vector<Candidate> candidates;  // ordered by their oldest request
  std::vector<absl::Time> arrival;    // of each viewed request
  for (size_t i = 0; i < queued; ++i) {
    const QueuedRequestView request = view(i);
    arrival.push_back(request.enqueue_time);
    std::optional<absl::Status> reason = ExpiryReason(request, state, options);
    if (!reason.has_value() && request.cancelled) reason = absl::CancelledError("Request cancelled");
    if (reason.has_value()) {
      decision.drop.push_back({i, *std::move(reason)});
      continue;
    }
    auto same = std::find_if(candidates.begin(), candidates.end(),
                             [&](const Candidate& c) { return same_shape(c.members.front(), i); });
    if (same == candidates.end()) same = candidates.insert(candidates.end(), Candidate{});
    same->Offer(i, request.elements, options);
    // The oldest shape's batch, once it cannot grow, runs whatever comes behind it.
    if (candidates.front().closed) break;
  }
  for (Candidate& c : candidates) {
    if (c.preferred_count > 0) {
      decision.take.assign(c.members.begin(), c.members.begin() + static_cast<long>(c.preferred_count));
      return decision;
    }
    const absl::Time delay_end = arrival[c.members.front()] + options.max_queue_delay;
    if (c.closed || state.shutting_down || state.now >= delay_end) {
      decision.take = std::move(c.members);
      return decision;
    }
    decision.wake_at = std::min(decision.wake_at, delay_end);
  }
  return decision;
}

}  // namespace wtserve::runtime

#include "server/runtime/version_stats.h"

#include <utility>

#include "absl/time/clock.h"
#include "server/metrics/server_metrics.h"

namespace wtserve::runtime {

VersionStats::VersionStats(metrics::ServerMetrics* metrics, std::string model, std::string version)
    : metrics_(metrics),
      model_(std::move(model)),
      version_(std::move(version)),
      prometheus_(metrics->Model(model_, version_)) {}

void VersionStats::Accepted() { prometheus_.inflight->Increment(); }

void VersionStats::Answered(const absl::Status& status, int64_t elements, absl::Duration request_time,
                            const RequestTimings& timings) {
  const bool ok = status.ok();
  {
    absl::MutexLock lock(&mu_);
    if (ok) {
      stats_.success.Add(request_time);
      stats_.queue.Add(timings.queue_time);
      stats_.compute_infer.Add(timings.compute_time);
      stats_.inference_count += static_cast<uint64_t>(elements);
      stats_.last_inference_ms = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now()));
    } else {
      stats_.fail.Add(request_time);
    }
  }
  prometheus_.queue_duration->Observe(absl::ToDoubleSeconds(timings.queue_time));
  prometheus_.request_duration->Observe(absl::ToDoubleSeconds(request_time));
  if (ok) {
    prometheus_.request_success->Increment();
    prometheus_.inference_count->Increment(static_cast<double>(elements));
  } else {
    metrics_->RecordFailure(model_, version_, metrics::FailureReason(status.code()));
  }
  prometheus_.inflight->Decrement();
}

void VersionStats::Refused(const absl::Status& status, absl::Duration request_time) {
  prometheus_.inflight->Decrement();
  metrics_->RecordFailure(model_, version_, metrics::FailureReason(status.code()));
  absl::MutexLock lock(&mu_);
  stats_.fail.Add(request_time);
}

void VersionStats::Rejected(absl::Duration request_time) {
  absl::MutexLock lock(&mu_);
  stats_.fail.Add(request_time);
}

void VersionStats::BatchExecuted(int64_t batch_size, absl::Duration compute_time) {
  prometheus_.execution_count->Increment();
  prometheus_.batch_size->Observe(static_cast<double>(batch_size));
  prometheus_.compute_duration->Observe(absl::ToDoubleSeconds(compute_time));
  absl::MutexLock lock(&mu_);
  ++stats_.execution_count;
  stats_.batch_compute[batch_size].Add(compute_time);
}

void VersionStats::QueueDepth(int64_t queued_requests) {
  prometheus_.queue_depth->Set(static_cast<double>(queued_requests));
}

ModelStatsSnapshot VersionStats::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace wtserve::runtime

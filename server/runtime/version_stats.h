// The statistics of one served model version, kept in one place for both readers: OIP/Triton
// ModelStatistics (Snapshot) and Prometheus (the version's metrics::ModelMetrics). Each event
// is one call that updates both, so the two cannot disagree about what happened. Thread-safe.
//
// Request events follow a request's life: Accepted when it is queued, then exactly one of
// Answered (it ran, or was answered without running: timeout, cancellation, shutdown) or
// Refused (queueing failed). Rejected counts a request that failed after it was matched to this
// version but before it was queued (a malformed input): ModelStatistics "fail" only, since the
// front end counts its failure metric itself.
#ifndef WTSERVE_SERVER_RUNTIME_VERSION_STATS_H_
#define WTSERVE_SERVER_RUNTIME_VERSION_STATS_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/dynamic_batcher.h"

namespace wtserve::metrics {
class ServerMetrics;
struct ModelMetrics;
}  // namespace wtserve::metrics

namespace wtserve::runtime {

// Cumulative statistics of one version, in the shape of OIP/Triton ModelStatistics.
struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;
  void Add(absl::Duration d) {
    ++count;
    ns += static_cast<uint64_t>(absl::ToInt64Nanoseconds(d));
  }
};
struct ModelStatsSnapshot {
  uint64_t last_inference_ms = 0;                 // Unix epoch ms of the latest successful request; 0: none
  uint64_t inference_count = 0;                   // batch elements of successful requests
  uint64_t execution_count = 0;                   // batches executed
  DurationStat success;                           // whole request time of successful requests
  DurationStat fail;                              // whole request time of failed requests (after acceptance)
  DurationStat queue;                             // queue time of successful requests
  DurationStat compute_infer;                     // compute time of successful requests
  std::map<int64_t, DurationStat> batch_compute;  // per batch size: one entry per execution
};

class VersionStats {
 public:
  // `metrics` must outlive this; the version's Prometheus handles are created here.
  VersionStats(metrics::ServerMetrics* metrics, std::string model, std::string version);

  // A request was queued (in flight + 1).
  void Accepted();
  // An accepted request was answered with `status` (what its client gets) `request_time` after
  // the server received it (in flight - 1; success: its queue and compute times and elements).
  void Answered(const absl::Status& status, int64_t elements, absl::Duration request_time,
                const RequestTimings& timings);
  // Queueing failed with `status` (queue full, shutting down); Accepted was called before.
  void Refused(const absl::Status& status, absl::Duration request_time);
  // See the file comment.
  void Rejected(absl::Duration request_time);
  // The batcher ran one batch / its queue depth changed.
  void BatchExecuted(int64_t batch_size, absl::Duration compute_time);
  void QueueDepth(int64_t queued_requests);

  ModelStatsSnapshot Snapshot() const;

 private:
  metrics::ServerMetrics* const metrics_;
  const std::string model_, version_;
  metrics::ModelMetrics& prometheus_;
  mutable absl::Mutex mu_;
  ModelStatsSnapshot stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_VERSION_STATS_H_

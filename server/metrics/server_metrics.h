// The server's Prometheus metrics: one registry, every metric family, and per (model, version)
// handles. Names follow Prometheus conventions (base units, `_total` counters); labels are
// `model`, `version` and, for failures, `reason`. docs/server.md has the table.
//
// Thread safety: all methods and all returned handles are safe to use from any thread
// (prometheus-cpp metrics are atomic; families lock internally).
#ifndef WTSERVE_SERVER_METRICS_SERVER_METRICS_H_
#define WTSERVE_SERVER_METRICS_SERVER_METRICS_H_

#include <map>
#include <memory>
#include <string>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace wtserve::metrics {

// Failure reasons (the `reason` label), one per gRPC status class a client sees.
inline constexpr char kReasonInvalidArgument[] = "invalid_argument";  // malformed request
inline constexpr char kReasonNotFound[] = "not_found";                // unknown model/version
inline constexpr char kReasonUnavailable[] = "unavailable";           // queue full, timeout, shutdown
inline constexpr char kReasonDeadlineExceeded[] = "deadline_exceeded";
inline constexpr char kReasonCancelled[] = "cancelled";
inline constexpr char kReasonResourceExhausted[] = "resource_exhausted";  // response too large
inline constexpr char kReasonInternal[] = "internal";                     // model execution failed

// The `reason` label of a failed request, from the status it was answered with.
std::string FailureReason(absl::StatusCode code);

// Handles of one (model, version). Pointers stay valid for the registry's lifetime.
struct ModelMetrics {
  prometheus::Counter* request_success;     // wtserve_inference_request_success_total
  prometheus::Counter* inference_count;     // wtserve_inference_count_total (batch elements)
  prometheus::Counter* execution_count;     // wtserve_inference_exec_count_total (model runs)
  prometheus::Histogram* request_duration;  // wtserve_inference_request_duration_seconds
  prometheus::Histogram* queue_duration;    // wtserve_inference_queue_duration_seconds
  prometheus::Histogram* compute_duration;  // wtserve_inference_compute_duration_seconds (batch)
  prometheus::Histogram* batch_size;        // wtserve_inference_batch_size (elements)
  prometheus::Gauge* queue_depth;           // wtserve_inference_queue_depth (requests)
  prometheus::Gauge* inflight;              // wtserve_inference_inflight_requests
  prometheus::Gauge* load_duration;         // wtserve_model_load_duration_seconds
  prometheus::Gauge* ready;                 // wtserve_model_ready (0/1)
};

class ServerMetrics {
 public:
  ServerMetrics();

  // The registry to expose (prometheus::Exposer::RegisterCollectable).
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // The handles of (model, version), created on first use.
  ModelMetrics& Model(const std::string& model, const std::string& version);

  // wtserve_inference_request_failure_total{model, version, reason}. Requests for a model that
  // does not exist are counted with model="" and version="", so that client-chosen names cannot
  // grow the label set without bound.
  void RecordFailure(const std::string& model, const std::string& version, const std::string& reason);

  // wtserve_gpu_memory_used_bytes{device}: bytes the CUDA caching allocator has allocated.
  void SetGpuMemoryUsed(int device, double bytes);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& success_;
  prometheus::Family<prometheus::Counter>& failure_;
  prometheus::Family<prometheus::Counter>& inference_count_;
  prometheus::Family<prometheus::Counter>& execution_count_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Histogram>& queue_duration_;
  prometheus::Family<prometheus::Histogram>& compute_duration_;
  prometheus::Family<prometheus::Histogram>& batch_size_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& inflight_;
  prometheus::Family<prometheus::Gauge>& load_duration_;
  prometheus::Family<prometheus::Gauge>& ready_;
  prometheus::Family<prometheus::Gauge>& gpu_memory_;

  absl::Mutex mu_;
  std::map<std::pair<std::string, std::string>, ModelMetrics> models_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wtserve::metrics

#endif  // WTSERVE_SERVER_METRICS_SERVER_METRICS_H_

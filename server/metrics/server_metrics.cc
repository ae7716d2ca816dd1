#include "server/metrics/server_metrics.h"

namespace wtserve::metrics {

std::string FailureReason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument: return kReasonInvalidArgument;
    case absl::StatusCode::kNotFound: return kReasonNotFound;
    case absl::StatusCode::kUnavailable: return kReasonUnavailable;
    case absl::StatusCode::kDeadlineExceeded: return kReasonDeadlineExceeded;
    case absl::StatusCode::kCancelled: return kReasonCancelled;
    case absl::StatusCode::kResourceExhausted: return kReasonResourceExhausted;
    default: return kReasonInternal;
  }
}

namespace {

// Latency buckets from 100 µs (a tiny model's compute) to 30 s (a long queue under overload).
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0};
  return buckets;
}

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  return buckets;
}

template <typename Builder>
auto& Register(Builder builder, const char* name, const char* help, prometheus::Registry& r) {
  return builder.Name(name).Help(help).Register(r);
}

}  // namespace

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      success_(Register(prometheus::BuildCounter(), "wtserve_inference_request_success_total",
                        "Inference requests answered successfully.", *registry_)),
      failure_(Register(prometheus::BuildCounter(), "wtserve_inference_request_failure_total",
                        "Inference requests answered with an error, by reason.", *registry_)),
      inference_count_(Register(prometheus::BuildCounter(), "wtserve_inference_count_total",
                                "Inferences performed (batch elements of successful requests).", *registry_)),
      execution_count_(Register(prometheus::BuildCounter(), "wtserve_inference_exec_count_total",
                                "Model executions (batches run); inferences / executions is the "
                                "average batch size.",
                                *registry_)),
      request_duration_(Register(prometheus::BuildHistogram(), "wtserve_inference_request_duration_seconds",
                                 "Time from receiving an inference request to answering it.", *registry_)),
      queue_duration_(Register(prometheus::BuildHistogram(), "wtserve_inference_queue_duration_seconds",
                               "Time requests waited in the dynamic batcher's queue.", *registry_)),
      compute_duration_(Register(prometheus::BuildHistogram(), "wtserve_inference_compute_duration_seconds",
                                 "Time of one model execution (one batch), including moving the "
                                 "batch to the device and the logits back.",
                                 *registry_)),
      batch_size_(Register(prometheus::BuildHistogram(), "wtserve_inference_batch_size",
                           "Batch size (elements) of each model execution.", *registry_)),
      queue_depth_(Register(prometheus::BuildGauge(), "wtserve_inference_queue_depth",
                            "Requests waiting in the dynamic batcher's queue.", *registry_)),
      inflight_(Register(prometheus::BuildGauge(), "wtserve_inference_inflight_requests",
                         "Inference requests accepted and not yet answered.", *registry_)),
      load_duration_(Register(prometheus::BuildGauge(), "wtserve_model_load_duration_seconds",
                              "Time the latest load of the model version took, warmup included.", *registry_)),
      ready_(Register(prometheus::BuildGauge(), "wtserve_model_ready",
                      "1 if the model version is loaded, warmed up and serving, else 0.", *registry_)),
      gpu_memory_(Register(prometheus::BuildGauge(), "wtserve_gpu_memory_used_bytes",
                           "GPU memory allocated by LibTorch's CUDA caching allocator.", *registry_)) {}

ModelMetrics& ServerMetrics::Model(const std::string& model, const std::string& version) {
  absl::MutexLock lock(&mu_);
  auto key = std::make_pair(model, version);
  auto it = models_.find(key);
  if (it != models_.end()) return it->second;
  const prometheus::Labels labels = {{"model", model}, {"version", version}};
  ModelMetrics m;
  m.request_success = &success_.Add(labels);
  m.inference_count = &inference_count_.Add(labels);
  m.execution_count = &execution_count_.Add(labels);
  m.request_duration = &request_duration_.Add(labels, LatencyBuckets());
  m.queue_duration = &queue_duration_.Add(labels, LatencyBuckets());
  m.compute_duration = &compute_duration_.Add(labels, LatencyBuckets());
  m.batch_size = &batch_size_.Add(labels, BatchBuckets());
  m.queue_depth = &queue_depth_.Add(labels);
  m.inflight = &inflight_.Add(labels);
  m.load_duration = &load_duration_.Add(labels);
  m.ready = &ready_.Add(labels);
  return models_.emplace(std::move(key), m).first->second;
}

void ServerMetrics::RecordFailure(const std::string& model, const std::string& version, const std::string& reason) {
  failure_.Add({{"model", model}, {"version", version}, {"reason", reason}}).Increment();
}

void ServerMetrics::SetGpuMemoryUsed(int device, double bytes) {
  gpu_memory_.Add({{"device", std::to_string(device)}}).Set(bytes);
}

}  // namespace wtserve::metrics

// One served model version: its validated config, networks, dynamic batcher and statistics.
//
// Requests (inference_request.h) enter as normalized float32 image batches [n, C, H, W]
// (server/api decodes and normalizes them) and leave as float32 logits [n, num_classes] through
// their completion callback, which runs on a batcher thread. Execution runs each instance's network on its device (with
// its own CUDA stream on GPU builds) under c10::InferenceMode.
#ifndef WTSERVE_SERVER_RUNTIME_SERVED_MODEL_H_
#define WTSERVE_SERVER_RUNTIME_SERVED_MODEL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model_config.pb.h"
#include "server/runtime/dynamic_batcher.h"
#include "server/runtime/model_loader.h"
#include "server/runtime/version_stats.h"

namespace wtserve::runtime {

class ServedModel : private DynamicBatcherObserver {
 public:
  // Takes a loaded version (model_loader.h), starts its batcher. `metrics` must outlive this.
  static absl::StatusOr<std::unique_ptr<ServedModel>> Create(config::ModelConfig cfg, LoadedVersion loaded,
                                                             metrics::ServerMetrics* metrics);
  ~ServedModel() override;

  // Runs every configured model_warmup (zero images of the warmup's batch size, `count` times)
  // through every network, directly (not through the queue). Errors: INTERNAL naming the warmup.
  absl::Status Warmup();

  // Queues the request (input: normalized float32 [n, C, H, W], 1 <= n <= max_batch_size). Never
  // blocks. OK: the request moved into the queue (*request is null) and its on_complete will be
  // called exactly once, on a batcher thread; the statistics record the status of its Reply.
  // Otherwise *request is still the caller's to answer and the status says why (UNAVAILABLE:
  // queue full or shutting down; see DynamicBatcher::Enqueue); the statistics count it refused.
  // A completion may hold a shared_ptr to this model (the api's does). That is safe because the
  // batcher destroys every request it accepted on its own threads before Shutdown returns, and
  // every owner (ModelRepository on unload, reload and ShutdownAll) calls Shutdown before it
  // drops its reference: the last reference is never released on a batcher thread, whose
  // ~ServedModel would have to join itself.
  absl::Status Enqueue(std::unique_ptr<InferenceRequest>* request);

  // Stops accepting, runs what was accepted (answering UNAVAILABLE what is still queued at
  // `drain_deadline`), joins the workers. Idempotent; blocks.
  void Shutdown(absl::Time drain_deadline);

  // Counts a request that failed after it was matched to this version but before it was queued
  // (e.g. a malformed input): statistics "fail" and nothing else.
  void RecordRejected(absl::Duration request_time);

  const config::ModelConfig& config() const { return cfg_; }
  int64_t version() const { return loaded_.version; }
  const std::string& version_string() const { return version_string_; }
  const std::vector<std::string>& labels() const { return loaded_.labels; }
  ModelStatsSnapshot Stats() const;

 private:
  ServedModel(config::ModelConfig cfg, LoadedVersion loaded, metrics::ServerMetrics* metrics);

  absl::StatusOr<at::Tensor> Execute(int instance, const at::Tensor& batch);
  void OnQueueDepthChanged(int64_t queued_requests, int64_t queued_elements) override;
  void OnBatchExecuted(const ExecutedBatch& batch) override;
  void OnRequestAnswered(const InferenceRequest& request, const absl::Status& reply_status,
                         const RequestTimings& timings) override;
  void UpdateGpuMemory();

  const config::ModelConfig cfg_;
  const LoadedVersion loaded_;
  const std::string version_string_;
  metrics::ServerMetrics* const metrics_;  // GPU memory gauges
  VersionStats stats_;
  // Opaque per-instance CUDA streams (empty on CPU-only builds).
  struct Streams;
  std::unique_ptr<Streams> streams_;
  std::unique_ptr<DynamicBatcher> batcher_;
};

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_SERVED_MODEL_H_

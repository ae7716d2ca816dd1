// The Open Inference Protocol v2 gRPC service (inference.GRPCInferenceService) on gRPC's
// callback API. No handler blocks a gRPC thread on compute: ModelInfer queues the request on the
// model's dynamic batcher and the response is finished from the batcher's thread; repository
// loads/unloads run on their own threads.
//
// Status codes: INVALID_ARGUMENT (malformed request, message says what), NOT_FOUND (unknown
// model or version), UNAVAILABLE (model not ready, queue full, queue timeout, shutting down),
// DEADLINE_EXCEEDED, CANCELLED, INTERNAL (model execution failed). docs/server.md lists them.
#ifndef WTSERVE_SERVER_API_INFERENCE_SERVICE_H_
#define WTSERVE_SERVER_API_INFERENCE_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "inference.grpc.pb.h"
#include "server/api/bearer_auth.h"
#include "server/api/server_state.h"
#include "server/api/shared_memory.h"
#include "server/api/task_pool.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_repository.h"

namespace wtserve::api {

class StreamReactor;  // one ModelStreamInfer call (stream_reactor.h)

grpc::Status ToGrpcStatus(const absl::Status& status);

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // All pointers must outlive the service. `drain_timeout` bounds how long an unload or reload
  // waits for the old version's accepted requests. `max_response_bytes` is the server's send
  // limit: a response above it is answered RESOURCE_EXHAUSTED and counted as a failure (gRPC
  // would fail the send after the request had been counted as a success).
  // `auth`: the bearer token every call must carry (bearer_auth.h; default: none).
  // `shared_memory`: the system shared memory regions (nullptr: none can be registered).
  // `decode_threads` > 0: requests with encoded images (BYTES inputs) are decoded on a pool of
  // that many threads instead of the calling thread (gRPC's: a 12-Mpixel JPEG takes ~200 ms and
  // gRPC 1.51 has two callback threads for every call); 0: every request inline.
  // `send_threads` > 0: responses are sent (gRPC's Finish / stream write) from a pool of that
  // many threads instead of the model's worker, which then starts its next batch at once;
  // 0: from the worker.
  InferenceService(runtime::ModelRepository* repository, ServerState* state, metrics::ServerMetrics* metrics,
                   absl::Duration drain_timeout, int64_t max_response_bytes, BearerTokenAuth auth = {},
                   SystemSharedMemory* shared_memory = nullptr, int decode_threads = 0, int send_threads = 0);
  // Runs the decodes still queued (their requests are then refused if the models shut down),
  // and waits for the background tasks.
  ~InferenceService() override;

  // Requests waiting to be decoded at most; beyond, a request is answered UNAVAILABLE.
  static constexpr int kMaxQueuedDecodes = 1024;
  // Responses waiting to be sent at most; beyond, the worker sends them itself.
  static constexpr int kMaxQueuedSends = 4096;
  // The image decode pool, or nullptr (decode_threads 0).
  TaskPool* decode_pool() { return decode_pool_.get(); }
  // The response send pool, or nullptr (send_threads 0).
  TaskPool* send_pool() { return send_pool_.get(); }

  // Waits for running repository load/unload tasks; later ones are refused (UNAVAILABLE).
  void JoinBackgroundTasks();

  // Waits until every ModelInfer, ModelStreamInfer and repository call has completed (its
  // status sent, or the call cancelled), or `deadline` passes. Returns true if none is left.
  // Used at shutdown, after the batchers drained, so that no answered response is cut off.
  bool WaitForCalls(absl::Time deadline);
  void CallStarted();
  void CallDone();

  // Ends every ModelStreamInfer stream, open now or opened later, with UNAVAILABLE as soon as
  // its accepted requests are answered. Used at shutdown after the batchers drained: an idle
  // stream would otherwise hold the process until --exit_timeout.
  void CloseStreams();
  // Stream bookkeeping (each stream counts as a call). StreamStarted returns whether streams are
  // being closed already.
  bool StreamStarted(StreamReactor* stream);
  void StreamDone(StreamReactor* stream);

  // Validates and queues one inference request; calls `done` exactly once (inline on errors
  // found before queueing, else on a batcher or decode thread) after filling `response` on
  // success. `request` and `response` must stay alive until then.
  // `response_overhead` is what the transport message adds around `response` (a stream wraps it
  // in a ModelStreamInferResponse), counted against the send limit.
  void Infer(const inference::ModelInferRequest& request, absl::Time start, absl::Time deadline,
             std::function<bool()> is_cancelled, inference::ModelInferResponse* response, int64_t response_overhead,
             absl::AnyInvocable<void(absl::Status)> done);

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx, const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx, const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx, const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  // Triton's extension: the model's config.pbtxt as Triton's ModelConfig (triton_config.h).
  // NOT_FOUND / UNAVAILABLE exactly as ModelMetadata.
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* ctx, const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* ctx,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* ctx,
                                                const inference::RepositoryModelLoadRequest* request,
                                                inference::RepositoryModelLoadResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* ctx,
                                                  const inference::RepositoryModelUnloadRequest* request,
                                                  inference::RepositoryModelUnloadResponse* response) override;
  // System shared memory (shared_memory.h); the CUDA calls answer UNIMPLEMENTED with a reason.
  grpc::ServerUnaryReactor* SystemSharedMemoryStatus(grpc::CallbackServerContext* ctx,
                                                     const inference::SystemSharedMemoryStatusRequest* request,
                                                     inference::SystemSharedMemoryStatusResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryRegister(
      grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryRegisterRequest* request,
      inference::SystemSharedMemoryRegisterResponse* response) override;
  grpc::ServerUnaryReactor* SystemSharedMemoryUnregister(
      grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* request,
      inference::SystemSharedMemoryUnregisterResponse* response) override;
  grpc::ServerUnaryReactor* CudaSharedMemoryStatus(grpc::CallbackServerContext* ctx,
                                                   const inference::CudaSharedMemoryStatusRequest* request,
                                                   inference::CudaSharedMemoryStatusResponse* response) override;
  grpc::ServerUnaryReactor* CudaSharedMemoryRegister(grpc::CallbackServerContext* ctx,
                                                     const inference::CudaSharedMemoryRegisterRequest* request,
                                                     inference::CudaSharedMemoryRegisterResponse* response) override;
  grpc::ServerUnaryReactor* CudaSharedMemoryUnregister(
      grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryUnregisterRequest* request,
      inference::CudaSharedMemoryUnregisterResponse* response) override;

 private:
  // Runs `task` on its own thread (repository operations take seconds).
  absl::Status RunInBackground(std::function<void()> task);
  // Infer after the model lookup: decodes the request and queues it on `model`.
  void DecodeAndQueue(std::shared_ptr<runtime::ServedModel> model, const inference::ModelInferRequest& request,
                      absl::Time start, absl::Time deadline, std::function<bool()> is_cancelled,
                      inference::ModelInferResponse* response, int64_t response_overhead,
                      absl::AnyInvocable<void(absl::Status)> done);
  // Answers a request for `model` that was refused before it reached the model's queue.
  void Refuse(runtime::ServedModel& model, absl::Time start, const absl::Status& status,
              absl::AnyInvocable<void(absl::Status)>& done);

  const BearerTokenAuth auth_;
  runtime::ModelRepository* const repository_;
  ServerState* const state_;
  metrics::ServerMetrics* const metrics_;
  const absl::Duration drain_timeout_;
  const int64_t max_response_bytes_;
  SystemSharedMemory* const shared_memory_;

  absl::Mutex calls_mu_;
  int active_calls_ ABSL_GUARDED_BY(calls_mu_) = 0;
  absl::flat_hash_set<StreamReactor*> open_streams_ ABSL_GUARDED_BY(calls_mu_);
  bool streams_closing_ ABSL_GUARDED_BY(calls_mu_) = false;

  struct Task {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  absl::Mutex tasks_mu_;
  bool tasks_closed_ ABSL_GUARDED_BY(tasks_mu_) = false;
  std::vector<Task> tasks_ ABSL_GUARDED_BY(tasks_mu_);

  // Shared with the completions of queued requests, which may outlive the service; its tasks
  // hold only the send itself.
  std::shared_ptr<TaskPool> send_pool_;
  // Last: its queued tasks use the members above while the destructor runs them.
  std::unique_ptr<TaskPool> decode_pool_;
};

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_INFERENCE_SERVICE_H_

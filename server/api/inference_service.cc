#include "server/api/inference_service.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/api/infer_request.h"
#include "server/api/oip_queries.h"
#include "server/runtime/model_config.h"

namespace wtserve::api {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// gRPC reports "no deadline" as a far-future time point that absl::FromChrono would overflow.
absl::Time DeadlineOf(const grpc::CallbackServerContext* ctx) {
  const auto deadline = ctx->deadline();
  if (deadline >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 100)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// A unary reactor that tells the service when its call is complete, so that shutdown can wait
// for answered calls to be sent.
class CountedReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit CountedReactor(InferenceService* service) : service_(service) { service_->CallStarted(); }
  void OnDone() override {
    service_->CallDone();
    delete this;
  }

 private:
  InferenceService* const service_;
};

}  // namespace

// A ModelStreamInferResponse adds to its infer_response one field tag and a length varint, and
// the stream marks every response final (below).
constexpr int64_t kStreamWrapperBytes = 1 + 5;

// Triton's stream conventions (what tritonclient and Triton's examples expect): every response
// carries the parameter triton_final_response = true (each request gets exactly one response);
// an error is the status message alone in error_message, its code in the parameter
// wtserve_status_code (our client reads it; Triton's ignore it); with the client header
// `triton_grpc_error: true` the first error instead ends the stream with that gRPC status.
constexpr char kFinalResponseParameter[] = "triton_final_response";
constexpr char kStatusCodeParameter[] = "wtserve_status_code";
constexpr char kGrpcErrorHeader[] = "triton_grpc_error";

int64_t StreamResponseOverhead() {
  static const int64_t bytes = [] {
    ModelInferResponse marked;
    (*marked.mutable_parameters())[kFinalResponseParameter].set_bool_param(true);
    return kStreamWrapperBytes + static_cast<int64_t>(marked.ByteSizeLong());
  }();
  return bytes;
}

bool WantsGrpcErrors(const grpc::CallbackServerContext& ctx) {
  const auto& metadata = ctx.client_metadata();
  const auto it = metadata.find(kGrpcErrorHeader);
  return it != metadata.end() &&
         absl::EqualsIgnoreCase(absl::string_view(it->second.data(), it->second.size()), "true");
}

// One ModelStreamInfer call: requests are read one after another and answered in completion
// order (responses carry the request id), one write in flight at a time. Finishes once the client
// half-closed (or the call was cancelled) and every accepted request has been answered.
class StreamReactor final : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  StreamReactor(InferenceService* service, grpc::CallbackServerContext* ctx)
      : service_(service), ctx_(ctx), grpc_errors_(WantsGrpcErrors(*ctx)) {
    const bool closing = service_->StreamStarted(this);
    StartRead(&incoming_);
    if (closing) Close();
  }

  // The server is closing: once every accepted request has been answered, end the stream with
  // UNAVAILABLE (the client reconnects elsewhere) instead of waiting for the client to end it.
  // Called with the service's stream registry locked, so `this` is alive.
  void Close() {
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
    }
    Progress();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
      }
      Progress();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      if (error_.has_value()) return;  // triton_grpc_error: the stream ends with the first error
    }
    auto request = std::make_shared<ModelInferRequest>(std::move(incoming_));
    incoming_.Clear();
    auto response = std::make_shared<ModelInferResponse>();
    {
      absl::MutexLock lock(&mu_);
      ++pending_;
    }
    grpc::CallbackServerContext* ctx = ctx_;
    service_->Infer(
        *request, absl::Now(), DeadlineOf(ctx), [ctx] { return ctx->IsCancelled(); }, response.get(),
        StreamResponseOverhead(),
        [this, request, response](absl::Status status) {
          ModelStreamInferResponse out;
          if (status.ok()) {
            *out.mutable_infer_response() = std::move(*response);
          } else {
            out.set_error_message(std::string(status.message()));
            out.mutable_infer_response()->set_model_name(request->model_name());
            out.mutable_infer_response()->set_model_version(request->model_version());
            out.mutable_infer_response()->set_id(request->id());
            (*out.mutable_infer_response()->mutable_parameters())[kStatusCodeParameter].set_string_param(
                absl::StatusCodeToString(status.code()));
          }
          (*out.mutable_infer_response()->mutable_parameters())[kFinalResponseParameter].set_bool_param(true);
          {
            absl::MutexLock lock(&mu_);
            --pending_;
            if (!status.ok() && grpc_errors_) {
              if (!error_.has_value()) error_ = ToGrpcStatus(status);
            } else if (!write_failed_) {
              queue_.push_back(std::move(out));
            }
          }
          Progress();
        });
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;  // a read after Finish is not allowed
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        write_failed_ = true;
        queue_.clear();
      }
    }
    Progress();
  }

  void OnDone() override {
    service_->StreamDone(this);
    delete this;
  }

 private:
  // Starts the next write or finishes the call; decided under the lock, done outside it.
  void Progress() {
    enum { kNothing, kWrite, kFinish, kClose, kError } action = kNothing;
    grpc::Status final_error;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_) return;
      if (!queue_.empty()) {
        writing_ = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
        action = kWrite;
      } else if (pending_ == 0 && (reads_done_ || closing_ || error_.has_value())) {
        finished_ = true;
        action = error_.has_value() ? kError : reads_done_ ? kFinish : kClose;
        if (error_.has_value()) final_error = *error_;
      }
    }
    if (action == kWrite) StartWrite(&current_);
    if (action == kFinish) Finish(grpc::Status::OK);
    if (action == kError) Finish(final_error);
    if (action == kClose) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the server is shutting down; open a new stream to another instance"));
    }
  }

  InferenceService* const service_;
  grpc::CallbackServerContext* const ctx_;
  ModelInferRequest incoming_;        // only touched by the read chain
  ModelStreamInferResponse current_;  // the write in flight

  absl::Mutex mu_;
  std::deque<ModelStreamInferResponse> queue_ ABSL_GUARDED_BY(mu_);
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  const bool grpc_errors_;                                  // the client sent triton_grpc_error: true
  std::optional<grpc::Status> error_ ABSL_GUARDED_BY(mu_);  // the first error, in that mode
};

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

namespace {
// A stream refused before it starts (authentication): finished at once, deleted when done.
class RefusedStream final : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};
}  // namespace

InferenceService::InferenceService(runtime::ModelRepository* repository, ServerState* state,
                                   metrics::ServerMetrics* metrics, absl::Duration drain_timeout,
                                   int64_t max_response_bytes, BearerTokenAuth auth, SystemSharedMemory* shared_memory)
    : auth_(std::move(auth)),
      repository_(repository),
      state_(state),
      metrics_(metrics),
      drain_timeout_(drain_timeout),
      max_response_bytes_(max_response_bytes),
      shared_memory_(shared_memory) {}

InferenceService::~InferenceService() { JoinBackgroundTasks(); }

void InferenceService::JoinBackgroundTasks() {
  std::vector<Task> tasks;
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks_closed_ = true;
    tasks.swap(tasks_);
  }
  for (Task& t : tasks) t.thread.join();
}

absl::Status InferenceService::RunInBackground(std::function<void()> task) {
  absl::MutexLock lock(&tasks_mu_);
  if (tasks_closed_ || state_->shutting_down()) {
    return absl::UnavailableError("the server is shutting down");
  }
  // Join the tasks that are done, so that threads do not pile up over a long uptime.
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->finished->load()) {
      it->thread.join();
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  tasks_.push_back({std::thread([task = std::move(task), finished] {
                      task();
                      finished->store(true);
                    }),
                    finished});
  return absl::OkStatus();
}

void InferenceService::CallStarted() {
  absl::MutexLock lock(&calls_mu_);
  ++active_calls_;
}

void InferenceService::CallDone() {
  absl::MutexLock lock(&calls_mu_);
  --active_calls_;
}

bool InferenceService::StreamStarted(StreamReactor* stream) {
  absl::MutexLock lock(&calls_mu_);
  ++active_calls_;
  open_streams_.insert(stream);
  return streams_closing_;
}

void InferenceService::StreamDone(StreamReactor* stream) {
  absl::MutexLock lock(&calls_mu_);
  open_streams_.erase(stream);
  --active_calls_;
}

void InferenceService::CloseStreams() {
  // Close() only starts the final write: gRPC reports OnDone (which takes calls_mu_) later, on
  // one of its own threads, so holding the lock here keeps every stream alive without deadlock.
  absl::MutexLock lock(&calls_mu_);
  streams_closing_ = true;
  for (StreamReactor* stream : open_streams_) stream->Close();
}

bool InferenceService::WaitForCalls(absl::Time deadline) {
  absl::MutexLock lock(&calls_mu_);
  auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(calls_mu_) { return active_calls_ == 0; };
  return calls_mu_.AwaitWithDeadline(absl::Condition(&none), deadline);
}

void InferenceService::Infer(const ModelInferRequest& request, absl::Time start, absl::Time deadline,
                             std::function<bool()> is_cancelled, ModelInferResponse* response,
                             int64_t response_overhead, absl::AnyInvocable<void(absl::Status)> done) {
  if (state_->shutting_down()) {
    metrics_->RecordFailure("", "", metrics::kReasonUnavailable);
    done(absl::UnavailableError("the server is shutting down"));
    return;
  }
  if (absl::Status s = runtime::CheckRequestedModelName(request.model_name(), "model_name"); !s.ok()) {
    metrics_->RecordFailure("", "", metrics::kReasonInvalidArgument);
    done(s);
    return;
  }
  absl::StatusOr<std::shared_ptr<runtime::ServedModel>> model =
      repository_->Find(request.model_name(), request.model_version());
  if (!model.ok()) {
    // Only names of models that exist become label values (bounded cardinality).
    const bool known = repository_->Exists(request.model_name());
    metrics_->RecordFailure(known ? request.model_name() : "", "", metrics::FailureReason(model.status().code()));
    done(model.status());
    return;
  }
  runtime::ServedModel* served = model->get();
  // Tensors in shared memory: a copy of the request with their bytes inline, so that the shared
  // decoder validates them like any other; the output regions are filled after encoding.
  std::optional<ModelInferRequest> resolved;
  auto shm_outputs = std::make_shared<std::vector<SystemSharedMemory::View>>();
  const bool uses_shm = std::any_of(request.inputs().begin(), request.inputs().end(),
                                    [](const auto& t) { return UsesSharedMemory(t.parameters()); }) ||
                        std::any_of(request.outputs().begin(), request.outputs().end(),
                                    [](const auto& t) { return UsesSharedMemory(t.parameters()); });
  if (uses_shm) {
    static const SystemSharedMemory kNone(/*enabled=*/false);
    resolved = request;
    absl::StatusOr<std::vector<SystemSharedMemory::View>> views =
        ResolveSharedMemory(shared_memory_ != nullptr ? *shared_memory_ : kNone, &*resolved);
    if (!views.ok()) {
      metrics_->RecordFailure(served->config().name(), served->version_string(),
                              metrics::FailureReason(views.status().code()));
      served->RecordRejected(absl::Now() - start);
      done(views.status());
      return;
    }
    *shm_outputs = *std::move(views);
  }
  absl::StatusOr<DecodedRequest> decoded =
      DecodeInferRequest(resolved.has_value() ? *resolved : request, served->config());
  if (!decoded.ok()) {
    metrics_->RecordFailure(served->config().name(), served->version_string(),
                            metrics::FailureReason(decoded.status().code()));
    served->RecordRejected(absl::Now() - start);
    done(absl::Status(decoded.status().code(),
                      absl::StrCat("model '", served->config().name(), "' version ", served->version_string(), ": ",
                                   decoded.status().message())));
    return;
  }
  auto outputs = std::make_shared<std::vector<RequestedOutput>>(std::move(decoded->outputs));
  // The callback may run on a batcher thread while `done` is still owned by this frame if
  // Enqueue fails, so ownership moves into the callback only through this shared slot.
  auto shared_done = std::make_shared<absl::AnyInvocable<void(absl::Status)>>(std::move(done));
  // `served` outlives the callback: the repository drains a version before releasing it.
  const int64_t response_limit = max_response_bytes_ - response_overhead;
  absl::Status queued = served->Enqueue(
      std::move(decoded->images), start, deadline, decoded->queue_timeout, std::move(is_cancelled),
      [served, &request, response, outputs, shared_done, response_limit, shm_outputs](
          absl::StatusOr<at::Tensor> logits, const runtime::RequestTimings&) -> runtime::ServedModel::Reply {
        absl::Status status = logits.status();
        if (status.ok()) {
          EncodeInferResponse(request, served->version_string(), served->labels(), *outputs, *logits, response);
          status = WriteSharedMemoryOutputs(*shm_outputs, response);
          if (!status.ok()) response->Clear();
        }
        if (status.ok()) {
          const int64_t bytes = static_cast<int64_t>(response->ByteSizeLong());
          if (bytes > response_limit) {
            response->Clear();
            status = absl::ResourceExhaustedError(
                absl::StrCat("model '", served->config().name(), "' version ", served->version_string(),
                             ": the response is ", bytes, " bytes, more than the server's limit of ", response_limit,
                             " (--max_message_bytes); send fewer images per request or ask "
                             "for fewer outputs"));
          }
        }
        return {status, [shared_done, status]() mutable { (*shared_done)(status); }};
      });
  if (!queued.ok()) (*shared_done)(queued);
}

grpc::ServerUnaryReactor* InferenceService::ServerLive(grpc::CallbackServerContext* ctx,
                                                       const inference::ServerLiveRequest*,
                                                       inference::ServerLiveResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/true); !s.ok()) return Finish(ctx, s);
  response->set_live(state_->live());
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ServerReady(grpc::CallbackServerContext* ctx,
                                                        const inference::ServerReadyRequest*,
                                                        inference::ServerReadyResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/true); !s.ok()) return Finish(ctx, s);
  response->set_ready(state_->ready());
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelReady(grpc::CallbackServerContext* ctx,
                                                       const inference::ModelReadyRequest* request,
                                                       inference::ModelReadyResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/true); !s.ok()) return Finish(ctx, s);
  absl::StatusOr<bool> ready = ModelIsReady(*repository_, *state_, request->name(), request->version());
  if (ready.ok()) response->set_ready(*ready);
  return Finish(ctx, ready.status());
}

grpc::ServerUnaryReactor* InferenceService::ServerMetadata(grpc::CallbackServerContext* ctx,
                                                           const inference::ServerMetadataRequest*,
                                                           inference::ServerMetadataResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  FillServerMetadata(response);
  return Finish(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::ModelMetadata(grpc::CallbackServerContext* ctx,
                                                          const inference::ModelMetadataRequest* request,
                                                          inference::ModelMetadataResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, FillModelMetadata(*repository_, request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* InferenceService::ModelConfig(grpc::CallbackServerContext* ctx,
                                                        const inference::ModelConfigRequest* request,
                                                        inference::ModelConfigResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, FillModelConfig(*repository_, request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* InferenceService::ModelInfer(grpc::CallbackServerContext* ctx,
                                                       const ModelInferRequest* request, ModelInferResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  grpc::ServerUnaryReactor* reactor = new CountedReactor(this);
  Infer(
      *request, absl::Now(), DeadlineOf(ctx), [ctx] { return ctx->IsCancelled(); }, response, /*response_overhead=*/0,
      [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>* InferenceService::ModelStreamInfer(
    grpc::CallbackServerContext* ctx) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return new RefusedStream(ToGrpcStatus(s));
  return new StreamReactor(this, ctx);
}

grpc::ServerUnaryReactor* InferenceService::ModelStatistics(grpc::CallbackServerContext* ctx,
                                                            const inference::ModelStatisticsRequest* request,
                                                            inference::ModelStatisticsResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, FillModelStatistics(*repository_, request->name(), request->version(), response));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryIndex(grpc::CallbackServerContext* ctx,
                                                            const inference::RepositoryIndexRequest* request,
                                                            inference::RepositoryIndexResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, FillRepositoryIndex(*repository_, request->repository_name(), request->ready(), response));
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelLoad(grpc::CallbackServerContext* ctx,
                                                                const inference::RepositoryModelLoadRequest* request,
                                                                inference::RepositoryModelLoadResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  if (absl::Status s = CheckRepositoryName(request->repository_name()); !s.ok()) return Finish(ctx, s);
  absl::StatusOr<std::optional<config::ModelConfig>> override_config = LoadConfigOverride(request->parameters());
  if (!override_config.ok()) return Finish(ctx, override_config.status());
  grpc::ServerUnaryReactor* reactor = new CountedReactor(this);
  const std::string name = request->model_name();
  absl::Status started = RunInBackground([this, reactor, name, cfg = *std::move(override_config)] {
    absl::Status status = repository_->Load(name, drain_timeout_, cfg);
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!started.ok()) reactor->Finish(ToGrpcStatus(started));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::RepositoryModelUnload(
    grpc::CallbackServerContext* ctx, const inference::RepositoryModelUnloadRequest* request,
    inference::RepositoryModelUnloadResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  if (absl::Status s = CheckRepositoryName(request->repository_name()); !s.ok()) return Finish(ctx, s);
  grpc::ServerUnaryReactor* reactor = new CountedReactor(this);
  const std::string name = request->model_name();
  absl::Status started = RunInBackground([this, reactor, name] {
    absl::Status status = repository_->Unload(name, absl::Now() + drain_timeout_);
    reactor->Finish(ToGrpcStatus(status));
  });
  if (!started.ok()) reactor->Finish(ToGrpcStatus(started));
  return reactor;
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryStatus(
    grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryStatusRequest* request,
    inference::SystemSharedMemoryStatusResponse* response) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  static const SystemSharedMemory kNone(/*enabled=*/false);
  return Finish(ctx, (shared_memory_ != nullptr ? *shared_memory_ : kNone).Status(request->name(), response));
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryRegister(
    grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryRegisterRequest* request,
    inference::SystemSharedMemoryRegisterResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  if (shared_memory_ == nullptr) {
    return Finish(ctx, absl::FailedPreconditionError("system shared memory is not served by this server"));
  }
  return Finish(ctx,
                shared_memory_->Register(request->name(), request->key(), request->offset(), request->byte_size()));
}

grpc::ServerUnaryReactor* InferenceService::SystemSharedMemoryUnregister(
    grpc::CallbackServerContext* ctx, const inference::SystemSharedMemoryUnregisterRequest* request,
    inference::SystemSharedMemoryUnregisterResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  if (shared_memory_ != nullptr) return Finish(ctx, shared_memory_->Unregister(request->name()));
  return Finish(ctx, absl::OkStatus());
}

namespace {
absl::Status NoCudaSharedMemory() {
  return absl::UnimplementedError(
      "CUDA shared memory is not supported by wtserve; send tensors in the request or through system shared "
      "memory (--system_shared_memory)");
}
}  // namespace

grpc::ServerUnaryReactor* InferenceService::CudaSharedMemoryStatus(grpc::CallbackServerContext* ctx,
                                                                   const inference::CudaSharedMemoryStatusRequest*,
                                                                   inference::CudaSharedMemoryStatusResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, NoCudaSharedMemory());
}

grpc::ServerUnaryReactor* InferenceService::CudaSharedMemoryRegister(grpc::CallbackServerContext* ctx,
                                                                     const inference::CudaSharedMemoryRegisterRequest*,
                                                                     inference::CudaSharedMemoryRegisterResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, NoCudaSharedMemory());
}

grpc::ServerUnaryReactor* InferenceService::CudaSharedMemoryUnregister(
    grpc::CallbackServerContext* ctx, const inference::CudaSharedMemoryUnregisterRequest*,
    inference::CudaSharedMemoryUnregisterResponse*) {
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return Finish(ctx, s);
  return Finish(ctx, NoCudaSharedMemory());
}

}  // namespace wtserve::api

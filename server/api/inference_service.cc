// The OIP inference calls on the gRPC service (ModelInfer, ModelStreamInfer via stream_reactor.h)
// and the request glue they share with REST (Infer), plus the call and background-task
// bookkeeping that shutdown waits on. The other calls are in inference_service_queries.cc.
#include "server/api/inference_service.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/api/infer_request.h"
#include "server/api/oip_queries.h"
#include "server/api/stream_reactor.h"
#include "server/api/unary_reactors.h"
#include "server/runtime/inference_request.h"
#include "server/runtime/model_config.h"

namespace wtserve::api {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

InferenceService::InferenceService(runtime::ModelRepository* repository, ServerState* state,
                                   metrics::ServerMetrics* metrics, absl::Duration drain_timeout,
                                   int64_t max_response_bytes, BearerTokenAuth auth, SystemSharedMemory* shared_memory,
                                   int decode_threads, int send_threads)
    : auth_(std::move(auth)),
      repository_(repository),
      state_(state),
      metrics_(metrics),
      drain_timeout_(drain_timeout),
      max_response_bytes_(max_response_bytes),
      shared_memory_(shared_memory),
      send_pool_(send_threads > 0 ? std::make_shared<TaskPool>("response send", send_threads, kMaxQueuedSends)
                                  : nullptr),
      decode_pool_(decode_threads > 0 ? std::make_unique<TaskPool>("image decode", decode_threads, kMaxQueuedDecodes)
                                      : nullptr) {}

InferenceService::~InferenceService() {
  decode_pool_.reset();
  JoinBackgroundTasks();
}

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
  for (StreamReactor* stream : open_streams_) CloseStream(stream);
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
  // Encoded images go to the decode pool (the constructor says why).
  const bool encoded = std::any_of(request.inputs().begin(), request.inputs().end(),
                                   [](const auto& t) { return t.datatype() == "BYTES"; });
  if (decode_pool_ != nullptr && encoded) {
    decode_pool_->Schedule([this, model = *std::move(model), &request, start, deadline,
                            is_cancelled = std::move(is_cancelled), response, response_overhead,
                            done = std::move(done)](absl::Status admitted) mutable {
      // Refused (queue full), or cancelled or past its deadline while it waited: not decoded.
      if (admitted.ok() && is_cancelled && is_cancelled()) {
        admitted = absl::CancelledError("the request was cancelled before it was decoded");
      } else if (admitted.ok() && absl::Now() >= deadline) {
        admitted = absl::DeadlineExceededError("the request's deadline passed before it was decoded");
      }
      if (!admitted.ok()) return Refuse(*model, start, admitted, done);
      DecodeAndQueue(std::move(model), request, start, deadline, std::move(is_cancelled), response, response_overhead,
                     std::move(done));
    });
    return;
  }
  DecodeAndQueue(*std::move(model), request, start, deadline, std::move(is_cancelled), response, response_overhead,
                 std::move(done));
}

void InferenceService::Refuse(runtime::ServedModel& model, absl::Time start, const absl::Status& status,
                              absl::AnyInvocable<void(absl::Status)>& done) {
  metrics_->RecordFailure(model.config().name(), model.version_string(), metrics::FailureReason(status.code()));
  model.RecordRejected(absl::Now() - start);
  done(status);
}

void InferenceService::DecodeAndQueue(std::shared_ptr<runtime::ServedModel> model, const ModelInferRequest& request,
                                      absl::Time start, absl::Time deadline, std::function<bool()> is_cancelled,
                                      ModelInferResponse* response, int64_t response_overhead,
                                      absl::AnyInvocable<void(absl::Status)> done) {
  runtime::ServedModel* served = model.get();
  // Tensors in shared memory: a copy of the request with their bytes inline, so that the shared
  // decoder validates them like any other; the output regions are filled after encoding.
  std::optional<ModelInferRequest> resolved;
  std::vector<SystemSharedMemory::View> shm_outputs;
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
      Refuse(*served, start, views.status(), done);
      return;
    }
    shm_outputs = *std::move(views);
  }
  absl::StatusOr<DecodedRequest> decoded =
      DecodeInferRequest(resolved.has_value() ? *resolved : request, served->config());
  if (!decoded.ok()) {
    Refuse(
        *served, start,
        absl::Status(decoded.status().code(), absl::StrCat("model '", served->config().name(), "' version ",
                                                           served->version_string(), ": ", decoded.status().message())),
        done);
    return;
  }
  const int64_t response_limit = max_response_bytes_ - response_overhead;
  auto queued_request = std::make_unique<runtime::InferenceRequest>();
  queued_request->input = std::move(decoded->images);
  queued_request->received = start;
  queued_request->deadline = deadline;
  queued_request->queue_timeout = decoded->queue_timeout;
  queued_request->is_cancelled = std::move(is_cancelled);
  // The completion pins the model version (`model`) until the request is destroyed.
  queued_request->on_complete = [model = std::move(model), send_pool = send_pool_, &request, response,
                                 outputs = std::move(decoded->outputs), response_limit,
                                 shm_outputs = std::move(shm_outputs), done = std::move(done)](
                                    absl::StatusOr<at::Tensor> logits, const runtime::RequestTimings&) mutable {
    absl::Status status = logits.status();
    if (status.ok()) {
      EncodeInferResponse(request, model->version_string(), model->labels(), outputs, *logits, response);
      status = WriteSharedMemoryOutputs(shm_outputs, response);
      if (!status.ok()) response->Clear();
    }
    if (status.ok()) {
      const int64_t bytes = static_cast<int64_t>(response->ByteSizeLong());
      if (bytes > response_limit) {
        response->Clear();
        status = absl::ResourceExhaustedError(
            absl::StrCat("model '", model->config().name(), "' version ", model->version_string(), ": the response is ",
                         bytes, " bytes, more than the server's limit of ", response_limit,
                         " (--max_message_bytes); send fewer images per request or ask for fewer outputs"));
      }
    }
    // The send (gRPC's Finish or a stream's write: protobuf serialisation and sendmsg) goes to
    // the send pool when there is one, so that the worker can start its next batch; when the
    // pool's queue is full the task runs here, on the worker.
    return runtime::Reply{
        status, [send_pool, done = std::move(done), status]() mutable {
          if (send_pool == nullptr) return done(status);
          send_pool->Schedule([done = std::move(done), status](absl::Status) mutable { done(status); });
        }};
  };
  // Refused (queue full, shutting down): the request is still ours, so it is answered here,
  // through its own completion, with the refusal.
  if (absl::Status queued = served->Enqueue(&queued_request); !queued.ok()) {
    runtime::Reply refusal = queued_request->on_complete(queued, runtime::RequestTimings{});
    std::move(refusal.send)();
  }
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
  if (absl::Status s = auth_.Check(*ctx, /*health_call=*/false); !s.ok()) return RefuseStream(ToGrpcStatus(s));
  return StartStream(this, ctx);
}

}  // namespace wtserve::api

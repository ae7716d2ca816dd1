#include "server/api/stream_reactor.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/api/inference_service.h"
#include "server/api/unary_reactors.h"

namespace wtserve::api {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

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
    Next next;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      next = DecideLocked();
    }
    Act(next);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Next next;
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        next = DecideLocked();
      }
      Act(next);
      return;
    }
    auto request = std::make_shared<ModelInferRequest>(std::move(incoming_));
    incoming_.Clear();
    {
      absl::MutexLock lock(&mu_);
      // triton_grpc_error: the stream ends with the first error. Finished (closing): no answer
      // could be written, and no read may follow Finish.
      if (error_.has_value() || finished_) return;
      ++pending_;  // keeps the call open (no Finish) until this request is answered
    }
    // The next read starts before this request is decoded: a client's pipelined requests are read
    // (and decoded, on another of gRPC's threads) while this one is, instead of waiting for it.
    // `request` was moved out of incoming_, which the read chain alone touches.
    StartRead(&incoming_);
    auto response = std::make_shared<ModelInferResponse>();
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
          Next next;
          {
            absl::MutexLock lock(&mu_);
            --pending_;
            if (!status.ok() && grpc_errors_) {
              if (!error_.has_value()) error_ = ToGrpcStatus(status);
            } else if (!write_failed_) {
              queue_.push_back(std::move(out));
            }
            next = DecideLocked();
          }
          Act(next);
        });
  }

  void OnWriteDone(bool ok) override {
    Next next;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        write_failed_ = true;
        queue_.clear();
      }
      next = DecideLocked();
    }
    Act(next);
  }

  void OnDone() override {
    service_->StreamDone(this);
    delete this;
  }

 private:
  // What the stream does next: start the next write, finish with `status`, or nothing.
  struct Next {
    enum Kind { kNothing, kWrite, kFinish } kind = kNothing;
    grpc::Status status;
  };

  // Decided in the same critical section as the state change that prompts it, and acted on
  // (Act) after unlocking, touching nothing of `this` afterwards. Split into two critical
  // sections, another thread could finish the call in between, and gRPC would delete the reactor
  // (OnDone) under a completion still running on a model worker: only gRPC's own reactions hold
  // a call open, and a completion is not one of them.
  Next DecideLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Next next;
    if (finished_ || writing_) return next;
    if (!queue_.empty()) {
      writing_ = true;
      current_ = std::move(queue_.front());
      queue_.pop_front();
      next.kind = Next::kWrite;
    } else if (pending_ == 0 && (reads_done_ || closing_ || error_.has_value())) {
      finished_ = true;
      next.kind = Next::kFinish;
      if (error_.has_value()) {
        next.status = *error_;
      } else if (!reads_done_) {
        next.status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "the server is shutting down; open a new stream to another instance");
      }
    }
    return next;
  }

  void Act(const Next& next) {
    if (next.kind == Next::kWrite) StartWrite(&current_);
    if (next.kind == Next::kFinish) Finish(next.status);
  }

  InferenceService* const service_;
  grpc::CallbackServerContext* const ctx_;
  ModelInferRequest incoming_;        // only touched by the read chain
  ModelStreamInferResponse current_;  // the write in flight (set by DecideLocked, read by gRPC)

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

namespace {
// A stream refused before it starts (authentication): finished at once, deleted when done.
class RefusedStream final : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};
}  // namespace

StreamInferReactor* StartStream(InferenceService* service, grpc::CallbackServerContext* ctx) {
  return new StreamReactor(service, ctx);
}

StreamInferReactor* RefuseStream(const grpc::Status& status) { return new RefusedStream(status); }

void CloseStream(StreamReactor* stream) { stream->Close(); }

}  // namespace wtserve::api

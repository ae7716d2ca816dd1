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

#include "client/lib/stream.h"

#include <algorithm>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/support/client_callback.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/lib/convert.h"

namespace wtserve::internal {
namespace {

using inference::ModelInferRequest;
using inference::ModelStreamInferResponse;

class InferStreamImpl final : public InferStream,
                              public grpc::ClientBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  InferStreamImpl(inference::GRPCInferenceService::Stub* stub, absl::Duration deadline, bool wait_for_ready) {
    if (deadline != absl::InfiniteDuration()) context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    context_.set_wait_for_ready(wait_for_ready);
    stub->async()->ModelStreamInfer(&context_, this);
    // The hold keeps gRPC from calling OnDone while this class may still start a write: no
    // Start* call is allowed after OnDone. It is released once writing is over for good.
    AddHold();
    StartRead(&response_);
    StartCall();
  }

  ~InferStreamImpl() override { Finish().IgnoreError(); }

  void Send(const InferRequest& request, Client::InferCallback done) override {
    auto message = std::make_unique<ModelInferRequest>();
    absl::Status status = ToProto(request, message.get());
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      if (call_over_) {
        status = final_status_.ok() ? absl::FailedPreconditionError("stream already finished") : final_status_;
      } else if (finish_requested_) {
        status = absl::FailedPreconditionError("Send after Finish on a ModelStreamInfer stream");
      } else {
        const std::string id = request.id.empty() ? absl::StrCat("wtserve-stream-", next_id_++) : request.id;
        if (pending_.count(id) != 0) {
          status =
              absl::InvalidArgumentError(absl::StrCat("request id '", id, "' is already in flight on this stream"));
        } else {
          message->set_id(id);
          // If writing already stopped (broken stream), OnDone answers it with the stream's status.
          pending_.emplace(id, Pending{sequence_++, std::move(done)});
          write_queue_.push_back(std::move(message));
        }
      }
    }
    if (!status.ok()) {
      done(status);
      return;
    }
    PumpWrites();
  }

  absl::Status Finish() override {
    {
      absl::MutexLock lock(&mu_);
      finish_requested_ = true;
    }
    PumpWrites();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return final_status_;
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The stream is broken; OnDone reports why.
      StopWriting();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      current_write_.reset();
    }
    PumpWrites();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the server ended the stream: no more responses, OnDone follows
      StopWriting();
      return;
    }
    const std::string& id = response_.infer_response().id();
    Client::InferCallback done;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(id);
      if (it == pending_.end() && id.empty() && !pending_.empty()) {
        // An error without an id answers the oldest request (servers answer in order then).
        it = std::min_element(pending_.begin(), pending_.end(),
                              [](const auto& a, const auto& b) { return a.second.sequence < b.second.sequence; });
      }
      if (it != pending_.end()) {
        done = std::move(it->second.done);
        pending_.erase(it);
      }
    }
    if (done) {
      if (!response_.error_message().empty()) {
        done(StreamResponseError(response_));
      } else {
        done(FromProto(response_.infer_response()));
      }
    }
    // A response for an unknown id is dropped: it cannot be delivered to anyone.
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    std::map<std::string, Pending> orphans;
    const absl::Status final_status = ToStatus(status);
    {
      absl::MutexLock lock(&mu_);
      orphans.swap(pending_);
      // From here on Send answers at once, also from inside the callbacks below.
      call_over_ = true;
      final_status_ = final_status;
    }
    const absl::Status orphan_status =
        final_status.ok() ? absl::InternalError("ModelStreamInfer stream closed before answering this request")
                          : final_status;
    for (auto& [id, pending] : orphans) pending.done(orphan_status);
    absl::MutexLock lock(&mu_);
    done_ = true;  // Finish may return (and the stream be destroyed) only after the callbacks ran
  }

 private:
  struct Pending {
    uint64_t sequence;
    Client::InferCallback done;
  };

  // Starts the next write if none is in flight (gRPC allows one outstanding write), or the
  // half-close once Finish was requested and the queue drained.
  void PumpWrites() {
    bool writes_done = false;
    const ModelInferRequest* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || stopped_ || call_over_) return;
      if (!write_queue_.empty()) {
        current_write_ = std::move(write_queue_.front());
        write_queue_.pop_front();
        writing_ = true;
        next = current_write_.get();
      } else if (finish_requested_) {
        writes_done = true;
        stopped_ = true;
      } else {
        return;
      }
      ++starting_;  // the hold cannot be released until this Start* call has returned
    }
    if (next != nullptr) {
      StartWrite(next);
    } else if (writes_done) {
      StartWritesDone();
    }
    FinishStarting();
  }

  void StopWriting() {
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
    }
    FinishStarting(/*started=*/false);
  }

  // Releases the hold once writing stopped and no Start* call is in progress.
  void FinishStarting(bool started = true) {
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (started) --starting_;
      if (stopped_ && starting_ == 0 && holding_) {
        holding_ = false;
        release = true;
      }
    }
    if (release) RemoveHold();
  }

  grpc::ClientContext context_;
  ModelStreamInferResponse response_;  // touched only by the read reactions, one at a time
  absl::Mutex mu_;
  std::deque<std::unique_ptr<ModelInferRequest>> write_queue_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ModelInferRequest> current_write_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;  // no further Start* calls will be issued
  int starting_ ABSL_GUARDED_BY(mu_) = 0;
  bool holding_ ABSL_GUARDED_BY(mu_) = true;
  bool call_over_ ABSL_GUARDED_BY(mu_) = false;  // OnDone began: final_status_ is set
  bool done_ ABSL_GUARDED_BY(mu_) = false;       // OnDone finished its callbacks
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<InferStream> StartInferStream(inference::GRPCInferenceService::Stub* stub, absl::Duration deadline,
                                              bool wait_for_ready) {
  return std::make_unique<InferStreamImpl>(stub, deadline, wait_for_ready);
}

}  // namespace wtserve::internal

// Unary-call helpers of the OIP gRPC handlers (inference_service.cc and
// inference_service_queries.cc): finishing a call with a status, the call's deadline, and the
// reactor that counts a call until it is complete (for the shutdown wait). Internal to api/.
#ifndef WTSERVE_SERVER_API_UNARY_REACTORS_H_
#define WTSERVE_SERVER_API_UNARY_REACTORS_H_

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/api/inference_service.h"

namespace wtserve::api {

// Finishes a call on gRPC's default reactor with `status`.
inline grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// gRPC reports "no deadline" as a far-future time point that absl::FromChrono would overflow.
inline absl::Time DeadlineOf(const grpc::CallbackServerContext* ctx) {
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

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_UNARY_REACTORS_H_

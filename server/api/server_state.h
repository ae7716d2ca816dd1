// The server's lifecycle as clients see it: live, ready, shutting down. Keeps gRPC's health
// service (grpc.health.v1) in step: SERVING only while ready.
//
// ready = startup load finished && not shutting down && repository ready (strict: every model
// ready; not strict: at least one).
#ifndef WTSERVE_SERVER_API_SERVER_STATE_H_
#define WTSERVE_SERVER_API_SERVER_STATE_H_

#include <atomic>
#include <optional>

#include <grpcpp/health_check_service_interface.h>

#include "absl/synchronization/mutex.h"
#include "server/runtime/model_repository.h"

namespace wtserve::api {

// The gRPC service name that health checks may name besides "" (the whole server).
inline constexpr char kInferenceServiceName[] = "inference.GRPCInferenceService";

class ServerState {
 public:
  ServerState(runtime::ModelRepository* repository, bool strict_readiness)
      : repository_(repository), strict_readiness_(strict_readiness) {}

  // The health service to keep updated (nullptr: none). Call before serving.
  void SetHealthService(grpc::HealthCheckServiceInterface* health);

  // The initial load of the repository is done: readiness may now become true.
  void MarkStartupDone();
  // Readiness false at once and for good; inference requests get UNAVAILABLE from now on.
  void BeginShutdown();
  // Recomputes readiness and pushes it to the health service (called on model state changes).
  void Update();

  bool live() const { return true; }
  bool ready() const;
  bool shutting_down() const { return shutting_down_.load(); }

 private:
  runtime::ModelRepository* const repository_;
  const bool strict_readiness_;
  std::atomic<bool> startup_done_{false};
  std::atomic<bool> shutting_down_{false};
  absl::Mutex health_mu_;  // orders SetServingStatus calls
  grpc::HealthCheckServiceInterface* health_ ABSL_GUARDED_BY(health_mu_) = nullptr;
  // What the health service was last told (unset until the first publish). gRPC's default
  // service sends every SetServingStatus call to every Watch, changed or not, so only changes
  // are passed on: a watcher sees NOT_SERVING once at shutdown, not once per model unloaded.
  std::optional<bool> published_serving_ ABSL_GUARDED_BY(health_mu_);

  void Publish(bool serving) ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu_);
};

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_SERVER_STATE_H_

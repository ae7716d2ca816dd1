#include "server/api/server_state.h"

namespace wtserve::api {

void ServerState::SetHealthService(grpc::HealthCheckServiceInterface* health) {
  {
    absl::MutexLock lock(&health_mu_);
    health_ = health;
  }
  Update();
}

void ServerState::MarkStartupDone() {
  startup_done_.store(true);
  Update();
}

void ServerState::BeginShutdown() {
  shutting_down_.store(true);
  absl::MutexLock lock(&health_mu_);
  if (health_ != nullptr) {
    health_->SetServingStatus("", false);
    health_->SetServingStatus(kInferenceServiceName, false);
  }
}

bool ServerState::ready() const {
  return startup_done_.load() && !shutting_down_.load() && repository_->Ready(strict_readiness_);
}

void ServerState::Update() {
  // Read readiness under the health lock, so that a concurrent BeginShutdown cannot be
  // overwritten by an older "ready" value.
  absl::MutexLock lock(&health_mu_);
  const bool serving = ready();
  if (health_ != nullptr) {
    health_->SetServingStatus("", serving);
    health_->SetServingStatus(kInferenceServiceName, serving);
  }
}

}  // namespace wtserve::api

#include "server/api/server_state.h"

namespace wtserve::api {

void ServerState::SetHealthService(grpc::HealthCheckServiceInterface* health) {
  {
    absl::MutexLock lock(&health_mu_);
    health_ = health;
    published_serving_.reset();
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
  Publish(false);
}

void ServerState::Publish(bool serving) {
  if (health_ == nullptr || published_serving_ == serving) return;
  health_->SetServingStatus("", serving);
  health_->SetServingStatus(kInferenceServiceName, serving);
  published_serving_ = serving;
}

bool ServerState::ready() const {
  return startup_done_.load() && !shutting_down_.load() && repository_->Ready(strict_readiness_);
}

void ServerState::Update() {
  // Read readiness under the health lock, so that a concurrent BeginShutdown cannot be
  // overwritten by an older "ready" value.
  absl::MutexLock lock(&health_mu_);
  Publish(ready());
}

}  // namespace wtserve::api

// The OIP calls that answer from the repository and the server state (health, metadata,
// statistics, repository index/load/unload, shared memory) on the gRPC service; the
// transport-neutral work is oip_queries.h's, shared with REST.
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/api/inference_service.h"
#include "server/api/oip_queries.h"
#include "server/api/unary_reactors.h"
#include "server/runtime/model_config.h"

namespace wtserve::api {

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

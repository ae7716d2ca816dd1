// The OIP v2 calls other than inference, independent of the transport: the gRPC service
// (inference_service.h) and the REST front end (server/http) answer from this code, so both say
// the same things with the same status codes.
//
// Status codes: NOT_FOUND (unknown model, version or repository), UNAVAILABLE (a known model
// that is loading, failed or unloaded), INVALID_ARGUMENT (a malformed request).
#ifndef WTSERVE_SERVER_API_OIP_QUERIES_H_
#define WTSERVE_SERVER_API_OIP_QUERIES_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "inference.pb.h"
#include "model_config.pb.h"
#include "server/api/server_state.h"
#include "server/runtime/model_repository.h"

namespace wtserve::api {

// name "wtserve", the build's version, the extensions served.
void FillServerMetadata(inference::ServerMetadataResponse* response);

// Whether `name` (`version`: empty = the model's default) can take requests now. A model that
// exists but is loading, failed or unloaded is not ready (no error); an unknown one is NOT_FOUND.
absl::StatusOr<bool> ModelIsReady(runtime::ModelRepository& repository, const ServerState& state,
                                  const std::string& name, const std::string& version);

// Inputs and outputs with the batch dimension as -1 (a TYPE_STRING input: [-1]); `versions`
// lists every served version when `version` is empty.
absl::Status FillModelMetadata(runtime::ModelRepository& repository, const std::string& name,
                               const std::string& version, inference::ModelMetadataResponse* response);

// The model's config.pbtxt in Triton's ModelConfig schema (triton_config.h).
absl::Status FillModelConfig(runtime::ModelRepository& repository, const std::string& name, const std::string& version,
                             inference::ModelConfigResponse* response);

// Statistics of one version (`version` set; needs `name`), of every version of `name`, or of
// every model (`name` empty).
absl::Status FillModelStatistics(runtime::ModelRepository& repository, const std::string& name,
                                 const std::string& version, inference::ModelStatisticsResponse* response);

// Every model version the repository knows, with state and reason; `ready_only` keeps the
// READY ones. `repository_name` must be empty (wtserve serves one repository).
absl::Status FillRepositoryIndex(runtime::ModelRepository& repository, const std::string& repository_name,
                                 bool ready_only, inference::RepositoryIndexResponse* response);

// What RepositoryModelLoad/Unload accept: the one repository (its name empty).
absl::Status CheckRepositoryName(const std::string& repository_name);

// The config override of a load: Triton's "config" parameter, the model config as JSON in the
// config.pbtxt schema (proto/model_config.proto; Triton's field names where they overlap, e.g.
// {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 500}}); it replaces
// config.pbtxt for that load. nullopt without one. Errors: INVALID_ARGUMENT for a config that is
// not a JSON string of that schema (the message names the field), for file overrides
// ("file:<path>": model files are read from the folder only) and for any other parameter.
absl::StatusOr<std::optional<config::ModelConfig>> LoadConfigOverride(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_OIP_QUERIES_H_

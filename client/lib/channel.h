// Channel construction for wtserve::Client (internal; not installed).
#ifndef WTSERVE_CLIENT_LIB_CHANNEL_H_
#define WTSERVE_CLIENT_LIB_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "wtserve/client.h"

namespace wtserve::internal {

// InvalidArgument naming the first bad field of `options`.
absl::Status ValidateOptions(const ClientOptions& options);

// gRPC service config (JSON, gRPC's service_config.proto schema): the load-balancing policy,
// and for every method of inference.GRPCInferenceService and grpc.health.v1.Health a
// retryPolicy on UNAVAILABLE when max_attempts > 1.
std::string ServiceConfigJson(const ClientOptions& options);

// A channel with credentials, message limits and the service config applied.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& options);

}  // namespace wtserve::internal

#endif  // WTSERVE_CLIENT_LIB_CHANNEL_H_

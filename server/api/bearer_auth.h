// Optional bearer-token authentication of the OIP calls (--grpc_auth_token_file), gRPC and REST.
//
// A client sends the metadata (gRPC) or header (HTTP) `authorization: Bearer <token>` (what
// tritonclient's `headers=` and gRPC's call credentials send). Every GRPCInferenceService call
// and REST endpoint needs it when a token is configured, except the health calls ServerLive,
// ServerReady and ModelReady (REST: /v2/health/*, .../ready) unless `protect_health` is set;
// grpc.health.v1.Health, reflection and /metrics are never covered (probes and scrapers carry no
// token). A missing or wrong token is answered
// UNAUTHENTICATED without saying which part was wrong; the token is compared in constant time
// and never logged.
#ifndef WTSERVE_SERVER_API_BEARER_AUTH_H_
#define WTSERVE_SERVER_API_BEARER_AUTH_H_

#include <optional>
#include <string>
#include <string_view>

#include <grpcpp/server_context.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wtserve::api {

class BearerTokenAuth {
 public:
  BearerTokenAuth() = default;  // no token: every call passes
  BearerTokenAuth(std::string token, bool protect_health);

  bool enabled() const { return !token_.empty(); }
  bool protects_health() const { return protect_health_; }
  // OK, or UNAUTHENTICATED. `health_call`: ServerLive, ServerReady or ModelReady.
  absl::Status Check(const grpc::ServerContextBase& ctx, bool health_call) const;
  // The same for a transport that hands over the header itself (REST: the HTTP
  // Authorization header; nullopt when absent).
  absl::Status CheckHeader(std::optional<std::string_view> authorization, bool health_call) const;

 private:
  std::string token_;
  bool protect_health_ = false;
};

// The token in `path`: its contents without surrounding whitespace (a trailing newline is
// normal in a Secret file). InvalidArgument if unreadable, empty, or containing whitespace or
// control characters inside.
absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path);

// Whether `a` and `b` are equal, in time that depends only on their lengths.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_BEARER_AUTH_H_

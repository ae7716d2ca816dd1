// Optional bearer-token authentication of the OIP gRPC calls (--grpc_auth_token_file).
//
// A client sends the metadata `authorization: Bearer <token>` (what tritonclient's `headers=`
// and gRPC's call credentials send). Every GRPCInferenceService call needs it when a token is
// configured, except the health calls ServerLive, ServerReady and ModelReady unless
// `protect_health` is set; grpc.health.v1.Health, reflection and the HTTP /metrics endpoint are
// never covered (probes and scrapers carry no token). A missing or wrong token is answered
// UNAUTHENTICATED without saying which part was wrong; the token is compared in constant time
// and never logged.
#ifndef WTSERVE_SERVER_API_BEARER_AUTH_H_
#define WTSERVE_SERVER_API_BEARER_AUTH_H_

#include <string>

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

#include "client/lib/channel.h"

#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace wtserve {

absl::StatusOr<std::string> ReadPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read PEM file ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

namespace internal {
namespace {

// Service-config durations are JSON strings of decimal seconds with an "s" suffix.
std::string JsonDuration(absl::Duration d) { return absl::StrFormat("\"%.6fs\"", absl::ToDoubleSeconds(d)); }

}  // namespace

absl::Status ValidateOptions(const ClientOptions& o) {
  if (o.target.empty()) return absl::InvalidArgumentError("client target is empty");
  if (o.max_attempts < 1 || o.max_attempts > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be 1..5 (gRPC's retry limit), got ", o.max_attempts));
  }
  if (o.initial_backoff <= absl::ZeroDuration() || o.max_backoff < o.initial_backoff) {
    return absl::InvalidArgumentError("backoff must satisfy 0 < initial_backoff <= max_backoff");
  }
  if (!(o.backoff_multiplier > 0)) return absl::InvalidArgumentError("backoff_multiplier must be > 0");
  if (o.max_message_bytes <= 0) return absl::InvalidArgumentError("max_message_bytes must be > 0");
  if (o.default_deadline <= absl::ZeroDuration()) return absl::InvalidArgumentError("default_deadline must be > 0");
  if (o.load_balancing_policy != "round_robin" && o.load_balancing_policy != "pick_first") {
    return absl::InvalidArgumentError(
        absl::StrCat("load_balancing_policy must be round_robin or pick_first, got '", o.load_balancing_policy, "'"));
  }
  if (o.tls.client_cert_pem.empty() != o.tls.client_key_pem.empty()) {
    return absl::InvalidArgumentError("mutual TLS needs both client_cert_pem and client_key_pem");
  }
  if (!o.tls.enabled && (!o.tls.root_certs_pem.empty() || !o.tls.client_cert_pem.empty())) {
    return absl::InvalidArgumentError("TLS certificates given but tls.enabled is false");
  }
  return absl::OkStatus();
}

std::string ServiceConfigJson(const ClientOptions& o) {
  std::string json = absl::StrCat("{\"loadBalancingConfig\":[{\"", o.load_balancing_policy, "\":{}}]");
  if (o.max_attempts > 1) {
    absl::StrAppend(&json,
                    ",\"methodConfig\":[{\"name\":[{\"service\":\"inference.GRPCInferenceService\"},"
                    "{\"service\":\"grpc.health.v1.Health\"}],\"retryPolicy\":{\"maxAttempts\":",
                    o.max_attempts, ",\"initialBackoff\":", JsonDuration(o.initial_backoff),
                    ",\"maxBackoff\":", JsonDuration(o.max_backoff),
                    ",\"backoffMultiplier\":", absl::StrFormat("%g", o.backoff_multiplier),
                    ",\"retryableStatusCodes\":[\"UNAVAILABLE\"]}}]");
  }
  json += "}";
  return json;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ClientOptions& o) {
  if (absl::Status s = ValidateOptions(o); !s.ok()) return s;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(o.max_message_bytes);
  args.SetMaxSendMessageSize(o.max_message_bytes);
  args.SetServiceConfigJSON(ServiceConfigJson(o));
  // Our config, not one published in DNS TXT records, decides retries and balancing.
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, o.max_attempts > 1 ? 1 : 0);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (o.tls.enabled) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = o.tls.root_certs_pem;
    ssl.pem_cert_chain = o.tls.client_cert_pem;
    ssl.pem_private_key = o.tls.client_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!o.tls.server_name_override.empty()) args.SetSslTargetNameOverride(o.tls.server_name_override);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(o.target, credentials, args);
}

}  // namespace internal
}  // namespace wtserve

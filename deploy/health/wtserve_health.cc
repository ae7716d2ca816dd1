// wtserve-health: asks a server's grpc.health.v1.Health/Check and exits 0 only if SERVING.
//
// Used by the container image's HEALTHCHECK and by deployment checks. Exit codes:
//   0  the service is SERVING
//   1  it answered NOT_SERVING / SERVICE_UNKNOWN / UNKNOWN, or the call failed (unreachable,
//      deadline exceeded, NOT_FOUND for an unknown service name, ...); the reason is on stderr
//   2  bad command line
// Protocol: https://github.com/grpc/grpc/blob/master/doc/health-checking.md (service "" means the
// whole server; wtserve reports it SERVING only when every model is loaded and warmed up).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "common/cli/usage.h"
#include "common/file/read_file.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, address, "127.0.0.1:8001", "host:port (or any gRPC target) of the server");
ABSL_FLAG(std::string, service, "", "service name to check; empty = the whole server");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(3), "deadline of the whole check, e.g. 3s");
ABSL_FLAG(bool, tls, false, "connect over TLS (a server started with --grpc_use_ssl)");
ABSL_FLAG(std::string, root_cert, "",
          "TLS: PEM file of the CA that signed the server's certificate (default: the system's)");
ABSL_FLAG(std::string, client_cert, "", "mutual TLS: PEM file of this client's certificate");
ABSL_FLAG(std::string, client_key, "", "mutual TLS: PEM file of this client's private key");
ABSL_FLAG(std::string, server_name, "",
          "TLS: the name to check the server's certificate against (default: from --address)");

namespace {

// The contents of a PEM file named by `flag` ("" if the flag is empty); false if unreadable.
bool ReadPemFlag(const char* flag, const std::string& path, std::string* contents) {
  if (path.empty()) return true;
  if (!wtserve::file::ReadWholeFile(path, contents)) {
    std::fprintf(stderr, "wtserve-health: --%s: cannot read %s\n", flag, path.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  wtserve::cli::SetUsage(
      __FILE__,
      "Checks grpc.health.v1 on a wtserve server; exit 0 iff SERVING.\n"
      "Usage: wtserve-health [--address=host:port] [--service=NAME] [--timeout=3s]\n"
      "                      [--tls [--root_cert=ca.pem] [--server_name=NAME] [--client_cert=F --client_key=F]]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "wtserve-health: unexpected argument '%s' (flags only, see --help)\n", positional[1]);
    return 2;
  }
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) {
    std::fprintf(stderr, "wtserve-health: --timeout must be positive\n");
    return 2;
  }
  const std::string address = absl::GetFlag(FLAGS_address);
  if (address.empty()) {
    std::fprintf(stderr, "wtserve-health: --address must not be empty\n");
    return 2;
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments channel_args;
  const bool tls = absl::GetFlag(FLAGS_tls);
  if (!tls && (!absl::GetFlag(FLAGS_root_cert).empty() || !absl::GetFlag(FLAGS_client_cert).empty() ||
               !absl::GetFlag(FLAGS_client_key).empty() || !absl::GetFlag(FLAGS_server_name).empty())) {
    std::fprintf(stderr, "wtserve-health: a TLS flag is set without --tls\n");
    return 2;
  }
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!ReadPemFlag("root_cert", absl::GetFlag(FLAGS_root_cert), &ssl.pem_root_certs) ||
        !ReadPemFlag("client_cert", absl::GetFlag(FLAGS_client_cert), &ssl.pem_cert_chain) ||
        !ReadPemFlag("client_key", absl::GetFlag(FLAGS_client_key), &ssl.pem_private_key)) {
      return 2;
    }
    if (ssl.pem_cert_chain.empty() != ssl.pem_private_key.empty()) {
      std::fprintf(stderr, "wtserve-health: --client_cert and --client_key go together\n");
      return 2;
    }
    credentials = grpc::SslCredentials(ssl);
    if (const std::string name = absl::GetFlag(FLAGS_server_name); !name.empty()) {
      channel_args.SetSslTargetNameOverride(name);
    }
  }
  auto channel = grpc::CreateCustomChannel(address, credentials, channel_args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  // Wait for the connection within the deadline instead of failing on the first refused attempt.
  context.set_wait_for_ready(true);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "wtserve-health: %s: Check failed: code %d: %s\n", address.c_str(),
                 static_cast<int>(status.error_code()), status.error_message().c_str());
    return 1;
  }
  const std::string state = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    std::fprintf(stderr, "wtserve-health: %s: %s\n", address.c_str(), state.c_str());
    return 1;
  }
  std::printf("%s\n", state.c_str());
  return 0;
}

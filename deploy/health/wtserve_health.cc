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
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, address, "127.0.0.1:8001", "host:port (or any gRPC target) of the server");
ABSL_FLAG(std::string, service, "", "service name to check; empty = the whole server");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(3), "deadline of the whole check, e.g. 3s");

int main(int argc, char** argv) {
  wtserve::cli::SetUsage(
      __FILE__,
      "Checks grpc.health.v1 on a wtserve server; exit 0 iff SERVING.\n"
      "Usage: wtserve-health [--address=host:port] [--service=NAME] [--timeout=3s]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "wtserve-health: unexpected argument '%s' (flags only, see --help)\n",
                 positional[1]);
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

  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
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
  const std::string state =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    std::fprintf(stderr, "wtserve-health: %s: %s\n", address.c_str(), state.c_str());
    return 1;
  }
  std::printf("%s\n", state.c_str());
  return 0;
}

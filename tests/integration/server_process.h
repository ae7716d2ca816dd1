// Runs the real `wtserve` binary for integration tests: free loopback ports, a log file, health
// polling with a deadline (no sleeps as synchronisation), signals, exit status.
#ifndef WTSERVE_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define WTSERVE_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "inference.grpc.pb.h"

namespace wtserve::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
int FreePort();

// The wtserve binary under $WTSERVE_BINARY_DIR.
std::string ServerBinary();

class ServerProcess {
 public:
  // Starts wtserve on 127.0.0.1 with fresh ports, `repo`, 1 intra-op thread and `extra_flags`.
  // channel() connects with `credentials` (nullptr: plaintext), naming the server
  // `tls_server_name` in the TLS handshake when set (a test certificate's name, not 127.0.0.1).
  ServerProcess(const std::string& repo, const std::vector<std::string>& extra_flags = {},
                std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
                const std::string& tls_server_name = "");
  ~ServerProcess();  // SIGKILL if still running

  // Polls grpc.health.v1 Check("") until it reports `status` or `timeout` passes.
  bool WaitForHealth(grpc::health::v1::HealthCheckResponse::ServingStatus status,
                     std::chrono::seconds timeout = std::chrono::seconds(120));
  // Polls /metrics until the sample `name{labels}` equals `value` or `timeout` passes; returns
  // whether it did. The condition is the server's own state, so this is not a sleep.
  bool WaitForMetric(const std::string& name, const std::string& labels, double value,
                     std::chrono::seconds timeout = std::chrono::seconds(30));
  // Polls the server's log until it contains `text` or `timeout` passes; returns whether it did.
  bool WaitForLog(const std::string& text, std::chrono::seconds timeout);
  // Health status now (UNKNOWN if the call fails).
  grpc::health::v1::HealthCheckResponse::ServingStatus Health();

  void Signal(int signal_number);
  // Waits for the process to exit (at most `timeout`); returns its exit status, or -1 on timeout
  // or death by signal.
  int WaitForExit(std::chrono::seconds timeout);
  bool running() const { return pid_ > 0; }

  std::string grpc_address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  int http_port() const { return http_port_; }
  // The server's stderr so far (for failure messages).
  std::string Log() const;

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  std::unique_ptr<inference::GRPCInferenceService::Stub> Stub() const;

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  std::string log_path_;
  std::shared_ptr<grpc::Channel> channel_;
};

// GET http://127.0.0.1:<port><path>; returns the body ("" on failure).
std::string HttpGet(int port, const std::string& path);

// The value of the sample `name{labels}` in Prometheus text output (labels as printed, e.g.
// `model="fmnist",version="1"`), or -1 if absent.
double MetricValue(const std::string& text, const std::string& name, const std::string& labels);

}  // namespace wtserve::testing

#endif  // WTSERVE_TESTS_INTEGRATION_SERVER_PROCESS_H_

// The Open Inference Protocol v2 over HTTP/REST (KServe v2, Triton's REST API with its binary
// tensor extension), on cpp-httplib (Debian's libcpp-httplib), beside the gRPC service.
//
// Endpoints (docs/server.md, "REST"):
//   GET  /v2/health/live, /v2/health/ready        200, or 400 when not (empty body, as Triton)
//   GET  /v2                                      server metadata
//   GET  /v2/models/{m}[/versions/{v}]            model metadata
//   GET  /v2/models/{m}[/versions/{v}]/ready      200 / 400
//   GET  /v2/models/{m}[/versions/{v}]/config     Triton's model config (JSON)
//   GET  /v2/models[/{m}[/versions/{v}]]/stats    statistics
//   POST /v2/models/{m}[/versions/{v}]/infer      inference (rest_codec.h)
//   POST /v2/repository/index, /v2/repository/models/{m}/load|unload
//   GET  /v2/systemsharedmemory[/region/{r}]/status, POST .../region/{r}/register,
//   POST /v2/systemsharedmemory[/region/{r}]/unregister  (shared_memory.h; CUDA's: 501)
// Every request goes through the same code as its gRPC counterpart (oip_queries.h,
// InferenceService::Infer): same validation, batcher, statistics and metrics. Errors are
// {"error": "..."} with Triton's status mapping (rest_codec.h, HttpStatusOf).
//
// Threads: cpp-httplib serves each connection on a pool thread, which blocks while its
// inference runs; `thread_count` bounds the connections served at once (a keep-alive connection
// holds its thread between requests, for at most 5 s idle).
#ifndef WTSERVE_SERVER_HTTP_REST_SERVER_H_
#define WTSERVE_SERVER_HTTP_REST_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/api/bearer_auth.h"
#include "server/api/inference_service.h"
#include "server/api/server_state.h"
#include "server/api/shared_memory.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_repository.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace wtserve::http {

struct RestServerOptions {
  std::string bind_address = "0.0.0.0";
  int port = 8000;                             // 0: a free port
  int thread_count = 64;                       // connections served at once
  int64_t max_body_bytes = int64_t{64} << 20;  // larger requests: 413
  // HTTPS: PEM files; `root_cert_file` set = mutual TLS (client certificates signed by it).
  bool use_ssl = false;
  std::string cert_file, key_file, root_cert_file;
};

class RestServer {
 public:
  // Listens and starts serving on a thread of its own. Every pointer must outlive the server.
  // `drain_timeout` bounds an unload's wait for accepted requests, as on gRPC.
  // Errors: INVALID_ARGUMENT (unreadable certificate or key), UNAVAILABLE (cannot listen).
  static absl::StatusOr<std::unique_ptr<RestServer>> Start(const RestServerOptions& options,
                                                           api::InferenceService* service,
                                                           runtime::ModelRepository* repository,
                                                           api::ServerState* state, metrics::ServerMetrics* metrics,
                                                           api::SystemSharedMemory* shared_memory,
                                                           api::BearerTokenAuth auth, absl::Duration drain_timeout);
  ~RestServer();  // Stop()

  int port() const { return port_; }
  // Stops accepting connections, lets running requests finish, joins the threads. Idempotent.
  // A connection the kernel queued but the server had not accepted yet is reset by the close of
  // the port: its request was never read (safe to retry), as with any server closing its port.
  void Stop();
  // HTTP responses written so far (every status, health checks included; counted once written
  // to the socket, or once the write failed because the client had gone).
  int64_t responses_sent() const { return responses_sent_.load(); }

 private:
  RestServer() = default;
  void Route();
  void Infer(const httplib::Request& req, httplib::Response& res);

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_returned_{false};  // the serving thread's listen loop has ended
  std::atomic<int64_t> responses_sent_{0};
  int port_ = 0;
  api::InferenceService* service_ = nullptr;
  runtime::ModelRepository* repository_ = nullptr;
  api::ServerState* state_ = nullptr;
  metrics::ServerMetrics* metrics_ = nullptr;
  api::SystemSharedMemory* shared_memory_ = nullptr;
  api::BearerTokenAuth auth_;
  absl::Duration drain_timeout_;
};

}  // namespace wtserve::http

#endif  // WTSERVE_SERVER_HTTP_REST_SERVER_H_

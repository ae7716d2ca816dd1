// Serves a prometheus-cpp registry as Prometheus text exposition (format 0.0.4) at GET /metrics
// on its own port (Triton's layout: REST 8000, gRPC 8001, metrics 8002), on cpp-httplib.
//
// Why not prometheus::Exposer (civetweb): Debian's civetweb 1.15 creates its threads with a fixed
// 100 KiB stack (pthread_attr_setstacksize(102400)), and glibc places a thread's static TLS on
// its stack. LibTorch loads OpenBLAS (60 KiB of static TLS) and glog (30 KiB) among others, so
// with libtorch_cpu linked pthread_create fails with EINVAL at 100 KiB (works at 112 KiB) and
// mg_start2 reports "Cannot create first worker thread" (CivetServer: "null context"). Reproduced
// with a 10-line program that only links libtorch_cpu; docs/server.md. cpp-httplib's threads
// are std::threads with the default stack.
#ifndef WTSERVE_SERVER_METRICS_HTTP_EXPOSER_H_
#define WTSERVE_SERVER_METRICS_HTTP_EXPOSER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace wtserve::metrics {

class HttpExposer {
 public:
  // Listens on `bind_address`:`port` (IPv4 or IPv6 literal or host name; port 0 picks a free
  // one) and starts serving. Errors: UNAVAILABLE naming the address when it cannot listen.
  static absl::StatusOr<std::unique_ptr<HttpExposer>> Start(const std::string& bind_address, int port,
                                                            std::shared_ptr<prometheus::Registry> registry);
  ~HttpExposer();  // stops serving and joins the threads

  int port() const { return port_; }

 private:
  HttpExposer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::shared_ptr<prometheus::Registry> registry_;
  int port_ = 0;
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
};

}  // namespace wtserve::metrics

#endif  // WTSERVE_SERVER_METRICS_HTTP_EXPOSER_H_

// Serves a prometheus-cpp registry as Prometheus text exposition (format 0.0.4) at GET /metrics
// on its own port, from one background thread.
//
// Why not prometheus::Exposer (civetweb): with Debian's LibTorch 1.13 loaded in the same
// process, civetweb's mg_start fails after binding ("null context when constructing
// CivetServer"), reproducible with a 5-line program linked against libtorch. A scrape endpoint
// needs very little HTTP: one request per connection, GET only, answered and closed.
#ifndef WTSERVE_SERVER_METRICS_HTTP_EXPOSER_H_
#define WTSERVE_SERVER_METRICS_HTTP_EXPOSER_H_

#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace wtserve::metrics {

class HttpExposer {
 public:
  // Listens on `bind_address`:`port` (IPv4 or IPv6 literal or host name; port 0 picks a free
  // one) and starts serving. Errors: UNAVAILABLE naming the address when it cannot listen.
  static absl::StatusOr<std::unique_ptr<HttpExposer>> Start(
      const std::string& bind_address, int port, std::shared_ptr<prometheus::Registry> registry);
  ~HttpExposer();  // stops the thread and closes the socket

  int port() const { return port_; }

 private:
  HttpExposer(int listen_fd, int wake_read, int wake_write, int port,
              std::shared_ptr<prometheus::Registry> registry);
  void Serve();
  void HandleConnection(int fd);

  const int listen_fd_;
  const int wake_read_;   // a byte on this pipe stops Serve()
  const int wake_write_;
  const int port_;
  const std::shared_ptr<prometheus::Registry> registry_;
  std::thread thread_;
};

}  // namespace wtserve::metrics

#endif  // WTSERVE_SERVER_METRICS_HTTP_EXPOSER_H_

#include "server/metrics/http_exposer.h"

#include <httplib.h>

#include <utility>

#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"

namespace wtserve::metrics {

absl::StatusOr<std::unique_ptr<HttpExposer>> HttpExposer::Start(const std::string& bind_address, int port,
                                                                std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<HttpExposer> exposer(new HttpExposer());
  exposer->registry_ = std::move(registry);
  exposer->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *exposer->server_;
  // Scrapes are rare and quick: two threads; a silent client is dropped after 2 s.
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.set_read_timeout(2, 0);
  server.set_write_timeout(2, 0);
  prometheus::Registry* collected = exposer->registry_.get();
  server.Get("/metrics", [collected](const httplib::Request&, httplib::Response& res) {
    res.set_content(prometheus::TextSerializer().Serialize(collected->Collect()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("metrics are at /metrics\n", "text/plain");
  });
  if (port == 0) {
    exposer->port_ = server.bind_to_any_port(bind_address);
  } else if (server.bind_to_port(bind_address, port)) {
    exposer->port_ = port;
  }
  if (exposer->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ", bind_address, " port ", port));
  }
  exposer->thread_ = std::thread([raw = exposer.get()] {
    raw->server_->listen_after_bind();
    raw->listen_returned_ = true;
  });
  return exposer;
}

HttpExposer::~HttpExposer() {
  if (!thread_.joinable()) return;
  // stop() acts only on a listening server: wait (microseconds) until the thread is there.
  while (!server_->is_running() && !listen_returned_) std::this_thread::yield();
  server_->stop();
  thread_.join();
}

}  // namespace wtserve::metrics

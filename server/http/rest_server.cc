#include "server/http/rest_server.h"

#include <httplib.h>

#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/api/oip_queries.h"
#include "server/http/rest_codec.h"

namespace wtserve::http {
namespace {

using httplib::Request;
using httplib::Response;

// Model and version from a route whose first two groups are ([^/]+) and an optional version.
std::string Group(const Request& req, size_t i) {
  return i < req.matches.size() ? std::string(req.matches[i]) : std::string();
}

constexpr char kModelPath[] = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

void SendJson(Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), "application/json");
}

void SendError(Response& res, const absl::Status& status) {
  SendJson(res, HttpStatusOf(status.code()), ErrorJson(status.message()));
}

// Health answers: 200 or 400 with an empty body, as Triton and the KServe v2 spec.
void SendHealth(Response& res, bool healthy) { res.status = healthy ? 200 : 400; }

std::optional<std::string_view> Authorization(const Request& req) {
  if (!req.has_header("Authorization")) return std::nullopt;
  auto it = req.headers.find("Authorization");
  return std::string_view(it->second);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RestServer>> RestServer::Start(const RestServerOptions& options,
                                                              api::InferenceService* service,
                                                              runtime::ModelRepository* repository,
                                                              api::ServerState* state, metrics::ServerMetrics* metrics,
                                                              api::SystemSharedMemory* shared_memory,
                                                              api::BearerTokenAuth auth, absl::Duration drain_timeout) {
  std::unique_ptr<RestServer> rest(new RestServer());
  if (options.use_ssl) {
    if (options.cert_file.empty() || options.key_file.empty()) {
      return absl::InvalidArgumentError("--http_use_ssl needs --http_server_cert and --http_server_key");
    }
    auto ssl =
        std::make_unique<httplib::SSLServer>(options.cert_file.c_str(), options.key_file.c_str(),
                                             options.root_cert_file.empty() ? nullptr : options.root_cert_file.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(
          absl::StrCat("HTTPS: cannot load the certificate ", options.cert_file, ", key ", options.key_file,
                       options.root_cert_file.empty() ? "" : absl::StrCat(" or client CA ", options.root_cert_file),
                       " (PEM files; does the key match the certificate?)"));
    }
    rest->server_ = std::move(ssl);
  } else {
    rest->server_ = std::make_unique<httplib::Server>();
  }
  rest->service_ = service;
  rest->repository_ = repository;
  rest->state_ = state;
  rest->metrics_ = metrics;
  rest->shared_memory_ = shared_memory;
  rest->auth_ = std::move(auth);
  rest->drain_timeout_ = drain_timeout;

  httplib::Server& server = *rest->server_;
  const int threads = options.thread_count;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server.set_payload_max_length(static_cast<size_t>(options.max_body_bytes));
  // cpp-httplib closes a keep-alive connection after 5 requests by default; clients such as
  // tritonclient keep a pool of connections open, so reconnecting would cost every 5th request.
  server.set_keep_alive_max_count(1 << 20);
  server.set_keep_alive_timeout(5);
  // cpp-httplib writes a response's header and body separately: with Nagle's algorithm on, the
  // body waits for the client's delayed ACK of the header (40 ms on Linux).
  server.set_tcp_nodelay(true);
  // cpp-httplib calls its logger after writing each response: that is the count of answers.
  server.set_logger([raw = rest.get()](const Request&, const Response&) { raw->responses_sent_.fetch_add(1); });
  rest->Route();

  if (options.port == 0) {
    rest->port_ = server.bind_to_any_port(options.bind_address);
  } else if (server.bind_to_port(options.bind_address, options.port)) {
    rest->port_ = options.port;
  }
  if (rest->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options.bind_address, ":", options.port));
  }
  rest->thread_ = std::thread([raw = rest.get()] {
    raw->server_->listen_after_bind();
    raw->listen_returned_ = true;
  });
  return rest;
}

RestServer::~RestServer() { Stop(); }

void RestServer::Stop() {
  if (!thread_.joinable()) return;
  // cpp-httplib's stop() acts only on a server that is listening: wait (microseconds) for the
  // thread to get there, or to have given up, before asking it to stop.
  while (!server_->is_running() && !listen_returned_) std::this_thread::yield();
  server_->stop();
  thread_.join();
}

void RestServer::Route() {
  httplib::Server& s = *server_;
  // Runs `handler` when the request carries the token (or none is configured).
  auto guarded = [this](bool health_call, auto handler) {
    return [this, health_call, handler](const Request& req, Response& res) {
      if (absl::Status a = auth_.CheckHeader(Authorization(req), health_call); !a.ok()) {
        res.set_header("WWW-Authenticate", "Bearer");
        SendError(res, a);
        return;
      }
      handler(req, res);
    };
  };

  s.Get("/v2/health/live", guarded(true, [this](const Request&, Response& res) { SendHealth(res, state_->live()); }));
  s.Get("/v2/health/ready", guarded(true, [this](const Request&, Response& res) { SendHealth(res, state_->ready()); }));
  s.Get("/v2", guarded(false, [](const Request&, Response& res) {
          inference::ServerMetadataResponse metadata;
          api::FillServerMetadata(&metadata);
          SendJson(res, 200, ServerMetadataJson(metadata));
        }));
  // Before the model routes: "stats" here is the endpoint, as in Triton.
  s.Get("/v2/models/stats", guarded(false, [this](const Request&, Response& res) {
          inference::ModelStatisticsResponse stats;
          absl::Status status = api::FillModelStatistics(*repository_, "", "", &stats);
          status.ok() ? SendJson(res, 200, ModelStatisticsJson(stats)) : SendError(res, status);
        }));
  s.Get(kModelPath, guarded(false, [this](const Request& req, Response& res) {
          inference::ModelMetadataResponse metadata;
          absl::Status status = api::FillModelMetadata(*repository_, Group(req, 1), Group(req, 2), &metadata);
          status.ok() ? SendJson(res, 200, ModelMetadataJson(metadata)) : SendError(res, status);
        }));
  s.Get(absl::StrCat(kModelPath, "/ready"), guarded(true, [this](const Request& req, Response& res) {
          absl::StatusOr<bool> ready = api::ModelIsReady(*repository_, *state_, Group(req, 1), Group(req, 2));
          ready.ok() ? SendHealth(res, *ready) : SendError(res, ready.status());
        }));
  s.Get(absl::StrCat(kModelPath, "/config"), guarded(false, [this](const Request& req, Response& res) {
          inference::ModelConfigResponse config;
          absl::Status status = api::FillModelConfig(*repository_, Group(req, 1), Group(req, 2), &config);
          status.ok() ? SendJson(res, 200, ModelConfigJson(config)) : SendError(res, status);
        }));
  s.Get(absl::StrCat(kModelPath, "/stats"), guarded(false, [this](const Request& req, Response& res) {
          inference::ModelStatisticsResponse stats;
          absl::Status status = api::FillModelStatistics(*repository_, Group(req, 1), Group(req, 2), &stats);
          status.ok() ? SendJson(res, 200, ModelStatisticsJson(stats)) : SendError(res, status);
        }));
  s.Post(absl::StrCat(kModelPath, "/infer"),
         guarded(false, [this](const Request& req, Response& res) { Infer(req, res); }));
  s.Post("/v2/repository/index", guarded(false, [this](const Request& req, Response& res) {
           absl::StatusOr<bool> ready_only = ReadyFlagOfIndexRequest(req.body);
           if (!ready_only.ok()) return SendError(res, ready_only.status());
           inference::RepositoryIndexResponse index;
           absl::Status status = api::FillRepositoryIndex(*repository_, "", *ready_only, &index);
           status.ok() ? SendJson(res, 200, RepositoryIndexJson(index)) : SendError(res, status);
         }));
  s.Post(R"(/v2/repository/models/([^/]+)/(load|unload))", guarded(false, [this](const Request& req, Response& res) {
           const std::string name = Group(req, 1);
           const bool load = Group(req, 2) == "load";
           std::optional<config::ModelConfig> override_config;
           if (load) {
             auto parameters = LoadRequestParameters(req.body);
             if (!parameters.ok()) return SendError(res, parameters.status());
             auto parsed = api::LoadConfigOverride(*parameters);
             if (!parsed.ok()) return SendError(res, parsed.status());
             override_config = *std::move(parsed);
           }
           absl::Status status = absl::OkStatus();
           if (state_->shutting_down()) status = absl::UnavailableError("the server is shutting down");
           if (status.ok()) {
             // Blocks this connection's thread for the load or drain, as the gRPC call waits.
             status = load ? repository_->Load(name, drain_timeout_, std::move(override_config))
                           : repository_->Unload(name, absl::Now() + drain_timeout_);
           }
           status.ok() ? SendJson(res, 200, "{}") : SendError(res, status);
         }));
  // System shared memory, as Triton's REST extension.
  constexpr char kShmStatus[] = R"(/v2/systemsharedmemory(?:/region/([^/]+))?/status)";
  constexpr char kShmRegister[] = R"(/v2/systemsharedmemory/region/([^/]+)/register)";
  constexpr char kShmUnregister[] = R"(/v2/systemsharedmemory(?:/region/([^/]+))?/unregister)";
  s.Get(kShmStatus, guarded(false, [this](const Request& req, Response& res) {
          inference::SystemSharedMemoryStatusResponse regions;
          absl::Status status = shared_memory_->Status(Group(req, 1), &regions);
          status.ok() ? SendJson(res, 200, SharedMemoryStatusJson(regions)) : SendError(res, status);
        }));
  s.Post(kShmRegister, guarded(false, [this](const Request& req, Response& res) {
           absl::StatusOr<SharedMemoryRegistration> r = ParseSharedMemoryRegistration(req.body);
           if (!r.ok()) return SendError(res, r.status());
           absl::Status status = shared_memory_->Register(Group(req, 1), r->key, r->offset, r->byte_size);
           status.ok() ? SendJson(res, 200, "{}") : SendError(res, status);
         }));
  s.Post(kShmUnregister, guarded(false, [this](const Request& req, Response& res) {
           absl::Status status = shared_memory_->Unregister(Group(req, 1));
           status.ok() ? SendJson(res, 200, "{}") : SendError(res, status);
         }));
  auto no_cuda = [](const Request&, Response& res) {
    SendError(res, absl::UnimplementedError("CUDA shared memory is not supported by wtserve; send tensors in the "
                                            "body or through system shared memory (--system_shared_memory)"));
  };
  s.Get("/v2/cudasharedmemory(/.*)?", no_cuda);
  s.Post("/v2/cudasharedmemory(/.*)?", no_cuda);
  s.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      SendJson(
          res, 404,
          ErrorJson(absl::StrCat("no endpoint ", req.method, " ", req.path, " (the OIP v2 REST API is under /v2)")));
    } else if (res.status == 413) {
      SendJson(res, 413, ErrorJson("the request body is larger than the server's limit (--max_message_bytes)"));
    }
  });
  s.set_exception_handler([](const Request&, Response& res, std::exception_ptr) {
    SendJson(res, 500, ErrorJson("internal error while handling the request"));
  });
}

void RestServer::Infer(const Request& req, Response& res) {
  const absl::Time start = absl::Now();
  std::optional<size_t> json_length;
  if (req.has_header(kHeaderLengthHeader)) {
    size_t length = 0;
    if (!absl::SimpleAtoi(req.get_header_value(kHeaderLengthHeader), &length)) {
      metrics_->RecordFailure("", "", metrics::kReasonInvalidArgument);
      return SendError(res, absl::InvalidArgumentError(absl::StrCat(kHeaderLengthHeader, " must be a byte count, got '",
                                                                    req.get_header_value(kHeaderLengthHeader), "'")));
    }
    json_length = length;
  }
  absl::StatusOr<RestInferRequest> parsed = ParseRestInferRequest(req.body, json_length, Group(req, 1), Group(req, 2));
  if (!parsed.ok()) {
    metrics_->RecordFailure("", "", metrics::kReasonInvalidArgument);
    return SendError(res, parsed.status());
  }
  inference::ModelInferResponse response;
  absl::Status status;
  absl::Notification done;
  // HTTP carries no deadline; the request's "timeout" parameter (µs) bounds its queue time.
  service_->Infer(parsed->request, start, absl::InfiniteFuture(), /*is_cancelled=*/nullptr, &response,
                  /*response_overhead=*/0, [&](absl::Status s) {
                    status = std::move(s);
                    done.Notify();
                  });
  done.WaitForNotification();
  if (!status.ok()) return SendError(res, status);
  RestBody body = EncodeRestInferResponse(response, *parsed);
  if (body.json_length.has_value()) {
    res.set_header(kHeaderLengthHeader, std::to_string(*body.json_length));
    res.status = 200;
    res.set_content(std::move(body.body), "application/octet-stream");
  } else {
    SendJson(res, 200, std::move(body.body));
  }
}

}  // namespace wtserve::http

// wtserve: the inference server (Open Inference Protocol v2 over gRPC and HTTP/REST) for WTConv
// classifiers.
//
// Lifecycle: listen -> load and warm up every model of the repository (live, not ready) ->
// ready (grpc.health.v1 SERVING) -> on SIGTERM/SIGINT: NOT_SERVING at once, new inference
// requests UNAVAILABLE, accepted requests finish (bounded by --exit_timeout) -> exit 0.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/cli/usage.h"
#include "common/log/log.h"
#include "common/log/log_rate_limit.h"
#include "common/system/usable_cores.h"
#include "grpc/health/v1/health.pb.h"  // generated from Debian's grpc-proto (proto/)
#include "server/api/drain.h"
#include "server/api/inference_service.h"
#include "server/api/reflection_v1.h"
#include "server/api/request_parse_interceptor.h"
#include "server/api/server_state.h"
#include "server/api/tls_credentials.h"
#include "server/http/rest_server.h"
#include "server/metrics/http_exposer.h"
#include "server/metrics/server_metrics.h"
#include "server/process/heap.h"
#include "server/process/threads.h"
#include "server/runtime/model_repository.h"

ABSL_FLAG(int32_t, grpc_port, 8001, "gRPC port (Open Inference Protocol v2, health, reflection); 0 picks a free one");
ABSL_FLAG(bool, grpc_use_ssl, false,
          "Serve gRPC over TLS (needs --grpc_server_cert and --grpc_server_key); Triton's --grpc-use-ssl");
ABSL_FLAG(bool, grpc_use_ssl_mutual, false,
          "Mutual TLS: also require client certificates signed by --grpc_root_cert (implies --grpc_use_ssl)");
ABSL_FLAG(std::string, grpc_server_cert, "", "PEM file: the server's certificate chain (TLS)");
ABSL_FLAG(std::string, grpc_server_key, "", "PEM file: the server's private key (TLS)");
ABSL_FLAG(std::string, grpc_root_cert, "", "PEM file: CA certificates that sign client certificates (mutual TLS)");
ABSL_FLAG(std::string, grpc_auth_token_file, "",
          "File holding a bearer token every inference/metadata/repository call (gRPC and REST) must send as "
          "'authorization: Bearer <token>' (empty: no auth)");
ABSL_FLAG(bool, grpc_auth_health, false,
          "With --grpc_auth_token_file: also require the token on ServerLive/ServerReady/ModelReady (grpc.health.v1 "
          "stays open)");
ABSL_FLAG(int32_t, http_port, 8000,
          "HTTP/REST port (OIP v2 REST, Triton's binary tensor extension); 0 picks a free one, -1 disables REST");
ABSL_FLAG(int32_t, http_thread_count, 64,
          "HTTP connections served at once (each blocks a thread while its inference runs)");
ABSL_FLAG(bool, http_use_ssl, false, "Serve REST over HTTPS (needs --http_server_cert and --http_server_key)");
ABSL_FLAG(bool, http_use_ssl_mutual, false,
          "HTTPS with client certificates signed by --http_root_cert required (implies --http_use_ssl)");
ABSL_FLAG(std::string, http_server_cert, "", "PEM file: the server's certificate chain (HTTPS)");
ABSL_FLAG(std::string, http_server_key, "", "PEM file: the server's private key (HTTPS)");
ABSL_FLAG(std::string, http_root_cert, "", "PEM file: CA certificates that sign client certificates (HTTPS, mutual)");
ABSL_FLAG(bool, system_shared_memory, false,
          "Let clients register POSIX shared memory regions (Triton's system shared memory) and pass tensors "
          "through them; off by default: a client that registers a region makes the server read and write that "
          "host object");
ABSL_FLAG(int32_t, metrics_port, 8002, "Prometheus /metrics port; 0 picks a free one, -1 disables metrics");
ABSL_FLAG(std::string, bind_address, "0.0.0.0", "Address every port listens on (127.0.0.1 for loopback only)");
ABSL_FLAG(std::string, model_repository, "",
          "Model repository folder: <repo>/<model>/config.pbtxt and numeric version folders (required)");
ABSL_FLAG(int32_t, intra_op_threads, 0,
          "LibTorch intra-op threads per computing thread; 0 = usable cores - 1 (at least 1), leaving a core to gRPC");
ABSL_FLAG(int32_t, blas_threads, 0,
          "OpenBLAS threads (its own pool, used by Linear layers); 0 = --intra_op_threads' value");
ABSL_FLAG(absl::Duration, exit_timeout, absl::Seconds(30),
          "On SIGTERM/SIGINT, how long accepted requests may take to finish before exit");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{64} << 20, "Largest gRPC request/response message in bytes");
ABSL_FLAG(int32_t, max_concurrent_streams, 0,
          "HTTP/2 streams (calls) one client connection may have open at once; 0 = gRPC's default (no limit)");
ABSL_FLAG(bool, strict_readiness, true,
          "Ready only when every model of the repository is ready (false: when at least one is)");
ABSL_FLAG(std::string, log_level, "info", "Log level: debug, info, warning or error");
ABSL_FLAG(bool, retain_freed_memory, true,
          "Keep freed tensor memory mapped for reuse instead of returning it to the kernel (avoids a "
          "page fault per 4 KiB on every request; RSS keeps its peak). server/process/heap.h");

namespace {

using wtserve::logging::LogError;
using wtserve::logging::LogInfo;

std::string HostPort(const std::string& host, int port) {
  // IPv6 literals need brackets in host:port form.
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

int Fail(const std::string& message) {
  LogError(message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals are taken synchronously by sigwait below. Block them first thing, before any thread
  // of ours starts (every thread inherits the mask) and so that a SIGTERM during startup waits
  // for sigwait instead of killing the process. Before main (the dynamic loader and LibTorch's
  // static initialisers, ~1 s) nothing can catch it: docs/server.md, "Lifecycle".
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  wtserve::cli::SetUsage(
      __FILE__,
      "wtserve --model_repository=DIR [flags]: serves the classifiers of DIR over gRPC and HTTP/REST "
      "(Open Inference Protocol v2) with Prometheus metrics. See docs/server.md.");
  absl::ParseCommandLine(argc, argv);

  wtserve::logging::LogLevel level;
  if (!wtserve::logging::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    return Fail(absl::StrCat("--log_level must be debug, info, warning or error, got \"",
                             absl::GetFlag(FLAGS_log_level), "\""));
  }
  wtserve::logging::SetLogLevel(level);
  // Libraries on the request path print complaints about bad input to stderr, one per request.
  wtserve::logging::RouteStderrThroughRateLimit();
  if (absl::GetFlag(FLAGS_retain_freed_memory)) {
    // Early, so that the models' allocations already follow them (glibc's thresholds are
    // process-wide).
    if (const std::string refused = wtserve::process::RetainFreedTensorMemory(); !refused.empty()) {
      wtserve::logging::LogWarning(absl::StrCat("--retain_freed_memory: ", refused));
    }
  }
  const int grpc_port = absl::GetFlag(FLAGS_grpc_port);
  const int metrics_port = absl::GetFlag(FLAGS_metrics_port);
  const std::string bind_address = absl::GetFlag(FLAGS_bind_address);
  const std::string repository_dir = absl::GetFlag(FLAGS_model_repository);
  const int threads = absl::GetFlag(FLAGS_intra_op_threads);
  const absl::Duration exit_timeout = absl::GetFlag(FLAGS_exit_timeout);
  const int64_t max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  if (grpc_port < 0 || grpc_port > 65535) return Fail("--grpc_port must be in [0, 65535]");
  const int http_port = absl::GetFlag(FLAGS_http_port);
  if (http_port < -1 || http_port > 65535) {
    return Fail("--http_port must be in [0, 65535], or -1 to disable REST");
  }
  if (absl::GetFlag(FLAGS_http_thread_count) < 1 || absl::GetFlag(FLAGS_http_thread_count) > 4096) {
    return Fail("--http_thread_count must be in [1, 4096]");
  }
  if (metrics_port < -1 || metrics_port > 65535) {
    return Fail("--metrics_port must be in [0, 65535], or -1 to disable metrics");
  }
  if (repository_dir.empty()) return Fail("--model_repository is required");
  std::error_code ec;
  if (!std::filesystem::is_directory(repository_dir, ec)) {
    return Fail(absl::StrCat("--model_repository ", repository_dir, " is not a folder"));
  }
  if (threads < 0) return Fail("--intra_op_threads must be >= 0 (0 = usable cores - 1)");
  const int blas_threads = absl::GetFlag(FLAGS_blas_threads);
  if (blas_threads < 0) return Fail("--blas_threads must be >= 0 (0 = --intra_op_threads)");
  if (exit_timeout < absl::ZeroDuration()) return Fail("--exit_timeout must be >= 0");
  if (max_message_bytes < 1024 || max_message_bytes > INT32_MAX) {
    return Fail("--max_message_bytes must be in [1024, 2147483647]");
  }
  wtserve::api::ServerTlsOptions tls;
  tls.use_ssl = absl::GetFlag(FLAGS_grpc_use_ssl);
  tls.mutual = absl::GetFlag(FLAGS_grpc_use_ssl_mutual);
  tls.cert_file = absl::GetFlag(FLAGS_grpc_server_cert);
  tls.key_file = absl::GetFlag(FLAGS_grpc_server_key);
  tls.root_cert_file = absl::GetFlag(FLAGS_grpc_root_cert);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> grpc_credentials = wtserve::api::MakeServerCredentials(tls);
  if (!grpc_credentials.ok()) return Fail(std::string(grpc_credentials.status().message()));
  wtserve::api::BearerTokenAuth auth;
  if (const std::string token_file = absl::GetFlag(FLAGS_grpc_auth_token_file); !token_file.empty()) {
    absl::StatusOr<std::string> token = wtserve::api::ReadBearerTokenFile(token_file);
    if (!token.ok()) return Fail(std::string(token.status().message()));
    auth = wtserve::api::BearerTokenAuth(*std::move(token), absl::GetFlag(FLAGS_grpc_auth_health));
  } else if (absl::GetFlag(FLAGS_grpc_auth_health)) {
    return Fail("--grpc_auth_health needs --grpc_auth_token_file");
  }

  // LibTorch defaults to one intra-op thread on some builds; set it explicitly. The default
  // leaves a core to gRPC (docs/server.md "Threads" has the measurements behind the rule).
  const int cores = wtserve::system::UsableCores();
  const int intra_op = threads > 0 ? threads : wtserve::process::DefaultServingIntraOpThreads(cores);
  at::set_num_threads(intra_op);
  LogInfo("LibTorch intra-op threads: ", at::get_num_threads(),
          threads > 0 ? " (--intra_op_threads)" : absl::StrCat(" (default: ", cores, " usable cores - 1)"), "; ",
          wtserve::process::SetBlasThreads(blas_threads > 0 ? blas_threads : intra_op));

  wtserve::metrics::ServerMetrics metrics;
  std::unique_ptr<wtserve::metrics::HttpExposer> exposer;
  if (metrics_port >= 0) {
    absl::StatusOr<std::unique_ptr<wtserve::metrics::HttpExposer>> started =
        wtserve::metrics::HttpExposer::Start(bind_address, metrics_port, metrics.registry());
    if (!started.ok()) return Fail(std::string(started.status().message()));
    exposer = *std::move(started);
    LogInfo("metrics on http://", HostPort(bind_address, exposer->port()), "/metrics");
  }

  wtserve::runtime::ModelRepository repository(repository_dir, &metrics);
  wtserve::api::ServerState state(&repository, absl::GetFlag(FLAGS_strict_readiness));
  wtserve::api::SystemSharedMemory shared_memory(absl::GetFlag(FLAGS_system_shared_memory));
  // Encoded images are decoded on one thread per usable core (decoding is CPU work; more threads
  // than cores would only take turns), responses sent from one thread (docs/server.md, "Threads").
  wtserve::api::InferenceService service(&repository, &state, &metrics, exit_timeout, max_message_bytes, auth,
                                         &shared_memory, /*decode_threads=*/cores, /*send_threads=*/1);
  std::unique_ptr<wtserve::http::RestServer> rest;
  if (http_port >= 0) {
    wtserve::http::RestServerOptions options;
    options.bind_address = bind_address;
    options.port = http_port;
    options.thread_count = absl::GetFlag(FLAGS_http_thread_count);
    options.max_body_bytes = max_message_bytes;
    const bool mutual = absl::GetFlag(FLAGS_http_use_ssl_mutual);
    options.use_ssl = absl::GetFlag(FLAGS_http_use_ssl) || mutual;
    options.cert_file = absl::GetFlag(FLAGS_http_server_cert);
    options.key_file = absl::GetFlag(FLAGS_http_server_key);
    options.root_cert_file = absl::GetFlag(FLAGS_http_root_cert);
    if (!options.use_ssl && (!options.cert_file.empty() || !options.key_file.empty())) {
      return Fail("--http_server_cert and --http_server_key need --http_use_ssl");
    }
    if (mutual && options.root_cert_file.empty()) {
      return Fail("--http_use_ssl_mutual needs --http_root_cert (the CA that signs client certificates)");
    }
    if (!mutual && !options.root_cert_file.empty()) {
      return Fail("--http_root_cert is only used with --http_use_ssl_mutual");
    }
    absl::StatusOr<std::unique_ptr<wtserve::http::RestServer>> started = wtserve::http::RestServer::Start(
        options, &service, &repository, &state, &metrics, &shared_memory, auth, exit_timeout);
    if (!started.ok()) return Fail(std::string(started.status().message()));
    rest = *std::move(started);
    LogInfo("REST on ", options.use_ssl ? "https://" : "http://", HostPort(bind_address, rest->port()), "/v2",
            mutual ? " (mutual TLS)" : "");
  }

  grpc::EnableDefaultHealthCheckService(true);
  // gRPC's built-in health service does not use the generated C++ classes, so nothing would pull
  // health.pb.cc into the binary and reflection could list grpc.health.v1.Health but not resolve
  // it ("Symbol not found"). Asking for a descriptor of that file registers it in the pool.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // v1 beside the plugin's v1alpha (reflection_v1.h); list_services names what is registered.
  wtserve::api::ReflectionV1Service reflection_v1({"inference.GRPCInferenceService", "grpc.health.v1.Health",
                                                   "grpc.reflection.v1.ServerReflection",
                                                   "grpc.reflection.v1alpha.ServerReflection"});
  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(HostPort(bind_address, grpc_port), *grpc_credentials, &selected_port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  if (const int streams = absl::GetFlag(FLAGS_max_concurrent_streams); streams > 0) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, streams);
  }
  builder.RegisterService(&service);
  builder.RegisterService(&reflection_v1);
  {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<wtserve::api::RequestParseFailureInterceptorFactory>());
    builder.experimental().SetInterceptorCreators(std::move(factories));
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || selected_port == 0) {
    return Fail(absl::StrCat("cannot listen for gRPC on ", HostPort(bind_address, grpc_port)));
  }
  state.SetHealthService(server->GetHealthCheckService());
  repository.SetStateListener([&state] { state.Update(); });
  LogInfo("gRPC on ", HostPort(bind_address, selected_port), " (", wtserve::api::DescribeTls(tls),
          auth.enabled()
              ? (auth.protects_health() ? ", bearer token on every call" : ", bearer token except health calls")
              : "",
          "; live, loading models)");

  // Models load on their own thread so that the main thread waits in sigwait from here on: the
  // kernel gives a process-directed signal to the main thread while it waits for it, and
  // otherwise to any thread that does not block it, such as OpenBLAS's, which start before
  // main() and would then take the default action (exit 143) in the middle of a model load.
  std::thread loader([&repository, &state] {
    absl::StatusOr<int> failed = repository.LoadAll();
    if (!failed.ok()) {
      LogError(std::string(failed.status().message()));
    } else if (*failed > 0) {
      LogError(*failed, " model(s) failed to load; see RepositoryIndex for the reasons");
    }
    state.MarkStartupDone();
    LogInfo(state.ready() ? "ready" : "not ready (see the model errors above)");
  });

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const absl::Time deadline = absl::Now() + exit_timeout;
  LogInfo("signal ", signal_number, ": NOT_SERVING; finishing accepted requests (at most ",
          absl::FormatDuration(exit_timeout), ")");
  state.BeginShutdown();
  // A load still running finishes first; its models are then drained with the others.
  loader.join();
  wtserve::api::DrainAndClose(repository, service, *server, deadline);
  // After the drain: REST requests accepted before it have their answers; new ones got 503.
  if (rest) {
    rest->Stop();
    LogInfo("REST stopped after ", rest->responses_sent(), " responses");
  }
  service.JoinBackgroundTasks();
  LogInfo("stopped");
  return 0;
}

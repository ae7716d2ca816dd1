// wtserve-loadgen: throughput, latency and robustness to corrupted inputs of models served over
// the Open Inference Protocol v2 (gRPC). See docs/loadgen.md.
//
// Exit status: 0 done; 1 runtime failure (server unreachable, unknown model, data mismatch, an
// accuracy run with failed requests, output not writable); 2 bad command line.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/corrupt/corruptions.h"
#include "client/loadgen/cli.h"
#include "client/loadgen/dump.h"
#include "client/loadgen/report.h"
#include "client/loadgen/runner.h"
#include "client/loadgen/workload.h"
#include "common/cli/usage.h"
#include "common/data/dataset.h"
#include "common/system/usable_cores.h"
#include "wtserve/client.h"

ABSL_FLAG(std::string, target, "localhost:8001", "gRPC target of the server (host:port, dns:///host:port, ...)");
ABSL_FLAG(std::string, model, "", "model to measure (required)");
ABSL_FLAG(std::string, model_version, "", "model version (empty: the server's latest)");
ABSL_FLAG(std::string, baseline_model, "",
          "also measure this model with the same workload and report the model's Corruption Error relative to it");
ABSL_FLAG(std::string, baseline_version, "", "version of the baseline model (empty: the server's latest)");
ABSL_FLAG(std::string, transport, "sync", "sync | async | stream (ModelStreamInfer)");
ABSL_FLAG(int32_t, concurrency, 1, "closed loop: requests in flight; open loop + sync: sender threads");
ABSL_FLAG(double, rate, 0, "open loop: requests per second (0: closed loop)");
ABSL_FLAG(std::string, arrival, "poisson", "open-loop arrivals: poisson | constant");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "load run: stop starting requests after this long (e.g. 30s); cycles over the items");
ABSL_FLAG(int64_t, requests, 0, "load run: stop after this many requests; cycles over the items");
ABSL_FLAG(int64_t, warmup, 0, "requests sent (and not measured) before each model's timed phase");
ABSL_FLAG(int64_t, batch_size, 1, "images per request");
ABSL_FLAG(std::string, input, "fp32", "wire form of images: fp32 (pixel * --fp32_scale) | uint8 | png");
ABSL_FLAG(double, fp32_scale, 1.0 / 255.0,
          "FP32 inputs are float(pixel) * this; must equal the model's input_preprocessing.scale");
ABSL_FLAG(std::string, data, "fmnist", "fmnist | folder | synthetic");
ABSL_FLAG(std::string, data_dir, wtserve::data::kFashionMnistDir, "Fashion-MNIST IDX folder");
ABSL_FLAG(std::string, split, "test", "Fashion-MNIST split: test | train");
ABSL_FLAG(std::string, image_folder, "", "--data=folder: dir/<class>/<image>, classes in sorted order");
ABSL_FLAG(int64_t, samples, 0, "use the first N images (0: all; synthetic: 64)");
ABSL_FLAG(std::string, corruptions, "",
          "corruptions to apply besides clean: all | imagenet-c | extra | noise | blur | weather | digital | a,list");
ABSL_FLAG(std::string, severities, "1-5", "severities, e.g. 1-5, 3 or 1,3,5");
ABSL_FLAG(uint64_t, seed, 0, "seed of corruptions, synthetic data and Poisson arrivals");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(30), "per-request deadline");
ABSL_FLAG(absl::Duration, wait_for_server, absl::ZeroDuration(),
          "wait up to this long for the server's health to be SERVING (0: check once)");
ABSL_FLAG(int32_t, max_attempts, 1, "gRPC attempts per request on UNAVAILABLE (1: no retries, errors are counted)");
ABSL_FLAG(bool, tls, false, "use TLS");
ABSL_FLAG(std::string, root_certs, "", "PEM file of trusted roots (TLS; empty: system roots)");
ABSL_FLAG(std::string, client_cert, "", "PEM client certificate chain (mutual TLS)");
ABSL_FLAG(std::string, client_key, "", "PEM client private key (mutual TLS)");
ABSL_FLAG(std::string, tls_server_name, "", "override the name checked against the server certificate");
ABSL_FLAG(std::string, output_json, "", "write the full report (every number) as JSON to this file");
ABSL_FLAG(std::string, output_csv, "", "write the accuracy grid as CSV to this file");
ABSL_FLAG(std::string, dump_samples, "", "write PNG grids of sample images under every corruption/severity here");
ABSL_FLAG(int32_t, dump_count, 4, "how many images --dump_samples shows");
ABSL_FLAG(int32_t, bootstrap_replicates, 2000,
          "with a baseline: resamples of the images for the paired bootstrap intervals (0: none)");
ABSL_FLAG(double, confidence, 0.95, "coverage of the bootstrap intervals, in (0, 1)");
ABSL_FLAG(bool, progress, true,
          "progress on stderr: a live bar on a terminal, otherwise a line every 5 s (done/total, img/s, ETA)");

namespace wtserve::loadgen {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Fail {
  int code;
  std::string message;
};

absl::StatusOr<ClientOptions> MakeClientOptions() {
  ClientOptions o;
  o.target = absl::GetFlag(FLAGS_target);
  o.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  o.default_deadline = absl::GetFlag(FLAGS_deadline);
  o.tls.enabled = absl::GetFlag(FLAGS_tls);
  o.tls.server_name_override = absl::GetFlag(FLAGS_tls_server_name);
  const std::pair<std::string, std::string*> files[] = {{absl::GetFlag(FLAGS_root_certs), &o.tls.root_certs_pem},
                                                        {absl::GetFlag(FLAGS_client_cert), &o.tls.client_cert_pem},
                                                        {absl::GetFlag(FLAGS_client_key), &o.tls.client_key_pem}};
  for (const auto& [path, pem] : files) {
    if (path.empty()) continue;
    absl::StatusOr<std::string> contents = ReadPemFile(path);
    if (!contents.ok()) return contents.status();
    *pem = *std::move(contents);
  }
  return o;
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary);
  out << contents;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::optional<Fail> Main() {
  // ---- flags
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) return Fail{kExitUsage, "--model is required"};
  absl::StatusOr<Transport> transport = ParseTransport(absl::GetFlag(FLAGS_transport));
  absl::StatusOr<Arrival> arrival = ParseArrival(absl::GetFlag(FLAGS_arrival));
  absl::StatusOr<InputKind> input = ParseInputKind(absl::GetFlag(FLAGS_input));
  absl::StatusOr<std::vector<int>> severities = ParseSeverities(absl::GetFlag(FLAGS_severities));
  for (const absl::Status& s : {transport.status(), arrival.status(), input.status(), severities.status()}) {
    if (!s.ok()) return Fail{kExitUsage, std::string(s.message())};
  }
  std::vector<std::string> corruptions;
  if (!absl::GetFlag(FLAGS_corruptions).empty()) {
    absl::StatusOr<std::vector<std::string>> parsed = corrupt::ParseCorruptions(absl::GetFlag(FLAGS_corruptions));
    if (!parsed.ok()) return Fail{kExitUsage, absl::StrCat("--corruptions: ", parsed.status().message())};
    corruptions = *std::move(parsed);
  }
  if (absl::GetFlag(FLAGS_fp32_scale) <= 0) return Fail{kExitUsage, "--fp32_scale must be > 0"};
  if (absl::GetFlag(FLAGS_dump_count) < 1) return Fail{kExitUsage, "--dump_count must be >= 1"};
  const int bootstrap_replicates = absl::GetFlag(FLAGS_bootstrap_replicates);
  if (bootstrap_replicates == 1 || bootstrap_replicates < 0) {
    return Fail{kExitUsage, "--bootstrap_replicates must be 0 (no intervals) or >= 2"};
  }
  const double confidence = absl::GetFlag(FLAGS_confidence);
  if (!(confidence > 0 && confidence < 1)) return Fail{kExitUsage, "--confidence must be in (0, 1)"};
  if (absl::GetFlag(FLAGS_baseline_model) == model &&
      absl::GetFlag(FLAGS_baseline_version) == absl::GetFlag(FLAGS_model_version)) {
    return Fail{kExitUsage, "--baseline_model/--baseline_version must name another model or version than --model"};
  }

  RunOptions run;
  run.transport = *transport;
  run.concurrency = absl::GetFlag(FLAGS_concurrency);
  run.rate = absl::GetFlag(FLAGS_rate);
  run.arrival = *arrival;
  run.max_requests = absl::GetFlag(FLAGS_requests);
  run.duration = absl::GetFlag(FLAGS_duration);
  run.single_pass = run.max_requests == 0 && run.duration == absl::ZeroDuration();
  run.batch_size = absl::GetFlag(FLAGS_batch_size);
  run.request_deadline = absl::GetFlag(FLAGS_deadline);
  run.seed = absl::GetFlag(FLAGS_seed);
  run.fp32_scale = static_cast<float>(absl::GetFlag(FLAGS_fp32_scale));
  run.progress = !absl::GetFlag(FLAGS_progress) ? ProgressMode::kOff
                 : isatty(STDERR_FILENO)        ? ProgressMode::kTerminal
                                                : ProgressMode::kLines;
  if (absl::Status s = ValidateRunOptions(run); !s.ok()) return Fail{kExitUsage, std::string(s.message())};
  const int64_t warmup = absl::GetFlag(FLAGS_warmup);
  if (warmup < 0) return Fail{kExitUsage, "--warmup must be >= 0"};

  absl::StatusOr<ClientOptions> client_options = MakeClientOptions();
  if (!client_options.ok()) return Fail{kExitUsage, std::string(client_options.status().message())};
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(*client_options);
  if (!client.ok()) return Fail{kExitUsage, std::string(client.status().message())};

  // ---- server and models
  const std::string target = client_options->target;
  if (absl::GetFlag(FLAGS_wait_for_server) > absl::ZeroDuration()) {
    if (absl::Status s = (*client)->WaitUntilServing(absl::GetFlag(FLAGS_wait_for_server)); !s.ok()) {
      return Fail{kExitFailure, absl::StrCat("server at ", target, " is not ready: ", s.message())};
    }
  }
  absl::StatusOr<ServerMetadata> server = (*client)->GetServerMetadata();
  if (!server.ok()) {
    return Fail{kExitFailure, absl::StrCat("cannot reach the server at ", target, ": ", server.status().ToString())};
  }
  std::vector<std::pair<std::string, std::string>> models = {{model, absl::GetFlag(FLAGS_model_version)}};
  if (!absl::GetFlag(FLAGS_baseline_model).empty()) {
    models.push_back({absl::GetFlag(FLAGS_baseline_model), absl::GetFlag(FLAGS_baseline_version)});
  }
  std::vector<ModelIo> ios;
  for (const auto& [name, version] : models) {
    absl::StatusOr<ModelMetadata> metadata = (*client)->GetModelMetadata(name, version);
    if (!metadata.ok()) {
      return Fail{kExitFailure, absl::StrCat(metadata.status().code() == absl::StatusCode::kNotFound
                                                 ? "unknown model '"
                                                 : "cannot get metadata of model '",
                                             name, "' at ", target, ": ", metadata.status().ToString())};
    }
    absl::StatusOr<ModelIo> io = ModelIoFromMetadata(*metadata);
    if (!io.ok()) return Fail{kExitFailure, std::string(io.status().message())};
    ios.push_back(*io);
  }

  // ---- data, prepared before any timing
  DataOptions data_options;
  data_options.source = absl::GetFlag(FLAGS_data);
  data_options.fmnist_dir = absl::GetFlag(FLAGS_data_dir);
  data_options.split = absl::GetFlag(FLAGS_split);
  data_options.image_folder = absl::GetFlag(FLAGS_image_folder);
  data_options.samples = absl::GetFlag(FLAGS_samples);
  data_options.seed = run.seed;
  absl::StatusOr<data::ImageDataset> dataset = LoadData(data_options, ios[0]);
  if (!dataset.ok()) return Fail{kExitFailure, std::string(dataset.status().message())};
  for (size_t m = 0; m < models.size(); ++m) {
    if (absl::Status s = CheckCompatible(*dataset, ios[m], *input, run.batch_size); !s.ok()) {
      return Fail{kExitFailure, absl::StrCat("model '", models[m].first, "': ", s.message())};
    }
  }
  if (!corruptions.empty() && !dataset->class_names.empty() && !run.single_pass) {
    std::fprintf(stderr,
                 "note: --requests/--duration make this a load run; accuracy counts each item's first answer\n");
  }
  const absl::Time prepare_start = absl::Now();
  const int threads = system::UsableCores();
  absl::StatusOr<Workload> workload =
      PrepareWorkload(*dataset, MakeConditions(corruptions, *severities), *input, run.seed, threads);
  if (!workload.ok()) return Fail{kExitFailure, std::string(workload.status().message())};
  std::fprintf(stderr, "prepared %lld items (%zu images x %zu conditions, %s) in %s\n",
               static_cast<long long>(workload->size()), dataset->images.size(), workload->conditions.size(),
               InputKindName(*input), absl::FormatDuration(absl::Now() - prepare_start).c_str());
  if (!absl::GetFlag(FLAGS_dump_samples).empty()) {
    if (absl::Status s = DumpSampleGrids(*dataset, corruptions, *severities, run.seed, absl::GetFlag(FLAGS_dump_count),
                                         absl::GetFlag(FLAGS_dump_samples));
        !s.ok()) {
      return Fail{kExitFailure, std::string(s.message())};
    }
  }

  // ---- timed phases
  Report report;
  RunConfig& c = report.config;
  c.target = target;
  c.model = model;
  c.model_version = models[0].second;
  c.baseline_model = absl::GetFlag(FLAGS_baseline_model);
  c.baseline_version = absl::GetFlag(FLAGS_baseline_version);
  c.transport = TransportName(run.transport);
  c.arrival = ArrivalName(run.arrival);
  c.input = InputKindName(*input);
  c.data = data_options.source;
  c.data_path = data_options.source == "fmnist"   ? data_options.fmnist_dir + " (" + data_options.split + ")"
                : data_options.source == "folder" ? data_options.image_folder
                                                  : "";
  c.concurrency = run.concurrency;
  c.rate = run.rate;
  c.batch_size = run.batch_size;
  c.warmup_requests = warmup;
  c.max_requests = run.max_requests;
  c.duration_s = absl::ToDoubleSeconds(run.duration);
  c.single_pass = run.single_pass;
  c.images = dataset->size();
  c.corruptions = corruptions;
  c.severities = corruptions.empty() ? std::vector<int>{} : *severities;
  c.seed = run.seed;
  c.fp32_scale = run.fp32_scale;
  c.server_name = server->name;
  c.server_version = server->version;
  c.started_at_utc = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());

  bool failed_accuracy_requests = false;
  for (size_t m = 0; m < models.size(); ++m) {
    const auto& [name, version] = models[m];
    if (warmup > 0) {
      RunOptions warm = run;
      warm.single_pass = false;
      warm.max_requests = warmup;
      warm.duration = absl::ZeroDuration();
      warm.rate = 0;
      warm.progress = ProgressMode::kOff;
      absl::StatusOr<RunResult> w = Run(**client, *workload, ios[m], name, version, warm);
      if (!w.ok()) return Fail{kExitFailure, absl::StrCat("warmup of '", name, "': ", w.status().message())};
    }
    RunOptions timed = run;
    timed.label = name;
    absl::StatusOr<RunResult> result = Run(**client, *workload, ios[m], name, version, timed);
    if (!result.ok()) return Fail{kExitFailure, absl::StrCat("run of '", name, "': ", result.status().message())};
    if (run.single_pass && result->requests_failed > 0) failed_accuracy_requests = true;
    report.models.push_back(
        MakeModelReport(name, version, m == 0 ? "model" : "baseline", *workload, *std::move(result)));
  }
  const std::vector<std::string> imagenet_c(corrupt::CorruptionNames().begin(),
                                            corrupt::CorruptionNames().begin() + 15);
  if (report.models.size() == 2 && report.models[0].accuracy && !corruptions.empty()) {
    std::string error;
    report.corruption_errors =
        ComputeCorruptionErrors(*report.models[0].accuracy, *report.models[1].accuracy, imagenet_c, &error);
  }
  // Paired intervals need every item answered once by each model on the same images.
  if (report.models.size() == 2 && report.models[0].accuracy && run.single_pass && bootstrap_replicates > 0) {
    BootstrapOptions bootstrap;
    bootstrap.replicates = bootstrap_replicates;
    bootstrap.confidence = confidence;
    bootstrap.seed = run.seed;
    absl::StatusOr<PairedStatistics> paired =
        ComputePairedStatistics(BuildOutcomeGrid(*workload, report.models[0].run.predictions),
                                BuildOutcomeGrid(*workload, report.models[1].run.predictions), imagenet_c, bootstrap);
    if (!paired.ok()) return Fail{kExitFailure, std::string(paired.status().message())};
    report.paired = *std::move(paired);
  }

  std::fputs(RenderText(report).c_str(), stdout);
  std::fflush(stdout);
  if (!absl::GetFlag(FLAGS_output_json).empty()) {
    if (absl::Status s = WriteFile(absl::GetFlag(FLAGS_output_json), RenderJson(report)); !s.ok()) {
      return Fail{kExitFailure, std::string(s.message())};
    }
  }
  if (!absl::GetFlag(FLAGS_output_csv).empty()) {
    if (absl::Status s = WriteFile(absl::GetFlag(FLAGS_output_csv), RenderCsv(report)); !s.ok()) {
      return Fail{kExitFailure, std::string(s.message())};
    }
  }
  if (failed_accuracy_requests) {
    return Fail{kExitFailure, "some requests of the accuracy run failed (see status codes); accuracy is incomplete"};
  }
  return std::nullopt;
}

}  // namespace
}  // namespace wtserve::loadgen

int main(int argc, char** argv) {
  wtserve::cli::SetUsage(
      __FILE__,
      "measures throughput, latency and robustness to corrupted images of a model served by wtserve.\n"
      "  wtserve-loadgen --model=wtconvnext_fmnist --corruptions=all --samples=500\n"
      "  wtserve-loadgen --model=m --concurrency=8 --duration=30s --transport=async --batch_size=8\n"
      "Flags may be written with '-' or '_' (--batch-size = --batch_size). See docs/loadgen.md.");
  std::vector<std::string> args(argv, argv + argc);
  args = wtserve::loadgen::NormalizeFlagNames(args);
  std::vector<char*> normalized;
  for (std::string& a : args) normalized.push_back(a.data());
  std::vector<char*> positional = absl::ParseCommandLine(static_cast<int>(normalized.size()), normalized.data());
  if (positional.size() > 1) {
    std::fprintf(stderr, "wtserve-loadgen: unexpected argument '%s' (flags start with --)\n", positional[1]);
    return 2;
  }
  std::optional<wtserve::loadgen::Fail> fail = wtserve::loadgen::Main();
  if (fail) {
    std::fprintf(stderr, "wtserve-loadgen: %s\n", fail->message.c_str());
    return fail->code;
  }
  return 0;
}

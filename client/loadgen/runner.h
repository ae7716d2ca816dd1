// The timed phase: sends the workload's requests in a closed or open loop and records latency,
// status codes and the model's answers.
#ifndef WTSERVE_CLIENT_LOADGEN_RUNNER_H_
#define WTSERVE_CLIENT_LOADGEN_RUNNER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/loadgen/progress.h"
#include "client/loadgen/workload.h"
#include "wtserve/client.h"

namespace wtserve::loadgen {

enum class Transport { kSync, kAsync, kStream };
enum class Arrival { kPoisson, kConstant };
absl::StatusOr<Transport> ParseTransport(const std::string& text);  // sync, async, stream
absl::StatusOr<Arrival> ParseArrival(const std::string& text);      // poisson, constant
const char* TransportName(Transport t);
const char* ArrivalName(Arrival a);

struct RunOptions {
  Transport transport = Transport::kSync;
  // Closed loop (rate == 0): `concurrency` requests always in flight. Open loop (rate > 0):
  // requests start at arrival times of a Poisson or constant process of `rate` requests/s, no
  // matter how many are in flight; with the sync transport `concurrency` threads send them.
  int concurrency = 1;
  double rate = 0;
  Arrival arrival = Arrival::kPoisson;
  // Bounds; at least one applies. single_pass: each item exactly once (ceil(items/batch)
  // requests). Otherwise requests cycle over the items until max_requests (> 0) were started
  // or duration (> 0) has passed since the start, whichever comes first.
  bool single_pass = true;
  int64_t max_requests = 0;
  absl::Duration duration = absl::ZeroDuration();
  int64_t batch_size = 1;
  absl::Duration request_deadline = absl::Seconds(30);
  uint64_t seed = 0;  // Poisson arrivals
  float fp32_scale = 1.0f / 255.0f;
  ProgressMode progress = ProgressMode::kOff;           // on stderr
  absl::Duration progress_interval = absl::Seconds(5);  // kLines: one line per interval
  std::string label;                                    // shown in the progress line
};

struct RunResult {
  int64_t requests_sent = 0, requests_ok = 0, requests_failed = 0;
  int64_t images_sent = 0, images_ok = 0;
  double elapsed_s = 0;  // first send to last completion
  // Latency of successful requests, seconds. Closed loop: send to response. Open loop: scheduled
  // arrival to response, so a client that falls behind shows it (no coordinated omission).
  std::vector<double> latencies_s;
  std::map<std::string, int64_t> status_counts;      // "OK", "UNAVAILABLE", ... over all requests
  std::map<std::string, std::string> first_message;  // first error message per failing code
  std::string model_version;                         // as echoed by the first successful response
  // Per workload item: top-1 class of its first answer, -1 if it got none.
  std::vector<int64_t> predictions;
};

// InvalidArgument for inconsistent options (no bound in cycling mode, concurrency < 1, ...).
absl::Status ValidateRunOptions(const RunOptions& options);

absl::StatusOr<RunResult> Run(Client& client, const Workload& workload, const ModelIo& io, const std::string& model,
                              const std::string& version, const RunOptions& options);

}  // namespace wtserve::loadgen

#endif  // WTSERVE_CLIENT_LOADGEN_RUNNER_H_

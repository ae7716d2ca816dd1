// grpc_round_trip: gRPC's own round trip to one running wtserve — the floor under any
// inference call's latency and server CPU. It times ServerLive (empty request, one-field
// response, no model) on one channel with the synchronous stub from --threads callers at once
// (each with its own calls in flight one at a time, as the load generator's closed loop), after
// a warm-up, and prints one JSON line: {"threads": T, "calls": N, "mean_us": ..., "p50_us": ...,
// "p99_us": ...} (calls in all; latencies over every call). scripts/bench-serving.sh subtracts
// the mean from the concurrency-1 overhead and reads the server's CPU time around each run.
//
// Usage: grpc_round_trip --target=HOST:PORT [--calls=3000] [--warmup=300] [--threads=1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bench/common/take_flag.h"
#include "inference.grpc.pb.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "grpc_round_trip: %s\n", message.c_str());
  return 1;
}

// A positive count from --name=value, or `fallback` when the flag is absent; -1 when malformed.
long CountFlag(int* argc, char** argv, const char* name, long fallback) {
  const std::string text = wtserve::bench::TakeFlag(argc, argv, name);
  if (text.empty()) return fallback;
  char* rest = nullptr;
  const long value = std::strtol(text.c_str(), &rest, 10);
  return (*rest != '\0' || value < 1 || value > 10'000'000) ? -1 : value;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string target = wtserve::bench::TakeFlag(&argc, argv, "target");
  const long calls = CountFlag(&argc, argv, "calls", 3000);
  const long warmup = CountFlag(&argc, argv, "warmup", 300);
  const long threads = CountFlag(&argc, argv, "threads", 1);
  if (argc > 1) return Fail(std::string("unknown argument ") + argv[1]);
  if (target.empty()) return Fail("--target=HOST:PORT is required");
  if (calls < 0 || warmup < 0 || threads < 0) return Fail("--calls, --warmup and --threads must be positive integers");
  if (threads > 1024) return Fail("--threads must be at most 1024");

  auto stub = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  auto call = [&]() -> grpc::Status {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    inference::ServerLiveRequest request;
    inference::ServerLiveResponse response;
    return stub->ServerLive(&context, request, &response);
  };
  for (long i = 0; i < warmup; ++i) {
    if (const grpc::Status s = call(); !s.ok()) return Fail("ServerLive failed: " + s.error_message());
  }
  // Caller t makes calls t, t + threads, ...; each records its own latencies.
  std::vector<std::vector<double>> per_thread(static_cast<size_t>(threads));
  std::vector<std::string> errors(static_cast<size_t>(threads));
  std::vector<std::thread> callers;
  for (long t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      std::vector<double>& mine = per_thread[static_cast<size_t>(t)];
      for (long i = t; i < calls; i += threads) {
        const auto start = std::chrono::steady_clock::now();
        if (const grpc::Status s = call(); !s.ok()) {
          errors[static_cast<size_t>(t)] = s.error_message();
          return;
        }
        mine.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
      }
    });
  }
  for (std::thread& c : callers) c.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return Fail("ServerLive failed: " + e);
  }
  std::vector<double> us;
  us.reserve(static_cast<size_t>(calls));
  for (const std::vector<double>& mine : per_thread) us.insert(us.end(), mine.begin(), mine.end());
  double sum = 0;
  for (double v : us) sum += v;
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  std::printf("{\"threads\": %ld, \"calls\": %ld, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n", threads,
              calls, sum / us.size(), at(0.5), at(0.99));
  return 0;
}

#include "client/loadgen/runner.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <optional>
#include <random>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace wtserve::loadgen {

absl::StatusOr<Transport> ParseTransport(const std::string& text) {
  if (text == "sync") return Transport::kSync;
  if (text == "async") return Transport::kAsync;
  if (text == "stream") return Transport::kStream;
  return absl::InvalidArgumentError(absl::StrCat("--transport must be sync, async or stream, got '", text, "'"));
}

absl::StatusOr<Arrival> ParseArrival(const std::string& text) {
  if (text == "poisson") return Arrival::kPoisson;
  if (text == "constant") return Arrival::kConstant;
  return absl::InvalidArgumentError(absl::StrCat("--arrival must be poisson or constant, got '", text, "'"));
}

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kSync: return "sync";
    case Transport::kAsync: return "async";
    case Transport::kStream: return "stream";
  }
  return "?";
}

const char* ArrivalName(Arrival a) { return a == Arrival::kPoisson ? "poisson" : "constant"; }

absl::Status ValidateRunOptions(const RunOptions& o) {
  if (o.concurrency < 1)
    return absl::InvalidArgumentError(absl::StrCat("--concurrency must be >= 1, got ", o.concurrency));
  if (o.rate < 0) return absl::InvalidArgumentError(absl::StrCat("--rate must be >= 0, got ", o.rate));
  if (o.batch_size < 1)
    return absl::InvalidArgumentError(absl::StrCat("--batch_size must be >= 1, got ", o.batch_size));
  if (o.max_requests < 0) return absl::InvalidArgumentError("--requests must be >= 0");
  if (o.duration < absl::ZeroDuration()) return absl::InvalidArgumentError("--duration must be >= 0");
  if (!o.single_pass && o.max_requests == 0 && o.duration == absl::ZeroDuration()) {
    return absl::InvalidArgumentError("a load run needs --requests and/or --duration so that it stops");
  }
  if (o.request_deadline <= absl::ZeroDuration()) return absl::InvalidArgumentError("--deadline must be > 0");
  return absl::OkStatus();
}

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

class Engine {
 public:
  Engine(Client& client, const Workload& workload, const ModelIo& io, const std::string& model,
         const std::string& version, const RunOptions& options)
      : client_(client), workload_(workload), io_(io), model_(model), version_(version), options_(options) {
    const int64_t n = workload.size();
    num_batches_ = (n + options.batch_size - 1) / options.batch_size;
    result_.predictions.assign(static_cast<size_t>(n), -1);
  }

  absl::StatusOr<RunResult> Run() {
    start_ = Clock::now();
    {
      absl::MutexLock lock(&mu_);
      last_completion_ = start_;
    }
    if (options_.duration > absl::ZeroDuration()) {
      end_ = start_ + std::chrono::duration_cast<Clock::duration>(absl::ToChronoNanoseconds(options_.duration));
    }
    std::thread progress;
    if (options_.progress != ProgressMode::kOff) progress = std::thread([this] { ProgressLoop(); });
    absl::Status status = options_.rate > 0 ? OpenLoop() : ClosedLoop();
    {
      absl::MutexLock lock(&mu_);
      issuing_done_ = true;
      mu_.Await(absl::Condition(this, &Engine::AllDone));
      finished_ = true;
    }
    if (progress.joinable()) progress.join();
    if (stream_ != nullptr) {
      absl::Status stream_status = stream_->Finish();
      if (status.ok() && !stream_status.ok() && result_.requests_failed == 0) status = stream_status;
    }
    if (!status.ok()) return status;
    absl::MutexLock lock(&mu_);
    result_.elapsed_s = Seconds(last_completion_ - start_);
    return std::move(result_);
  }

 private:
  bool AllDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return issuing_done_ && in_flight_ == 0; }

  // Claims the next request index if a bound still allows one. The open loop checks the
  // duration against the arrival's scheduled time itself (check_time false), so a dispatcher
  // that wakes late does not drop arrivals that fell inside the window.
  std::optional<int64_t> Claim(bool check_time = true) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (options_.single_pass && next_ >= num_batches_) return std::nullopt;
    if (options_.max_requests > 0 && next_ >= options_.max_requests) return std::nullopt;
    if (check_time && end_ && Clock::now() >= *end_) return std::nullopt;
    ++in_flight_;
    return next_++;
  }

  std::vector<int64_t> ItemsOf(int64_t k) const {
    const int64_t n = workload_.size();
    std::vector<int64_t> items;
    if (options_.single_pass) {
      for (int64_t i = k * options_.batch_size; i < std::min(n, (k + 1) * options_.batch_size); ++i) items.push_back(i);
    } else {
      for (int64_t j = 0; j < options_.batch_size; ++j) items.push_back((k * options_.batch_size + j) % n);
    }
    return items;
  }

  InferRequest Build(const std::vector<int64_t>& items) const {
    return BuildRequest(workload_, items, io_, model_, version_, options_.fp32_scale);
  }

  CallOptions Call() const { return CallOptions{options_.request_deadline}; }

  // Records one answer; returns the next request to send when `chain` (closed loop) and a
  // bound allows.
  std::optional<int64_t> Complete(const std::vector<int64_t>& items, Clock::time_point started,
                                  const absl::StatusOr<InferResult>& result, bool chain) {
    const Clock::time_point now = Clock::now();
    absl::Status status = result.status();
    std::vector<Classification> top;
    if (status.ok()) {
      absl::StatusOr<const Tensor*> output = result->Output(io_.output_name);
      absl::StatusOr<std::vector<Classification>> parsed =
          output.ok() ? ParseClassification(**output) : absl::StatusOr<std::vector<Classification>>(output.status());
      if (!parsed.ok()) {
        status = absl::InternalError(absl::StrCat("unusable response: ", parsed.status().message()));
      } else if (parsed->size() != items.size() ||
                 std::any_of(parsed->begin(), parsed->end(), [](const auto& c) { return c.empty(); })) {
        status = absl::InternalError(
            absl::StrCat("response classifies ", parsed->size(), " images, request had ", items.size()));
      } else {
        top = *std::move(parsed);
      }
    }
    absl::MutexLock lock(&mu_);
    last_completion_ = std::max(last_completion_, now);
    ++result_.requests_sent;
    result_.images_sent += static_cast<int64_t>(items.size());
    ++result_.status_counts[absl::StatusCodeToString(status.code())];
    if (status.ok()) {
      if (result_.model_version.empty()) result_.model_version = result->model_version;
      ++result_.requests_ok;
      result_.images_ok += static_cast<int64_t>(items.size());
      result_.latencies_s.push_back(Seconds(now - started));
      for (size_t j = 0; j < items.size(); ++j) {
        int64_t& prediction = result_.predictions[static_cast<size_t>(items[j])];
        if (prediction < 0) prediction = top[j][0].index;
      }
    } else {
      ++result_.requests_failed;
      result_.first_message.emplace(absl::StatusCodeToString(status.code()), std::string(status.message()));
    }
    // Claiming the successor (which counts it in flight) under the same lock as retiring this
    // one keeps in_flight_ from touching 0 in between.
    std::optional<int64_t> next = chain ? Claim() : std::nullopt;
    --in_flight_;
    return next;
  }

  // Sends request k without waiting; `started` is when it counts as started. A callback can run
  // inline (a stream that already ended answers at once), and its successor would then recurse;
  // sends that start inside a send are queued and run by the outermost call instead, so the
  // stack stays flat however many requests fail that way.
  void SendAsync(int64_t k, Clock::time_point started, bool chain) {
    struct Pending {
      Engine* engine;
      int64_t k;
      Clock::time_point started;
      bool chain;
    };
    thread_local std::vector<Pending>* active = nullptr;
    if (active != nullptr) {
      active->push_back({this, k, started, chain});
      return;
    }
    std::vector<Pending> queue{{this, k, started, chain}};
    active = &queue;
    for (size_t i = 0; i < queue.size(); ++i) {
      const Pending p = queue[i];
      p.engine->SendOne(p.k, p.started, p.chain);
    }
    active = nullptr;
  }

  void SendOne(int64_t k, Clock::time_point started, bool chain) {
    auto items = std::make_shared<std::vector<int64_t>>(ItemsOf(k));
    InferRequest request = Build(*items);
    auto done = [this, items, started, chain](absl::StatusOr<InferResult> result) {
      std::optional<int64_t> next = Complete(*items, started, result, chain);
      if (next) SendAsync(*next, Clock::now(), chain);
    };
    if (options_.transport == Transport::kStream) {
      stream_->Send(request, std::move(done));
    } else {
      client_.InferAsync(request, std::move(done), Call());
    }
  }

  void SendSyncLoop() {
    std::optional<int64_t> k;
    {
      absl::MutexLock lock(&mu_);
      k = Claim();
    }
    while (k) {
      const std::vector<int64_t> items = ItemsOf(*k);
      const InferRequest request = Build(items);
      const Clock::time_point started = Clock::now();
      absl::StatusOr<InferResult> result = client_.Infer(request, Call());
      k = Complete(items, started, result, /*chain=*/true);
    }
  }

  absl::Status OpenStreamIfNeeded() {
    if (options_.transport != Transport::kStream) return absl::OkStatus();
    CallOptions call;
    call.deadline = absl::InfiniteDuration();
    absl::StatusOr<std::unique_ptr<InferStream>> stream = client_.OpenStream(call);
    if (!stream.ok()) return stream.status();
    stream_ = *std::move(stream);
    return absl::OkStatus();
  }

  absl::Status ClosedLoop() {
    if (absl::Status s = OpenStreamIfNeeded(); !s.ok()) return s;
    if (options_.transport == Transport::kSync) {
      std::vector<std::thread> threads;
      for (int i = 0; i < options_.concurrency; ++i) threads.emplace_back([this] { SendSyncLoop(); });
      for (auto& t : threads) t.join();
      return absl::OkStatus();
    }
    for (int i = 0; i < options_.concurrency; ++i) {
      std::optional<int64_t> k;
      {
        absl::MutexLock lock(&mu_);
        k = Claim();
      }
      if (!k) break;
      SendAsync(*k, Clock::now(), /*chain=*/true);
    }
    return absl::OkStatus();
  }

  absl::Status OpenLoop() {
    if (absl::Status s = OpenStreamIfNeeded(); !s.ok()) return s;
    std::mt19937_64 rng(options_.seed);
    std::exponential_distribution<double> gap(options_.rate);
    // Sync transport: a queue of scheduled requests served by `concurrency` threads.
    absl::Mutex queue_mu;
    absl::CondVar queue_cv;
    std::deque<std::pair<int64_t, Clock::time_point>> queue;
    bool queue_closed = false;
    std::vector<std::thread> workers;
    if (options_.transport == Transport::kSync) {
      for (int i = 0; i < options_.concurrency; ++i) {
        workers.emplace_back([&] {
          while (true) {
            std::pair<int64_t, Clock::time_point> job;
            {
              absl::MutexLock lock(&queue_mu);
              while (queue.empty() && !queue_closed) queue_cv.Wait(&queue_mu);
              if (queue.empty()) return;
              job = queue.front();
              queue.pop_front();
            }
            const std::vector<int64_t> items = ItemsOf(job.first);
            absl::StatusOr<InferResult> result = client_.Infer(Build(items), Call());
            Complete(items, job.second, result, /*chain=*/false);
          }
        });
      }
    }
    double offset_s = 0;
    for (int64_t i = 0;; ++i) {
      offset_s = options_.arrival == Arrival::kConstant ? static_cast<double>(i) / options_.rate : offset_s + gap(rng);
      const Clock::time_point at =
          start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(offset_s));
      if (end_ && at >= *end_) break;
      // Pacing, not synchronisation: wait for the arrival time.
      std::this_thread::sleep_until(at);
      std::optional<int64_t> k;
      {
        absl::MutexLock lock(&mu_);
        k = Claim(/*check_time=*/false);
      }
      if (!k) break;
      if (options_.transport == Transport::kSync) {
        absl::MutexLock lock(&queue_mu);
        queue.emplace_back(*k, at);
        queue_cv.Signal();
      } else {
        SendAsync(*k, at, /*chain=*/false);
      }
    }
    {
      absl::MutexLock lock(&queue_mu);
      queue_closed = true;
      queue_cv.SignalAll();
    }
    for (auto& t : workers) t.join();
    return absl::OkStatus();
  }

  void ProgressLoop() {
    const bool terminal = options_.progress == ProgressMode::kTerminal;
    const absl::Duration interval = terminal ? absl::Milliseconds(500) : options_.progress_interval;
    absl::MutexLock lock(&mu_);
    while (!finished_) {  // the last pass (finished) shows the final count
      mu_.AwaitWithTimeout(absl::Condition(&finished_), interval);
      std::fputs(FormatProgress(Snapshot(), options_.progress).c_str(), stderr);
    }
    if (terminal) std::fputs("\n", stderr);
  }

  ProgressSnapshot Snapshot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ProgressSnapshot s;
    s.label = options_.label;
    s.done = result_.requests_ok + result_.requests_failed;
    s.total = options_.single_pass ? num_batches_ : options_.max_requests;
    s.failed = result_.requests_failed;
    s.images_ok = result_.images_ok;
    s.elapsed_s = Seconds(Clock::now() - start_);
    s.duration_s = absl::ToDoubleSeconds(options_.duration);
    if (next_ > 0 && workload_.size() > 0) {
      const int64_t item = ((next_ - 1) * options_.batch_size) % workload_.size();
      const Condition& c = workload_.conditions[static_cast<size_t>(workload_.condition_of[static_cast<size_t>(item)])];
      s.condition = c.corruption.empty() ? "clean" : absl::StrCat(c.corruption, " s", c.severity);
    }
    return s;
  }

  Client& client_;
  const Workload& workload_;
  const ModelIo& io_;
  const std::string model_, version_;
  const RunOptions options_;
  int64_t num_batches_ = 0;
  Clock::time_point start_;
  std::optional<Clock::time_point> end_;
  std::unique_ptr<InferStream> stream_;

  absl::Mutex mu_;
  int64_t next_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool issuing_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  Clock::time_point last_completion_ ABSL_GUARDED_BY(mu_);
  RunResult result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<RunResult> Run(Client& client, const Workload& workload, const ModelIo& io, const std::string& model,
                              const std::string& version, const RunOptions& options) {
  if (absl::Status s = ValidateRunOptions(options); !s.ok()) return s;
  if (workload.size() == 0) return absl::FailedPreconditionError("nothing to send: the workload is empty");
  Engine engine(client, workload, io, model, version, options);
  return engine.Run();
}

}  // namespace wtserve::loadgen

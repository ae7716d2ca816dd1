// Test doubles for the dynamic batcher: a fake model that the test can hold at a gate, and a
// collector of completion callbacks. Waits are condition waits with a real-time limit, so a bug
// fails the test instead of hanging it.
#ifndef WTSERVE_TESTS_RUNTIME_BATCHER_TEST_UTIL_H_
#define WTSERVE_TESTS_RUNTIME_BATCHER_TEST_UTIL_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/runtime/batcher_clock.h"
#include "server/runtime/dynamic_batcher.h"

namespace wtserve::runtime::testing {

inline constexpr absl::Duration kWaitLimit = absl::Seconds(30);

// Rows of request `id`: element [r][c] = id * 100 + r, so every row says whose it is.
inline at::Tensor RequestInput(int id, int64_t rows, int64_t features = 3) {
  return (at::arange(rows, at::kFloat).unsqueeze(1).expand({rows, features}) + id * 100.0).contiguous();
}

// What the fake model computes, so that outputs also say which instance ran them.
inline at::Tensor ExpectedOutput(const at::Tensor& input, int instance) { return input * 2 + 1000.0 * instance; }

// The model: output = input * 2 + 1000 * instance. Records every batch it sees. While the gate is
// closed, calls block after being recorded (so tests can pile up requests behind a busy instance).
class FakeModel {
 public:
  enum class Behaviour { kCompute, kReturnError, kThrow, kThrowNonStd, kWrongRowCount };

  struct Call {
    int instance;
    at::Tensor batch;
  };

  ExecuteFn AsExecuteFn() {
    return [this](int instance, const at::Tensor& batch) { return Run(instance, batch); };
  }

  absl::StatusOr<at::Tensor> Run(int instance, const at::Tensor& batch) {
    Behaviour behaviour = Behaviour::kCompute;
    absl::Duration compute_time;
    FakeClock* clock = nullptr;
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back({instance, batch.clone()});
      ++in_flight_;
      mu_.Await(absl::Condition(&gate_open_));
      --in_flight_;
      if (!behaviours_.empty()) {
        behaviour = behaviours_.front();
        behaviours_.pop_front();
      }
      compute_time = compute_time_;
      clock = clock_;
    }
    if (clock != nullptr && compute_time > absl::ZeroDuration()) clock->Advance(compute_time);
    switch (behaviour) {
      case Behaviour::kCompute: return ExpectedOutput(batch, instance);
      case Behaviour::kReturnError: return absl::ResourceExhaustedError("fake model out of memory");
      case Behaviour::kThrow: TORCH_CHECK(false, "fake model threw on a batch of ", batch.size(0));
      case Behaviour::kThrowNonStd: throw 42;
      case Behaviour::kWrongRowCount: return ExpectedOutput(batch, instance).narrow(0, 0, batch.size(0) - 1);
    }
    return absl::InternalError("unreachable");
  }

  void CloseGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    absl::MutexLock lock(&mu_);
    gate_open_ = true;
  }
  // Until `n` calls have started and not finished (with the gate closed: are blocked at it).
  bool AwaitInFlight(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWaitLimit);
  }
  // Behaviours for the next calls, in order; then kCompute.
  void QueueBehaviour(Behaviour b) {
    absl::MutexLock lock(&mu_);
    behaviours_.push_back(b);
  }
  // Every call advances `clock` by `d` (to give batches a known compute time).
  void SetComputeTime(FakeClock* clock, absl::Duration d) {
    absl::MutexLock lock(&mu_);
    clock_ = clock;
    compute_time_ = d;
  }

  std::vector<Call> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<int64_t> batch_sizes() {
    absl::MutexLock lock(&mu_);
    std::vector<int64_t> sizes;
    for (const Call& c : calls_) sizes.push_back(c.batch.size(0));
    return sizes;
  }

 private:
  absl::Mutex mu_;
  bool gate_open_ ABSL_GUARDED_BY(mu_) = true;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<Behaviour> behaviours_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  FakeClock* clock_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration compute_time_ ABSL_GUARDED_BY(mu_);
};

// Collects completion callbacks by request id and counts how often each one was called.
class Collector {
 public:
  struct Result {
    absl::StatusOr<at::Tensor> output;
    RequestTimings timings;
    int calls = 0;
  };

  CompletionCallback Callback(int id) {
    return [this, id](absl::StatusOr<at::Tensor> output, const RequestTimings& timings) {
      absl::MutexLock lock(&mu_);
      Result& r = results_[id];
      r.output = std::move(output);
      r.timings = timings;
      ++r.calls;
      ++answered_;
      return Reply{r.output.status(), {}};
    };
  }

  // Until `n` callbacks in total have run.
  bool AwaitAnswered(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answered_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWaitLimit);
  }

  int answered() {
    absl::MutexLock lock(&mu_);
    return answered_;
  }
  bool has(int id) {
    absl::MutexLock lock(&mu_);
    return results_.count(id) > 0;
  }
  Result get(int id) {
    absl::MutexLock lock(&mu_);
    return results_.at(id);
  }

 private:
  absl::Mutex mu_;
  std::map<int, Result> results_ ABSL_GUARDED_BY(mu_);
  int answered_ ABSL_GUARDED_BY(mu_) = 0;
};

// Records observer events.
class RecordingObserver : public DynamicBatcherObserver {
 public:
  void OnQueueDepthChanged(int64_t requests, int64_t elements) override {
    absl::MutexLock lock(&mu_);
    depths_.push_back({requests, elements});
  }
  void OnBatchExecuted(const ExecutedBatch& batch) override {
    absl::MutexLock lock(&mu_);
    batches_.push_back(batch);
  }
  std::vector<std::pair<int64_t, int64_t>> depths() {
    absl::MutexLock lock(&mu_);
    return depths_;
  }
  std::vector<ExecutedBatch> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::pair<int64_t, int64_t>> depths_ ABSL_GUARDED_BY(mu_);
  std::vector<ExecutedBatch> batches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wtserve::runtime::testing

#endif  // WTSERVE_TESTS_RUNTIME_BATCHER_TEST_UTIL_H_

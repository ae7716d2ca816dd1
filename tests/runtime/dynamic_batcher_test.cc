// Deterministic tests of the dynamic batcher: a FakeClock drives every delay and timeout, a
// FakeModel holds batches at a gate so requests pile up where the test wants them, and
// FakeClock::AwaitWaiters tells when the batcher's threads have looked at the current state and
// gone idle. No sleeps.
#include "server/runtime/dynamic_batcher.h"

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <atomic>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "tests/runtime/batcher_test_util.h"

namespace wtserve::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::wtserve::runtime::testing::Collector;
using ::wtserve::runtime::testing::ExpectedOutput;
using ::wtserve::runtime::testing::FakeModel;
using ::wtserve::runtime::testing::kWaitLimit;
using ::wtserve::runtime::testing::RecordingObserver;
using ::wtserve::runtime::testing::RequestInput;

// Options with chained setters (C++17 has no designated initializers).
struct Opts {
  explicit Opts(int64_t max_batch_size) {
    options.model_name = "fake";
    options.max_batch_size = max_batch_size;
  }
  Opts& name(std::string n) {
    options.model_name = std::move(n);
    return *this;
  }
  Opts& preferred(std::vector<int64_t> sizes) {
    options.preferred_batch_sizes = std::move(sizes);
    return *this;
  }
  Opts& delay(absl::Duration d) {
    options.max_queue_delay = d;
    return *this;
  }
  Opts& queue_size(int64_t n) {
    options.max_queue_size = n;
    return *this;
  }
  Opts& queue_timeout(absl::Duration d) {
    options.default_queue_timeout = d;
    return *this;
  }
  Opts& instances(int n) {
    options.instance_count = n;
    return *this;
  }
  operator DynamicBatcherOptions() const { return options; }  // NOLINT: implicit on purpose

  DynamicBatcherOptions options;
};

class DynamicBatcherTest : public ::testing::Test {
 protected:
  void TearDown() override {
    model_.OpenGate();
    batcher_.reset();
  }

  void Start(DynamicBatcherOptions options) {
    auto batcher = DynamicBatcher::Create(options, model_.AsExecuteFn(), &observer_, &clock_);
    ASSERT_TRUE(batcher.ok()) << batcher.status();
    batcher_ = *std::move(batcher);
  }

  std::unique_ptr<InferenceRequest> Request(int id, int64_t rows) {
    auto r = std::make_unique<InferenceRequest>();
    r->input = RequestInput(id, rows);
    r->on_complete = collector_.Callback(id);
    return r;
  }

  // Enqueues `request`; a refused one is destroyed unanswered.
  absl::Status Enqueue(std::unique_ptr<InferenceRequest> request) { return batcher_->Enqueue(&request); }

  void Submit(int id, int64_t rows) {
    absl::Status s = Enqueue(Request(id, rows));
    ASSERT_TRUE(s.ok()) << s;
  }

  // Until `threads` batcher threads (idle workers + the reaper) wait at the current fake time,
  // i.e. have acted on everything that happened before this call.
  void Settle(int threads) {
    clock_.Advance(absl::ZeroDuration());
    ASSERT_TRUE(clock_.AwaitWaiters(threads));
  }

  // Request `id` of `rows` rows got exactly its own rows of the output, once.
  void ExpectRouted(int id, int64_t rows) {
    ASSERT_TRUE(collector_.has(id)) << "request " << id << " not answered";
    Collector::Result r = collector_.get(id);
    EXPECT_EQ(r.calls, 1) << "request " << id;
    ASSERT_TRUE(r.output.ok()) << "request " << id << ": " << r.output.status();
    ASSERT_EQ(r.output->sizes(), (std::vector<int64_t>{rows, 3})) << "request " << id;
    EXPECT_TRUE(at::equal(*r.output, ExpectedOutput(RequestInput(id, rows), r.timings.instance)))
        << "request " << id << " got rows of another request";
  }

  absl::StatusCode CodeOf(int id) { return collector_.get(id).output.status().code(); }

  FakeClock clock_;
  FakeModel model_;
  Collector collector_;
  RecordingObserver observer_;
  std::unique_ptr<DynamicBatcher> batcher_;  // last, so it is drained before the rest goes
};

TEST_F(DynamicBatcherTest, ZeroDelayRunsASingleRequestAtOnce) {
  Start(Opts(8));
  Submit(1, 2);
  ASSERT_TRUE(collector_.AwaitAnswered(1));
  ExpectRouted(1, 2);
  Collector::Result r = collector_.get(1);
  EXPECT_EQ(r.timings.batch_size, 2);
  EXPECT_EQ(r.timings.instance, 0);
  EXPECT_EQ(r.timings.queue_time, absl::ZeroDuration());
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(2));
}

#ifdef __linux__
// A delayed batch must not start up to 50 us late: the workers run with a 1 us timer slack
// (Linux's default for normal threads is 50 us), whatever the thread that created them has.
TEST(DynamicBatcherTimerSlackTest, WorkersWaitWithATightTimerSlack) {
  std::atomic<long> worker_slack_ns{-1};
  auto created = DynamicBatcher::Create(Opts(4), [&](int, const at::Tensor& batch) -> absl::StatusOr<at::Tensor> {
    worker_slack_ns = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    return batch.clone();
  });
  ASSERT_TRUE(created.ok()) << created.status();
  Collector collector;
  auto request = std::make_unique<InferenceRequest>();
  request->input = RequestInput(1, 1);
  request->on_complete = collector.Callback(1);
  ASSERT_TRUE((*created)->Enqueue(&request).ok());
  ASSERT_TRUE(collector.AwaitAnswered(1));
  EXPECT_EQ(worker_slack_ns.load(), 1000);
  EXPECT_NE(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 1000) << "the test thread's own slack changed";
}
#endif

TEST_F(DynamicBatcherTest, FormsBatchesUpToMaxBatchSize) {
  Start(Opts(4).delay(absl::Seconds(1)));
  model_.CloseGate();
  Submit(0, 4);  // a full batch runs at once and holds the only instance
  ASSERT_TRUE(model_.AwaitInFlight(1));
  for (int id = 1; id <= 10; ++id) Submit(id, 1);
  EXPECT_EQ(batcher_->queued_requests(), 10);
  model_.OpenGate();

  // Two full batches run at once; the 2 left wait for the delay.
  ASSERT_TRUE(collector_.AwaitAnswered(9));
  Settle(2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4, 4, 4));
  EXPECT_EQ(batcher_->queued_requests(), 2);
  EXPECT_EQ(batcher_->queued_elements(), 2);

  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(11));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4, 4, 4, 2));
  for (int id = 1; id <= 10; ++id) ExpectRouted(id, 1);
  EXPECT_EQ(collector_.get(10).timings.queue_time, absl::Seconds(1));
}

TEST_F(DynamicBatcherTest, WaitsMaxQueueDelayCountedFromTheOldestRequest) {
  Start(Opts(8).delay(absl::Milliseconds(10)));
  Submit(1, 1);
  clock_.Advance(absl::Milliseconds(4));
  Submit(2, 2);
  Settle(2);

  // Not one microsecond early...
  clock_.Advance(absl::Milliseconds(6) - absl::Microseconds(1));
  ASSERT_TRUE(clock_.AwaitWaiters(2));
  EXPECT_TRUE(model_.calls().empty());
  EXPECT_EQ(collector_.answered(), 0);

  // ...and right when the oldest request has waited the delay.
  clock_.Advance(absl::Microseconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(2));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(3));
  ExpectRouted(1, 1);
  ExpectRouted(2, 2);
  EXPECT_EQ(collector_.get(1).timings.queue_time, absl::Milliseconds(10));
  EXPECT_EQ(collector_.get(2).timings.queue_time, absl::Milliseconds(6));
  EXPECT_EQ(collector_.get(2).timings.batch_size, 3);
}

TEST_F(DynamicBatcherTest, PreferredBatchSizeRunsWithoutWaiting) {
  Start(Opts(8).preferred({4}).delay(absl::Seconds(1)));
  for (int id = 1; id <= 3; ++id) Submit(id, 1);
  Settle(2);
  EXPECT_TRUE(model_.calls().empty());

  Submit(4, 1);  // 4 elements: preferred, runs with no clock advance
  ASSERT_TRUE(collector_.AwaitAnswered(4));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4));
  for (int id = 1; id <= 4; ++id) ExpectRouted(id, 1);
}

TEST_F(DynamicBatcherTest, LargestReachablePreferredSizeWins) {
  Start(Opts(8).preferred({4, 2}).delay(absl::Seconds(1)));
  model_.CloseGate();
  Submit(0, 8);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  for (int id = 1; id <= 7; ++id) Submit(id, 1);
  model_.OpenGate();

  // 7 queued: 4 (largest preferred), then 2 (preferred), then 1 waits for the delay.
  ASSERT_TRUE(collector_.AwaitAnswered(7));
  Settle(2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(8, 4, 2));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(8));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(8, 4, 2, 1));
  for (int id = 1; id <= 7; ++id) ExpectRouted(id, 1);
}

TEST_F(DynamicBatcherTest, ResultsAreRoutedToTheirCallers) {
  Start(Opts(8));
  model_.CloseGate();
  Submit(0, 8);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  Submit(1, 1);
  Submit(2, 2);
  Submit(3, 1);
  Submit(4, 3);
  model_.OpenGate();
  ASSERT_TRUE(collector_.AwaitAnswered(5));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(8, 7));
  ExpectRouted(0, 8);
  ExpectRouted(1, 1);
  ExpectRouted(2, 2);
  ExpectRouted(3, 1);
  ExpectRouted(4, 3);
  // The batch is the requests in arrival order.
  at::Tensor expected = at::cat({RequestInput(1, 1), RequestInput(2, 2), RequestInput(3, 1), RequestInput(4, 3)});
  EXPECT_TRUE(at::equal(model_.calls()[1].batch, expected));
}

TEST_F(DynamicBatcherTest, MultiElementRequestsAreNeverSplit) {
  Start(Opts(4).delay(absl::Seconds(1)));
  model_.CloseGate();
  Submit(0, 4);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  Submit(1, 3);
  Submit(2, 2);
  Submit(3, 3);
  model_.OpenGate();

  // 3 cannot take the 2 along (5 > 4), so it runs alone at once; so does 2; 3 then waits.
  ASSERT_TRUE(collector_.AwaitAnswered(3));
  Settle(2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4, 3, 2));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(4));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4, 3, 2, 3));
  ExpectRouted(1, 3);
  ExpectRouted(2, 2);
  ExpectRouted(3, 3);
}

// Shape-aware batch formation: requests of each shape form their own batch, as if each shape
// had its own queue; the rules (preferred sizes, full batches, the delay from the oldest) apply
// per shape, and ready batches run oldest first.
TEST_F(DynamicBatcherTest, RequestsAreBatchedOnlyWithRequestsOfTheirShape) {
  Start(Opts(8).delay(absl::Seconds(1)));
  model_.CloseGate();
  Submit(0, 8);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  // Arrival order: narrow 1, wide 2, narrow 3, wide 4, narrow 5.
  for (int id = 1; id <= 5; ++id) {
    auto r = Request(id, 1);
    if (id % 2 == 0) r->input = RequestInput(id, 1, /*features=*/5);
    ASSERT_TRUE(Enqueue(std::move(r)).ok());
  }
  model_.OpenGate();

  // Neither partial batch runs before the delay; then the narrow one (the older) and the wide.
  ASSERT_TRUE(collector_.AwaitAnswered(1));
  Settle(2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(8));
  EXPECT_EQ(batcher_->queued_requests(), 5);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(6));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(8, 3, 2));
  EXPECT_EQ(model_.calls()[1].batch.size(1), 3);
  EXPECT_EQ(model_.calls()[2].batch.size(1), 5);
  for (int id : {1, 3, 5}) ExpectRouted(id, 1);
  for (int id : {2, 4}) {
    Collector::Result r = collector_.get(id);
    ASSERT_TRUE(r.output.ok()) << r.output.status();
    EXPECT_TRUE(at::equal(*r.output, ExpectedOutput(RequestInput(id, 1, 5), 0)));
    EXPECT_EQ(r.timings.queue_time, absl::Seconds(1));
    EXPECT_EQ(r.timings.batch_size, 2);
  }
}

// A shape that keeps filling batches does not starve another: the lone wide request waits at
// most the delay, like any partial batch, and then runs ahead of younger full batches.
TEST_F(DynamicBatcherTest, AnotherShapeWaitsNoLongerThanTheDelay) {
  Start(Opts(2).delay(absl::Seconds(1)));
  model_.CloseGate();
  Submit(0, 2);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  Submit(1, 1);
  auto wide = Request(2, 1);
  wide->input = RequestInput(2, 1, /*features=*/5);
  ASSERT_TRUE(Enqueue(std::move(wide)).ok());
  for (int id = 3; id <= 8; ++id) Submit(id, 1);
  model_.OpenGate();

  // Full narrow batches run at once, passing the wide request: [0], [1, 3], [4, 5], [6, 7].
  ASSERT_TRUE(collector_.AwaitAnswered(7));
  Settle(2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(2, 2, 2, 2));
  // After the delay both partial batches run, the wide one first (its request is older).
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(9));
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(2, 2, 2, 2, 1, 1));
  EXPECT_EQ(model_.calls()[4].batch.size(1), 5);
  EXPECT_EQ(collector_.get(2).timings.queue_time, absl::Seconds(1));
}

// A full or preferred-size batch of a younger shape runs while an older shape's partial batch
// waits for its delay.
TEST_F(DynamicBatcherTest, AReadyBatchOfAnotherShapeRunsWhileAPartialOneWaits) {
  Start(Opts(4).preferred({2}).delay(absl::Seconds(1)));
  auto wide = Request(1, 1);
  wide->input = RequestInput(1, 1, /*features=*/5);
  ASSERT_TRUE(Enqueue(std::move(wide)).ok());
  Settle(2);
  EXPECT_TRUE(model_.batch_sizes().empty());
  Submit(2, 1);
  Submit(3, 1);
  ASSERT_TRUE(collector_.AwaitAnswered(2));
  Settle(2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(2));
  EXPECT_FALSE(collector_.has(1));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(3));
  EXPECT_EQ(model_.calls()[1].batch.size(1), 5);
}

TEST_F(DynamicBatcherTest, FullQueueIsRejectedAtOnce) {
  Start(Opts(2).delay(absl::Seconds(1)).queue_size(2));
  model_.CloseGate();
  Submit(0, 2);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  Submit(1, 1);
  Submit(2, 1);

  absl::Status s = Enqueue(Request(3, 1));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(), "Exceeds maximum queue size");

  model_.OpenGate();
  ASSERT_TRUE(collector_.AwaitAnswered(3));
  Settle(2);
  EXPECT_FALSE(collector_.has(3)) << "a rejected request's callback must not run";
  EXPECT_EQ(collector_.answered(), 3);
  ExpectRouted(1, 1);
  ExpectRouted(2, 1);
  // Room again once the queue drained.
  Submit(4, 2);
  ASSERT_TRUE(collector_.AwaitAnswered(4));
  ExpectRouted(4, 2);
}

TEST_F(DynamicBatcherTest, DeadlinePassedWhileQueuedIsAnsweredDeadlineExceeded) {
  Start(Opts(8).delay(absl::Seconds(1)));
  auto r = Request(1, 1);
  r->deadline = clock_.Now() + absl::Milliseconds(5);
  ASSERT_TRUE(Enqueue(std::move(r)).ok());
  Settle(2);
  clock_.Advance(absl::Milliseconds(5));
  ASSERT_TRUE(collector_.AwaitAnswered(1));
  EXPECT_EQ(CodeOf(1), absl::StatusCode::kDeadlineExceeded);
  Collector::Result result = collector_.get(1);
  EXPECT_EQ(result.timings.queue_time, absl::Milliseconds(5));
  EXPECT_EQ(result.timings.batch_size, 0);
  EXPECT_EQ(result.timings.instance, -1);
  Settle(2);
  EXPECT_TRUE(model_.calls().empty());
  EXPECT_EQ(batcher_->queued_requests(), 0);

  // A deadline that has already passed is refused by Enqueue itself.
  auto late = Request(2, 1);
  late->deadline = clock_.Now();
  EXPECT_EQ(Enqueue(std::move(late)).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(DynamicBatcherTest, ExpiredRequestsAreAnsweredWhileEveryInstanceIsBusy) {
  Start(Opts(4).delay(absl::Seconds(1)).queue_timeout(absl::Milliseconds(8)));
  model_.CloseGate();
  Submit(0, 4);
  ASSERT_TRUE(model_.AwaitInFlight(1));

  auto with_deadline = Request(1, 1);
  with_deadline->deadline = clock_.Now() + absl::Milliseconds(5);
  ASSERT_TRUE(Enqueue(std::move(with_deadline)).ok());
  auto short_timeout = Request(2, 1);
  short_timeout->queue_timeout = absl::Milliseconds(3);  // overrides the default
  ASSERT_TRUE(Enqueue(std::move(short_timeout)).ok());
  Submit(3, 1);  // default queue timeout, 8 ms
  auto no_timeout = Request(4, 1);
  no_timeout->queue_timeout = absl::ZeroDuration();
  ASSERT_TRUE(Enqueue(std::move(no_timeout)).ok());
  Settle(1);  // the reaper; the only worker is held at the gate

  clock_.Advance(absl::Milliseconds(3));
  ASSERT_TRUE(collector_.AwaitAnswered(1));
  EXPECT_EQ(CodeOf(2), absl::StatusCode::kUnavailable);
  EXPECT_EQ(collector_.get(2).output.status().message(), "Request timeout expired");

  clock_.Advance(absl::Milliseconds(2));
  ASSERT_TRUE(collector_.AwaitAnswered(2));
  EXPECT_EQ(CodeOf(1), absl::StatusCode::kDeadlineExceeded);

  clock_.Advance(absl::Milliseconds(3));
  ASSERT_TRUE(collector_.AwaitAnswered(3));
  EXPECT_EQ(CodeOf(3), absl::StatusCode::kUnavailable);
  EXPECT_EQ(collector_.get(3).timings.queue_time, absl::Milliseconds(8));

  // All of this while the instance was still busy with request 0.
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4));
  EXPECT_FALSE(collector_.has(0));
  model_.OpenGate();
  ASSERT_TRUE(collector_.AwaitAnswered(4));
  ExpectRouted(0, 4);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(collector_.AwaitAnswered(5));
  ExpectRouted(4, 1);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(4, 1));
}

TEST_F(DynamicBatcherTest, CancelledRequestsAreSkippedAndNeverExecuted) {
  Start(Opts(8));
  model_.CloseGate();
  Submit(0, 8);
  ASSERT_TRUE(model_.AwaitInFlight(1));

  std::atomic<bool> cancelled{false};
  Submit(1, 1);
  auto r = Request(2, 2);
  r->is_cancelled = [&cancelled] { return cancelled.load(); };
  ASSERT_TRUE(Enqueue(std::move(r)).ok());
  Submit(3, 1);
  cancelled = true;  // e.g. the client went away while the request was queued
  model_.OpenGate();

  ASSERT_TRUE(collector_.AwaitAnswered(4));
  EXPECT_EQ(CodeOf(2), absl::StatusCode::kCancelled);
  EXPECT_EQ(collector_.get(2).timings.batch_size, 0);
  ExpectRouted(1, 1);
  ExpectRouted(3, 1);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(8, 2));
  for (const FakeModel::Call& call : model_.calls()) {
    EXPECT_FALSE(at::any(call.batch.ge(200) & call.batch.lt(300)).item<bool>())
        << "rows of the cancelled request reached the model";
  }

  auto already = Request(4, 1);
  already->is_cancelled = [] { return true; };
  EXPECT_EQ(Enqueue(std::move(already)).code(), absl::StatusCode::kCancelled);
}

TEST_F(DynamicBatcherTest, ExecuteErrorsFailTheirBatchAndTheWorkerGoesOn) {
  Start(Opts(2));
  model_.QueueBehaviour(FakeModel::Behaviour::kReturnError);
  model_.QueueBehaviour(FakeModel::Behaviour::kThrow);
  model_.QueueBehaviour(FakeModel::Behaviour::kWrongRowCount);
  model_.QueueBehaviour(FakeModel::Behaviour::kThrowNonStd);
  model_.CloseGate();
  Submit(0, 2);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  for (int id = 1; id <= 8; ++id) Submit(id, 1);
  model_.OpenGate();
  ASSERT_TRUE(collector_.AwaitAnswered(9));

  // Batch 1 {0}: returned error, passed on unchanged.
  EXPECT_EQ(CodeOf(0), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(collector_.get(0).output.status().message(), "fake model out of memory");
  // Batch 2 {1, 2}: c10::Error -> INTERNAL for both, without the C++ backtrace.
  for (int id : {1, 2}) {
    EXPECT_EQ(CodeOf(id), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(collector_.get(id).output.status().message()),
                HasSubstr("fake model threw on a batch of 2"));
  }
  // Batch 3 {3, 4}: output rows do not match the batch.
  for (int id : {3, 4}) {
    EXPECT_EQ(CodeOf(id), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(collector_.get(id).output.status().message()),
                HasSubstr("returned 1 rows for a batch of 2"));
  }
  // Batch 4 {5, 6}: something that is not a std::exception was thrown.
  for (int id : {5, 6}) EXPECT_EQ(CodeOf(id), absl::StatusCode::kInternal);
  // Batch 5 {7, 8}: fine again.
  ExpectRouted(7, 1);
  ExpectRouted(8, 1);

  std::vector<ExecutedBatch> batches = observer_.batches();
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches[0].status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(batches[1].status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(batches[2].status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(batches[3].status.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(batches[4].status.ok());
}

TEST_F(DynamicBatcherTest, InstancesRunInParallel) {
  Start(Opts(2).instances(3));
  model_.CloseGate();
  Submit(1, 2);
  Submit(2, 2);
  Submit(3, 2);
  // All three are inside the model at the same time, one per instance.
  ASSERT_TRUE(model_.AwaitInFlight(3));
  std::vector<int> instances;
  for (const FakeModel::Call& call : model_.calls()) instances.push_back(call.instance);
  std::sort(instances.begin(), instances.end());
  EXPECT_THAT(instances, ElementsAre(0, 1, 2));
  model_.OpenGate();
  ASSERT_TRUE(collector_.AwaitAnswered(3));
  for (int id = 1; id <= 3; ++id) ExpectRouted(id, 2);  // checks each instance's marker too
}

TEST_F(DynamicBatcherTest, ReportsTimingsAndObserverEvents) {
  Start(Opts(4).delay(absl::Milliseconds(2)));
  model_.SetComputeTime(&clock_, absl::Milliseconds(7));
  Submit(1, 1);
  Submit(2, 2);
  Settle(2);
  clock_.Advance(absl::Milliseconds(2));
  ASSERT_TRUE(collector_.AwaitAnswered(2));
  Settle(2);
  for (int id : {1, 2}) {
    RequestTimings t = collector_.get(id).timings;
    EXPECT_EQ(t.queue_time, absl::Milliseconds(2));
    EXPECT_EQ(t.compute_time, absl::Milliseconds(7));
    EXPECT_EQ(t.batch_size, 3);
  }
  std::vector<ExecutedBatch> batches = observer_.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].batch_size, 3);
  EXPECT_EQ(batches[0].request_count, 2);
  EXPECT_EQ(batches[0].compute_time, absl::Milliseconds(7));
  EXPECT_TRUE(batches[0].status.ok());
  using Depth = std::pair<int64_t, int64_t>;
  EXPECT_THAT(observer_.depths(), ElementsAre(Depth{1, 1}, Depth{2, 3}, Depth{0, 0}));
}

TEST_F(DynamicBatcherTest, ShutdownDrainsEveryAcceptedRequestWithoutWaitingForTheDelay) {
  Start(Opts(2).delay(absl::Hours(1)));
  model_.CloseGate();
  Submit(0, 2);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  for (int id = 1; id <= 5; ++id) Submit(id, 1);

  std::thread shutdown([this] { batcher_->Shutdown(); });
  // Poll a real condition (Shutdown gives no other signal before it returns), bounded.
  const absl::Time limit = absl::Now() + kWaitLimit;
  while (!batcher_->shutting_down() && absl::Now() < limit) std::this_thread::yield();
  ASSERT_TRUE(batcher_->shutting_down());
  absl::Status late = Enqueue(Request(9, 1));
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable);

  model_.OpenGate();
  shutdown.join();  // returns only once everything accepted has been answered
  EXPECT_EQ(collector_.answered(), 6);
  EXPECT_FALSE(collector_.has(9));
  for (int id = 1; id <= 5; ++id) ExpectRouted(id, 1);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(2, 2, 2, 1));
  batcher_->Shutdown();  // idempotent
}

TEST_F(DynamicBatcherTest, ShutdownDrainDeadlineAnswersWhatIsStillQueued) {
  Start(Opts(2).delay(absl::Hours(1)));
  model_.CloseGate();
  Submit(0, 2);
  ASSERT_TRUE(model_.AwaitInFlight(1));
  Submit(1, 1);
  Submit(2, 1);

  std::thread shutdown([this, deadline = clock_.Now() + absl::Seconds(30)] { batcher_->Shutdown(deadline); });
  const absl::Time limit = absl::Now() + kWaitLimit;
  while (!batcher_->shutting_down() && absl::Now() < limit) std::this_thread::yield();
  ASSERT_TRUE(batcher_->shutting_down());
  clock_.Advance(absl::Seconds(30));
  ASSERT_TRUE(collector_.AwaitAnswered(2));
  EXPECT_EQ(CodeOf(1), absl::StatusCode::kUnavailable);
  EXPECT_EQ(CodeOf(2), absl::StatusCode::kUnavailable);

  model_.OpenGate();  // the batch already running still completes
  shutdown.join();
  ExpectRouted(0, 2);
  EXPECT_THAT(model_.batch_sizes(), ElementsAre(2));
}

TEST_F(DynamicBatcherTest, DestructorDrainsQueuedRequests) {
  Start(Opts(8).delay(absl::Hours(1)));
  Submit(1, 1);
  Submit(2, 3);
  Settle(2);
  EXPECT_EQ(collector_.answered(), 0);
  batcher_.reset();
  EXPECT_EQ(collector_.answered(), 2);
  ExpectRouted(1, 1);
  ExpectRouted(2, 3);
}

TEST_F(DynamicBatcherTest, EnqueueValidatesRequests) {
  Start(Opts(4));
  auto no_callback = std::make_unique<InferenceRequest>();
  no_callback->input = RequestInput(1, 1);
  EXPECT_EQ(Enqueue(std::move(no_callback)).code(), absl::StatusCode::kInvalidArgument);

  auto undefined = Request(2, 1);
  undefined->input = at::Tensor();
  EXPECT_EQ(Enqueue(std::move(undefined)).code(), absl::StatusCode::kInvalidArgument);

  auto scalar = Request(3, 1);
  scalar->input = at::ones({}, at::kFloat);
  EXPECT_EQ(Enqueue(std::move(scalar)).code(), absl::StatusCode::kInvalidArgument);

  auto empty = Request(4, 1);
  empty->input = at::ones({0, 3}, at::kFloat);
  EXPECT_EQ(Enqueue(std::move(empty)).code(), absl::StatusCode::kInvalidArgument);

  absl::Status too_big = Enqueue(Request(5, 5));
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("max_batch_size=4"));

  auto negative_timeout = Request(6, 1);
  negative_timeout->queue_timeout = absl::Milliseconds(-1);
  EXPECT_EQ(Enqueue(std::move(negative_timeout)).code(), absl::StatusCode::kInvalidArgument);

  Settle(2);
  EXPECT_EQ(collector_.answered(), 0);
  EXPECT_TRUE(model_.calls().empty());
}

TEST(DynamicBatcherOptionsTest, RejectsOutOfRangeOptions) {
  auto code = [](DynamicBatcherOptions o) { return ValidateDynamicBatcherOptions(o).code(); };
  EXPECT_EQ(code(Opts(4)), absl::StatusCode::kOk);
  EXPECT_EQ(code(Opts(0)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Opts(4).preferred({5})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Opts(4).preferred({0})), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Opts(4).delay(absl::Milliseconds(-1))), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Opts(4).queue_size(-1)), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Opts(4).queue_timeout(absl::Seconds(-1))), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Opts(4).instances(0)), absl::StatusCode::kInvalidArgument);

  FakeModel model;
  auto bad = DynamicBatcher::Create(Opts(0).name("m"), model.AsExecuteFn());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("model 'm'"));
  EXPECT_EQ(DynamicBatcher::Create(Opts(1), nullptr).status().code(), absl::StatusCode::kInvalidArgument);
}

// Real clock and real threads: 8 producers x 200 requests of 1-3 rows into 2 instances. Checks
// counting and routing under contention, not timing.
TEST(DynamicBatcherStressTest, ManyProducersAreAllAnsweredExactlyOnce) {
  constexpr int kProducers = 8;
  constexpr int kPerProducer = 200;
  constexpr int kRequests = kProducers * kPerProducer;
  FakeModel model;
  Collector collector;
  RecordingObserver observer;
  auto created = DynamicBatcher::Create(Opts(8).preferred({6}).delay(absl::Microseconds(200)).instances(2),
                                        model.AsExecuteFn(), &observer);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<DynamicBatcher> batcher = *std::move(created);

  std::atomic<int64_t> elements_sent{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int id = p * kPerProducer + i;
        const int64_t rows = 1 + id % 3;
        auto r = std::make_unique<InferenceRequest>();
        r->input = RequestInput(id, rows);
        r->on_complete = collector.Callback(id);
        absl::Status s = batcher->Enqueue(&r);
        ASSERT_TRUE(s.ok()) << s;
        elements_sent += rows;
      }
    });
  }
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(collector.AwaitAnswered(kRequests));
  batcher->Shutdown();

  EXPECT_EQ(collector.answered(), kRequests);
  int64_t elements_answered = 0;
  for (int id = 0; id < kRequests; ++id) {
    Collector::Result r = collector.get(id);
    const int64_t rows = 1 + id % 3;
    ASSERT_EQ(r.calls, 1) << "request " << id;
    ASSERT_TRUE(r.output.ok()) << r.output.status();
    ASSERT_TRUE(at::equal(*r.output, ExpectedOutput(RequestInput(id, rows), r.timings.instance))) << "request " << id;
    elements_answered += rows;
  }
  EXPECT_EQ(elements_answered, elements_sent.load());

  int64_t elements_executed = 0;
  int64_t requests_executed = 0;
  for (const ExecutedBatch& b : observer.batches()) {
    EXPECT_LE(b.batch_size, 8);
    EXPECT_GE(b.batch_size, 1);
    elements_executed += b.batch_size;
    requests_executed += b.request_count;
  }
  EXPECT_EQ(elements_executed, elements_sent.load());
  EXPECT_EQ(requests_executed, kRequests);
  EXPECT_EQ(observer.depths().back(), (std::pair<int64_t, int64_t>{0, 0}));
}

// Same, with a small bounded queue: every request is either rejected at once or answered once.
TEST(DynamicBatcherStressTest, BoundedQueueRejectsOrAnswersEveryRequest) {
  constexpr int kProducers = 8;
  constexpr int kPerProducer = 200;
  FakeModel model;
  Collector collector;
  auto created = DynamicBatcher::Create(Opts(4).queue_size(8).instances(2), model.AsExecuteFn());
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<DynamicBatcher> batcher = *std::move(created);

  std::atomic<int> accepted{0};
  std::atomic<int> rejected{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int id = p * kPerProducer + i;
        auto r = std::make_unique<InferenceRequest>();
        r->input = RequestInput(id, 1 + id % 2);
        r->on_complete = collector.Callback(id);
        absl::Status s = batcher->Enqueue(&r);
        if (s.ok()) {
          ++accepted;
        } else {
          ASSERT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
          ++rejected;
        }
      }
    });
  }
  for (std::thread& t : producers) t.join();
  batcher->Shutdown();
  EXPECT_EQ(accepted + rejected, kProducers * kPerProducer);
  EXPECT_EQ(collector.answered(), accepted.load());
  for (int id = 0; id < kProducers * kPerProducer; ++id) {
    if (collector.has(id)) {
      Collector::Result r = collector.get(id);
      EXPECT_EQ(r.calls, 1);
      EXPECT_TRUE(r.output.ok());
    }
  }
}

}  // namespace
}  // namespace wtserve::runtime

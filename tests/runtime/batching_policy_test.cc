// The batching rules of docs/batcher.md, decided on a queue described by a table: no threads,
// no clock, no tensors.
#include "server/runtime/batching_policy.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1000);

struct Queued {
  int64_t elements = 1;
  int shape = 0;                                  // requests of equal shape may share a batch
  absl::Duration arrived = absl::ZeroDuration();  // after kT0
  absl::Time deadline = absl::InfiniteFuture();
  absl::Time queue_expiry = absl::InfiniteFuture();
  bool cancelled = false;
};

struct Outcome {
  BatchDecision decision;
  size_t viewed = 0;  // how many requests the policy looked at
};

Outcome Decide(const std::vector<Queued>& queue, absl::Duration now, int64_t max_batch_size,
               std::vector<int64_t> preferred = {}, absl::Duration delay = absl::Seconds(1), bool shutting_down = false,
               absl::Time drain_deadline = absl::InfiniteFuture()) {
  Outcome out;
  BatchingPolicyOptions options{"m", max_batch_size, std::move(preferred), delay};
  out.decision = DecideBatch(
      queue.size(),
      [&](size_t i) {
        EXPECT_EQ(i, out.viewed) << "requests are viewed in order, once each";
        ++out.viewed;
        const Queued& q = queue[i];
        return QueuedRequestView{q.elements, kT0 + q.arrived, q.deadline, q.queue_expiry, q.cancelled};
      },
      [&](size_t a, size_t b) { return queue[a].shape == queue[b].shape; },
      BatcherState{kT0 + now, drain_deadline, shutting_down}, options);
  return out;
}

TEST(BatchingPolicy, EmptyQueueWaitsForever) {
  Outcome o = Decide({}, absl::ZeroDuration(), 8);
  EXPECT_THAT(o.decision.take, IsEmpty());
  EXPECT_EQ(o.decision.wake_at, absl::InfiniteFuture());
}

TEST(BatchingPolicy, FullBatchRunsAtOnceAndTheRestWaitsForTheOldestsDelay) {
  std::vector<Queued> ten(10);
  Outcome o = Decide(ten, absl::ZeroDuration(), 8);
  EXPECT_THAT(o.decision.take, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  EXPECT_EQ(o.viewed, 8u);  // a single-shape queue is looked at only as far as one batch
  std::vector<Queued> two(2);
  two[1].arrived = absl::Milliseconds(300);
  Outcome waiting = Decide(two, absl::Milliseconds(999), 8);
  EXPECT_THAT(waiting.decision.take, IsEmpty());
  EXPECT_EQ(waiting.decision.wake_at, kT0 + absl::Seconds(1));  // the oldest's arrival + delay
  EXPECT_THAT(Decide(two, absl::Seconds(1), 8).decision.take, ElementsAre(0, 1));
  EXPECT_THAT(Decide(two, absl::ZeroDuration(), 8, {}, absl::ZeroDuration()).decision.take, ElementsAre(0, 1));
}

TEST(BatchingPolicy, LargestReachablePreferredSizeRunsAtOnce) {
  std::vector<Queued> seven(7);
  EXPECT_THAT(Decide(seven, absl::ZeroDuration(), 8, {2, 4}).decision.take, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(Decide(std::vector<Queued>(3), absl::ZeroDuration(), 8, {2, 4}).decision.take, ElementsAre(0, 1));
}

TEST(BatchingPolicy, RequestsAreNeverSplitAndTheNextThatDoesNotFitClosesTheBatch) {
  // 3, 2 and 3 rows, max 4: [3] runs at once (the 2 does not fit with it).
  std::vector<Queued> q = {{3}, {2}, {3}};
  Outcome o = Decide(q, absl::ZeroDuration(), 4);
  EXPECT_THAT(o.decision.take, ElementsAre(0));
  EXPECT_EQ(o.viewed, 2u);
}

TEST(BatchingPolicy, ShapesFormTheirOwnBatchesOldestFirst) {
  // A B A B A: nothing is ready before the delay; then the A's (the older), the B's next time.
  std::vector<Queued> q = {{1, 0}, {1, 1}, {1, 0}, {1, 1}, {1, 0}};
  Outcome before = Decide(q, absl::Milliseconds(500), 8);
  EXPECT_THAT(before.decision.take, IsEmpty());
  EXPECT_EQ(before.decision.wake_at, kT0 + absl::Seconds(1));
  EXPECT_THAT(Decide(q, absl::Seconds(1), 8).decision.take, ElementsAre(0, 2, 4));
  // A full batch of a younger shape runs while an older one's partial batch waits.
  std::vector<Queued> r = {{1, 1}, {1, 0}, {1, 0}};
  EXPECT_THAT(Decide(r, absl::ZeroDuration(), 2).decision.take, ElementsAre(1, 2));
  // Shutting down: partial batches run at once, oldest shape first.
  EXPECT_THAT(Decide(q, absl::ZeroDuration(), 8, {}, absl::Seconds(1), true).decision.take, ElementsAre(0, 2, 4));
}

TEST(BatchingPolicy, ExpiredAndCancelledRequestsAreDroppedWithTheirReason) {
  std::vector<Queued> q(5);
  q[0].deadline = kT0;      // deadline passed
  q[1].queue_expiry = kT0;  // queue timeout passed
  q[2].deadline = kT0;
  q[2].queue_expiry = kT0;  // both: the deadline's code
  q[3].cancelled = true;
  Outcome o = Decide(q, absl::ZeroDuration(), 8, {}, absl::ZeroDuration());
  ASSERT_EQ(o.decision.drop.size(), 4u);
  EXPECT_EQ(o.decision.drop[0].status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(o.decision.drop[1].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(o.decision.drop[1].status.message(), "Request timeout expired");
  EXPECT_EQ(o.decision.drop[2].status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(o.decision.drop[3].status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(o.decision.take, ElementsAre(4));

  // Past the drain deadline every queued request is answered UNAVAILABLE, naming the model.
  Outcome drained =
      Decide(std::vector<Queued>(2), absl::Seconds(5), 8, {}, absl::Seconds(1), true, kT0 + absl::Seconds(5));
  ASSERT_EQ(drained.decision.drop.size(), 2u);
  EXPECT_EQ(drained.decision.drop[0].status.message(), "model 'm' shut down before the request could run");
  EXPECT_THAT(drained.decision.take, IsEmpty());

  // The reaper's view: expiry without cancellation.
  QueuedRequestView cancelled{1, kT0, absl::InfiniteFuture(), absl::InfiniteFuture(), true};
  EXPECT_FALSE(ExpiryReason(cancelled, BatcherState{kT0}, BatchingPolicyOptions{}).has_value());
}

}  // namespace
}  // namespace wtserve::runtime

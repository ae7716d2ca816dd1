// server/api/task_pool.h: tasks run in order on the pool's threads, never on the caller's, each
// told it was admitted; a full queue runs the task at once on the caller's thread with
// UNAVAILABLE; the destructor runs what is still queued.
#include "server/api/task_pool.h"

#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"

namespace wtserve::api {
namespace {

TEST(TaskPoolTest, RunsTasksInOrderOffTheCallersThread) {
  std::vector<int> order;
  std::vector<std::thread::id> where;
  std::vector<absl::Status> admitted;
  absl::Notification last;
  {
    TaskPool pool("test", /*threads=*/1, /*max_queued=*/8);
    EXPECT_EQ(pool.threads(), 1);
    for (int i = 0; i < 5; ++i) {
      pool.Schedule([&, i](absl::Status status) {
        order.push_back(i);
        where.push_back(std::this_thread::get_id());
        admitted.push_back(status);
        if (i == 4) last.Notify();
      });
    }
    last.WaitForNotification();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  for (const std::thread::id& id : where) EXPECT_NE(id, std::this_thread::get_id());
  for (const absl::Status& status : admitted) EXPECT_TRUE(status.ok()) << status;
}

TEST(TaskPoolTest, AFullQueueRefusesAndTheDestructorRunsWhatIsQueued) {
  absl::Notification started, release;
  std::atomic<int> ran{0};
  {
    TaskPool pool("test", /*threads=*/1, /*max_queued=*/2);
    pool.Schedule([&](absl::Status) {
      started.Notify();
      release.WaitForNotification();
    });
    started.WaitForNotification();  // the worker holds the first task; the queue is empty
    pool.Schedule([&](absl::Status s) { ran += s.ok() ? 1 : 1000; });
    pool.Schedule([&](absl::Status s) { ran += s.ok() ? 1 : 1000; });
    // The third waiting task is refused: it runs now, here, with the refusal.
    absl::Status full;
    std::thread::id where;
    pool.Schedule([&](absl::Status s) {
      full = s;
      where = std::this_thread::get_id();
    });
    EXPECT_EQ(full.code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(full.message().find("test queue is full"), absl::string_view::npos) << full;
    EXPECT_EQ(where, std::this_thread::get_id());
    release.Notify();
  }  // the destructor runs both queued tasks before it joins
  EXPECT_EQ(ran.load(), 2);
}

}  // namespace
}  // namespace wtserve::api

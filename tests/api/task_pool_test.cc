// server/api/task_pool.h: tasks run in order on the pool's threads, never on the caller's; a
// full queue refuses (and the task is not run); the destructor runs what is still queued.
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
  absl::Notification last;
  {
    TaskPool pool("test", /*threads=*/1, /*max_queued=*/8);
    EXPECT_EQ(pool.threads(), 1);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(pool.Schedule([&, i] {
                        order.push_back(i);
                        where.push_back(std::this_thread::get_id());
                        if (i == 4) last.Notify();
                      })
                      .ok());
    }
    last.WaitForNotification();
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  for (const std::thread::id& id : where) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(TaskPoolTest, AFullQueueRefusesAndTheDestructorRunsWhatIsQueued) {
  absl::Notification started, release;
  std::atomic<int> ran{0};
  {
    TaskPool pool("test", /*threads=*/1, /*max_queued=*/2);
    ASSERT_TRUE(pool.Schedule([&] {
                      started.Notify();
                      release.WaitForNotification();
                    })
                    .ok());
    started.WaitForNotification();  // the worker holds the first task; the queue is empty
    ASSERT_TRUE(pool.Schedule([&] { ++ran; }).ok());
    ASSERT_TRUE(pool.Schedule([&] { ++ran; }).ok());
    const absl::Status full = pool.Schedule([&] { ran += 100; });
    EXPECT_EQ(full.code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(full.message().find("test queue is full"), absl::string_view::npos) << full;
    release.Notify();
  }  // the destructor runs both queued tasks before it joins
  EXPECT_EQ(ran.load(), 2);
}

}  // namespace
}  // namespace wtserve::api

#include "server/api/task_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace wtserve::api {

TaskPool::TaskPool(std::string what, int threads, int max_queued)
    : what_(std::move(what)), max_queued_(max_queued < 1 ? 1 : max_queued) {
  for (int i = 0; i < (threads < 1 ? 1 : threads); ++i) workers_.emplace_back([this] { Work(); });
}

TaskPool::~TaskPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

void TaskPool::Schedule(Task task) {
  {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(queue_.size()) < max_queued_) {
      queue_.push_back(std::move(task));
      return;
    }
  }
  std::move(task)(absl::UnavailableError(
      absl::StrCat("the server's ", what_, " queue is full (", max_queued_, " requests wait); retry later")));
}

void TaskPool::Work() {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stopping_; };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, and every queued task has run
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)(absl::OkStatus());
  }
}

}  // namespace wtserve::api

// A fixed set of threads running tasks in FIFO order from a bounded queue: the request path's
// work moved off the threads where it would block others (InferenceService): decoding encoded
// images off gRPC's two callback threads, and sending responses off the model's worker, which
// can then start its next batch (docs/server.md, "Threads", has the measurements).
#ifndef WTSERVE_SERVER_API_TASK_POOL_H_
#define WTSERVE_SERVER_API_TASK_POOL_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace wtserve::api {

class TaskPool {
 public:
  // `threads` >= 1 workers; at most `max_queued` >= 1 tasks wait for one. `what` names the
  // queue in the refusal ("image decode").
  TaskPool(std::string what, int threads, int max_queued);
  // Runs every task still queued, then joins the workers. Not from one of its own tasks.
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // A task is called exactly once with whether it was admitted: OK on a worker, or, when
  // `max_queued` tasks are waiting already, UNAVAILABLE at once on the caller's thread (so the
  // task answers its own refusal, or does its work inline).
  using Task = absl::AnyInvocable<void(absl::Status) &&>;
  void Schedule(Task task);

  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  void Work();

  const std::string what_;
  const int max_queued_;
  absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_TASK_POOL_H_

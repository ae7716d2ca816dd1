// The threads that decode requests carrying encoded images (BYTES inputs: PNG or JPEG), so that
// a large image's decode runs off gRPC's threads. gRPC 1.51 runs every handler of the callback
// server on two threads of its own, and a 12-Mpixel JPEG takes ~200 ms to decode: measured on
// the Intel host, two such requests in flight made a concurrent ServerLive wait 12 ms at the
// median and 125 ms at p99 (3.5 / 9 ms without them), three 106 / 181 ms — health checks
// included. Raw tensors (a copy and a finiteness scan) stay on the gRPC thread.
#ifndef WTSERVE_SERVER_API_DECODE_POOL_H_
#define WTSERVE_SERVER_API_DECODE_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace wtserve::api {

// A fixed set of threads running tasks in FIFO order from a bounded queue.
class DecodePool {
 public:
  // `threads` >= 1 workers; at most `max_queued` >= 1 tasks wait for one.
  DecodePool(int threads, int max_queued);
  // Runs every task still queued, then joins the workers.
  ~DecodePool();
  DecodePool(const DecodePool&) = delete;
  DecodePool& operator=(const DecodePool&) = delete;

  // Queues `task`, or returns UNAVAILABLE (and drops it uncalled) when `max_queued` tasks are
  // waiting already: the caller still owns the request and answers it.
  absl::Status Schedule(absl::AnyInvocable<void() &&> task);

  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  void Work();

  const int max_queued_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_DECODE_POOL_H_

// Time source for the dynamic batcher: a real clock for serving and a fake clock whose time only
// moves when a test advances it, so that tests of delays and timeouts are deterministic.
#ifndef WTSERVE_SERVER_RUNTIME_BATCHER_CLOCK_H_
#define WTSERVE_SERVER_RUNTIME_BATCHER_CLOCK_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wtserve::runtime {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // Waits on `cv` (which releases `mu` while waiting) until it is signalled or Now() reaches
  // `deadline` (absl::InfiniteFuture() waits for a signal only). May return early (spurious
  // wake-ups), so callers re-check their condition in a loop, as with absl::CondVar.
  virtual void WaitWithDeadline(absl::CondVar* cv, absl::Mutex* mu, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // The process-wide real clock (absl::Now and absl::CondVar::WaitWithDeadline).
  static Clock* Real();
};

// A clock that stands still until Advance(). Threads blocked in WaitWithDeadline wake when an
// Advance() reaches their deadline (every Advance() wakes all of them; they re-check).
// Advance() locks each waiter's mutex to signal it, so it must not be called while holding one of
// those mutexes, nor concurrently with destroying an object that may be waiting on this clock.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));

  absl::Time Now() override;
  void WaitWithDeadline(absl::CondVar* cv, absl::Mutex* mu, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Moves time forward by `d` (>= 0; zero is allowed and still wakes every waiter) and starts a new
  // "epoch" for AwaitWaiters().
  void Advance(absl::Duration d);

  // Blocks (for at most `real_timeout` of real time) until at least `n` threads are blocked in
  // WaitWithDeadline having entered it after the latest Advance(), i.e. until they have all looked
  // at the current time and decided to wait. Returns false on timeout. Tests use
  // `Advance(absl::ZeroDuration()); AwaitWaiters(n)` to wait until background threads are idle.
  bool AwaitWaiters(int n, absl::Duration real_timeout = absl::Seconds(30));

 private:
  struct Waiter {
    absl::CondVar* cv;
    absl::Mutex* mu;
    int64_t epoch;
  };

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  int64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wtserve::runtime

#endif  // WTSERVE_SERVER_RUNTIME_BATCHER_CLOCK_H_

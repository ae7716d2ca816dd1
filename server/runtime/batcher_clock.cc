#include "server/runtime/batcher_clock.h"

#include <algorithm>

namespace wtserve::runtime {
namespace {

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void WaitWithDeadline(absl::CondVar* cv, absl::Mutex* mu, absl::Time deadline) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    cv->WaitWithDeadline(mu, deadline);
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* const clock = new RealClock();
  return clock;
}

FakeClock::FakeClock(absl::Time start) : now_(start) {}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::WaitWithDeadline(absl::CondVar* cv, absl::Mutex* mu, absl::Time deadline) {
  Waiter waiter{cv, mu, 0};
  {
    // Checking the time and registering in one critical section: an Advance() either happens
    // before (and the check sees it) or after (and signals this waiter, which holds `mu` until
    // cv->Wait releases it, so the signal cannot be lost).
    absl::MutexLock lock(&mu_);
    if (now_ >= deadline) return;
    waiter.epoch = epoch_;
    waiters_.push_back(&waiter);
  }
  cv->Wait(mu);
  absl::MutexLock lock(&mu_);
  waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
}

void FakeClock::Advance(absl::Duration d) {
  std::vector<Waiter> to_wake;
  {
    absl::MutexLock lock(&mu_);
    if (d > absl::ZeroDuration()) now_ += d;
    ++epoch_;
    for (const Waiter* w : waiters_) to_wake.push_back(*w);
  }
  // Waiters take their own mutex before ours, so ours must be released before taking theirs.
  for (const Waiter& w : to_wake) {
    absl::MutexLock lock(w.mu);
    w.cv->SignalAll();
  }
}

bool FakeClock::AwaitWaiters(int n, absl::Duration real_timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::count_if(waiters_.begin(), waiters_.end(), [this](const Waiter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
             return w->epoch == epoch_;
           }) >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), real_timeout);
}

}  // namespace wtserve::runtime

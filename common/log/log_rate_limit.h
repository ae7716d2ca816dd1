// Keeps a client from turning requests into unbounded log lines. Libraries under the request
// path print their complaints about bad input straight to stderr, one line per request:
// libprotobuf ("String field ... contains invalid UTF-8"), libpng ("libpng error: bad adaptive
// filter value"), libjpeg ("Corrupt JPEG data: 749 extraneous bytes before marker 0xd9"), gRPC.
// RouteStderrThroughRateLimit() sends every line written through stdio's `stderr` through a
// LogRateLimiter keyed by the line with its digits removed, so each cause gets a burst, then one
// summary line per window ("... N similar lines suppressed").
#ifndef WTSERVE_COMMON_LOG_LOG_RATE_LIMIT_H_
#define WTSERVE_COMMON_LOG_LOG_RATE_LIMIT_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace wtserve::logging {

class LogRateLimiter {
 public:
  // Per cause, at most `burst` lines per `window` (a window opens at the first line of a cause
  // after the previous one closed). At most `max_causes` causes are told apart; lines of further
  // causes share one, so the limiter's memory and the log stay bounded.
  LogRateLimiter(int burst, absl::Duration window, int max_causes);

  struct Decision {
    bool write = false;
    // Lines of this cause suppressed in the window before this one (report it with the line).
    int64_t suppressed_before = 0;
  };
  // Thread-safe.
  Decision Admit(absl::string_view cause, absl::Time now);

 private:
  struct CauseState {
    absl::Time window_start;
    int written = 0;
    int64_t suppressed = 0;
  };
  const int burst_;
  const absl::Duration window_;
  const size_t max_causes_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CauseState> causes_ ABSL_GUARDED_BY(mu_);
};

// The cause a library's stderr line is counted under: the line with its digits removed (so
// "749 extraneous bytes" and "12 extraneous bytes" are one cause), cut to 200 characters.
std::string LineCause(absl::string_view line);

// Replaces stdio's `stderr` with a line-buffered stream whose lines go through a process-wide
// LogRateLimiter (5 lines per cause per 60 s, 256 causes) and are written to file descriptor 2
// as WARNING lines of our log format. Our own log (log.h) writes to the descriptor directly and
// is not limited; nor is anything a library writes to the descriptor itself (glibc's abort
// message, for one), so a crash report is never held back. Call once, early in main.
void RouteStderrThroughRateLimit();

}  // namespace wtserve::logging

#endif  // WTSERVE_COMMON_LOG_LOG_RATE_LIMIT_H_

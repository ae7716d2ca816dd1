#include "common/log/log_rate_limit.h"

#include <stdio.h>

#include <cctype>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "common/log/log.h"

namespace wtserve::logging {
namespace {

constexpr char kOtherCauses[] = "(other causes)";

}  // namespace

LogRateLimiter::LogRateLimiter(int burst, absl::Duration window, int max_causes)
    : burst_(burst), window_(window), max_causes_(static_cast<size_t>(max_causes)) {}

LogRateLimiter::Decision LogRateLimiter::Admit(absl::string_view cause, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = causes_.find(cause);
  if (it == causes_.end()) {
    const bool room = causes_.size() + 1 < max_causes_;  // keep one slot for kOtherCauses
    it = causes_.try_emplace(room ? std::string(cause) : std::string(kOtherCauses), CauseState{now, 0, 0}).first;
  }
  CauseState& state = it->second;
  Decision decision;
  if (now - state.window_start >= window_) {
    decision.suppressed_before = state.suppressed;
    state = CauseState{now, 0, 0};
  }
  if (state.written < burst_) {
    ++state.written;
    decision.write = true;
  } else {
    ++state.suppressed;
  }
  return decision;
}

std::string LineCause(absl::string_view line) {
  std::string cause;
  for (char c : line) {
    if (std::isdigit(static_cast<unsigned char>(c))) continue;
    cause.push_back(c);
    if (cause.size() == 200) break;
  }
  return cause;
}

namespace {

LogRateLimiter& StderrLimiter() {
  static LogRateLimiter* limiter = new LogRateLimiter(5, absl::Seconds(60), 256);
  return *limiter;
}

// fopencookie write function. stdio calls it with whole lines (the stream is line-buffered) or
// with a full buffer; a partial last line is kept for the next call. stdio holds the FILE's
// lock during the call, so `pending` needs no lock of its own.
ssize_t WriteThroughLimiter(void* cookie, const char* data, size_t size) {
  std::string& pending = *static_cast<std::string*>(cookie);
  pending.append(data, size);
  size_t start = 0;
  for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
    const absl::string_view line(pending.data() + start, end - start);
    if (line.empty()) continue;
    const LogRateLimiter::Decision d = StderrLimiter().Admit(LineCause(line), absl::Now());
    if (!d.write) continue;
    if (d.suppressed_before > 0) {
      LogMessage(LogLevel::kWarning, absl::StrCat(line, " (", d.suppressed_before,
                                                  " similar lines suppressed in the window before this one)"));
    } else {
      LogMessage(LogLevel::kWarning, std::string_view(line.data(), line.size()));
    }
  }
  pending.erase(0, start);
  if (pending.size() > 64 * 1024) pending.clear();  // no newline for 64 KiB: not a log line
  return static_cast<ssize_t>(size);
}

}  // namespace

void RouteStderrThroughRateLimit() {
  static std::string* pending = new std::string();
  cookie_io_functions_t io{};
  io.write = WriteThroughLimiter;
  FILE* limited = fopencookie(pending, "w", io);
  if (limited == nullptr) return;  // keep the plain stderr
  setvbuf(limited, nullptr, _IOLBF, 4096);
  fflush(stderr);
  stderr = limited;
}

}  // namespace wtserve::logging

// Minimal leveled logging to stderr (abseil 20220623 has no absl/log, and glog belongs to
// LibTorch's build, not to our interface). One line per message, prefixed with UTC time and level.
#ifndef WTSERVE_COMMON_LOG_LOG_H_
#define WTSERVE_COMMON_LOG_LOG_H_

#include <string_view>

#include "absl/strings/str_cat.h"

namespace wtserve::logging {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Messages below `level` are dropped. Thread-safe.
void SetLogLevel(LogLevel level);
// Parses "debug", "info", "warning", "error"; false for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);
// Writes one line atomically (a single write(2) to stderr).
void LogMessage(LogLevel level, std::string_view message);

template <typename... Args>
void LogInfo(const Args&... args) {
  LogMessage(LogLevel::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  LogMessage(LogLevel::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  LogMessage(LogLevel::kError, absl::StrCat(args...));
}
template <typename... Args>
void LogDebug(const Args&... args) {
  LogMessage(LogLevel::kDebug, absl::StrCat(args...));
}

}  // namespace wtserve::logging

#endif  // WTSERVE_COMMON_LOG_LOG_H_

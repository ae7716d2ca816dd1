#include "client/loadgen/progress.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace wtserve::loadgen {

double ProgressFraction(const ProgressSnapshot& s) {
  if (s.total > 0) return std::clamp(static_cast<double>(s.done) / static_cast<double>(s.total), 0.0, 1.0);
  if (s.duration_s > 0) return std::clamp(s.elapsed_s / s.duration_s, 0.0, 1.0);
  return -1;
}

namespace {

std::string Clock(double seconds) {
  const auto total = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (total >= 3600) return absl::StrFormat("%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60);
  return absl::StrFormat("%d:%02d", total / 60, total % 60);
}

}  // namespace

std::string FormatProgress(const ProgressSnapshot& s, ProgressMode mode) {
  const double fraction = ProgressFraction(s);
  const double images_per_s = s.elapsed_s > 0 ? static_cast<double>(s.images_ok) / s.elapsed_s : 0.0;
  std::string eta;
  if (fraction > 0 && fraction < 1) eta = Clock(s.elapsed_s * (1 - fraction) / fraction);
  const std::string count = s.total > 0 ? absl::StrCat(s.done, "/", s.total) : absl::StrCat(s.done);
  if (mode == ProgressMode::kTerminal) {
    constexpr int kWidth = 24;
    std::string bar;
    if (fraction >= 0) {
      const int filled = static_cast<int>(fraction * kWidth);
      bar = absl::StrCat(" [", std::string(static_cast<size_t>(filled), '#'),
                         std::string(static_cast<size_t>(kWidth - filled), '-'), "] ",
                         absl::StrFormat("%3d%%", static_cast<int>(100 * fraction)));
    }
    std::string line =
        absl::StrFormat("\r%s%s  %s req  %.0f img/s  %d errors", s.label, bar, count, images_per_s, s.failed);
    if (!s.condition.empty()) absl::StrAppend(&line, "  ", s.condition);
    absl::StrAppend(&line, "  ", eta.empty() ? Clock(s.elapsed_s) : "ETA " + eta, "   ");
    return line;
  }
  std::string line = absl::StrCat(s.label, ": ");
  if (fraction >= 0) absl::StrAppend(&line, static_cast<int>(100 * fraction), "% (");
  absl::StrAppend(&line, count, " requests", fraction >= 0 ? ")" : "",
                  absl::StrFormat(", %.0f img/s, %d errors", images_per_s, s.failed));
  if (!s.condition.empty()) absl::StrAppend(&line, ", at ", s.condition);
  absl::StrAppend(&line, ", ", Clock(s.elapsed_s), " elapsed");
  if (!eta.empty()) absl::StrAppend(&line, ", ETA ", eta);
  return line + "\n";
}

}  // namespace wtserve::loadgen

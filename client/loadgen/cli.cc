#include "client/loadgen/cli.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace wtserve::loadgen {

absl::StatusOr<std::vector<int>> ParseSeverities(const std::string& spec) {
  std::vector<int> out;
  const auto bad = [&spec](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--severities '", spec, "': ", why, " (use e.g. 1-5, 3 or 1,3,5; severities are 1..5)"));
  };
  if (spec.empty()) return bad("empty");
  for (absl::string_view part : absl::StrSplit(spec, ',')) {
    part = absl::StripAsciiWhitespace(part);
    std::vector<absl::string_view> range = absl::StrSplit(part, '-');
    int lo = 0, hi = 0;
    if (range.size() == 1) {
      if (!absl::SimpleAtoi(range[0], &lo)) return bad(absl::StrCat("'", part, "' is not a number"));
      hi = lo;
    } else if (range.size() == 2) {
      if (!absl::SimpleAtoi(range[0], &lo) || !absl::SimpleAtoi(range[1], &hi)) {
        return bad(absl::StrCat("'", part, "' is not a range"));
      }
    } else {
      return bad(absl::StrCat("'", part, "' is not a range"));
    }
    if (lo < 1 || hi > 5 || lo > hi) return bad(absl::StrCat("'", part, "' is outside 1..5 or reversed"));
    for (int s = lo; s <= hi; ++s) out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> NormalizeFlagNames(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  bool rest = false;
  for (const std::string& arg : args) {
    if (rest || arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      rest = rest || arg == "--";
      out.push_back(arg);
      continue;
    }
    if (arg == "--") {
      rest = true;
      out.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::replace(name.begin(), name.end(), '-', '_');
    out.push_back(absl::StrCat("--", name, eq == std::string::npos ? "" : arg.substr(eq)));
  }
  return out;
}

std::vector<Condition> MakeConditions(const std::vector<std::string>& corruptions, const std::vector<int>& severities) {
  std::vector<Condition> out{{"", 0}};
  for (const std::string& c : corruptions) {
    for (int s : severities) out.push_back({c, s});
  }
  return out;
}

}  // namespace wtserve::loadgen

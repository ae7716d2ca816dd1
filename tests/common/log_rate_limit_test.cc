#include "common/log/log_rate_limit.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace wtserve::logging {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

TEST(LogRateLimiter, BurstThenSuppressedThenReportedInTheNextWindow) {
  LogRateLimiter limiter(3, absl::Seconds(60), 16);
  for (int i = 0; i < 3; ++i) {
    const auto d = limiter.Admit("cause", kStart + absl::Seconds(i));
    EXPECT_TRUE(d.write);
    EXPECT_EQ(d.suppressed_before, 0);
  }
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.Admit("cause", kStart + absl::Seconds(10)).write);
  // Another cause has a budget of its own.
  EXPECT_TRUE(limiter.Admit("other", kStart + absl::Seconds(10)).write);
  // The next window opens with a line that reports what the last one suppressed.
  const auto next = limiter.Admit("cause", kStart + absl::Seconds(60));
  EXPECT_TRUE(next.write);
  EXPECT_EQ(next.suppressed_before, 100);
  EXPECT_EQ(limiter.Admit("cause", kStart + absl::Seconds(61)).suppressed_before, 0);
}

TEST(LogRateLimiter, ManyCausesShareOneBudgetBeyondTheTable) {
  LogRateLimiter limiter(2, absl::Seconds(60), 4);
  int written = 0;
  for (int i = 0; i < 1000; ++i) {
    written += limiter.Admit(absl::StrCat("cause ", i), kStart).write ? 1 : 0;
  }
  // The table tells 3 causes apart (the 4th slot is the overflow cause): each of the first 3
  // writes its one line, then the 997 others share the overflow cause's burst of 2.
  EXPECT_EQ(written, 3 + 2);
}

TEST(LineCause, DigitsDoNotMakeNewCauses) {
  EXPECT_EQ(LineCause("Corrupt JPEG data: 749 extraneous bytes before marker 0xd9"),
            LineCause("Corrupt JPEG data: 12 extraneous bytes before marker 0xd9"));
  EXPECT_NE(LineCause("libpng error: bad adaptive filter value"), LineCause("libpng error: IDAT: CRC error"));
  EXPECT_LE(LineCause(std::string(10000, 'x')).size(), 200u);
}

}  // namespace
}  // namespace wtserve::logging

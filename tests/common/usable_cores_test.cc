// common/system/usable_cores.h: the count follows the affinity mask (what `taskset -c N` sets).
#include "common/system/usable_cores.h"

#include <sched.h>

#include <gtest/gtest.h>

namespace wtserve::system {
namespace {

TEST(UsableCoresTest, FollowsTheAffinityMask) {
  cpu_set_t original;
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  const int all = UsableCores();
  EXPECT_GE(all, 1);
  EXPECT_LE(all, CPU_COUNT(&original));
  // Pinned to one CPU, the process has one usable core.
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &original)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(UsableCores(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(original), &original), 0);
  EXPECT_EQ(UsableCores(), all);
}

}  // namespace
}  // namespace wtserve::system

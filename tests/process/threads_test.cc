// server/process/threads.h: usable cores follow the affinity mask, the serving default leaves a
// core free, and OpenBLAS's thread count is really set (this binary links LibTorch, which loads
// OpenBLAS through libblas.so.3 on every machine scripts/setup.sh prepared).
#include "server/process/threads.h"

#include <sched.h>

#include <thread>

#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::process {
namespace {

using ::testing::HasSubstr;

TEST(ThreadsTest, UsableCoresFollowTheAffinityMask) {
  cpu_set_t original;
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  const int all = UsableCores();
  EXPECT_GE(all, 1);
  EXPECT_LE(all, CPU_COUNT(&original));
  // Pinned to one CPU (as `taskset -c N` would), the process has one usable core.
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

TEST(ThreadsTest, ServingDefaultLeavesOneCoreToGrpc) {
  EXPECT_EQ(DefaultServingIntraOpThreads(1), 1);
  EXPECT_EQ(DefaultServingIntraOpThreads(2), 1);
  EXPECT_EQ(DefaultServingIntraOpThreads(16), 15);
}

TEST(ThreadsTest, SetsOpenBlasThreads) {
  at::get_num_threads();  // LibTorch (and with it libblas.so.3) is loaded and initialised
  EXPECT_THAT(SetBlasThreads(2), HasSubstr("OpenBLAS threads: 2"));
  EXPECT_THAT(SetBlasThreads(1), HasSubstr("OpenBLAS threads: 1"));
  EXPECT_THAT(SetBlasThreads(0), HasSubstr("OpenBLAS threads: 1"));  // at least one
}

}  // namespace
}  // namespace wtserve::process

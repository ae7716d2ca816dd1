// server/process/threads.h: the serving default leaves a core free, and OpenBLAS's thread count
// is really set (this binary links LibTorch, which loads OpenBLAS through libblas.so.3 on every
// machine scripts/setup.sh prepared).
#include "server/process/threads.h"

#include <thread>

#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::process {
namespace {

using ::testing::HasSubstr;

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

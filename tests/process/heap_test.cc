// server/process/heap.h: the settings take effect. Its own test binary, because the settings are
// process-wide.
#include "server/process/heap.h"

#include <sys/resource.h>

#include <climits>
#include <cstddef>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::process {
namespace {

long MinorFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Allocates, touches every page of and frees a block `rounds` times; returns the page faults.
long FaultsOfRepeatedAllocation(size_t bytes, int rounds) {
  const long before = MinorFaults();
  for (int r = 0; r < rounds; ++r) {
    auto* block = static_cast<volatile char*>(std::malloc(bytes));
    if (block == nullptr) return -1;
    for (size_t i = 0; i < bytes; i += 4096) block[i] = 1;
    std::free(const_cast<char*>(block));
  }
  return MinorFaults() - before;
}

TEST(Heap, FreedBlocksAreReusedWithoutPageFaults) {
  ASSERT_EQ(RetainFreedTensorMemory(), "");
  // 40 MiB is above glibc's largest dynamic mmap threshold (32 MiB): with its defaults every
  // round maps fresh memory and faults on all 10,240 pages (204,800 faults for 20 rounds).
  constexpr size_t kBytes = size_t{40} << 20;
  constexpr int kRounds = 20;
  const long faults = FaultsOfRepeatedAllocation(kBytes, kRounds);
  ASSERT_GE(faults, 0) << "malloc failed";
  // The first round faults its pages in; the others reuse them.
  EXPECT_LT(faults, 2 * static_cast<long>(kBytes / 4096)) << faults << " page faults";
}

TEST(Heap, RejectsThresholdsMalloptCannotTake) {
  HeapSettings too_large;
  too_large.mmap_threshold_bytes = size_t{INT_MAX} + 1;
  EXPECT_THAT(RetainFreedTensorMemory(too_large), ::testing::HasSubstr("at most"));
}

}  // namespace
}  // namespace wtserve::process

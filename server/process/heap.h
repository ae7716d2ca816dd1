// Process-wide heap settings for programs that run tensor code (wtserve, the trainer and
// evaluator, benchmarks).
//
// Why: LibTorch's CPU allocator is glibc malloc (posix_memalign). glibc serves blocks above its
// mmap threshold (128 KiB, rising dynamically to at most 32 MiB) with fresh mmap()s and returns
// freed memory above the trim threshold to the kernel, so a process that allocates and frees
// activations of the same sizes on every forward pass takes a page fault for every 4 KiB of them
// on every pass. Measured on the 2-core VM, WTConv2d(96 channels, 56x56, 1 level), batch 1, one
// thread: 278k minor page faults and 5.5 ms per NCHW forward with glibc's defaults, 20k faults and
// 1.5-2.1 ms with the thresholds below (docs/wtconv.md "Heap settings").
//
// The cost: memory a process has used stays mapped (its RSS keeps its peak), as with the caching
// allocators of GPU frameworks.
#ifndef WTSERVE_SERVER_PROCESS_HEAP_H_
#define WTSERVE_SERVER_PROCESS_HEAP_H_

#include <cstddef>
#include <string>

namespace wtserve::process {

struct HeapSettings {
  // Blocks up to this size come from the heap and are reused after free (glibc M_MMAP_THRESHOLD;
  // setting it also turns off glibc's dynamic threshold).
  size_t mmap_threshold_bytes = size_t{256} << 20;
  // Free memory at the top of a heap is returned to the kernel only above this (M_TRIM_THRESHOLD).
  size_t trim_threshold_bytes = size_t{1} << 30;
};

// Applies `settings` with mallopt() (process-wide: every thread and malloc arena). Call once,
// early in main(), so that the program's tensors are allocated under them.
// Returns "" on success, else what glibc refused (the process keeps glibc's defaults for it).
std::string RetainFreedTensorMemory(const HeapSettings& settings = {});

}  // namespace wtserve::process

#endif  // WTSERVE_SERVER_PROCESS_HEAP_H_

#include "server/process/heap.h"

#include <malloc.h>

#include <climits>
#include <string>

namespace wtserve::process {

std::string RetainFreedTensorMemory(const HeapSettings& settings) {
  // mallopt takes an int.
  if (settings.mmap_threshold_bytes > INT_MAX || settings.trim_threshold_bytes > INT_MAX) {
    return "heap thresholds must be at most " + std::to_string(INT_MAX) + " bytes";
  }
  std::string refused;
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(settings.mmap_threshold_bytes)) != 1) {
    refused += "M_MMAP_THRESHOLD=" + std::to_string(settings.mmap_threshold_bytes);
  }
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(settings.trim_threshold_bytes)) != 1) {
    if (!refused.empty()) refused += ", ";
    refused += "M_TRIM_THRESHOLD=" + std::to_string(settings.trim_threshold_bytes);
  }
  return refused.empty() ? "" : "mallopt refused " + refused;
}

}  // namespace wtserve::process

// Fashion-MNIST's IDX files (images: 3 dimensions, labels: 1) as the data readers parse them.
#include <string>

#include "common/data/idx.h"
#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int dims : {1, 3}) (void)wtserve::data::ParseIdx(bytes, dims, "fuzz");
  return 0;
}

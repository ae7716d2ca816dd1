// A whole checkpoint file: PyTorch's zip container (LibTorch's reader) and the pickle inside.
#include <stdexcept>
#include <string>

#include "fuzz/fuzz_target.h"
#include "server/nn/models/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    wtserve::nn::ReadStateDictFromMemory(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pt");
  } catch (const std::runtime_error&) {
    // The documented way to refuse a file.
  }
  return 0;
}

// The libFuzzer entry point every fuzz target defines. Built with -DWTSERVE_FUZZ=ON (clang), a
// target is a libFuzzer binary; in the normal build replay_main.cc runs it over its seed corpus
// (a ctest entry), so the harnesses and the corpus stay exercised in CI. docs/reliability.md.
#ifndef WTSERVE_FUZZ_FUZZ_TARGET_H_
#define WTSERVE_FUZZ_FUZZ_TARGET_H_

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#endif  // WTSERVE_FUZZ_FUZZ_TARGET_H_

// Command-line helper of the benchmark programs: their own --name=value flags are taken out of
// argv before Google Benchmark parses (and would reject) them.
#ifndef WTSERVE_BENCH_COMMON_TAKE_FLAG_H_
#define WTSERVE_BENCH_COMMON_TAKE_FLAG_H_

#include <cstring>
#include <string>

namespace wtserve::bench {

// Removes every --name=value from argv and returns the last value, or "" if there is none.
inline std::string TakeFlag(int* argc, char** argv, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  std::string value;
  int out = 1;
  for (int i = 1; i < *argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      value = argv[i] + prefix.size();
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  return value;
}

}  // namespace wtserve::bench

#endif  // WTSERVE_BENCH_COMMON_TAKE_FLAG_H_

#include "server/process/threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <string>

namespace wtserve::process {

int DefaultServingIntraOpThreads(int usable_cores) { return std::max(1, usable_cores - 1); }

std::string SetBlasThreads(int threads) {
  using SetFn = void (*)(int);
  using GetFn = int (*)();
  using ConfigFn = char* (*)();
  auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  auto config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (set == nullptr || get == nullptr) return "OpenBLAS: not loaded (BLAS threads not changed)";
  set(std::max(1, threads));
  std::string text = "OpenBLAS threads: " + std::to_string(get());
  if (config != nullptr) text += std::string(" (") + config() + ")";
  return text;
}

}  // namespace wtserve::process

#include "server/process/threads.h"

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace wtserve::process {
namespace {

// ceil(quota / period) from cgroup v2's cpu.max ("max 100000" means no quota); 0 if none.
int CgroupQuotaCores() {
  std::ifstream file("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long long period = 0;
  if (!(file >> quota >> period) || quota == "max" || period <= 0) return 0;
  const long long q = std::atoll(quota.c_str());
  if (q <= 0) return 0;
  return static_cast<int>((q + period - 1) / period);
}

}  // namespace

int UsableCores() {
  int cores = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = CPU_COUNT(&set);
  if (cores <= 0) cores = static_cast<int>(std::thread::hardware_concurrency());
  if (const int quota = CgroupQuotaCores(); quota > 0) cores = std::min(cores, quota);
  return std::max(1, cores);
}

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

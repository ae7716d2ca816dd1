#include "common/system/usable_cores.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace wtserve::system {
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

}  // namespace wtserve::system

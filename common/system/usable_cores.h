// How many CPUs this process may use, for every program that sizes a thread pool from the
// machine: the server's intra-op default, the trainer and evaluator, the load generator's
// workload preparation. std::thread::hardware_concurrency() counts the host's CPUs, which is
// wrong under `taskset`, cpusets or a Kubernetes CPU limit.
#ifndef WTSERVE_COMMON_SYSTEM_USABLE_CORES_H_
#define WTSERVE_COMMON_SYSTEM_USABLE_CORES_H_

namespace wtserve::system {

// CPUs this process may run on: its affinity mask (taskset, cpusets), further limited by a
// cgroup v2 CPU quota (/sys/fs/cgroup/cpu.max, e.g. a Kubernetes CPU limit), rounded up; at
// least 1. Read on every call (the mask can change).
int UsableCores();

}  // namespace wtserve::system

#endif  // WTSERVE_COMMON_SYSTEM_USABLE_CORES_H_

// Thread counts of the compute libraries in a process that runs tensor code (wtserve, the
// trainer and evaluator, benchmarks).
//
// Why (measured on the 2-core VM, docs/server.md "Threads"): LibTorch's intra-op pool and
// OpenBLAS's own pthread pool are separate. at::set_num_threads does not reach OpenBLAS, whose
// worker busy-waits between calls: serving wtconvnext_fmnist with one intra-op thread, an
// OpenBLAS worker used about 45% of the process's CPU samples (sched_yield and spinning) next to
// the model's own worker. And intra-op threads on every core compete with gRPC's threads for the
// cores: p99 70-127 ms with 2 threads on 2 cores against 11-13 ms with one.
#ifndef WTSERVE_SERVER_PROCESS_THREADS_H_
#define WTSERVE_SERVER_PROCESS_THREADS_H_

#include <string>

namespace wtserve::process {

// The default LibTorch intra-op thread count for a server: one core is left to gRPC's threads
// and to request decoding and response encoding, the rest compute: max(1, cores - 1), with
// `usable_cores` from common/system/usable_cores.h.
int DefaultServingIntraOpThreads(int usable_cores);

// Sets OpenBLAS's thread count (openblas_set_num_threads, looked up at run time: LibTorch
// reaches OpenBLAS through libblas.so.3, so it may or may not be in the process). Returns a
// description for the startup log: "OpenBLAS threads: N (...)", or that no OpenBLAS is loaded.
std::string SetBlasThreads(int threads);

}  // namespace wtserve::process

#endif  // WTSERVE_SERVER_PROCESS_THREADS_H_

"""Timing helper of the Python reference benchmarks (bench/*/bench_ref.py): the method of the
C++ benchmarks — one warm-up call, then iterations until min_time seconds."""

import time


def time_call(fn, min_time):
    """Returns (wall seconds, process CPU seconds) per call."""
    fn()  # warm-up
    iterations, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        iterations += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / iterations, (time.process_time() - cpu_start) / iterations


def parse_args(description, filter_help):
    """The flags both reference benchmarks take (--threads, --min-time, --repetitions, --filter);
    applies --threads to torch and seeds it."""
    import argparse
    import os

    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WTSERVE_THREADS", os.cpu_count())))
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--filter", default="", help=filter_help)
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args

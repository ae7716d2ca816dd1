"""Times the Python reference WTConv2d (tests/reference/wtconv_ref.py) on the shapes of
bench/wtconv/wtconv_bench.cc, with the same method: inference mode, one warm-up call, then
iterations until --min-time seconds, mean time per call; --repetitions runs, median reported.
Prints one JSON object {"threads": T, "results": [{C, HW, N, L, ms, cpu_ms}]} (wall-clock and
process CPU time per call).

Run with Debian's /usr/bin/python3 (python3-torch, python3-pywt).
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "reference"))
import wtconv_ref  # noqa: E402

SHAPES = [(96, 56), (384, 14)]
BATCHES = [1, 32]
LEVELS = range(1, 6)


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WTSERVE_THREADS", os.cpu_count())))
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--filter", default="", help="only shapes whose 'C=..,HW=..,N=..,L=..' contains this")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = []
    with torch.inference_mode():
        for (c, hw) in SHAPES:
            for n in BATCHES:
                x = torch.randn(n, c, hw, hw)
                for levels in LEVELS:
                    tag = f"C={c},HW={hw},N={n},L={levels}"
                    if args.filter not in tag:
                        continue
                    m = wtconv_ref.WTConv2d(c, kernel_size=5, wt_levels=levels).eval()
                    runs = [time_call(lambda: m(x), args.min_time) for _ in range(args.repetitions)]
                    results.append({"C": c, "HW": hw, "N": n, "L": levels,
                                    "ms": 1000 * statistics.median(r[0] for r in runs),
                                    "cpu_ms": 1000 * statistics.median(r[1] for r in runs)})
                    print(f"{tag}: {results[-1]['ms']:.3f} ms", file=sys.stderr)
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()

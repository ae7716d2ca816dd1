"""Times the Python reference WTConv2d (tests/reference/wtconv_ref.py) on the shapes of
bench/wtconv/wtconv_bench.cc, with the same method: inference mode, one warm-up call, then
iterations until --min-time seconds, mean time per call; --repetitions runs, median reported.
Prints one JSON object {"threads": T, "results": [{C, HW, N, L, ms, cpu_ms}]} (wall-clock and
process CPU time per call).

Run with Debian's /usr/bin/python3 (python3-torch, python3-pywt).
"""

import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "reference"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import wtconv_ref  # noqa: E402
from pytiming import parse_args, time_call  # noqa: E402

SHAPES = [(96, 56), (384, 14)]
BATCHES = [1, 32]
LEVELS = range(1, 6)


def main():
    args = parse_args(__doc__.splitlines()[0], "only shapes whose 'C=..,HW=..,N=..,L=..' contains this")
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

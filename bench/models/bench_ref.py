"""Times the Python reference networks (tests/reference/models_ref.py: WTConvNeXt with the
reference WTConv layer, ConvNeXt as timm builds it) on the cases of bench/models/models_bench.cc:
eval mode, inference mode, channels_last model and input, one warm-up call, iterations until
--min-time seconds, --repetitions runs, median. PyTorch eager, as users of the official code run
it. Prints one JSON object {"threads": T, "results": [{arch, size, N, ms}]}.

Run with Debian's /usr/bin/python3 (python3-torch, python3-pywt); scripts/bench-models.sh sets
OPENBLAS_NUM_THREADS to the same thread count as torch.set_num_threads.
"""

import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "reference"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
import models_ref  # noqa: E402
from pytiming import parse_args, time_call  # noqa: E402

# (architecture, input channels, classes, input side, batches): models_bench.cc's kCases.
CASES = [
    ("wtconvnext_tiny", 3, 1000, 224, [1, 8, 32]), ("convnext_tiny", 3, 1000, 224, [1, 8, 32]),
    ("wtconvnext_small", 3, 1000, 224, [1, 8, 32]), ("convnext_small", 3, 1000, 224, [1, 8, 32]),
    ("wtconvnext_fmnist", 1, 10, 28, [1, 8, 64]), ("convnext_fmnist", 1, 10, 28, [1, 8, 64]),
]


def main():
    args = parse_args(__doc__.splitlines()[0], "only cases whose 'ARCH,N=..' contains this")
    results = []
    with torch.inference_mode():
        for arch, in_chans, classes, size, batches in CASES:
            model = models_ref.create(arch, num_classes=classes, in_chans=in_chans).eval()
            model = model.to(memory_format=torch.channels_last)
            for n in batches:
                tag = f"{arch},N={n}"
                if args.filter not in tag:
                    continue
                x = torch.randn(n, in_chans, size, size).contiguous(memory_format=torch.channels_last)
                runs = [time_call(lambda: model(x), args.min_time)[0] for _ in range(args.repetitions)]
                results.append({"arch": arch, "size": size, "N": n, "ms": 1000 * statistics.median(runs)})
                print(f"{tag}: {results[-1]['ms']:.2f} ms", file=sys.stderr)
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()

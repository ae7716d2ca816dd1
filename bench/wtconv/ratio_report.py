"""Fused WTConv2d against the 7x7 depthwise conv it replaces, from wtconv_bench JSON runs.

Reads one Google Benchmark JSON file per thread count (run with repetitions and random
interleaving, so both layers of a row are timed in the same stretch of a noisy host), takes the
minimum over repetitions of each benchmark, and prints one Markdown table: per row the fused
layer (BM_WTConvHaarNHWC: channels_last in and out, the fused CPU kernel), the better of the NCHW
and NHWC 7x7 depthwise convs, and fused / depthwise; the target is <= 1.25x.
"""

import argparse
import json
import re
from collections import defaultdict


def load(path):
    with open(path) as f:
        data = json.load(f)
    times = defaultdict(list)
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        m = re.match(r"BM_(\w+)/C:(\d+)/HW:(\d+)/N:(\d+)/L:(\d+)", b["name"])
        if not m:
            continue
        assert b["time_unit"] == "ms", b["time_unit"]
        times[(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))].append(b["real_time"])
    return data["context"], {k: min(v) for k, v in times.items()}, max(len(v) for v in times.values())


def fmt(v):
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="wtconv_bench JSON files, one per thread count")
    parser.add_argument("--target", type=float, default=1.25)
    args = parser.parse_args()
    runs = [load(p) for p in args.runs]
    rows = sorted({k[1:] for _, t, _ in runs for k in t if k[0] == "WTConvHaarNHWC"})
    header = "| C, H=W, N | L |"
    rule = "|---|---|"
    for context, _, reps in runs:
        threads = context.get("torch_threads", "?")
        header += f" {threads} thr: fused ms | dw 7x7 ms | fused / dw |"
        rule += "---|---|---|"
    print(f"min over {runs[0][2]} interleaved repetitions, wall-clock ms per call\n")
    print(header)
    print(rule)
    worst = {}
    met = defaultdict(int)
    for c, hw, n, lv in rows:
        line = f"| {c}, {hw}, {n} | {lv} |"
        for i, (_, t, _) in enumerate(runs):
            fused = t.get(("WTConvHaarNHWC", c, hw, n, lv))
            dws = [t.get((name, c, hw, n, 0)) for name in ("Depthwise7x7", "Depthwise7x7NHWC")]
            dws = [d for d in dws if d is not None]
            if fused is None or not dws:
                line += " - | - | - |"
                continue
            ratio = fused / min(dws)
            worst[i] = max(worst.get(i, 0), ratio)
            met[i] += ratio <= args.target
            line += f" {fmt(fused)} | {fmt(min(dws))} | {ratio:.2f}x |"
        print(line)
    print()
    for i, (context, _, _) in enumerate(runs):
        print(f"{context.get('torch_threads', '?')} thread(s): worst fused / dw {worst.get(i, 0):.2f}x, "
              f"{met[i]} of {len(rows)} rows <= {args.target}x")


if __name__ == "__main__":
    main()

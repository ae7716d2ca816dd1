"""Merges wtconv_bench's Google Benchmark JSON with bench_ref.py's JSON into a Markdown table.

Columns (median ms per forward call): the Python reference, the C++ Haar path fed NCHW (as the
reference is) and fed channels_last, the C++ general path (reference algorithm), and a plain 7x7
depthwise conv (the layer WTConv replaces; NCHW and NHWC); then the speed-up of the Haar path
over the Python reference at the same thread count.
"""

import argparse
import json
import re


def load_cpp(path, field):
    with open(path) as f:
        data = json.load(f)
    times = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = re.match(r"BM_(\w+)/C:(\d+)/HW:(\d+)/N:(\d+)/L:(\d+)", b["name"])
        if not m:
            continue
        assert b["time_unit"] == "ms", b["time_unit"]
        key = (m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)))
        times[key] = b[field]
    return data["context"], times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cpp_json")
    parser.add_argument("ref_json")
    parser.add_argument("--cpu", action="store_true",
                        help="compare CPU time instead of wall time (only meaningful with 1 thread: the C++ "
                             "number is the benchmark thread's CPU time); less sensitive to a loaded machine")
    args = parser.parse_args()
    context, cpp = load_cpp(args.cpp_json, "cpu_time" if args.cpu else "real_time")
    with open(args.ref_json) as f:
        ref = json.load(f)
    threads = context.get("torch_threads", "?")
    if str(ref["threads"]) != str(threads):
        raise SystemExit(f"thread counts differ: C++ {threads}, Python {ref['threads']}")
    if args.cpu and str(threads) != "1":
        raise SystemExit("--cpu needs a 1-thread run")
    ref_field = "cpu_ms" if args.cpu else "ms"
    kind = "CPU time" if args.cpu else "wall-clock time"

    def fmt(v):
        return "-" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")

    print(f"torch threads: {threads}; {kind}, medians in ms per forward call (lower is better)\n")
    print("| C | H=W | N | L | Python ref | C++ Haar NCHW | C++ Haar NHWC | C++ general | dw 7x7 NCHW | dw 7x7 NHWC "
          "| ref / Haar NCHW | ref / Haar NHWC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = None
    for r in ref["results"]:
        c, hw, n, lv = r["C"], r["HW"], r["N"], r["L"]
        haar = cpp.get(("WTConvHaar", c, hw, n, lv))
        nhwc = cpp.get(("WTConvHaarNHWC", c, hw, n, lv))
        general = cpp.get(("WTConvGeneral", c, hw, n, lv))
        dw = cpp.get(("Depthwise7x7", c, hw, n, 0))
        dw_nhwc = cpp.get(("Depthwise7x7NHWC", c, hw, n, 0))
        ref_ms = r[ref_field]
        ratio = ref_ms / haar if haar else None
        ratio_nhwc = ref_ms / nhwc if nhwc else None
        if ratio is not None:
            worst = ratio if worst is None else min(worst, ratio)
        print(f"| {c} | {hw} | {n} | {lv} | {fmt(ref_ms)} | {fmt(haar)} | {fmt(nhwc)} | {fmt(general)} | {fmt(dw)} "
              f"| {fmt(dw_nhwc)} | {'-' if ratio is None else f'{ratio:.2f}x'} "
              f"| {'-' if ratio_nhwc is None else f'{ratio_nhwc:.2f}x'} |")
    if worst is not None:
        print(f"\nlowest speed-up of the Haar path (NCHW in/out) over the Python reference: {worst:.2f}x")


if __name__ == "__main__":
    main()

"""Merges models_bench's Google Benchmark JSON with bench_ref.py's JSON into a Markdown table:
per network pair (WTConv model, its ConvNeXt baseline) and batch, the median ms per forward of
each in C++ (wtserve) and in the Python reference, the WTConv/baseline throughput ratio in C++
(same run), the C++ speed-up over the Python reference, and the C++ process's peak RSS so far.
"""

import argparse
import json
import re

PAIRS = [("wtconvnext_tiny", "convnext_tiny"), ("wtconvnext_small", "convnext_small"),
         ("wtconvnext_fmnist", "convnext_fmnist")]


def load_cpp(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = re.match(r"(\w+) \d+x\d+ N=(\d+)", b.get("label", ""))
        if not m:
            continue
        assert b["time_unit"] == "ms", b["time_unit"]
        rows[(m.group(1), int(m.group(2)))] = (b["real_time"], b.get("peak_rss_MiB"))
    return data["context"], rows


def fmt(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cpp_json")
    parser.add_argument("ref_json")
    args = parser.parse_args()
    context, cpp = load_cpp(args.cpp_json)
    with open(args.ref_json) as f:
        ref_data = json.load(f)
    ref = {(r["arch"], r["N"]): r["ms"] for r in ref_data["results"]}
    print(f"threads: {context.get('torch_threads')} (Python: {ref_data['threads']}); dtype {context.get('dtype')}; "
          f"fused WTConv ISA {context.get('fused_haar_isa')}; {context.get('blas')}")
    print("median ms per forward call; ratios within the run\n")
    print("| WTConv model | N | C++ WTConv | C++ baseline | WTConv/baseline throughput | Python WTConv | Python baseline "
          "| C++ vs Python (WTConv) | C++ vs Python (baseline) | C++ peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for wt, base in PAIRS:
        for n in sorted({k[1] for k in cpp if k[0] == wt}):
            wt_ms, rss = cpp.get((wt, n), (None, None))
            base_ms, rss_b = cpp.get((base, n), (None, None))
            rwt, rbase = ref.get((wt, n)), ref.get((base, n))
            ratio = base_ms / wt_ms if wt_ms and base_ms else None
            s_wt = rwt / wt_ms if rwt and wt_ms else None
            s_base = rbase / base_ms if rbase and base_ms else None
            peak = max(v for v in (rss, rss_b) if v is not None) if (rss or rss_b) else None
            print(f"| {wt} | {n} | {fmt(wt_ms, 2)} | {fmt(base_ms, 2)} | {fmt(ratio, 2)}x | {fmt(rwt, 2)} | {fmt(rbase, 2)} "
                  f"| {fmt(s_wt, 2)}x | {fmt(s_base, 2)}x | {fmt(peak, 0)} |")


if __name__ == "__main__":
    main()

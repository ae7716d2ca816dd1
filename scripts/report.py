#!/usr/bin/env python3
"""Turns the main job's raw results into a report a person can read.

Reads  DIR/loadgen.json (wtserve-loadgen --output_json) and DIR/metrics.txt (a /metrics scrape).
Prints accuracy tables, robustness (mCE), throughput/latency and the server's own view, and
writes DIR/summary.json, DIR/server_metrics.csv, DIR/accuracy_vs_severity.png and
DIR/latency.png (matplotlib).
"""
import csv
import json
import math
import os
import re
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text exposition -> list of (name, labels dict, value)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line.strip())
        if not m:
            raise ValueError(f"unparseable metrics line: {line!r}")
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def metric_sum(samples, name, model):
    return sum(v for n, l, v in samples if n == name and l.get("model") == model)


def server_view(samples, model):
    inferences = metric_sum(samples, "wtserve_inference_count_total", model)
    executions = metric_sum(samples, "wtserve_inference_exec_count_total", model)

    def mean_seconds(base):
        count = metric_sum(samples, base + "_count", model)
        return metric_sum(samples, base + "_sum", model) / count if count else math.nan

    return {
        "model": model,
        "inference_count": inferences,
        "execution_count": executions,
        "average_batch_size": inferences / executions if executions else math.nan,
        "mean_request_ms": 1e3 * mean_seconds("wtserve_inference_request_duration_seconds"),
        "mean_queue_ms": 1e3 * mean_seconds("wtserve_inference_queue_duration_seconds"),
        "mean_compute_ms": 1e3 * mean_seconds("wtserve_inference_compute_duration_seconds"),
        "requests_succeeded": metric_sum(samples, "wtserve_inference_request_success_total", model),
        "requests_failed": metric_sum(samples, "wtserve_inference_request_failure_total", model),
    }


def pct(x):
    return "  n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:5.1f}"


def print_accuracy_table(m):
    acc = m["accuracy"]
    sev = [s["severity"] for s in acc["corruptions"][0]["severities"]] if acc["corruptions"] else []
    print(f"\n{m['model']} ({m['role']}): top-1 accuracy (%), {acc['clean']['total']} images per cell")
    print(f"  {'corruption':<18}" + "".join(f"{'s' + str(s):>7}" for s in sev) + f"{'mean':>7}")
    for c in acc["corruptions"]:
        print(f"  {c['name']:<18}" + "".join(f"{pct(s['accuracy']):>7}" for s in c["severities"])
              + f"{pct(c['mean_accuracy']):>7}")
    print(f"  clean accuracy {pct(acc['clean']['accuracy'])}   "
          f"mean corruption accuracy {pct(acc['mean_corruption_accuracy'])}")


def plot_accuracy(models, path):
    names = [c["name"] for c in models[0]["accuracy"]["corruptions"]]
    cols = 5
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), sharey=True, squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        for m in models:
            c = next(c for c in m["accuracy"]["corruptions"] if c["name"] == name)
            xs = [0] + [s["severity"] for s in c["severities"]]
            ys = [100 * m["accuracy"]["clean"]["accuracy"]] + [100 * s["accuracy"] for s in c["severities"]]
            ax.plot(xs, ys, marker="o", markersize=3, label=m["model"])
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(0, 6))
        ax.grid(alpha=0.3)
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].axis("off")
    for r in range(rows):
        axes[r][0].set_ylabel("top-1 accuracy (%)")
    for ax in axes[-1]:
        ax.set_xlabel("severity (0 = clean)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Fashion-MNIST test accuracy under corruption, measured over gRPC")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(models, path):
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    for m in models:
        lat = sorted(m["latencies_ms"])
        if not lat:
            continue
        hist.hist(lat, bins=60, alpha=0.55, label=m["model"])
        cdf.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=m["model"])
        p99 = m["latency_ms"]["p99"]
        cdf.axvline(p99, linestyle="--", linewidth=0.8, color=cdf.lines[-1].get_color())
    hist.set_xlabel("request latency (ms)")
    hist.set_ylabel("requests")
    hist.legend()
    cdf.set_xlabel("request latency (ms)")
    cdf.set_ylabel("fraction of requests")
    cdf.set_title("CDF (dashed: p99)")
    cdf.grid(alpha=0.3)
    cdf.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py REPORT_DIR")
    out = sys.argv[1]
    with open(os.path.join(out, "loadgen.json")) as f:
        run = json.load(f)
    with open(os.path.join(out, "metrics.txt")) as f:
        samples = parse_metrics(f.read())
    models = run["models"]
    if any(m.get("accuracy") is None for m in models):
        sys.exit("report.py: loadgen.json has no accuracy (was the data labelled?)")

    for m in models:
        print_accuracy_table(m)

    ce = run.get("corruption_errors")
    if ce:
        print(f"\nCorruption error of {ce['model']} relative to {ce['baseline']} (baseline = 100):")
        print("  " + "  ".join(f"{c['name']}={100 * c['ce']:.1f}" for c in ce["corruptions"] if c["ce"] is not None))
        print(f"  mCE {pct(ce['mce'])}   relative mCE {pct(ce['relative_mce'])}"
              f"   (15 ImageNet-C corruptions; over all 19: mCE {pct(ce['mce_all'])},"
              f" relative {pct(ce['relative_mce_all'])})")

    print("\nThroughput and latency (client side, "
          f"{run['config']['transport']}, concurrency {run['config']['concurrency']}, "
          f"input {run['config']['input']}):")
    print(f"  {'model':<20}{'req/s':>9}{'img/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  status")
    for m in models:
        l = m["latency_ms"]
        codes = ", ".join(f"{k}={v}" for k, v in m["status_codes"].items())
        print(f"  {m['model']:<20}{m['requests_per_s']:>9.1f}{m['images_per_s']:>9.1f}"
              f"{l['p50']:>9.2f}{l['p90']:>9.2f}{l['p99']:>9.2f}{l['max']:>9.2f}  {codes}")

    views = [server_view(samples, m["model"]) for m in models]
    print("\nServer's view (/metrics):")
    print(f"  {'model':<20}{'inferences':>11}{'batches':>9}{'avg batch':>10}{'queue ms':>10}{'compute ms':>11}{'request ms':>11}")
    for v in views:
        print(f"  {v['model']:<20}{v['inference_count']:>11.0f}{v['execution_count']:>9.0f}"
              f"{v['average_batch_size']:>10.2f}{v['mean_queue_ms']:>10.3f}{v['mean_compute_ms']:>11.3f}"
              f"{v['mean_request_ms']:>11.3f}")

    with open(os.path.join(out, "server_metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(views[0].keys()))
        w.writeheader()
        w.writerows(views)
    summary = {
        "loadgen": {k: v for k, v in run.items() if k != "models"},
        "models": [{k: v for k, v in m.items() if k != "latencies_ms"} for m in models],
        "server_metrics": views,
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot_accuracy(models, os.path.join(out, "accuracy_vs_severity.png"))
    plot_latency(models, os.path.join(out, "latency.png"))
    listed = ["loadgen.json", "loadgen.csv", "loadgen.txt", "summary.json", "server_metrics.csv",
              "metrics.txt", "accuracy_vs_severity.png", "latency.png", "samples/", "server.log",
              "build.log"]
    # Only what is there: build.log exists when main-job.sh built, server.log once it ran.
    present = [name for name in listed if os.path.exists(os.path.join(out, name.rstrip("/")))]
    print("\nFiles: " + " ".join(present))


if __name__ == "__main__":
    main()

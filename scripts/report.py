#!/usr/bin/env python3
"""Turns the main job's raw results into a report a person can read.

Reads  DIR/seed<k>/loadgen.json (wtserve-loadgen --output_json, one per training seed pair),
       DIR/metrics.txt (a /metrics scrape) and DIR/erf/<model>_tiles<T>.json (wtserve-eval
       --erf_output).
Prints the seed-0 accuracy tables; per seed pair the paired comparison with 95% bootstrap
intervals; the spread across seeds (mean +- sd) beside them; throughput/latency; the server's
own view; the effective receptive fields. Writes DIR/summary.json, DIR/server_metrics.csv and
the plots DIR/accuracy_vs_severity.png, DIR/corruption_error.png, DIR/erf.png, DIR/latency.png.
"""
import csv
import glob
import json
import math
import os
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
ARCHITECTURES = ["wtconvnext_fmnist", "convnext_fmnist"]


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


def undefined(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x):
    return "  n/a" if undefined(x) else f"{100 * x:5.1f}"


def interval(i, decimals=1, signed=False):
    """' [lo, hi]' in percent from an interval object, '' when missing or undefined."""
    if not i or undefined(i.get("low")) or undefined(i.get("high")):
        return " [n/a]"
    f = f"{{:+.{decimals}f}}" if signed else f"{{:.{decimals}f}}"
    return f" [{f.format(100 * i['low'])}, {f.format(100 * i['high'])}]"


def mean_sd(values):
    """'mean +- sd' in percent over the defined values (sample sd), with n."""
    v = [x for x in values if not undefined(x)]
    if not v:
        return "n/a"
    if len(v) == 1:
        return f"{100 * v[0]:.2f} (one seed)"
    return f"{100 * statistics.mean(v):.2f} +- {100 * statistics.stdev(v):.2f}"


def print_accuracy_table(m, title):
    acc = m["accuracy"]
    sev = [s["severity"] for s in acc["corruptions"][0]["severities"]] if acc["corruptions"] else []
    print(f"\n{m['model']} ({title}): top-1 accuracy (%), {acc['clean']['total']} images per cell")
    print(f"  {'corruption':<18}" + "".join(f"{'s' + str(s):>7}" for s in sev) + f"{'mean':>7}")
    for c in acc["corruptions"]:
        print(f"  {c['name']:<18}" + "".join(f"{pct(s['accuracy']):>7}" for s in c["severities"])
              + f"{pct(c['mean_accuracy']):>7}")
    print(f"  clean accuracy {pct(acc['clean']['accuracy'])}   "
          f"mean corruption accuracy {pct(acc['mean_corruption_accuracy'])}")


def seed_summary(run):
    """The numbers of one seed pair the report compares across seeds."""
    model, base = run["models"]
    ce = run.get("corruption_errors") or {}
    p = run.get("paired_statistics") or {}
    d = p.get("difference", {})
    return {
        "model": model["model"], "baseline": base["model"],
        "clean_accuracy": [model["accuracy"]["clean"]["accuracy"], base["accuracy"]["clean"]["accuracy"]],
        "mean_corruption_accuracy": [model["accuracy"]["mean_corruption_accuracy"],
                                     base["accuracy"]["mean_corruption_accuracy"]],
        "clean_difference": d.get("clean", {}).get("estimate"),
        "mean_corruption_difference": d.get("mean_corruption", {}).get("estimate"),
        "mce": ce.get("mce"), "relative_mce": ce.get("relative_mce"),
        "ce": {c["name"]: c["ce"] for c in ce.get("corruptions", [])},
        "intervals": p,
    }


def print_paired(k, run, s):
    p = s["intervals"]
    if not p:
        print(f"\nseed {k}: no paired statistics in loadgen.json")
        return
    pm, pb, d = p["model"], p["baseline"], p["difference"]
    mc = p.get("clean_mcnemar_exact") or {}
    print(f"\nseed {k}: {s['model']} vs {s['baseline']} on the same {p['images']} images "
          f"(95% paired bootstrap intervals, {p['replicates']} resamples)")
    print(f"  clean accuracy            {pct(s['clean_accuracy'][0])}{interval(pm['clean'])}   vs "
          f"{pct(s['clean_accuracy'][1])}{interval(pb['clean'])}   difference "
          f"{100 * s['clean_difference']:+.2f}{interval(d['clean'], 2, True)} points"
          + (f"   McNemar p = {mc['p_value']:.3g} ({mc['model_only']} vs {mc['baseline_only']} discordant)"
             if mc else ""))
    print(f"  mean corruption accuracy  {pct(s['mean_corruption_accuracy'][0])}{interval(pm['mean_corruption'])}"
          f"   vs {pct(s['mean_corruption_accuracy'][1])}{interval(pb['mean_corruption'])}   difference "
          f"{100 * s['mean_corruption_difference']:+.2f}{interval(d['mean_corruption'], 2, True)} points")
    print(f"  mCE {pct(s['mce'])}{interval(p['mce'])}   relative mCE {pct(s['relative_mce'])}"
          f"{interval(p['relative_mce'])}   (15 ImageNet-C corruptions; baseline = 100)")


def ce_intervals(run):
    p = run.get("paired_statistics") or {}
    return {c["name"]: c["ce"] for c in p.get("corruption_errors", [])}


def print_across_seeds(runs, summaries):
    n = len(runs)
    print(f"\nAcross {n} training seed{'s' if n > 1 else ''} per architecture "
          "(mean +- sample sd of the per-seed numbers; the bootstrap intervals above cover the images, "
          "these the training runs):")
    for i, arch in enumerate(ARCHITECTURES):
        print(f"  {arch:<18} clean {mean_sd([s['clean_accuracy'][i] for s in summaries])}   "
              f"mean corruption {mean_sd([s['mean_corruption_accuracy'][i] for s in summaries])}")
    print(f"  difference (WTConv - ConvNeXt): clean {mean_sd([s['clean_difference'] for s in summaries])} points,"
          f" mean corruption {mean_sd([s['mean_corruption_difference'] for s in summaries])} points")
    print(f"  mCE {mean_sd([s['mce'] for s in summaries])}   relative mCE {mean_sd([s['relative_mce'] for s in summaries])}")
    names = list(summaries[0]["ce"].keys())
    print(f"\n  CE per corruption (%): each seed's value [95% interval]; 'below' = the interval is under 100 in"
          f" every seed, 'above' = over 100 in every seed")
    verdicts = {}
    for name in names:
        cells, below, above = [], True, True
        for run, s in zip(runs, summaries):
            i = ce_intervals(run).get(name)
            v = s["ce"].get(name)
            cells.append(f"{pct(v).strip():>5}{interval(i)}")
            lo = None if not i or undefined(i.get("low")) else i["low"]
            hi = None if not i or undefined(i.get("high")) else i["high"]
            below = below and hi is not None and hi < 1
            above = above and lo is not None and lo > 1
        verdicts[name] = "below" if below else "above" if above else ""
        print(f"  {name:<18} " + "   ".join(cells) + (f"   {verdicts[name]}" if verdicts[name] else ""))
    return verdicts


def load_erf(out):
    erf = {}
    for path in sorted(glob.glob(os.path.join(out, "erf", "*_tiles*.json"))):
        with open(path) as f:
            e = json.load(f)
        erf[(os.path.basename(path).rsplit("_tiles", 1)[0], e["tiles"])] = e
    return erf


def square(e, fraction):
    return next(s for s in e["centred_squares"] if abs(s["mass_fraction"] - fraction) < 1e-9)


def print_erf(erf, seeds):
    if not erf:
        return
    print("\nEffective receptive field (offline, wtserve-eval --erf_output; docs/models.md): the share (%) of the"
          " input area inside the smallest centred square holding 50% / 90% of the centre unit's gradient mass,"
          " and the share of pixels, strongest first, holding 50%")
    for tiles in sorted({t for _, t in erf}):
        example = next(e for (m, t), e in erf.items() if t == tiles)
        what = "test images" if tiles == 1 else f"mosaics of {tiles}x{tiles} test images"
        print(f"  on {example['images']} {what} ({example['height']}x{example['width']}, "
              f"{example['feature_height']}x{example['feature_width']} feature map):")
        for arch in ARCHITECTURES:
            rows = [erf.get((arch if k == 0 else f"{arch}_seed{k}", tiles)) for k in range(seeds)]
            rows = [r for r in rows if r]
            if not rows:
                continue
            fifty = [square(r, 0.5)["area_fraction"] for r in rows]
            ninety = [square(r, 0.9)["area_fraction"] for r in rows]
            top = [square(r, 0.5)["pixel_fraction"] for r in rows]
            per_seed = ", ".join(f"{100 * a:.1f}/{100 * b:.1f}" for a, b in zip(fifty, ninety))
            print(f"    {arch:<18} 50%: {mean_sd(fifty)}   90%: {mean_sd(ninety)}   (per seed {per_seed});"
                  f" strongest pixels holding 50%: {mean_sd(top)}")


def plot_accuracy(runs, path):
    """Seed 0 with its 95% bootstrap band per model, the other seeds as thin lines."""
    first = runs[0]["models"]
    names = [c["name"] for c in first[0]["accuracy"]["corruptions"]]
    cols = 5
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), sharey=True, squeeze=False)
    colors = ["tab:blue", "tab:orange"]
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        for k, run in enumerate(runs):
            p = run.get("paired_statistics")
            for j, m in enumerate(run["models"]):
                c = next(c for c in m["accuracy"]["corruptions"] if c["name"] == name)
                xs = [0] + [s["severity"] for s in c["severities"]]
                ys = [100 * m["accuracy"]["clean"]["accuracy"]] + [100 * s["accuracy"] for s in c["severities"]]
                if k == 0:
                    ax.plot(xs, ys, marker="o", markersize=3, color=colors[j], label=f"{m['model']} (seed 0)")
                    if p:
                        band = p["model" if j == 0 else "baseline"]
                        ci = next(r for r in band["corruptions"] if r["name"] == name)
                        lo = [100 * band["clean"]["low"]] + [100 * s["low"] for s in ci["severities"]]
                        hi = [100 * band["clean"]["high"]] + [100 * s["high"] for s in ci["severities"]]
                        ax.fill_between(xs, lo, hi, color=colors[j], alpha=0.18, linewidth=0)
                else:
                    ax.plot(xs, ys, color=colors[j], linewidth=0.7, alpha=0.6,
                            label=f"other seeds ({ARCHITECTURES[j]})" if k == 1 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(0, 6))
        ax.grid(alpha=0.3)
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].axis("off")
    for r in range(rows):
        axes[r][0].set_ylabel("top-1 accuracy (%)")
    for ax in axes[-1]:
        ax.set_xlabel("severity (0 = clean)")
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Fashion-MNIST test accuracy under corruption over gRPC "
                 "(bands: 95% bootstrap intervals of seed 0; thin lines: the other seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_ce(runs, path):
    names = [c["name"] for c in runs[0]["corruption_errors"]["corruptions"]]
    fig, ax = plt.subplots(figsize=(12, 4.2))
    width = 0.8 / len(runs)
    for k, run in enumerate(runs):
        values = {c["name"]: c["ce"] for c in run["corruption_errors"]["corruptions"]}
        cis = ce_intervals(run)
        xs, ys, lo, hi = [], [], [], []
        for i, name in enumerate(names):
            v, ci = values.get(name), cis.get(name)
            if undefined(v):
                continue
            xs.append(i - 0.4 + width * (k + 0.5))
            ys.append(100 * v)
            defined = ci and not undefined(ci.get("low"))
            lo.append(100 * (v - ci["low"]) if defined else 0)
            hi.append(100 * (ci["high"] - v) if defined else 0)
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", markersize=3, capsize=2, label=f"seed {k}")
    ax.axhline(100, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("CE (%), ConvNeXt baseline = 100")
    ax.set_title("Corruption error of wtconvnext_fmnist relative to convnext_fmnist per training seed "
                 "(bars: 95% paired bootstrap intervals over images; lower is more robust)", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_erf(erf, path):
    """Seed-0 maps of both architectures, on test images and on mosaics (log scale, own maximum)."""
    tiles = sorted({t for _, t in erf})
    fig, axes = plt.subplots(len(tiles), 2, figsize=(8, 3.9 * len(tiles)), squeeze=False)
    for r, t in enumerate(tiles):
        for c, arch in enumerate(ARCHITECTURES):
            ax = axes[r][c]
            e = erf.get((arch, t))
            if not e:
                ax.axis("off")
                continue
            grid = e["contribution"]
            peak = max(max(row) for row in grid) or 1.0
            # log10(1 + 100 x / max): the faint tails the linear scale would hide.
            shown = [[math.log10(1 + 100 * v / peak) for v in row] for row in grid]
            ax.imshow(shown, cmap="magma")
            sq50, sq90 = square(e, 0.5), square(e, 0.9)
            ax.set_title(f"{arch}, {e['height']}x{e['width']}\n50% of mass in central {100 * sq50['area_fraction']:.1f}%,"
                         f" 90% in {100 * sq90['area_fraction']:.1f}%", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Effective receptive field of the centre unit of the last feature map\n"
                 "(mean positive input gradient; top: test images, bottom: 4x4 mosaics)", fontsize=9)
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
    hist.legend(fontsize=7)
    cdf.set_xlabel("request latency (ms)")
    cdf.set_ylabel("fraction of requests")
    cdf.set_title("CDF (dashed: p99)")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py REPORT_DIR")
    out = sys.argv[1]
    seed_dirs = sorted(glob.glob(os.path.join(out, "seed[0-9]*")), key=lambda d: int(d.rsplit("seed", 1)[1]))
    if not seed_dirs:
        sys.exit(f"report.py: no {out}/seed<k>/loadgen.json")
    runs = []
    for d in seed_dirs:
        with open(os.path.join(d, "loadgen.json")) as f:
            runs.append(json.load(f))
    with open(os.path.join(out, "metrics.txt")) as f:
        samples = parse_metrics(f.read())
    for run in runs:
        if len(run["models"]) != 2 or any(m.get("accuracy") is None for m in run["models"]):
            sys.exit("report.py: each loadgen.json needs a labelled model and baseline")

    for m in runs[0]["models"]:
        print_accuracy_table(m, "seed 0, " + m["role"])
    summaries = [seed_summary(run) for run in runs]
    for k, (run, s) in enumerate(zip(runs, summaries)):
        print_paired(k, run, s)
    verdicts = print_across_seeds(runs, summaries)

    models = [m for run in runs for m in run["models"]]
    config = runs[0]["config"]
    print("\nThroughput and latency (client side, "
          f"{config['transport']}, concurrency {config['concurrency']}, input {config['input']}):")
    print(f"  {'model':<26}{'req/s':>9}{'img/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  status")
    for m in models:
        lat = m["latency_ms"]
        codes = ", ".join(f"{k}={v}" for k, v in m["status_codes"].items())
        print(f"  {m['model']:<26}{m['requests_per_s']:>9.1f}{m['images_per_s']:>9.1f}"
              f"{lat['p50']:>9.2f}{lat['p90']:>9.2f}{lat['p99']:>9.2f}{lat['max']:>9.2f}  {codes}")

    views = [server_view(samples, m["model"]) for m in models]
    print("\nServer's view (/metrics):")
    print(f"  {'model':<26}{'inferences':>11}{'batches':>9}{'avg batch':>10}{'queue ms':>10}{'compute ms':>11}{'request ms':>11}")
    for v in views:
        print(f"  {v['model']:<26}{v['inference_count']:>11.0f}{v['execution_count']:>9.0f}"
              f"{v['average_batch_size']:>10.2f}{v['mean_queue_ms']:>10.3f}{v['mean_compute_ms']:>11.3f}"
              f"{v['mean_request_ms']:>11.3f}")

    erf = load_erf(out)
    print_erf(erf, len(runs))

    with open(os.path.join(out, "server_metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(views[0].keys()))
        w.writeheader()
        w.writerows(views)
    summary = {
        "loadgen": [{k: v for k, v in run.items() if k != "models"} for run in runs],
        "models": [{k: v for k, v in m.items() if k != "latencies_ms"} for m in models],
        "seeds": [{k: v for k, v in s.items() if k != "intervals"} for s in summaries],
        "ce_verdicts": verdicts,
        "server_metrics": views,
        "effective_receptive_field": [
            {"model": m, "tiles": t, "images": e["images"], "height": e["height"], "width": e["width"],
             "centred_squares": e["centred_squares"]} for (m, t), e in erf.items()],
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot_accuracy(runs, os.path.join(out, "accuracy_vs_severity.png"))
    plot_ce(runs, os.path.join(out, "corruption_error.png"))
    if erf:
        plot_erf(erf, os.path.join(out, "erf.png"))
    plot_latency(models, os.path.join(out, "latency.png"))
    listed = ["summary.json", "server_metrics.csv", "metrics.txt", "accuracy_vs_severity.png",
              "corruption_error.png", "erf.png", "latency.png", "samples/", "erf/", "server.log",
              "build.log", "setup.log"] + [os.path.basename(d) + "/" for d in seed_dirs]
    # Only what is there: build.log exists when main-job.sh built, server.log once it ran.
    present = [name for name in listed if os.path.exists(os.path.join(out, name.rstrip("/")))]
    print("\nFiles: " + " ".join(present))


if __name__ == "__main__":
    main()

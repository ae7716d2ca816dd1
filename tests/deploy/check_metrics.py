#!/usr/bin/python3
"""Checks the Grafana dashboard and the Prometheus alerts against a real wtserve /metrics scrape.

Starts the real server binary on free loopback ports with a model repository, waits for SERVING
with the real `wtserve-health` probe (the image's HEALTHCHECK), sends a few real requests (good
ones and one for an unknown model, so the failure counter has a `reason`, through
tests/deploy/oip_client.py), scrapes /metrics, runs `promtool check metrics` on it, then:
  - the dashboard JSON parses, every panel has a PromQL target, and every metric name used in
    its queries (and in deploy/prometheus/alerts.yml) is exposed by the server; for histograms
    the _bucket/_sum/_count series are matched to the family;
  - SIGTERM makes the server exit 0 within --exit_timeout, and the probe then reports failure.
The server reads deploy/k8s/base/flags.txt (the Kubernetes flags ConfigMap) as its flagfile
first, so a flag there that the server does not know fails this test.

Usage: check_metrics.py --source-dir REPO --server PATH --health PATH --repository DIR
                        --model NAME [--promtool promtool]
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

# PromQL words that are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "and", "or", "unless", "offset", "rate", "irate", "increase", "delta", "idelta",
    "histogram_quantile", "label_values", "label_replace", "label_join", "abs", "ceil", "floor",
    "round", "clamp_min", "clamp_max", "vector", "scalar", "time", "absent", "changes",
    "resets", "deriv", "predict_linear", "sort", "sort_desc", "avg_over_time",
    "max_over_time", "min_over_time", "sum_over_time", "count_over_time", "le", "inf", "nan",
}
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Families the server registers but fills only on a CUDA device, so a CPU scrape cannot show
# them (prometheus-cpp omits families without samples). For these the check only confirms that
# the server's metrics code declares the name.
GPU_ONLY = {"wtserve_gpu_memory_used_bytes"}


def metric_names(expr):
    """Metric names in a PromQL expression (label matchers, strings, ranges and $vars removed)."""
    # Grafana's label_values(metric, label): only the metric is a series name.
    expr = re.sub(r"label_values\(([^,]+),\s*\w+\)", r"\1", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)   # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)             # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)            # range selectors
    expr = re.sub(r"\$\w+", "", expr)                 # Grafana variables
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for token in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if token.lower() not in PROMQL_WORDS:
            names.add(token)
    return names


def dashboard_queries(dashboard):
    queries = []

    def walk(panels):
        for panel in panels:
            if panel.get("type") == "row":
                walk(panel.get("panels", []))
                continue
            targets = panel.get("targets", [])
            if not targets:
                raise ValueError(f"panel {panel.get('title')!r} has no query")
            queries.extend((panel["title"], t["expr"]) for t in targets)
    walk(dashboard["panels"])
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            queries.append((f"variable {var['name']}", query))
    return queries


def alert_queries(path):
    with open(path) as f:
        rules = yaml.safe_load(f)
    return [(f"alert {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]


def exposed_families(text):
    """Family names from # TYPE lines plus sample names mapped back to their family."""
    families, samples = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            families[name] = kind
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    names = set(families) | samples
    for name, kind in families.items():
        if kind in ("histogram", "summary"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names, families


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--health", required=True)
    parser.add_argument("--repository", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--promtool", default="promtool")
    parser.add_argument("--exit-timeout", type=int, default=10, help="seconds")
    parser.add_argument("--min-accuracy", default="0.5",
                        help="passed to oip_client.py (0: a repository with random weights)")
    args = parser.parse_args()
    failures = []

    with open(os.path.join(args.source_dir, "deploy/grafana/dashboards/wtserve.json")) as f:
        dashboard = json.load(f)
    queries = dashboard_queries(dashboard)
    queries += alert_queries(os.path.join(args.source_dir, "deploy/prometheus/alerts.yml"))

    grpc_port, metrics_port = free_port(), free_port()
    grpc_target = f"127.0.0.1:{grpc_port}"
    # The Kubernetes ConfigMap's flagfile first (so the real server proves it accepts every flag
    # in it), then this test's own values, which override it.
    server = subprocess.Popen([
        args.server, f"--flagfile={os.path.join(args.source_dir, 'deploy/k8s/base/flags.txt')}",
        f"--model_repository={args.repository}", "--bind_address=127.0.0.1",
        f"--grpc_port={grpc_port}", f"--metrics_port={metrics_port}", "--http_port=-1",
        f"--exit_timeout={args.exit_timeout}s", "--intra_op_threads=1"])
    try:
        # The image's HEALTHCHECK binary, asked until it reports SERVING (models loaded).
        started = time.monotonic()
        probes = 0
        while True:
            health = subprocess.run([args.health, f"--address={grpc_target}", "--timeout=5s"],
                                    capture_output=True, text=True)
            probes += 1
            if health.returncode == 0 or time.monotonic() - started > 240 or server.poll():
                break
            time.sleep(0.2)  # polling the server's real health state, bounded above
        print(f"wtserve-health after {time.monotonic() - started:.1f} s ({probes} probes): "
              f"exit {health.returncode} {health.stdout.strip()}{health.stderr.strip()}")
        if health.returncode != 0 or health.stdout.strip() != "SERVING":
            failures.append("wtserve-health did not report SERVING")
            raise RuntimeError("server not ready")

        client = subprocess.run([
            sys.executable, os.path.join(args.source_dir, "tests/deploy/oip_client.py"),
            f"--target={grpc_target}", f"--model={args.model}", "--images=20",
            f"--min-accuracy={args.min_accuracy}", "--wait=30",
            f"--proto-dir={os.path.join(args.source_dir, 'proto')}"],
            capture_output=True, text=True)
        sys.stdout.write(client.stdout + client.stderr)
        if client.returncode != 0:
            failures.append("OIP client check failed")
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                      timeout=10).read().decode()
        promtool = subprocess.run([args.promtool, "check", "metrics"], input=text,
                                  capture_output=True, text=True)
        # promtool exits 1 on lint warnings too; only real parse errors fail here.
        if "error while linting" in promtool.stderr or "unexpected" in promtool.stderr:
            failures.append(f"promtool check metrics: {promtool.stderr.strip()}")
        names, families = exposed_families(text)
        wtserve = sorted(n for n in families if n.startswith("wtserve_"))
        print(f"/metrics: {len(wtserve)} wtserve families: {', '.join(wtserve)}")
        if 'reason="not_found"' not in text:
            failures.append("no failure sample with reason=\"not_found\" after the bad request")

        metrics_dir = os.path.join(args.source_dir, "server/metrics")
        metrics_source = "".join(open(os.path.join(metrics_dir, f)).read()
                                 for f in sorted(os.listdir(metrics_dir)) if f.endswith(".cc"))
        used = set()
        for where, expr in queries:
            for name in metric_names(expr):
                used.add(name)
                if name in GPU_ONLY:
                    if f'"{name}"' not in metrics_source:
                        failures.append(f"{where}: GPU metric {name} is not in server/metrics")
                    else:
                        print(f"{where}: {name} is GPU-only: declared in server/metrics, "
                              "not checkable in a CPU scrape")
                elif name not in names and name not in PROMETHEUS_SERIES:
                    failures.append(f"{where}: metric {name} is not exposed by the server")
        print(f"{len(queries)} queries use {len(used)} metric names: {', '.join(sorted(used))}")
    except RuntimeError:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            stop_start = time.monotonic()
            try:
                code = server.wait(timeout=args.exit_timeout + 5)
                elapsed = time.monotonic() - stop_start
                print(f"SIGTERM: exit {code} after {elapsed:.2f} s")
                if code != 0:
                    failures.append(f"server exit code {code} after SIGTERM")
                if elapsed > args.exit_timeout:
                    failures.append(f"drain took {elapsed:.1f} s > --exit_timeout")
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
                failures.append("server did not exit after SIGTERM")
        else:
            failures.append(f"server exited early with {server.returncode}")
    after = subprocess.run([args.health, f"--address={grpc_target}", "--timeout=1s"],
                           capture_output=True, text=True)
    if after.returncode != 1:
        failures.append(f"wtserve-health against a stopped server exited {after.returncode}")

    for f in failures:
        print("FAIL", f)
    if failures:
        return 1
    print("dashboard and alert metrics all exposed by the real server")
    return 0


if __name__ == "__main__":
    sys.exit(main())

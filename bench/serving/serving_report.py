"""Helpers of scripts/bench-serving.sh.

  serving_report.py delta BEFORE AFTER MODEL      -> JSON: the server's counters for MODEL between
                                                     two /metrics scrapes (Prometheus text)
  serving_report.py table RESULTS.jsonl OFFLINE.json [OFFLINE_COLD.json [ROUND_TRIP.jsonl]]
                                                  -> the Markdown table

Server efficiency = offline compute per image (models_bench, same CPU, same threads, at the
server's most frequent batch size) / the server's compute per image (compute histogram sum over
inferences). Server CPU outside compute = (process CPU time - compute time) / requests.
Overhead = client mean latency - server mean compute per batch (concurrency 1: one request per
batch).
Server queue: the mean time requests waited in the batcher (at concurrency 1 mostly the model's
max_queue_delay, spent waiting for a fuller batch by configuration). Beyond queue and gRPC's
round trip (concurrency 1 only): the overhead minus that queue time minus the mean of
grpc_round_trip (ServerLive, one call at a time, same client CPU) — what wtserve and the load
generator add per request.
gRPC's server CPU per call: the server's CPU time per ServerLive call (no model, no payload)
with as many callers as the row's concurrency — gRPC's own share of "server CPU outside compute";
the column after it is the rest, what wtserve's request path costs beyond gRPC.
Efficiency vs cold: the same against models_bench --evict_mib (caches flushed before every forward,
as when the server's other threads ran on the core between two batches).
"""

import json
import re
import sys

LINE = re.compile(r'^(\w+)\{([^}]*)\}\s+(\S+)$')


def scrape(path, model):
    values = {}
    for line in open(path):
        m = LINE.match(line.strip())
        if not m or f'model="{model}"' not in m.group(2):
            continue
        name, labels, value = m.group(1), m.group(2), float(m.group(3))
        le = re.search(r'le="([^"]+)"', labels)
        key = name + (f"@{le.group(1)}" if le else "")
        values[key] = value
    return values


def delta(before, after, model):
    b, a = scrape(before, model), scrape(after, model)
    d = {k: a[k] - b.get(k, 0.0) for k in a}
    buckets = sorted(((float(k.split("@")[1]) if k.split("@")[1] != "+Inf" else float("inf"), v)
                      for k, v in d.items() if k.startswith("wtserve_inference_batch_size_bucket@")))
    # Most frequent batch size: the bucket with the largest increase of its own (buckets are 1, 2, 4, ...).
    best, prev, most = None, 0.0, -1.0
    for le, cum in buckets:
        own = cum - prev
        prev = cum
        if own > most and le != float("inf"):
            best, most = le, own
    out = {
        "inferences": d.get("wtserve_inference_count_total", 0.0),
        "executions": d.get("wtserve_inference_exec_count_total", 0.0),
        "compute_s": d.get("wtserve_inference_compute_duration_seconds_sum", 0.0),
        "request_s": d.get("wtserve_inference_request_duration_seconds_sum", 0.0),
        "queue_s": d.get("wtserve_inference_queue_duration_seconds_sum", 0.0),
        "requests": d.get("wtserve_inference_request_duration_seconds_count", 0.0),
        "modal_batch_bucket": best,
    }
    print(json.dumps(out))


def per_image_ms(offline_path):
    """(architecture, batch) -> ms per image, from a models_bench JSON file."""
    offline = {}
    for b in json.load(open(offline_path))["benchmarks"]:
        m = re.match(r"(\w+) \d+x\d+ N=(\d+)", b.get("label", ""))
        if m and b.get("run_type") != "aggregate":
            offline[(m.group(1), int(m.group(2)))] = b["real_time"] / int(m.group(2))
    return offline


def table(results_path, offline_path, cold_path=None, round_trip_path=None):
    offline = per_image_ms(offline_path)
    cold = per_image_ms(cold_path) if cold_path else {}
    # ROUND_TRIP.jsonl: one grpc_round_trip line per concurrency ("threads"), with "server_cpu_us".
    trips = {r["threads"]: r for r in map(json.loads, open(round_trip_path)) if r} if round_trip_path else {}
    round_trip_us = trips[1]["mean_us"] if 1 in trips else None
    rows = [json.loads(l) for l in open(results_path) if l.strip()]
    print("| model | concurrency | img/s | p50 ms | p99 ms | avg batch | server compute µs/img | offline µs/img "
          "(at batch) | efficiency | offline cold µs/img | efficiency vs cold | server CPU outside compute µs/req "
          "| gRPC's server CPU per call µs | outside compute − gRPC's µs/req "
          "| client latency − server compute µs | server queue µs/req | … − queue − gRPC round trip µs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["server"]
        inf, exe, req = max(s["inferences"], 1), max(s["executions"], 1), max(s["requests"], 1)
        compute_us = 1e6 * s["compute_s"] / inf
        batch = round(inf / exe)
        off = offline.get((r["model"], batch))
        eff = f"{off * 1e3 / compute_us:.2f}" if off else "—"
        off_cold = cold.get((r["model"], batch))
        cold_us = f"{off_cold * 1e3:.0f}" if off_cold else "—"
        eff_cold = f"{off_cold * 1e3 / compute_us:.2f}" if off_cold else "—"
        outside = 1e6 * (r["server_cpu_s"] - s["compute_s"]) / req
        overhead = 1e3 * r["client"]["latency_ms"]["mean"] - 1e6 * s["compute_s"] / exe
        # Only meaningful one request at a time: at higher concurrency latency includes queueing.
        queue_us = 1e6 * s.get("queue_s", 0.0) / req
        trip = trips.get(r["concurrency"])
        grpc_cpu = f"{trip['server_cpu_us']:.0f}" if trip else "—"
        ours = f"{outside - trip['server_cpu_us']:.0f}" if trip else "—"
        beyond = (f"{overhead - queue_us - round_trip_us:.0f}"
                  if round_trip_us is not None and r["concurrency"] == 1 else "—")
        print(f"| {r['model']} | {r['concurrency']} | {r['client']['images_per_s']:.0f} | "
              f"{r['client']['latency_ms']['p50']:.2f} | {r['client']['latency_ms']['p99']:.2f} | {inf / exe:.2f} | "
              f"{compute_us:.0f} | {off * 1e3 if off else float('nan'):.0f} ({batch}) | {eff} | {cold_us} | {eff_cold} | "
              f"{outside:.0f} | {grpc_cpu} | {ours} | {overhead:.0f} | {queue_us:.0f} | {beyond} |")


if __name__ == "__main__":
    if sys.argv[1] == "delta":
        delta(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "table":
        table(*sys.argv[2:6])
    else:
        sys.exit("usage: serving_report.py delta BEFORE AFTER MODEL | table RESULTS.jsonl OFFLINE.json [COLD.json "
                 "[ROUND_TRIP.jsonl]]")

#!/usr/bin/python3
"""Offline checks of wtserve's Kubernetes manifests (no cluster needed).

For each kustomization (the cpu, cpu-tls and gpu overlays and the KServe example) it renders the manifests
with `kubectl kustomize`, then
  1. types every document as a TypeScript literal of its kubernetes-models interface (KServe:
     tests/deploy/kserve-types.ts) and runs `tsc --strict --noEmit`: misspelled or misplaced
     fields fail as excess properties, wrong types and missing required fields fail too;
  2. validates every document against the Kubernetes JSON Schemas at run time
     (kubernetes-models' validate(), AJV), which also checks formats and enums;
  3. checks the wiring the schemas cannot see: selectors match the pod labels, the HPA/PDB/
     PodMonitor/Services point at what exists, probes use grpc.health.v1 (over TLS through the
     image's wtserve-health, certificates from the mounted Secret), the grace period covers
     preStop + the server's --exit_timeout, the GPU overlay asks for a GPU, and the
     PrometheusRule carries exactly the rules of deploy/prometheus/alerts.yml.

Usage: check_k8s.py --source-dir REPO --node-modules DIR --work-dir DIR [--kubectl kubectl]
       [--node node]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

KUSTOMIZATIONS = ["deploy/k8s/overlays/cpu", "deploy/k8s/overlays/cpu-tls", "deploy/k8s/overlays/gpu",
                  "deploy/k8s/kserve"]


def model_module(api_version, kind):
    """(module, className, runtime-validatable) for a document's kubernetes-models type."""
    if api_version == "v1":
        return f"kubernetes-models/v1/{kind}", kind, True
    group, version = api_version.split("/")
    if group == "monitoring.coreos.com":
        return f"@kubernetes-models/prometheus-operator/{group}/{version}/{kind}", kind, True
    if group == "serving.kserve.io":
        return "./kserve-types", None, False
    return f"kubernetes-models/{group}/{version}/{kind}", kind, True


def render(kubectl, source_dir, path):
    out = subprocess.run([kubectl, "kustomize", os.path.join(source_dir, path)],
                         check=True, capture_output=True, text=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)


def duration_seconds(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not match:
        raise ValueError(f"cannot parse duration {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_wiring(name, docs, failures, source_dir):
    """Cross-document invariants of the wtserve overlays."""
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = by_kind.get("Deployment", [])
    failures.check(len(deployments) == 1, f"{name}: expected exactly one Deployment")
    if len(deployments) != 1:
        return
    dep = deployments[0]
    pod = dep["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    failures.check(selects(dep["spec"]["selector"]["matchLabels"], pod_labels),
                   f"{name}: Deployment selector does not match its pod labels")
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "wtserve")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    failures.check(ports.get("grpc") == 8001 and ports.get("metrics") == 8002,
                   f"{name}: container ports must be grpc=8001, metrics=8002, got {ports}")

    failures.check(ports.get("http") == 8000, f"{name}: container port http must be 8000, got {ports}")
    tls = name.endswith("-tls")
    args = container.get("args", [])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if not tls:
            grpc = container.get(probe, {}).get("grpc")
            failures.check(grpc is not None and grpc.get("port") == 8001,
                           f"{name}: {probe} must be a grpc.health.v1 probe on port 8001")
            continue
        # With TLS the kubelet's grpc: probe cannot connect; the image's wtserve-health can.
        command = container.get(probe, {}).get("exec", {}).get("command", [])
        failures.check(command[:3] == ["wtserve-health", "--address=127.0.0.1:8001", "--tls"],
                       f"{name}: {probe} must run wtserve-health --address=127.0.0.1:8001 --tls, got {command}")
        files = [c.split("=", 1)[1] for c in command if c.split("=", 1)[0] in ("--root_cert", "--client_cert",
                                                                                "--client_key")]
        failures.check(len(files) == 3, f"{name}: {probe} needs --root_cert, --client_cert and --client_key")
    if tls:
        secret_mounts = {m["mountPath"] for v in pod["spec"].get("volumes", []) if "secret" in v
                         for m in container.get("volumeMounts", []) if m["name"] == v["name"]}
        failures.check(len(secret_mounts) == 1, f"{name}: the certificates need one Secret volume mounted")
        for flag in ("--grpc_use_ssl_mutual", "--http_use_ssl_mutual"):
            failures.check(flag in args, f"{name}: {flag} missing from the container args")
        for arg in args + [c for p in ("startupProbe", "readinessProbe", "livenessProbe")
                           for c in container.get(p, {}).get("exec", {}).get("command", [])]:
            if arg.startswith("--") and "=/etc/" in arg and arg.endswith((".pem", ".key")):
                path = arg.split("=", 1)[1]
                failures.check(any(path.startswith(m + "/") for m in secret_mounts),
                               f"{name}: {arg} is not inside the certificate Secret's mount")
    startup = container.get("startupProbe", {})
    failures.check(startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) >= 300,
                   f"{name}: startupProbe must allow >= 5 minutes for model loading")

    # Flags come from the generated ConfigMap mounted as a flagfile.
    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    flag_volumes = [v for v in pod["spec"].get("volumes", []) if "configMap" in v]
    failures.check(len(flag_volumes) == 1, f"{name}: expected one ConfigMap volume (flags)")
    exit_timeout = 30.0  # the server's default
    for v in flag_volumes:
        cm = configmaps.get(v["configMap"]["name"])
        failures.check(cm is not None, f"{name}: volume {v['name']} references a missing ConfigMap")
        if cm is None:
            continue
        flags = cm["data"]["flags"].split()
        for flag in flags:
            failures.check(flag.startswith("--") and "=" in flag,
                           f"{name}: flagfile line {flag!r} is not --name=value")
            if flag.startswith("--exit_timeout="):
                exit_timeout = duration_seconds(flag.split("=", 1)[1])
        failures.check("--model_repository=/models" in flags,
                       f"{name}: flags must serve the baked-in repository /models")
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    pre_stop_s = 0.0
    if "exec" in pre_stop:
        cmd = pre_stop["exec"]["command"]
        if cmd[0] == "sleep":
            pre_stop_s = float(cmd[1])
    elif "sleep" in pre_stop:
        pre_stop_s = float(pre_stop["sleep"]["seconds"])
    failures.check(pre_stop_s > 0, f"{name}: the container needs a preStop delay")
    grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    failures.check(grace > exit_timeout + pre_stop_s,
                   f"{name}: terminationGracePeriodSeconds {grace} must exceed preStop "
                   f"{pre_stop_s}s + --exit_timeout {exit_timeout}s")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            failures.check(res in resources.get(part, {}), f"{name}: missing {part}.{res}")

    services = by_kind.get("Service", [])
    failures.check(any(s["spec"].get("clusterIP") == "None" for s in services),
                   f"{name}: a headless Service is needed for client-side load balancing")
    failures.check(any(s["spec"].get("clusterIP") != "None" for s in services),
                   f"{name}: a ClusterIP Service is needed")
    for s in services:
        failures.check(selects(s["spec"]["selector"], pod_labels),
                       f"{name}: Service {s['metadata']['name']} selects no wtserve pod")
        for p in s["spec"]["ports"]:
            failures.check(p["targetPort"] in ports,
                           f"{name}: Service {s['metadata']['name']} targets unknown port "
                           f"{p['targetPort']}")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        failures.check(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"],
                       f"{name}: HPA does not target the Deployment")
        failures.check(hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"],
                       f"{name}: HPA minReplicas > maxReplicas")
    failures.check(len(by_kind.get("HorizontalPodAutoscaler", [])) == 1, f"{name}: need one HPA")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    failures.check(len(pdbs) == 1, f"{name}: need one PodDisruptionBudget")
    for pdb in pdbs:
        failures.check(selects(pdb["spec"]["selector"]["matchLabels"], pod_labels),
                       f"{name}: PDB selects no wtserve pod")
        failures.check(("minAvailable" in pdb["spec"]) != ("maxUnavailable" in pdb["spec"]),
                       f"{name}: PDB needs exactly one of minAvailable/maxUnavailable")
    monitors = by_kind.get("PodMonitor", [])
    failures.check(len(monitors) == 1, f"{name}: need one PodMonitor")
    for pm in monitors:
        failures.check(selects(pm["spec"]["selector"]["matchLabels"], pod_labels),
                       f"{name}: PodMonitor selects no wtserve pod")
        for ep in pm["spec"]["podMetricsEndpoints"]:
            failures.check(ep.get("port") in ports, f"{name}: PodMonitor port {ep.get('port')}")

    rules = by_kind.get("PrometheusRule", [])
    failures.check(len(rules) == 1, f"{name}: need one PrometheusRule")
    with open(os.path.join(source_dir, "deploy/prometheus/alerts.yml")) as f:
        alerts = yaml.safe_load(f)
    for rule in rules:
        failures.check(rule["spec"] == alerts,
                       f"{name}: PrometheusRule differs from deploy/prometheus/alerts.yml")

    if name.endswith("gpu"):
        limits = resources.get("limits", {})
        failures.check(str(limits.get("nvidia.com/gpu")) == "1",
                       f"{name}: GPU overlay must limit nvidia.com/gpu to 1")
        failures.check(bool(pod["spec"].get("nodeSelector")), f"{name}: GPU needs a nodeSelector")
        failures.check(any(t.get("key") == "nvidia.com/gpu"
                           for t in pod["spec"].get("tolerations", [])),
                       f"{name}: GPU overlay must tolerate the nvidia.com/gpu taint")
        failures.check(container["image"].endswith(":cuda"), f"{name}: GPU overlay needs :cuda")
    else:
        failures.check("nvidia.com/gpu" not in json.dumps(dep), f"{name}: CPU asks for a GPU")


def check_kserve(name, docs, failures):
    runtimes = [d for d in docs if d["kind"] == "ServingRuntime"]
    services = [d for d in docs if d["kind"] == "InferenceService"]
    failures.check(len(runtimes) == 1 and len(services) == 1,
                   f"{name}: expected one ServingRuntime and one InferenceService")
    if len(runtimes) != 1 or len(services) != 1:
        return
    rt, isvc = runtimes[0], services[0]
    model = isvc["spec"]["predictor"]["model"]
    failures.check(model.get("runtime") == rt["metadata"]["name"],
                   f"{name}: InferenceService must name the ServingRuntime")
    formats = [f["name"] for f in rt["spec"]["supportedModelFormats"]]
    failures.check(model["modelFormat"]["name"] in formats, f"{name}: model format not supported")
    failures.check(model.get("protocolVersion") in rt["spec"].get("protocolVersions", []),
                   f"{name}: protocolVersion not offered by the runtime")
    container = rt["spec"]["containers"][0]
    failures.check(container["name"] == "kserve-container",
                   f"{name}: KServe expects the container to be named kserve-container")
    failures.check("--model_repository=/mnt/models" in container.get("args", []),
                   f"{name}: the runtime must serve KServe's /mnt/models")
    failures.check(any(p.get("name") == "h2c" for p in container.get("ports", [])),
                   f"{name}: gRPC port must be named h2c for KServe")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--node-modules", required=True, help="folder holding node_modules/")
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--node", default="node")
    args = parser.parse_args()

    work = os.path.abspath(args.work_dir)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    node_modules = os.path.join(os.path.abspath(args.node_modules), "node_modules")
    os.symlink(node_modules, os.path.join(work, "node_modules"))
    shutil.copy(os.path.join(args.source_dir, "tests/deploy/kserve-types.ts"), work)

    failures = Failures()
    ts_files, runtime_docs = [], []
    for path in KUSTOMIZATIONS:
        docs = render(args.kubectl, args.source_dir, path)
        name = os.path.basename(path)
        print(f"{path}: {len(docs)} documents: "
              + ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)))
        for i, doc in enumerate(docs):
            module, class_name, runtime = model_module(doc["apiVersion"], doc["kind"])
            interface = "I" + doc["kind"]
            ts = os.path.join(work, f"{name}-{i:02d}-{doc['kind']}.ts")
            with open(ts, "w") as f:
                f.write(f'import {{ {interface} }} from "{module}";\n\n')
                f.write(f"// {path}: {doc['kind']}/{doc['metadata']['name']}\n")
                f.write(f"export const manifest: {interface} = {json.dumps(doc, indent=2)};\n")
            ts_files.append(os.path.basename(ts))
            if runtime:
                runtime_docs.append({"module": module, "className": class_name,
                                     "source": path, "doc": doc})
        if name == "kserve":
            check_kserve(name, docs, failures)
        else:
            check_wiring(name, docs, failures, args.source_dir)

    with open(os.path.join(work, "tsconfig.json"), "w") as f:
        json.dump({"compilerOptions": {"strict": True, "noEmit": True, "target": "es2020",
                                       "module": "commonjs", "moduleResolution": "node",
                                       "skipLibCheck": True, "types": []},
                   "files": ts_files + ["kserve-types.ts"]}, f, indent=2)
    tsc = os.path.join(node_modules, "typescript", "bin", "tsc")
    typed = subprocess.run([args.node, tsc, "-p", work], capture_output=True, text=True)
    print(f"tsc --strict --noEmit over {len(ts_files)} manifests: "
          + ("ok" if typed.returncode == 0 else "FAILED"))
    sys.stdout.write(typed.stdout + typed.stderr)
    failures.check(typed.returncode == 0, "TypeScript found schema errors (above)")

    docs_json = os.path.join(work, "docs.json")
    with open(docs_json, "w") as f:
        json.dump(runtime_docs, f)
    validated = subprocess.run(
        [args.node, os.path.join(args.source_dir, "tests/deploy/validate_models.js"), docs_json],
        capture_output=True, text=True, env={**os.environ, "NODE_PATH": node_modules})
    sys.stdout.write(validated.stdout + validated.stderr)
    failures.check(validated.returncode == 0, "kubernetes-models validation failed (above)")

    for message in failures.messages:
        print(f"FAIL {message}")
    if failures.messages:
        return 1
    print("all Kubernetes manifests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

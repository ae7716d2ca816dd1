"""Re-evaluates every shipped model (models/<name>/ with a training.json) on the full
Fashion-MNIST test set with wtserve-eval and checks the accuracy recorded next to it
(training.json, written by wtserve-train, and quoted in the model card README.md) within 0.1
points. Standard library only.

usage: check_shipped_models.py --eval build/.../wtserve-eval --models models
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--eval", required=True, help="path of the wtserve-eval binary")
    parser.add_argument("--models", required=True, help="model repository folder")
    args = parser.parse_args()
    checked = 0
    failures = []
    for name in sorted(os.listdir(args.models)):
        folder = os.path.join(args.models, name)
        summary_path = os.path.join(folder, "training.json")
        if not os.path.isfile(summary_path):
            continue
        with open(summary_path) as f:
            summary = json.load(f)
        recorded = float(summary["test_accuracy"])
        with open(os.path.join(folder, "README.md")) as f:
            card = f.read()
        if f"{recorded:.2f}%" not in card:
            failures.append(f"{name}: model card does not quote the recorded accuracy {recorded:.2f}%")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "eval.json")
            proc = subprocess.run(
                [args.eval, f"--model_dir={folder}", "--data=fashion-mnist", "--intra_op_threads=1", f"--output_json={out}"],
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                failures.append(f"{name}: wtserve-eval failed: {proc.stderr.strip()}")
                continue
            with open(out) as f:
                result = json.load(f)
        print(proc.stdout.strip().splitlines()[0])
        if result["images"] != 10000:
            failures.append(f"{name}: evaluated {result['images']} images, expected the full 10000")
        if abs(result["accuracy"] - recorded) > 0.1:
            failures.append(f"{name}: accuracy {result['accuracy']:.2f}% vs recorded {recorded:.2f}%")
        checked += 1
    if checked == 0:
        failures.append(f"no shipped model (folder with training.json) under {args.models}")
    for failure in failures:
        print("FAIL:", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

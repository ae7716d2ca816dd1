#!/usr/bin/env python3
"""wtserve-model end to end on the checkpoints of the checkpoint_formats fixture: inspect names the
layout and the matching architecture; make-folder turns a wrapped or fast_wtconv checkpoint into a
folder that wtserve-eval evaluates exactly as the shipped model; refusals exit 1 (2 for usage)
with a reason. Standard library only.

usage: check_model_tool.py MODEL_TOOL EVAL CHECKPOINT_DIR SOURCE_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys


def run(*args, expect=0):
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=600)
    if proc.returncode != expect:
        sys.exit(f"FAIL: {' '.join(args)} exited {proc.returncode}, want {expect}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def check(cond, msg):
    if not cond:
        sys.exit(f"FAIL: {msg}")


def accuracy(evaluate, folder, work, images=500):
    out = os.path.join(work, os.path.basename(folder) + ".json")
    run(evaluate, f"--model_dir={folder}", f"--limit={images}", "--intra_op_threads=1", f"--output_json={out}")
    with open(out) as f:
        return json.load(f)["correct"]


def main():
    tool, evaluate, checkpoints, source, work = sys.argv[1:6]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    repo = os.path.join(work, "repo")

    text = run(tool, "inspect", os.path.join(checkpoints, "state_dict.pth"))
    check("layout: weights under 'state_dict'" in text, f"inspect does not name the entry:\n{text}")
    check("args ('argparse.Namespace' object (not constructed))" in text, "inspect does not list the other entries")
    check("43 tensors, 146074 values" in text, "inspect miscounts the weights")
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("    ") and len(line.split()) > 1}
    check("MATCHES" in lines.get("convnext_fmnist", ""), "convnext_fmnist should match")
    check("no: " in lines.get("wtconvnext_fmnist", "") and "missing keys" in lines["wtconvnext_fmnist"],
          "wtconvnext_fmnist should be refused with its missing keys")

    shipped_cnx = accuracy(evaluate, os.path.join(source, "models", "convnext_fmnist"), work)
    shipped_wt = accuracy(evaluate, os.path.join(source, "models", "wtconvnext_fmnist"), work)
    for name, checkpoint, extra, want in [
        ("cnx_wrapped", "wrapped_module.pth", [], shipped_cnx),
        ("cnx_ema", "ema_and_plain.pth", ["--entry=state_dict_ema"], shipped_cnx),
        ("wt_cuda", "fast_wtconv_cuda.pth", [], shipped_wt),
        ("wt_metal", "fast_wtconv_metal.pth", [], shipped_wt),
    ]:
        run(tool, "make-folder", os.path.join(checkpoints, checkpoint), f"--repository={repo}", f"--name={name}",
            f"--labels={os.path.join(source, 'models', 'convnext_fmnist', 'labels.txt')}", *extra)
        got = accuracy(evaluate, os.path.join(repo, name), work)
        check(got == want, f"{name}: {got} correct of 500, the shipped model gets {want}")

    converted = os.path.join(work, "flat.pt")
    run(tool, "convert", os.path.join(checkpoints, "model.pth"), converted)
    check(os.path.getsize(converted) > 100000, "convert wrote no weights")

    message = run(tool, "make-folder", os.path.join(checkpoints, "ema_and_plain.pth"), f"--repository={repo}",
                  "--name=ambiguous", expect=1)
    check("several state dicts" in message and "--entry=NAME" in message, f"ambiguous file: {message}")
    message = run(tool, "convert", os.path.join(checkpoints, "legacy.pth"), converted, expect=1)
    check("legacy torch.save format" in message, f"legacy file: {message}")
    check("usage:" in run(tool, "inspect", expect=2), "usage error")
    print("wtserve-model checks passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes one set of weights in every checkpoint layout users bring, with Debian's python3-torch,
for checkpoint_formats_test (which loads each into the same network and compares).

usage: write_checkpoint_formats.py SOURCE_MODEL_PT OUT_DIR

SOURCE_MODEL_PT is a shipped model.pt (a flat state dict). Written to OUT_DIR:
  flat.pth            OrderedDict, as the released WTConvNeXt files
  state_dict.pth      {"epoch", "state_dict", "optimizer", "args" (argparse.Namespace), "scale"
                       (a numpy scalar)}: a typical training checkpoint
  model.pth           {"model": weights, "epoch"}
  ema_and_plain.pth   {"state_dict": weights + 1, "state_dict_ema": weights}: needs a choice
  module_prefix.pth   every key prefixed "module." (torch.nn.DataParallel)
  wrapped_module.pth  {"state_dict": module-prefixed weights}
  legacy.pth          torch.save(..., _use_new_zipfile_serialization=False)
  no_weights.pth      {"epoch", "args"}: nothing to load
"""
import argparse
import collections
import os
import sys

import numpy
import torch


def main():
    source, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    weights = collections.OrderedDict(torch.load(source, map_location="cpu"))
    plus_one = collections.OrderedDict((k, v + 1) for k, v in weights.items())
    prefixed = collections.OrderedDict(("module." + k, v) for k, v in weights.items())
    args = argparse.Namespace(lr=3e-3, epochs=8, model="convnext_fmnist")
    optimizer = torch.optim.AdamW([torch.nn.Parameter(v.clone()) for v in list(weights.values())[:2]])
    files = {
        "flat.pth": weights,
        "state_dict.pth": {"epoch": 8, "state_dict": weights, "optimizer": optimizer.state_dict(),
                           "args": args, "scale": numpy.float64(0.5)},
        "model.pth": {"model": weights, "epoch": 3},
        "ema_and_plain.pth": {"state_dict": plus_one, "state_dict_ema": weights},
        "module_prefix.pth": prefixed,
        "wrapped_module.pth": {"state_dict": prefixed, "epoch": 1},
        "no_weights.pth": {"epoch": 1, "args": args},
    }
    for name, obj in files.items():
        torch.save(obj, os.path.join(out, name))
    torch.save(weights, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
    print(f"wrote {len(files) + 1} checkpoints of {len(weights)} tensors to {out}")


if __name__ == "__main__":
    main()

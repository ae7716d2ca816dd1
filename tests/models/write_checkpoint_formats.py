#!/usr/bin/env python3
"""Writes one set of weights in every checkpoint layout users bring, with Debian's python3-torch,
for checkpoint_formats_test (which loads each into the same network and compares).

usage: write_checkpoint_formats.py SOURCE_MODEL_PT WTCONV_MODEL_PT OUT_DIR

SOURCE_MODEL_PT is a shipped model.pt (a flat state dict), WTCONV_MODEL_PT one of a WTConv
model. Written to OUT_DIR:
  flat.pth            OrderedDict, as the released WTConvNeXt files
  state_dict.pth      {"epoch", "state_dict", "optimizer", "args" (argparse.Namespace), "scale"
                       (a numpy scalar)}: a typical training checkpoint
  model.pth           {"model": weights, "epoch"}
  ema_and_plain.pth   {"state_dict": weights + 1, "state_dict_ema": weights}: needs a choice
  module_prefix.pth   every key prefixed "module." (torch.nn.DataParallel)
  wrapped_module.pth  {"state_dict": module-prefixed weights}
  legacy.pth          torch.save(..., _use_new_zipfile_serialization=False)
  no_weights.pth      {"epoch", "args"}: nothing to load
  fast_wtconv_cuda.pth   the WTConv model with its WTConv layers in fast_wtconv's CUDA/Triton
                         names (base_weight, base_bias, base_scale, wt_weights.i, wt_scales.i),
                         no filter tensors
  fast_wtconv_metal.pth  in fast_wtconv's Metal names (base_conv.*, bare base_scale,
                         wavelet_convs.i.weight, wavelet_scales.i), no filters, and the bias
                         stored as that layer uses it: added after the scale (scale * bias here)
"""
import argparse
import collections
import os
import sys

import numpy
import torch


def fast_wtconv(weights, metal):
    """A WTConv model's state dict renamed to a fast_wtconv layout (same function)."""
    out = collections.OrderedDict()
    for key, value in weights.items():
        layer, _, name = key.rpartition("conv_dw.")
        if not _:
            out[key] = value
            continue
        prefix = layer + "conv_dw."
        if name in ("wt_filter", "iwt_filter"):
            continue  # fast_wtconv builds its Haar filters in code
        if metal:
            if name == "base_scale.weight":
                out[prefix + "base_scale"] = value
            elif name.startswith("wavelet_scale."):
                out[prefix + "wavelet_scales." + name.split(".")[1]] = value
            elif name == "base_conv.bias":
                out[key] = value * weights[prefix + "base_scale.weight"].reshape(-1)
            else:
                out[key] = value
        else:
            renamed = {"base_conv.weight": "base_weight", "base_conv.bias": "base_bias",
                       "base_scale.weight": "base_scale"}.get(name)
            if renamed is None and name.startswith("wavelet_convs."):
                renamed = "wt_weights." + name.split(".")[1]
            if renamed is None and name.startswith("wavelet_scale."):
                renamed = "wt_scales." + name.split(".")[1]
            out[prefix + renamed] = value
    return out


def main():
    source, wtconv_source, out = sys.argv[1], sys.argv[2], sys.argv[3]
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
    wtconv = collections.OrderedDict(torch.load(wtconv_source, map_location="cpu"))
    torch.save(fast_wtconv(wtconv, metal=False), os.path.join(out, "fast_wtconv_cuda.pth"))
    torch.save(fast_wtconv(wtconv, metal=True), os.path.join(out, "fast_wtconv_metal.pth"))
    print(f"wrote {len(files) + 3} checkpoints to {out}")


if __name__ == "__main__":
    main()

"""Writes the cases the C++ WTConv2d is cross-checked against (tests/nn/wtconv_crosscheck_test.cc).

Output (torch.save of plain dicts/lists, which torch::pickle_load reads):
  wavelets: {name: {dec_lo, dec_hi, rec_lo, rec_hi}}  float64, straight from pywt
  filters:  {name: {wt_filter, iwt_filter}}           reference construction, channels = CHANNELS
  inputs:   {"HxW_bB": x}                              float32 [B, CHANNELS, H, W]
  states:   {"wavelet_kK_lL": state_dict as dict}      random trainable weights, reference filters
  cases:    [{h, w, batch, levels, kernel_size, stride, wavelet, input, state, y}]

Grid: sizes 1x1, 3x5, 7x7, 13x21, 56x56; wt_levels 0-5; kernel sizes 3, 5, 7; stride 1, 2;
wavelets db1, db2, sym3, coif1, bior2.2, rbio1.3; batch 1, 4 (2160 cases). Every level count is valid for every
size: a level pads an odd size up by one and halves it, so a 1x1 band stays 1x1 from then on.
"""

import argparse
import itertools
import sys
import time
from pathlib import Path

import pywt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wtconv_ref  # noqa: E402

CHANNELS = 2
SIZES = [(1, 1), (3, 5), (7, 7), (13, 21), (56, 56)]
LEVELS = range(6)
KERNELS = [3, 5, 7]
STRIDES = [1, 2]
WAVELETS = ["db1", "db2", "sym3", "coif1", "bior2.2", "rbio1.3"]
BATCHES = [1, 4]


def randomize(module, gen):
    """Trained-layer magnitudes: conv weights ~N(0, 1/k^2), biases ~N(0, 0.01), scales ~U(-1, 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            if "scale" in name:
                p.copy_(torch.rand(p.shape, generator=gen) * 2 - 1)
            elif "bias" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="file to write (torch.save)")
    parser.add_argument("--seed", type=int, default=20240708)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    gen = torch.Generator().manual_seed(args.seed)

    wavelets = {}
    filters = {}
    for name in wtconv_ref.SUPPORTED_WAVELETS:
        w = pywt.Wavelet(name)
        wavelets[name] = {
            k: torch.tensor(getattr(w, k), dtype=torch.float64) for k in ("dec_lo", "dec_hi", "rec_lo", "rec_hi")
        }
        wt, iwt = wtconv_ref.wavelet_filters(name, 3)
        filters[name] = {"wt_filter": wt, "iwt_filter": iwt}

    inputs = {}
    for (h, w), b in itertools.product(SIZES, BATCHES):
        inputs[f"{h}x{w}_b{b}"] = torch.randn(b, CHANNELS, h, w, generator=gen)

    states, modules = {}, {}
    for wavelet, k, levels, stride in itertools.product(WAVELETS, KERNELS, LEVELS, STRIDES):
        key = f"{wavelet}_k{k}_l{levels}"
        m = wtconv_ref.WTConv2d(CHANNELS, kernel_size=k, stride=stride, wt_levels=levels, wavelet=wavelet)
        if key not in states:
            randomize(m, gen)
            states[key] = dict(m.state_dict())
        else:
            m.load_state_dict(states[key])
        modules[(key, stride)] = m

    cases = []
    with torch.no_grad():
        for (h, w), levels, k, stride, wavelet, b in itertools.product(
            SIZES, LEVELS, KERNELS, STRIDES, WAVELETS, BATCHES
        ):
            state = f"{wavelet}_k{k}_l{levels}"
            x_key = f"{h}x{w}_b{b}"
            y = modules[(state, stride)](inputs[x_key])
            assert y.shape == (b, CHANNELS, -(-h // stride), -(-w // stride)), y.shape
            cases.append(
                {
                    "h": h, "w": w, "batch": b, "levels": levels, "kernel_size": k, "stride": stride,
                    "wavelet": wavelet, "input": x_key, "state": state, "y": y.contiguous(),
                }
            )

    torch.save(
        {"channels": CHANNELS, "wavelets": wavelets, "filters": filters, "inputs": inputs, "states": states,
         "cases": cases},
        args.out,
    )
    print(f"wrote {len(cases)} cases, {len(states)} weight sets to {args.out} in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()

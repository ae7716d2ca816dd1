"""Python reference of the WTConv2d layer, written for wtserve's tests and benchmarks.

It restates the semantics of the paper's reference layer (S. E. Finder et al., "Wavelet
Convolutions for Large Receptive Fields", ECCV 2024, arXiv 2407.05848; code BGU-CS-VIL/WTConv,
MIT; semantics in docs/wtconv.md) in plain PyTorch + PyWavelets, with the
same parameter names, shapes and registration order, so that its state_dict is the reference's.
It deliberately keeps the reference's algorithm (grouped conv2d / conv_transpose2d, separate
scale multiplies, cat, pad, crop) because it is what the C++ layer is checked and timed against.

Run with Debian's /usr/bin/python3 (python3-torch, python3-pywt).
"""

import pywt
import torch
import torch.nn.functional as F
from torch import nn

_BIORTHOGONAL = ["1.1", "1.3", "1.5", "2.2", "2.4", "2.6", "2.8", "3.1", "3.3", "3.5", "3.7", "3.9", "4.4", "5.5",
                 "6.8"]
SUPPORTED_WAVELETS = (["haar"] + [f"db{i}" for i in range(1, 7)] + [f"sym{i}" for i in range(2, 7)]
                      + [f"coif{i}" for i in range(1, 4)] + [f"bior{v}" for v in _BIORTHOGONAL]
                      + [f"rbio{v}" for v in _BIORTHOGONAL])


def _outer_bank(lo, hi):
    """4 separable 2-D filters [LL, LH, HL, HH]; element [i][j] = col_filter[j] * row_filter[i]."""
    pairs = [(lo, lo), (lo, hi), (hi, lo), (hi, hi)]  # (along W / j, along H / i)
    return torch.stack([along_w[None, :] * along_h[:, None] for along_w, along_h in pairs])


def wavelet_filters(name, channels, dtype=torch.float32):
    """Analysis and synthesis filters of shape (4*channels, 1, f, f), built like the reference:

    float32 coefficients from pywt, analysis from dec_lo/dec_hi reversed (conv2d correlates),
    synthesis from rec_lo/rec_hi as given, per channel the bands LL, LH, HL, HH.
    """
    w = pywt.Wavelet(name)
    dec_lo = torch.tensor(w.dec_lo[::-1], dtype=dtype)
    dec_hi = torch.tensor(w.dec_hi[::-1], dtype=dtype)
    rec_lo = torch.tensor(w.rec_lo, dtype=dtype)
    rec_hi = torch.tensor(w.rec_hi, dtype=dtype)
    analysis = _outer_bank(dec_lo, dec_hi)[:, None].repeat(channels, 1, 1, 1)
    synthesis = _outer_bank(rec_lo, rec_hi)[:, None].repeat(channels, 1, 1, 1)
    return analysis, synthesis


def analysis(x, filters):
    """(B, C, H, W), H and W even -> (B, C, 4, H/2, W/2). Zero padding f/2-1 as the reference."""
    b, c, h, w = x.shape
    pad = filters.shape[-1] // 2 - 1
    return F.conv2d(x, filters, stride=2, groups=c, padding=pad).reshape(b, c, 4, h // 2, w // 2)


def synthesis(bands, filters):
    """(B, C, 4, h, w) -> (B, C, 2h, 2w), transposed conv with the reference's padding."""
    b, c, _, h, w = bands.shape
    pad = filters.shape[-1] // 2 - 1
    return F.conv_transpose2d(bands.reshape(b, 4 * c, h, w), filters, stride=2, groups=c, padding=pad)


class Scale(nn.Module):
    """weight * x with a fixed broadcastable weight shape (the reference's _ScaleModule)."""

    def __init__(self, shape, init):
        super().__init__()
        self.weight = nn.Parameter(torch.full(shape, float(init)))

    def forward(self, x):
        return self.weight * x


class WTConv2d(nn.Module):
    def __init__(self, channels, kernel_size=5, stride=1, bias=True, wt_levels=1, wavelet="db1"):
        super().__init__()
        self.channels, self.stride, self.wt_levels = channels, stride, wt_levels
        wt, iwt = wavelet_filters(wavelet, channels)
        # Frozen but registered as parameters, so they are part of the state_dict (as in the reference).
        self.wt_filter = nn.Parameter(wt, requires_grad=False)
        self.iwt_filter = nn.Parameter(iwt, requires_grad=False)
        self.base_conv = nn.Conv2d(channels, channels, kernel_size, padding="same", groups=channels, bias=bias)
        self.base_scale = Scale((1, channels, 1, 1), 1.0)
        c4 = 4 * channels
        self.wavelet_convs = nn.ModuleList(
            nn.Conv2d(c4, c4, kernel_size, padding="same", groups=c4, bias=False) for _ in range(wt_levels)
        )
        self.wavelet_scale = nn.ModuleList(Scale((1, c4, 1, 1), 0.1) for _ in range(wt_levels))

    def forward(self, x):
        saved = []  # per level: (size before padding, filtered LL band, filtered high bands)
        ll = x
        for conv, scale in zip(self.wavelet_convs, self.wavelet_scale):
            h, w = ll.shape[-2:]
            if h % 2 or w % 2:
                ll = F.pad(ll, (0, w % 2, 0, h % 2))  # right/bottom only
            bands = analysis(ll, self.wt_filter)
            ll = bands[:, :, 0]
            b, c, _, h2, w2 = bands.shape
            filtered = scale(conv(bands.reshape(b, 4 * c, h2, w2))).reshape(b, c, 4, h2, w2)
            saved.append(((h, w), filtered[:, :, 0], filtered[:, :, 1:4]))
        up = 0
        for (h, w), ll_f, high_f in reversed(saved):
            merged = torch.cat([(ll_f + up).unsqueeze(2), high_f], dim=2)
            up = synthesis(merged, self.iwt_filter)[:, :, :h, :w]
        out = self.base_scale(self.base_conv(x)) + up
        if self.stride > 1:
            out = F.avg_pool2d(out, kernel_size=1, stride=self.stride)
        return out

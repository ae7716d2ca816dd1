"""Python reference of wtserve's classifier zoo (server/nn/models), written for its tests.

Same architectures, parameter names, shapes and registration order as the C++ modules, which
follow timm's ConvNeXt, the released WTConvNeXt checkpoints (docs/reference.md §2) and
torchvision's MobileNetV2. WTConv2d comes from wtconv_ref.py (the layer's own reference).
The C++ tests load the state dicts this writes (torch.save(model.state_dict()), an OrderedDict)
and must reproduce the logits; and this loads the checkpoints the C++ side writes.

Run with Debian's /usr/bin/python3 (python3-torch, python3-pywt):
  models_ref.py cases --out DIR          write <DIR>/<case>.pth + <DIR>/<case>.io.pt per case
  models_ref.py check --arch A --num-classes N --in-chans C --weights F --io F
      load a C++-written checkpoint strictly, compare logits with the saved ones
"""

import argparse
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wtconv_ref import WTConv2d  # noqa: E402

class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(
            0, 3, 1, 2
        )

class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))

class Block(nn.Module):
    def __init__(self, dim, kernel_size, wt_levels, ls_init):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), ls_init))
        if wt_levels is None:
            self.conv_dw = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        else:
            self.conv_dw = WTConv2d(dim, kernel_size=kernel_size, wt_levels=wt_levels)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        y = self.mlp(self.norm(self.conv_dw(x).permute(0, 2, 3, 1))) * self.gamma
        return x + y.permute(0, 3, 1, 2)

class Stage(nn.Module):
    def __init__(self, in_dim, dim, depth, kernel_size, wt_levels, ls_init):
        super().__init__()
        if in_dim:
            self.downsample = nn.Sequential(LayerNorm2d(in_dim, eps=1e-6), nn.Conv2d(in_dim, dim, 2, stride=2))
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(*[Block(dim, kernel_size, wt_levels, ls_init) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))

class Head(nn.Module):
    def __init__(self, dim, num_classes):
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.fc(self.norm(x.mean((2, 3))))

class ConvNeXt(nn.Module):
    def __init__(self, depths, dims, in_chans=3, num_classes=1000, stem_patch=4, wt_levels=None, ls_init=1e-6):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], stem_patch, stride=stem_patch), LayerNorm2d(dims[0], eps=1e-6))
        kernel = 5 if wt_levels else 7
        self.stages = nn.Sequential(
            *[
                Stage(dims[s - 1] if s else 0, dims[s], depths[s], kernel, wt_levels[s] if wt_levels else None, ls_init)
                for s in range(len(depths))
            ]
        )
        self.head = Head(dims[-1], num_classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))

def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v

def conv_bn_relu6(inp, out, kernel, stride, groups):
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(out), nn.ReLU6()
    )

class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand, wt):
        super().__init__()
        hidden = int(round(inp * expand))
        self.use_res = stride == 1 and inp == oup
        layers = []
        if expand != 1:
            layers.append(conv_bn_relu6(inp, hidden, 1, 1, 1))
        if wt:
            layers.append(
                nn.Sequential(
                    WTConv2d(hidden, kernel_size=3, stride=stride, bias=False, wt_levels=3), nn.BatchNorm2d(hidden), nn.ReLU6()
                )
            )
        else:
            layers.append(conv_bn_relu6(hidden, hidden, 3, stride, hidden))
        layers += [nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)

class MobileNetV2(nn.Module):
    def __init__(self, in_chans=3, num_classes=1000, width_mult=1.0, wt=False):
        super().__init__()
        settings = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
        inp = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        features = [conv_bn_relu6(in_chans, inp, 3, 2, 1)]
        for t, c, n, s in settings:
            out = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(inp, out, s if i == 0 else 1, t, wt))
                inp = out
        features.append(conv_bn_relu6(inp, last, 1, 1, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))

IMAGENET_WT_LEVELS = [5, 4, 3, 2]

def create(arch, num_classes=1000, in_chans=3, width_mult=1.0):
    """Mirror of server/nn/models/registry.cc."""
    t, s, b = ([3, 3, 9, 3], [96, 192, 384, 768]), ([3, 3, 27, 3], [96, 192, 384, 768]), ([3, 3, 27, 3], [128, 256, 512, 1024])
    table = {"tiny": t, "small": s, "base": b}
    kw = dict(num_classes=num_classes, in_chans=in_chans)
    for size, (depths, dims) in table.items():
        if arch == f"convnext_{size}":
            return ConvNeXt(depths, dims, **kw)
        if arch == f"wtconvnext_{size}":
            return ConvNeXt(depths, dims, wt_levels=IMAGENET_WT_LEVELS, **kw)
    if arch == "convnext_fmnist":
        return ConvNeXt([1, 1, 1], [24, 48, 104], stem_patch=2, ls_init=1.0, **kw)
    if arch == "wtconvnext_fmnist":
        return ConvNeXt([1, 1, 1], [24, 48, 96], stem_patch=2, wt_levels=[2, 2, 1], ls_init=1.0, **kw)
    if arch in ("mobilenetv2", "wtmobilenetv2"):
        return MobileNetV2(width_mult=width_mult, wt=arch.startswith("wt"), **kw)
    raise ValueError(f"unknown architecture {arch}")

def randomize_(model, generator):
    """Every trainable parameter and BN statistic random (frozen wavelet filters kept), so that a
    key loaded into the wrong place changes the logits."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith("gamma"):
                p.copy_(torch.rand(p.shape, generator=generator) * 0.5 + 0.5)
            elif "norm" in name or name.endswith("scale.weight") or p.dim() == 1 and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=generator))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else 1
                p.copy_(torch.randn(p.shape, generator=generator) / max(1.0, fan_in) ** 0.5)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=generator))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=generator))

# (case name, architecture, num_classes, in_chans, width_mult, input shape)
CASES = [
    ("wtconvnext_tiny_224", "wtconvnext_tiny", 1000, 3, 1.0, (1, 3, 224, 224)),
    ("convnext_tiny_64", "convnext_tiny", 1000, 3, 1.0, (2, 3, 64, 64)),
    ("wtconvnext_fmnist", "wtconvnext_fmnist", 10, 1, 1.0, (4, 1, 28, 28)),
    ("convnext_fmnist", "convnext_fmnist", 10, 1, 1.0, (4, 1, 28, 28)),
    ("mobilenetv2_w05_64", "mobilenetv2", 10, 3, 0.5, (2, 3, 64, 64)),
    ("wtmobilenetv2_w05_64", "wtmobilenetv2", 10, 3, 0.5, (2, 3, 64, 64)),
]

class TinyScriptable(nn.Module):
    """A small classifier for the TorchScript loading test."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).mean((2, 3)))

def write_cases(out):
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(1234)
    for name, arch, num_classes, in_chans, width, shape in CASES:
        torch.manual_seed(0)
        model = create(arch, num_classes, in_chans, width)
        randomize_(model, g)
        model.eval()
        x = torch.randn(shape, generator=g)
        with torch.no_grad():
            logits = model(x)
        sd = model.state_dict()
        assert type(sd).__name__ == "OrderedDict"
        torch.save(sd, os.path.join(out, name + ".pth"))
        torch.save({"input": x, "logits": logits}, os.path.join(out, name + ".io.pt"))
    scripted = torch.jit.script(TinyScriptable().eval())
    x = torch.randn(3, 1, 28, 28, generator=g)
    with torch.no_grad():
        y = scripted(x)
    torch.jit.save(scripted, os.path.join(out, "scripted.pt"))
    torch.save({"input": x, "logits": y}, os.path.join(out, "scripted.io.pt"))

def check(args):
    model = create(args.arch, args.num_classes, args.in_chans)
    sd = torch.load(args.weights)
    model.load_state_dict(sd, strict=True)  # raises on any missing/unexpected/mis-shaped key
    model.eval()
    io = torch.load(args.io)
    with torch.no_grad():
        logits = model(io["input"])
    diff = ((logits - io["logits"]).abs().max() / io["logits"].abs().max()).item()
    print(f"{args.arch}: {len(sd)} keys loaded, max relative logit difference {diff:.2e}")
    return 0 if diff <= 1e-4 else 1

def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases")
    c.add_argument("--out", required=True)
    k = sub.add_parser("check")
    k.add_argument("--arch", required=True)
    k.add_argument("--num-classes", type=int, required=True)
    k.add_argument("--in-chans", type=int, required=True)
    k.add_argument("--weights", required=True)
    k.add_argument("--io", required=True)
    args = parser.parse_args()
    if args.cmd == "cases":
        write_cases(args.out)
        return 0
    return check(args)

if __name__ == "__main__":
    sys.exit(main())

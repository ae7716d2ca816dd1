#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/corpus/ (committed; rerun to regenerate).

Run with Debian's /usr/bin/python3 (torch, PIL, grpc_tools): python3 fuzz/make_seeds.py
"""
import collections
import io
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def checkpoints():
    # Tensors of 16 bytes each, so that the pickles also fit fuzz_pickle's fixed storages.
    dicts = {
        "ordered_float": collections.OrderedDict(w=torch.arange(4.0), b=torch.ones(2, 2)),
        "plain_mixed": {"i": torch.arange(2), "h": torch.zeros(8, dtype=torch.float16),
                        "u": torch.arange(16, dtype=torch.uint8)},
        "views": collections.OrderedDict(t=torch.arange(4.0)[1:3],
                                         s=torch.arange(4.0).view(2, 2).t()),
        "linear_state_dict": torch.nn.Linear(2, 2, bias=False).state_dict(),
    }
    for name, d in dicts.items():
        buffer = io.BytesIO()
        torch.save(d, buffer)
        data = buffer.getvalue()
        write("fuzz_checkpoint", name + ".pt", data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            write("fuzz_pickle", name + ".pkl", z.read(pkl))
    write("fuzz_pickle", "empty_dict.pkl", b"\x80\x02}.")


def configs():
    for model in ("convnext_fmnist", "wtconvnext_fmnist"):
        with open(os.path.join(ROOT, "models", model, "config.pbtxt"), "rb") as f:
            write("fuzz_model_config", model + ".pbtxt", f.read())
    write("fuzz_model_config", "images_versions.pbtxt", b"""name: "fuzz"
platform: "wtserve_architecture"
architecture { name: "wtconvnext_tiny" num_classes: 1000 }
max_batch_size: 8
input { name: "images" data_type: TYPE_STRING dims: [3, 224, 224] }
output { name: "logits" data_type: TYPE_FP32 dims: [1000] label_filename: "labels.txt" }
input_preprocessing { resize_shorter_side: 256 mean: [0.485, 0.456, 0.406] std: [0.229, 0.224, 0.225] }
version_policy { specific { versions: [1, 3] } }
instance_group { count: 2 kind: KIND_CPU }
optimization { precision: "bf16" }
dynamic_batching { preferred_batch_size: [4, 8] max_queue_delay_microseconds: 100
                   max_queue_size: 64 default_timeout_microseconds: 1000000 }
model_warmup { name: "w" batch_size: 2 count: 1 }
""")
    write("fuzz_model_config", "torchscript_uint8.pbtxt", b"""name: "fuzz"
platform: "pytorch_libtorch"
default_model_filename: "model.pt"
max_batch_size: 4
input { name: "x" data_type: TYPE_UINT8 dims: [1, 28, 28] }
output { name: "y" data_type: TYPE_FP32 dims: [10] }
input_preprocessing { scale: 0.0039215689 mean: 0.286 std: 0.353 }
""")


def requests():
    with tempfile.TemporaryDirectory() as out:
        subprocess.check_call([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(ROOT, "proto"),
                               "--python_out", out, os.path.join(ROOT, "proto", "inference.proto"),
                               os.path.join(ROOT, "proto", "triton_model_config.proto")])
        sys.path.insert(0, out)
        import inference_pb2 as pb

        def request(datatype, shape, raw=None, typed=None, outputs=(), params=None):
            r = pb.ModelInferRequest(model_name="m", id="seed")
            tensor = r.inputs.add(name="images", datatype=datatype, shape=shape)
            if raw is not None:
                r.raw_input_contents.append(raw)
            if typed is not None:
                typed(tensor.contents)
            for name, k in outputs:
                o = r.outputs.add(name=name)
                if k:
                    o.parameters["classification"].int64_param = k
            for key, value in (params or {}).items():
                r.parameters[key].int64_param = value
            return r.SerializeToString()

        write("fuzz_infer_request", "fp32_raw.bin",
              request("FP32", [1, 1, 28, 28], raw=struct.pack("<784f", *([0.5] * 784)),
                      outputs=[("logits", 0), ("logits", 3)], params={"timeout": 1000}))
        write("fuzz_infer_request", "fp32_typed.bin",
              request("FP32", [1, 1, 28, 28], typed=lambda c: c.fp32_contents.extend([0.25] * 784)))
        write("fuzz_infer_request", "uint8_raw.bin", request("UINT8", [2, 3, 8, 8], raw=bytes(range(128)) * 3))
        write("fuzz_infer_request", "uint8_typed.bin",
              request("UINT8", [1, 3, 8, 8], typed=lambda c: c.uint_contents.extend([7] * 192)))
        png = image_bytes("PNG", "L", 28)
        write("fuzz_infer_request", "bytes_png.bin",
              request("BYTES", [1], typed=lambda c: c.bytes_contents.append(png)))
        write("fuzz_infer_request", "bytes_raw.bin",
              request("BYTES", [1], raw=struct.pack("<I", len(png)) + png))


def image_bytes(fmt, mode, size, **kwargs):
    image = Image.new(mode, (size, size))
    image.putdata([(i * 37) % 256 if mode == "L" else ((i * 37) % 256, i % 256, 128)
                   for i in range(size * size)])
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def images():
    write("fuzz_image", "gray28.png", image_bytes("PNG", "L", 28))
    write("fuzz_image", "rgb16.png", image_bytes("PNG", "RGB", 16))
    write("fuzz_image", "gray28.jpg", image_bytes("JPEG", "L", 28))
    write("fuzz_image", "rgb32.jpg", image_bytes("JPEG", "RGB", 32))
    write("fuzz_image", "rgb32_progressive.jpg", image_bytes("JPEG", "RGB", 32, progressive=True))
    jpeg = image_bytes("JPEG", "RGB", 32)
    write("fuzz_image", "rgb32_truncated.jpg", jpeg[: len(jpeg) * 6 // 10])


def idx():
    write("fuzz_idx", "images.idx", struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 4, 4) + bytes(range(32)))
    write("fuzz_idx", "labels.idx", struct.pack(">BBBBI", 0, 0, 8, 1, 5) + bytes([0, 1, 2, 3, 9]))


if __name__ == "__main__":
    torch.manual_seed(0)
    checkpoints()
    configs()
    requests()
    images()
    idx()

#!/usr/bin/python3
"""A minimal Open Inference Protocol v2 gRPC client for deployment checks, in another language
than the server (Debian's python3-grpcio; stubs generated from proto/ at run time).

It waits until grpc.health.v1 reports the server SERVING, reads the model's metadata, classifies
the first --images Fashion-MNIST test images (UINT8 pixels, one request each, asking for the
top-1 through the "classification" output parameter), checks the answers against the labels, and
checks that a request for an unknown model gets NOT_FOUND. Exit 0 if the health check passed, the
first image was classified correctly, the accuracy is at least --min-accuracy and the unknown
model was refused; 1 otherwise.

Usage: oip_client.py --target 127.0.0.1:8001 --model wtconvnext_fmnist [--images 100]
"""
import argparse
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import grpc

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
HEALTH_PROTO_DIR = "/usr/share/grpc-proto"


def load_stubs(proto_dir, out_dir):
    """Generates Python stubs for inference.proto (and the Triton ModelConfig it imports) and
    health.proto into out_dir."""
    # health.proto is compiled from a top-level copy: as grpc/health/v1/health_pb2.py its module
    # path would collide with the grpcio package. The proto package (the wire name) is unchanged.
    shutil.copy(os.path.join(HEALTH_PROTO_DIR, "grpc/health/v1/health.proto"), out_dir)
    for include, proto in ((proto_dir, "triton_model_config.proto"), (proto_dir, "inference.proto"),
                           (out_dir, "health.proto")):
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{include}",
                        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
                        os.path.join(include, proto)], check=True)
    sys.path.insert(0, out_dir)
    import health_pb2
    import health_pb2_grpc
    import inference_pb2
    import inference_pb2_grpc
    return inference_pb2, inference_pb2_grpc, health_pb2, health_pb2_grpc


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, count = struct.unpack(">II", data[:8])
    if got != magic:
        raise ValueError(f"{path}: bad IDX magic {got:#x}")
    return data, count


def fashion_mnist_test(directory, n):
    images, count = read_idx(os.path.join(directory, "t10k-images-idx3-ubyte.gz"), 0x803)
    rows, cols = struct.unpack(">II", images[8:16])
    labels, _ = read_idx(os.path.join(directory, "t10k-labels-idx1-ubyte.gz"), 0x801)
    n = min(n, count)
    size = rows * cols
    return ([images[16 + i * size:16 + (i + 1) * size] for i in range(n)],
            list(labels[8:8 + n]), rows, cols)


def wait_serving(health_pb2, stub, timeout_s):
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2,
                                  wait_for_ready=True)
            last = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            if response.status == health_pb2.HealthCheckResponse.SERVING:
                return True, last
        except grpc.RpcError as err:
            last = f"{err.code().name}: {err.details()}"
        time.sleep(0.5)  # polling a remote condition, bounded by the deadline
    return False, last


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--min-accuracy", type=float, default=0.8)
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for SERVING")
    parser.add_argument("--proto-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"))
    parser.add_argument("--fashion-mnist", default=FASHION_MNIST)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as gen:
        inference_pb2, inference_grpc, health_pb2, health_grpc = load_stubs(args.proto_dir, gen)
        channel = grpc.insecure_channel(args.target)
        serving, state = wait_serving(health_pb2, health_grpc.HealthStub(channel), args.wait)
        print(f"health {args.target}: {state}")
        if not serving:
            return 1
        stub = inference_grpc.GRPCInferenceServiceStub(channel)
        meta = stub.ModelMetadata(inference_pb2.ModelMetadataRequest(name=args.model), timeout=10)
        inp, out = meta.inputs[0], meta.outputs[0]
        print(f"model {meta.name} versions {list(meta.versions)}: input {inp.name} "
              f"{inp.datatype} {list(inp.shape)}, output {out.name} {list(out.shape)}")
        images, labels, rows, cols = fashion_mnist_test(args.fashion_mnist, args.images)
        channels, height, width = inp.shape[-3:]
        if (channels, height, width) != (1, rows, cols):
            print(f"model input {list(inp.shape)} is not 1x{rows}x{cols} Fashion-MNIST")
            return 1
        correct, first_ok = 0, False
        start = time.monotonic()
        for i, (pixels, label) in enumerate(zip(images, labels)):
            request = inference_pb2.ModelInferRequest(model_name=args.model)
            request.inputs.add(name=inp.name, datatype="UINT8", shape=[1, 1, rows, cols])
            request.raw_input_contents.append(pixels)
            wanted = request.outputs.add(name=out.name)
            wanted.parameters["classification"].int64_param = 1
            response = stub.ModelInfer(request, timeout=30)
            raw = response.raw_output_contents[0]
            length = struct.unpack("<I", raw[:4])[0]
            score, index, *name = raw[4:4 + length].decode().split(":")
            predicted = int(index)
            correct += predicted == label
            if i == 0:
                first_ok = predicted == label
                print(f"image 0: label {label}, predicted {predicted} "
                      f"({':'.join(name)}, score {score})")
        elapsed = time.monotonic() - start
        # An unknown model must be refused with NOT_FOUND (and counted as a failure).
        try:
            stub.ModelInfer(inference_pb2.ModelInferRequest(model_name="no_such_model"),
                            timeout=10)
            unknown_ok = False
            print("unknown model: accepted (expected NOT_FOUND)")
        except grpc.RpcError as err:
            unknown_ok = err.code() == grpc.StatusCode.NOT_FOUND
            print(f"unknown model: {err.code().name}")
        accuracy = correct / len(images)
        print(f"{len(images)} images in {elapsed:.2f} s: accuracy {accuracy:.3f} "
              f"(required >= {args.min_accuracy})")
        # --min-accuracy 0 serves repositories with random weights: only the plumbing is checked.
        classified = accuracy >= args.min_accuracy and (first_ok or args.min_accuracy == 0)
        return 0 if classified and unknown_ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""One model folder with input dims [3, -1, -1] serves 224x224, 200x232 and 96x96 requests sent
at once: each answer equals the PyTorch reference run on that image alone (tests/reference), the
statistics show full batches of 4 formed only from equal shapes (a mixed batch could not be
concatenated), and sizes outside the bounds are refused with INVALID_ARGUMENT.

Weights: a seeded random wtconvnext_fmnist (3 channels), written by Debian's python3-torch at test
time as a plain torch.save of its state_dict. Needs WTSERVE_SOURCE_DIR and WTSERVE_BINARY_DIR."""

import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from python_client_test import BINARY_DIR, free_port, generate_stubs  # noqa: E402
import models_ref  # noqa: E402

SHAPES = [(224, 224), (200, 232), (96, 96)]
PER_SHAPE = 4  # = max_batch_size = the preferred size: each shape fills exactly one batch

CONFIG = """
name: "any_size"
architecture { name: "wtconvnext_fmnist" in_chans: 3 num_classes: 10 }
max_batch_size: 4
input { name: "images" data_type: TYPE_FP32 dims: [3, -1, -1] max_side: 256 }
output { name: "logits" data_type: TYPE_FP32 dims: [10] }
input_preprocessing { scale: 1.0 }
# Long enough for every request sent at once to arrive; a preferred-size batch runs without it.
dynamic_batching { preferred_batch_size: [4] max_queue_delay_microseconds: 5000000 }
model_warmup { name: "square" dims: [3, 224, 224] }
model_warmup { name: "portrait" dims: [3, 200, 232] }
"""


class VariableSizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wtserve_varsize_")
        generate_stubs(cls.tmp.name)
        global grpc, inference_pb2, inference_pb2_grpc, health_pb2, health_pb2_grpc
        import grpc
        import health_pb2
        import health_pb2_grpc
        import inference_pb2
        import inference_pb2_grpc

        torch.manual_seed(0)
        cls.model = models_ref.create("wtconvnext_fmnist", num_classes=10, in_chans=3)
        models_ref.randomize_(cls.model, torch.Generator().manual_seed(7))
        cls.model.eval()
        folder = os.path.join(cls.tmp.name, "repo", "any_size")
        os.makedirs(os.path.join(folder, "1"))
        torch.save(cls.model.state_dict(), os.path.join(folder, "1", "model.pt"))
        with open(os.path.join(folder, "config.pbtxt"), "w") as f:
            f.write(CONFIG)

        port = free_port()
        cls.log = open(os.path.join(cls.tmp.name, "server.log"), "w+")
        cls.server = subprocess.Popen(
            [os.path.join(BINARY_DIR, "server", "wtserve"),
             "--model_repository=" + os.path.join(cls.tmp.name, "repo"), "--bind_address=127.0.0.1",
             "--grpc_port=%d" % port, "--metrics_port=%d" % free_port(), "--http_port=-1",
             "--intra_op_threads=1"],
            stdout=cls.log, stderr=subprocess.STDOUT)
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        cls.stub = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        health = health_pb2_grpc.HealthStub(cls.channel)
        deadline = time.monotonic() + 120
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if cls.server.poll() is not None or time.monotonic() > deadline:
                cls.log.seek(0)
                raise RuntimeError("wtserve did not become ready:\n" + cls.log.read())
            time.sleep(0.05)  # poll interval

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.terminate()
        code = cls.server.wait(timeout=60)
        cls.log.close()
        cls.tmp.cleanup()
        assert code == 0, "wtserve exited with %d after SIGTERM" % code

    def request(self, image):
        request = inference_pb2.ModelInferRequest(model_name="any_size")
        request.inputs.add(name="images", datatype="FP32", shape=[1] + list(image.shape))
        request.raw_input_contents.append(image.contiguous().numpy().tobytes())
        return request

    def test_concurrent_sizes_are_batched_with_equals_and_match_pytorch_solo(self):
        generator = torch.Generator().manual_seed(11)
        images = [torch.rand((3, h, w), generator=generator) for _ in range(PER_SHAPE) for h, w in SHAPES]
        with torch.no_grad():
            expected = [self.model(image.unsqueeze(0))[0] for image in images]  # each alone

        before = self.statistics()
        answers = [None] * len(images)

        def send(i):
            try:
                answers[i] = self.stub.ModelInfer(self.request(images[i]), timeout=120)
            except grpc.RpcError as e:  # recorded; the assertion below names it
                answers[i] = e

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        for i, (image, answer) in enumerate(zip(images, answers)):
            self.assertIsInstance(answer, inference_pb2.ModelInferResponse, f"request {i}: {answer}")
            self.assertEqual(list(answer.outputs[0].shape), [1, 10])
            logits = torch.tensor(struct.unpack("<10f", answer.raw_output_contents[0]))
            diff = ((logits - expected[i]).abs().max() / expected[i].abs().max()).item()
            self.assertLessEqual(diff, 1e-5, f"request {i} ({tuple(image.shape)}): relative difference {diff:.2e}")

        after = self.statistics()
        self.assertEqual(after["inferences"] - before["inferences"], len(images))
        # One full batch per shape and nothing else: three executions of 4.
        self.assertEqual(after["executions"] - before["executions"], len(SHAPES))
        grown = {size: count - before["batches"].get(size, 0) for size, count in after["batches"].items()}
        self.assertEqual({size: n for size, n in grown.items() if n}, {PER_SHAPE: len(SHAPES)})

    def statistics(self):
        stats = self.stub.ModelStatistics(
            inference_pb2.ModelStatisticsRequest(name="any_size"), timeout=10).model_stats[0]
        return {"inferences": stats.inference_count, "executions": stats.execution_count,
                "batches": {b.batch_size: b.compute_infer.count for b in stats.batch_stats}}

    def test_metadata_and_bounds(self):
        meta = self.stub.ModelMetadata(inference_pb2.ModelMetadataRequest(name="any_size"), timeout=10)
        self.assertEqual(list(meta.inputs[0].shape), [-1, 3, -1, -1])
        config = self.stub.ModelConfig(inference_pb2.ModelConfigRequest(name="any_size"), timeout=10).config
        self.assertEqual(list(config.input[0].dims), [3, -1, -1])
        # min_side was left 0: the server found the smallest side the network runs on. PyTorch
        # must agree on which side that is.
        smallest = None
        for side in range(1, 65):
            try:
                with torch.no_grad():
                    self.model(torch.zeros(1, 3, side, side))
                smallest = side
                break
            except RuntimeError:
                continue
        self.assertIsNotNone(smallest)
        self.stub.ModelInfer(self.request(torch.zeros(3, smallest, smallest)), timeout=30)
        self.stub.ModelInfer(self.request(torch.zeros(3, smallest, 256)), timeout=30)
        for h, w in [(257, 64), (64, 300), (smallest - 1, smallest - 1), (smallest, smallest - 1)]:
            with self.assertRaises(grpc.RpcError) as raised:
                self.stub.ModelInfer(self.request(torch.zeros(3, h, w)), timeout=30)
            self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, (h, w))
            self.assertIn(f"H x W = {h} x {w} is outside the model's bounds: each side in [{smallest}, 256]",
                          raised.exception.details())


if __name__ == "__main__":
    unittest.main(verbosity=2)

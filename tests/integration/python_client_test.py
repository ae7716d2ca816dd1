#!/usr/bin/python3
"""A client in another language: Debian's python3-grpcio, stubs generated from proto/ at test
time, against the real wtserve binary. Calls grpc.health.v1 Check, ServerMetadata,
ModelMetadata and ModelInfer (raw FP32 logits + classification top-k), a bad request, and server
reflection (v1alpha and v1): every service listed and resolvable to its file.

Needs WTSERVE_SOURCE_DIR and WTSERVE_BINARY_DIR (set by ctest)."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest


SOURCE_DIR = os.environ.get("WTSERVE_SOURCE_DIR", os.getcwd())
BINARY_DIR = os.environ["WTSERVE_BINARY_DIR"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate_stubs(out_dir):
    # health.proto is compiled from a copy at the top level, so that its module is `health_pb2`
    # rather than `grpc.health.v1.health_pb2`, which the installed `grpc` package would shadow.
    # The gRPC service name comes from the proto package and stays grpc.health.v1.Health.
    health_dir = os.path.join(out_dir, "health_proto")
    os.makedirs(health_dir)
    shutil.copy("/usr/share/grpc-proto/grpc/health/v1/health.proto", health_dir)
    shutil.copy("/usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto", health_dir)
    # v1 under another file name: its module would otherwise also be `reflection_pb2`.
    shutil.copy("/usr/share/grpc-proto/grpc/reflection/v1/reflection.proto",
                os.path.join(health_dir, "reflection_v1.proto"))
    protos = [
        ("-I" + os.path.join(SOURCE_DIR, "proto"),
         os.path.join(SOURCE_DIR, "proto", "triton_model_config.proto")),
        ("-I" + os.path.join(SOURCE_DIR, "proto"), os.path.join(SOURCE_DIR, "proto", "inference.proto")),
        ("-I" + health_dir, os.path.join(health_dir, "health.proto")),
        ("-I" + health_dir, os.path.join(health_dir, "reflection.proto")),
        ("-I" + health_dir, os.path.join(health_dir, "reflection_v1.proto")),
    ]
    for include, proto in protos:
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", include,
                        "--python_out=" + out_dir, "--grpc_python_out=" + out_dir, proto],
                       check=True)
    sys.path.insert(0, out_dir)


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wtserve_py_")
        generate_stubs(cls.tmp.name)
        global grpc, inference_pb2, inference_pb2_grpc, health_pb2, health_pb2_grpc
        import grpc
        import inference_pb2
        import inference_pb2_grpc
        import health_pb2
        import health_pb2_grpc

        repo = os.path.join(cls.tmp.name, "repo")
        subprocess.run([os.path.join(BINARY_DIR, "tests", "integration", "make_test_repo"), repo],
                       check=True)
        port, metrics_port = free_port(), free_port()
        cls.log = open(os.path.join(cls.tmp.name, "server.log"), "w+")
        cls.server = subprocess.Popen(
            [os.path.join(BINARY_DIR, "server", "wtserve"), "--model_repository=" + repo,
             "--bind_address=127.0.0.1", "--grpc_port=%d" % port,
             "--metrics_port=%d" % metrics_port, "--http_port=-1", "--intra_op_threads=1"],
            stdout=cls.log, stderr=subprocess.STDOUT)
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % port)
        cls.stub = inference_pb2_grpc.GRPCInferenceServiceStub(cls.channel)
        cls.health = health_pb2_grpc.HealthStub(cls.channel)
        # Poll health (a real condition) until SERVING, with a deadline.
        deadline = time.monotonic() + 120
        while True:
            try:
                status = cls.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
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

    def test_reflection_lists_and_resolves_every_service(self):
        import reflection_pb2
        import reflection_pb2_grpc
        import reflection_v1_pb2
        import reflection_v1_pb2_grpc
        from google.protobuf import descriptor_pb2
        services = ("inference.GRPCInferenceService", "grpc.health.v1.Health",
                    "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection")
        for messages, stub in ((reflection_pb2, reflection_pb2_grpc.ServerReflectionStub(self.channel)),
                               (reflection_v1_pb2, reflection_v1_pb2_grpc.ServerReflectionStub(self.channel))):
            def ask(**kwargs):
                return next(iter(stub.ServerReflectionInfo(iter([messages.ServerReflectionRequest(**kwargs)]),
                                                           timeout=10)))

            listed = [s.name for s in ask(list_services="").list_services_response.service]
            for service in services:
                self.assertIn(service, listed, messages.__name__)
                # Resolvable too: tools (grpcurl, Postman) need the file that defines it.
                answer = ask(file_containing_symbol=service)
                self.assertFalse(answer.HasField("error_response"), f"{service}: {answer.error_response}")
                files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                         for b in answer.file_descriptor_response.file_descriptor_proto]
                defined = {f"{f.package}.{s.name}" for f in files for s in f.service}
                self.assertIn(service, defined, messages.__name__)
            missing = ask(file_containing_symbol="no.such.Symbol")
            self.assertEqual(missing.error_response.error_code, 5)  # NOT_FOUND
            self.assertEqual(missing.error_response.error_message, "Symbol not found.")
            # Dependencies come along: inference.proto imports the Triton model config.
            names = [descriptor_pb2.FileDescriptorProto.FromString(b).name for b in
                     ask(file_by_filename="inference.proto").file_descriptor_response.file_descriptor_proto]
            self.assertIn("inference.proto", names)
            self.assertIn("triton_model_config.proto", names)

    def test_health_and_metadata(self):
        response = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        self.assertEqual(response.status, health_pb2.HealthCheckResponse.SERVING)
        meta = self.stub.ServerMetadata(inference_pb2.ServerMetadataRequest(), timeout=10)
        self.assertEqual(meta.name, "wtserve")
        self.assertIn("statistics", meta.extensions)
        model = self.stub.ModelMetadata(inference_pb2.ModelMetadataRequest(name="fmnist"), timeout=10)
        self.assertEqual(list(model.versions), ["1", "2"])
        self.assertEqual(model.inputs[0].name, "images")
        self.assertEqual(list(model.inputs[0].shape), [-1, 1, 28, 28])
        self.assertEqual(list(model.outputs[0].shape), [-1, 10])
        self.assertIn("model_configuration", meta.extensions)
        config = self.stub.ModelConfig(inference_pb2.ModelConfigRequest(name="fmnist"), timeout=10).config
        self.assertEqual(config.max_batch_size, 8)
        self.assertEqual(config.input[0].data_type, 11)  # Triton's TYPE_FP32
        self.assertEqual(list(config.input[0].dims), [1, 28, 28])
        self.assertEqual(config.dynamic_batching.max_queue_delay_microseconds, 2000)

    def test_model_infer(self):
        n = 2
        pixels = [((i * 7) % 256) / 255.0 for i in range(n * 28 * 28)]
        request = inference_pb2.ModelInferRequest(model_name="fmnist", model_version="1", id="py")
        tensor = request.inputs.add(name="images", datatype="FP32", shape=[n, 1, 28, 28])
        request.raw_input_contents.append(struct.pack("<%df" % len(pixels), *pixels))
        request.outputs.add(name="logits")
        response = self.stub.ModelInfer(request, timeout=60)
        self.assertEqual(response.id, "py")
        self.assertEqual(response.model_version, "1")
        self.assertEqual(response.outputs[0].datatype, "FP32")
        self.assertEqual(list(response.outputs[0].shape), [n, 10])
        logits = struct.unpack("<%df" % (n * 10), response.raw_output_contents[0])
        # The top-k of the same images: the same output with the classification parameter (a
        # request names each output once, as Triton requires).
        request.ClearField("outputs")
        top = request.outputs.add(name="logits")
        top.parameters["classification"].int64_param = 2
        raw = self.stub.ModelInfer(request, timeout=60).raw_output_contents[0]
        elements, pos = [], 0
        while pos < len(raw):
            (length,) = struct.unpack_from("<I", raw, pos)
            elements.append(raw[pos + 4:pos + 4 + length].decode())
            pos += 4 + length
        self.assertEqual(len(elements), n * 2)
        for row in range(n):
            row_logits = logits[row * 10:(row + 1) * 10]
            best = max(range(10), key=lambda i: row_logits[i])
            score, index, label = elements[row * 2].split(":", 2)
            self.assertEqual(int(index), best)
            self.assertAlmostEqual(float(score), row_logits[best], places=5)
            self.assertTrue(label)

        # Same pixels sent typed instead of raw give the same logits.
        typed = inference_pb2.ModelInferRequest(model_name="fmnist", model_version="1")
        t = typed.inputs.add(name="images", datatype="FP32", shape=[n, 1, 28, 28])
        t.contents.fp32_contents.extend(pixels)
        typed_response = self.stub.ModelInfer(typed, timeout=60)
        self.assertEqual(typed_response.raw_output_contents[0], response.raw_output_contents[0])

    def test_bad_request_status(self):
        request = inference_pb2.ModelInferRequest(model_name="fmnist")
        request.inputs.add(name="images", datatype="FP32", shape=[1, 1, 28, 27])
        request.raw_input_contents.append(b"\0" * (28 * 27 * 4))
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub.ModelInfer(request, timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("does not match", raised.exception.details())
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub.ModelInfer(inference_pb2.ModelInferRequest(model_name="nope"), timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)
        # Triton's text, which Triton's client examples match on.
        self.assertEqual(raised.exception.details(), "Request for unknown model: 'nope' is not found")


if __name__ == "__main__":
    unittest.main(verbosity=2)

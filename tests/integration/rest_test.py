#!/usr/bin/python3
"""Clients nobody here wrote against the REST API of the real wtserve binary: Python's standard
library (urllib + json + ssl) and curl. Health, metadata, config, inference as JSON and with
Triton's binary tensor extension (what tritonclient.http sends by default), classification,
errors and their status codes, statistics, the repository calls, /metrics, system shared memory
(gRPC and REST, regions made by Python's multiprocessing.shared_memory), and HTTPS with client
certificates and a bearer token. Inference answers are compared with the gRPC answers of the same
server (Debian's python3-grpcio): both front ends share one request path, so they must agree
bit for bit.

Needs WTSERVE_SOURCE_DIR and WTSERVE_BINARY_DIR (set by ctest)."""

import collections
import json
import re
import os
import shutil
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from python_client_test import BINARY_DIR, free_port, generate_stubs  # noqa: E402

N = 2
PIXELS = [((i * 7) % 256) / 255.0 for i in range(N * 28 * 28)]


class Server:
    """One wtserve process with REST (and gRPC); stops it on close."""

    def __init__(self, tmp, repo, extra=(), scheme="http", context=None):
        self.http_port, self.grpc_port = free_port(), free_port()
        self.metrics_port = free_port()
        self.log = open(os.path.join(tmp, "server-%d.log" % self.http_port), "w+")
        self.statuses = []
        self.process = subprocess.Popen(
            [os.path.join(BINARY_DIR, "server", "wtserve"), "--model_repository=" + repo,
             "--bind_address=127.0.0.1", "--grpc_port=%d" % self.grpc_port,
             "--http_port=%d" % self.http_port, "--metrics_port=%d" % self.metrics_port,
             "--intra_op_threads=1"] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = "%s://127.0.0.1:%d" % (scheme, self.http_port)
        self.context = context
        deadline = time.monotonic() + 120
        while True:  # poll readiness (the server's own state) with a deadline
            try:
                if self.get("/v2/health/ready")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError("wtserve did not become ready:\n" + self.log.read())
            time.sleep(0.05)  # poll interval

    def request(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.context) as r:
                answer = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            answer = e.code, dict(e.headers), e.read()
        self.statuses.append(answer[0])  # every answer received (list.append is thread-safe)
        return answer

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post_json(self, path, value, headers=None):
        return self.request("POST", path, json.dumps(value).encode(),
                            dict({"Content-Type": "application/json"}, **(headers or {})))

    def close(self):
        self.process.terminate()
        code = self.process.wait(timeout=60)
        self.log.close()
        assert code == 0, "wtserve exited with %d after SIGTERM" % code


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certificates(folder):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=wtserve test CA",
            cwd=folder)
    for name, extension in [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                            ("client", "extendedKeyUsage=clientAuth")]:
        openssl("req", *key, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=folder)
        with open(os.path.join(folder, name + ".ext"), "w") as f:
            f.write(extension + "\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext", cwd=folder)


def infer_body(binary, classification=0, binary_output=False):
    """An infer request as tritonclient.http builds it: JSON only, or JSON + raw little-endian bytes."""
    tensor = {"name": "images", "shape": [N, 1, 28, 28], "datatype": "FP32"}
    raw = struct.pack("<%df" % len(PIXELS), *PIXELS)
    if binary:
        tensor["parameters"] = {"binary_data_size": len(raw)}
    else:
        tensor["data"] = PIXELS
    output = {"name": "logits", "parameters": {"binary_data": binary_output}}
    if classification:
        output["parameters"]["classification"] = classification
    header = json.dumps({"id": "rest-1", "inputs": [tensor], "outputs": [output]}).encode()
    if not binary:
        return header, {"Content-Type": "application/json"}
    return header + raw, {"Content-Type": "application/octet-stream",
                          "Inference-Header-Content-Length": str(len(header))}


class RestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wtserve_rest_")
        generate_stubs(cls.tmp.name)
        global grpc, inference_pb2, inference_pb2_grpc
        import grpc
        import inference_pb2
        import inference_pb2_grpc
        cls.repo = os.path.join(cls.tmp.name, "repo")
        subprocess.run([os.path.join(BINARY_DIR, "tests", "integration", "make_test_repo"), cls.repo], check=True)
        cls.server = Server(cls.tmp.name, cls.repo, extra=["--system_shared_memory"])

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.tmp.cleanup()

    def test_system_shared_memory_over_grpc_and_rest(self):
        from multiprocessing import shared_memory
        raw = struct.pack("<%df" % len(PIXELS), *PIXELS)
        expected = struct.pack("<%df" % (N * 10), *self.grpc_logits())
        inp = shared_memory.SharedMemory(create=True, size=len(raw) + 64)
        out = shared_memory.SharedMemory(create=True, size=4096)
        try:
            inp.buf[64:64 + len(raw)] = raw
            with grpc.insecure_channel("127.0.0.1:%d" % self.server.grpc_port) as channel:
                stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
                # Python names the object without its leading slash; shm_open takes either.
                stub.SystemSharedMemoryRegister(inference_pb2.SystemSharedMemoryRegisterRequest(
                    name="in", key="/" + inp.name, offset=0, byte_size=inp.size), timeout=10)
                stub.SystemSharedMemoryRegister(inference_pb2.SystemSharedMemoryRegisterRequest(
                    name="out", key="/" + out.name, offset=0, byte_size=out.size), timeout=10)
                with self.assertRaises(grpc.RpcError) as raised:
                    stub.SystemSharedMemoryRegister(inference_pb2.SystemSharedMemoryRegisterRequest(
                        name="in", key="/" + inp.name, byte_size=8), timeout=10)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.ALREADY_EXISTS)
                status = stub.SystemSharedMemoryStatus(inference_pb2.SystemSharedMemoryStatusRequest(), timeout=10)
                self.assertEqual(sorted(status.regions), ["in", "out"])
                self.assertEqual(status.regions["in"].byte_size, inp.size)

                request = inference_pb2.ModelInferRequest(model_name="fmnist")
                tensor = request.inputs.add(name="images", datatype="FP32", shape=[N, 1, 28, 28])
                tensor.parameters["shared_memory_region"].string_param = "in"
                tensor.parameters["shared_memory_offset"].int64_param = 64
                tensor.parameters["shared_memory_byte_size"].int64_param = len(raw)
                output = request.outputs.add(name="logits")
                output.parameters["shared_memory_region"].string_param = "out"
                output.parameters["shared_memory_byte_size"].int64_param = out.size
                response = stub.ModelInfer(request, timeout=60)
                self.assertEqual(response.raw_output_contents[0], b"")  # the logits went to the region
                self.assertEqual(bytes(out.buf[:len(expected)]), expected)
                output.parameters["shared_memory_byte_size"].int64_param = 16
                with self.assertRaises(grpc.RpcError) as raised:
                    stub.ModelInfer(request, timeout=60)
                self.assertIn("its shared memory byte size is 16", raised.exception.details())
                with self.assertRaises(grpc.RpcError) as raised:
                    stub.CudaSharedMemoryRegister(inference_pb2.CudaSharedMemoryRegisterRequest(name="c"), timeout=10)
                self.assertEqual(raised.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
                self.assertIn("CUDA shared memory is not supported", raised.exception.details())

            # REST: status, an inference through both regions, unregister.
            status = json.loads(self.server.get("/v2/systemsharedmemory/region/in/status")[2])
            self.assertEqual(status, [{"name": "in", "key": "/" + inp.name, "offset": 0, "byte_size": inp.size}])
            out.buf[:len(expected)] = b"\0" * len(expected)
            body = {"inputs": [{"name": "images", "shape": [N, 1, 28, 28], "datatype": "FP32",
                                "parameters": {"shared_memory_region": "in", "shared_memory_offset": 64,
                                               "shared_memory_byte_size": len(raw)}}],
                    "outputs": [{"name": "logits", "parameters": {"shared_memory_region": "out",
                                                                  "shared_memory_byte_size": out.size}}]}
            status, _, reply = self.server.post_json("/v2/models/fmnist/infer", body)
            self.assertEqual(status, 200, reply)
            answer = json.loads(reply)["outputs"][0]
            self.assertNotIn("data", answer)
            self.assertEqual(answer["parameters"]["shared_memory_region"], "out")
            self.assertEqual(answer["parameters"]["shared_memory_byte_size"], len(expected))
            self.assertEqual(bytes(out.buf[:len(expected)]), expected)
            self.assertEqual(self.server.post_json("/v2/systemsharedmemory/unregister", {})[0], 200)
            self.assertEqual(json.loads(self.server.get("/v2/systemsharedmemory/status")[2]), [])
            status, _, reply = self.server.post_json("/v2/models/fmnist/infer", body)
            self.assertEqual(status, 400)
            self.assertIn("which is not registered", json.loads(reply)["error"])
            status, _, reply = self.server.post_json("/v2/systemsharedmemory/region/r/register",
                                                     {"key": "/" + inp.name, "offset": 0, "byte_size": 1 << 30})
            self.assertEqual(status, 400)
            self.assertIn("is beyond the end of", json.loads(reply)["error"])
        finally:
            for region in (inp, out):
                region.close()
                region.unlink()

    def grpc_logits(self):
        with grpc.insecure_channel("127.0.0.1:%d" % self.server.grpc_port) as channel:
            stub = inference_pb2_grpc.GRPCInferenceServiceStub(channel)
            request = inference_pb2.ModelInferRequest(model_name="fmnist")
            request.inputs.add(name="images", datatype="FP32", shape=[N, 1, 28, 28])
            request.raw_input_contents.append(struct.pack("<%df" % len(PIXELS), *PIXELS))
            response = stub.ModelInfer(request, timeout=60)
            return list(struct.unpack("<%df" % (N * 10), response.raw_output_contents[0]))

    def test_health_and_metadata(self):
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/fmnist/ready",
                     "/v2/models/fmnist/versions/2/ready"):
            status, _, body = self.server.get(path)
            self.assertEqual((status, body), (200, b""), path)
        status, _, body = self.server.get("/v2")
        self.assertEqual(status, 200)
        meta = json.loads(body)
        self.assertEqual(meta["name"], "wtserve")
        self.assertIn("binary_tensor_data", meta["extensions"])
        model = json.loads(self.server.get("/v2/models/fmnist")[2])
        self.assertEqual(model["versions"], ["1", "2"])
        self.assertEqual(model["inputs"], [{"name": "images", "datatype": "FP32", "shape": [-1, 1, 28, 28]}])
        self.assertEqual(model["outputs"][0]["shape"], [-1, 10])
        self.assertEqual(json.loads(self.server.get("/v2/models/fmnist/versions/1")[2])["versions"], ["1"])
        config = json.loads(self.server.get("/v2/models/fmnist/config")[2])
        self.assertEqual(config["max_batch_size"], 8)
        self.assertEqual(config["input"][0]["name"], "images")

    def test_json_and_binary_inference_equal_grpc(self):
        expected = self.grpc_logits()
        status, headers, body = self.server.request("POST", "/v2/models/fmnist/infer", *infer_body(binary=False))
        self.assertEqual(status, 200, body)
        response = json.loads(body)
        self.assertEqual((response["id"], response["model_name"], response["model_version"]), ("rest-1", "fmnist", "2"))
        self.assertEqual(response["outputs"][0]["shape"], [N, 10])
        self.assertEqual(response["outputs"][0]["data"], expected)  # exact: JSON numbers round-trip

        body, headers = infer_body(binary=True, binary_output=True)
        status, reply_headers, reply = self.server.request("POST", "/v2/models/fmnist/versions/2/infer", body, headers)
        self.assertEqual(status, 200, reply)
        length = int(reply_headers["Inference-Header-Content-Length"])
        header = json.loads(reply[:length])
        self.assertEqual(header["outputs"][0]["parameters"]["binary_data_size"], N * 10 * 4)
        self.assertEqual(list(struct.unpack("<%df" % (N * 10), reply[length:])), expected)

    def test_classification(self):
        status, _, body = self.server.request("POST", "/v2/models/fmnist/infer", *infer_body(True, classification=3))
        self.assertEqual(status, 200, body)
        out = json.loads(body)["outputs"][0]
        self.assertEqual((out["datatype"], out["shape"]), ("BYTES", [N, 3]))
        logits = self.grpc_logits()
        for row in range(N):
            score, index, label = out["data"][row * 3].split(":", 2)
            row_logits = logits[row * 10:(row + 1) * 10]
            self.assertEqual(int(index), max(range(10), key=lambda i: row_logits[i]))
            self.assertTrue(label)

    def test_errors_have_triton_status_codes(self):
        cases = [
            ("POST", "/v2/models/nope/infer", infer_body(False), 404, "Request for unknown model: 'nope' is not found"),
            ("POST", "/v2/models/fmnist/versions/9/infer", infer_body(False), 404, "version"),
            ("POST", "/v2/models/fmnist/infer", (b"{not json", {}), 400, "not valid JSON"),
            ("GET", "/v2/models/nope", (None, {}), 404, "nope"),
            ("GET", "/v2/nothing/here", (None, {}), 404, "no endpoint GET /v2/nothing/here"),
            ("POST", "/v2/cudasharedmemory/region/r/register", (b"{}", {}), 501, "CUDA shared memory"),
            ("POST", "/v2/systemsharedmemory/region/r/register", (b"{}", {}), 400, "the register request must be"),
        ]
        for method, path, (body, headers), code, text in cases:
            status, _, reply = self.server.request(method, path, body, headers)
            self.assertEqual(status, code, (path, reply))
            self.assertIn(text, json.loads(reply)["error"], path)
        bad = {"inputs": [{"name": "images", "shape": [1, 1, 28, 27], "datatype": "FP32", "data": [0.0] * (28 * 27)}]}
        status, _, reply = self.server.post_json("/v2/models/fmnist/infer", bad)
        self.assertEqual(status, 400)
        self.assertIn("does not match [N, 1, 28, 28]", json.loads(reply)["error"])
        status, _, reply = self.server.get("/v2/models/nope/ready")
        self.assertEqual(status, 404)

    def test_statistics_and_repository(self):
        self.server.request("POST", "/v2/models/fmnist/infer", *infer_body(True))
        stats = json.loads(self.server.get("/v2/models/fmnist/versions/2/stats")[2])["model_stats"]
        self.assertEqual(len(stats), 1)
        self.assertGreaterEqual(stats[0]["inference_count"], N)
        self.assertGreaterEqual(stats[0]["inference_stats"]["success"]["count"], 1)
        every = json.loads(self.server.get("/v2/models/stats")[2])["model_stats"]
        self.assertEqual(sorted(s["version"] for s in every), ["1", "2"])

        index = json.loads(self.server.post_json("/v2/repository/index", {})[2])
        self.assertEqual(sorted((m["name"], m["version"], m["state"]) for m in index),
                         [("fmnist", "1", "READY"), ("fmnist", "2", "READY")])
        status, _, reply = self.server.post_json("/v2/repository/models/fmnist/load",
                                                 {"parameters": {"config": '{"backend": "onnxruntime"}'}})
        self.assertEqual(status, 400)
        self.assertIn("load parameter 'config' is not a model config in JSON", json.loads(reply)["error"])
        self.assertEqual(self.server.post_json("/v2/repository/models/fmnist/unload", {})[0], 200)
        self.assertEqual(self.server.get("/v2/models/fmnist/ready")[0], 400)  # known, not ready
        self.assertEqual(json.loads(self.server.post_json("/v2/repository/index", {"ready": True})[2]), [])
        self.assertEqual(self.server.post_json("/v2/repository/models/fmnist/load", {})[0], 200)
        self.assertEqual(self.server.get("/v2/models/fmnist/ready")[0], 200)
        # A config override (here: a smaller max_batch_size) holds until the next plain load.
        override = {"name": "fmnist", "architecture": {"name": "convnext_fmnist"}, "max_batch_size": 2,
                    "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}],
                    "output": [{"name": "logits", "data_type": "TYPE_FP32", "dims": [10]}],
                    "input_preprocessing": {"mean": [0.2860], "std": [0.3530]}, "version_policy": {"all": {}}}
        status, _, reply = self.server.post_json("/v2/repository/models/fmnist/load",
                                                 {"parameters": {"config": json.dumps(override)}})
        self.assertEqual(status, 200, reply)
        self.assertEqual(json.loads(self.server.get("/v2/models/fmnist/config")[2])["max_batch_size"], 2)
        self.assertEqual(self.server.post_json("/v2/repository/models/fmnist/load", {})[0], 200)
        self.assertEqual(json.loads(self.server.get("/v2/models/fmnist/config")[2])["max_batch_size"], 8)

    def test_curl(self):
        curl = shutil.which("curl")
        self.assertIsNotNone(curl, "curl is installed by scripts/setup.sh")
        ready = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                                self.server.base + "/v2/health/ready"], capture_output=True, text=True, check=True)
        self.assertEqual(ready.stdout, "200")
        body, _ = infer_body(binary=False)
        path = os.path.join(self.tmp.name, "request.json")
        with open(path, "wb") as f:
            f.write(body)
        out = subprocess.run([curl, "-sS", "--fail-with-body", "-H", "Content-Type: application/json",
                              "--data-binary", "@" + path, self.server.base + "/v2/models/fmnist/infer"],
                             capture_output=True, text=True, check=True)
        self.assertEqual(json.loads(out.stdout)["outputs"][0]["data"], self.grpc_logits())

    def test_metrics_endpoint(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.server.metrics_port, timeout=10) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            self.assertIn(b"wtserve_", r.read())
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen("http://127.0.0.1:%d/other" % self.server.metrics_port, timeout=10)
        self.assertEqual(raised.exception.code, 404)


class RestShutdownTest(unittest.TestCase):
    """SIGTERM while REST requests are in flight: every response the server wrote reaches its
    client (200, or 503 once the drain began), none is cut off, and the server exits 0.

    A connection the kernel had queued when the port closed is reset without its request being
    read (the client sees a reset, or a broken pipe if it was still writing the request); a client
    cannot tell that from a cut-off answer, so the test counts answers on both sides: the server
    logs how many responses it wrote, and the clients must hold exactly that many."""

    def test_sigterm_answers_every_request(self):
        import threading
        with tempfile.TemporaryDirectory(prefix="wtserve_rest_stop_") as tmp:
            repo = os.path.join(tmp, "repo")
            subprocess.run([os.path.join(BINARY_DIR, "tests", "integration", "make_test_repo"), repo], check=True)
            server = Server(tmp, repo)
            body, headers = infer_body(binary=True)
            codes, failures, unanswered = [], [], []
            stop = threading.Event()

            def client():
                while not stop.is_set():
                    try:
                        codes.append(server.request("POST", "/v2/models/fmnist/infer", body, headers)[0])
                    except (urllib.error.URLError, ConnectionError) as e:
                        reason = getattr(e, "reason", e)
                        if isinstance(reason, (ConnectionRefusedError, ConnectionResetError, BrokenPipeError)):
                            unanswered.append(type(reason).__name__)  # counted against the log below
                        else:
                            failures.append(repr(e))
                        return
                    except OSError as e:
                        failures.append(repr(e))
                        return

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while codes.count(200) < 40 and time.monotonic() < deadline:
                time.sleep(0.01)  # poll until traffic is flowing (counts, not timing)
            server.process.terminate()
            code = server.process.wait(timeout=60)
            stop.set()
            for t in threads:
                t.join(timeout=60)
            server.log.seek(0)
            log = server.log.read()
            server.log.close()
            self.assertEqual(code, 0, log)
            self.assertGreaterEqual(codes.count(200), 40)
            self.assertEqual(set(codes) - {200, 503}, set(), codes)
            self.assertEqual(failures, [])
            sent = re.search(r"REST stopped after (\d+) responses", log)
            self.assertIsNotNone(sent, log)
            # server.statuses: the readiness probes' answers and the clients'.
            self.assertEqual(len(server.statuses), int(sent.group(1)), "responses written but not received")
            print(f"answers: {codes.count(200)} x 200, {codes.count(503)} x 503; "
                  f"no answer (port closed first): {sorted(collections.Counter(unanswered).items())}", file=sys.stderr)


class RestTlsTest(unittest.TestCase):
    """HTTPS with client certificates (mutual TLS) and a bearer token."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="wtserve_rest_tls_")
        certs = cls.tmp.name
        make_certificates(certs)
        with open(os.path.join(certs, "token"), "w") as f:
            f.write("s3cret-token\n")
        repo = os.path.join(cls.tmp.name, "repo")
        subprocess.run([os.path.join(BINARY_DIR, "tests", "integration", "make_test_repo"), repo], check=True)
        cls.context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        cls.context.load_cert_chain(os.path.join(certs, "client.pem"), os.path.join(certs, "client.key"))
        path = lambda name: os.path.join(certs, name)  # noqa: E731
        cls.server = Server(cls.tmp.name, repo, scheme="https", context=cls.context, extra=[
            "--http_use_ssl_mutual", "--http_server_cert=" + path("server.pem"),
            "--http_server_key=" + path("server.key"), "--http_root_cert=" + path("ca.pem"),
            "--grpc_auth_token_file=" + path("token")])
        cls.certs = certs

    @classmethod
    def tearDownClass(cls):
        cls.server.close()
        cls.tmp.cleanup()

    def test_token_is_required_except_on_health(self):
        self.assertEqual(self.server.get("/v2/health/ready")[0], 200)
        status, headers, body = self.server.get("/v2/models/fmnist")
        self.assertEqual(status, 401)
        self.assertIn("missing authorization", json.loads(body)["error"])
        self.assertEqual(headers.get("WWW-Authenticate"), "Bearer")
        self.assertEqual(self.server.get("/v2/models/fmnist", {"Authorization": "Bearer wrong"})[0], 401)
        status, _, body = self.server.request("POST", "/v2/models/fmnist/infer", infer_body(True)[0],
                                              dict(infer_body(True)[1], Authorization="Bearer s3cret-token"))
        self.assertEqual(status, 200, body)

    def test_shared_memory_is_off_unless_enabled(self):
        status, _, reply = self.server.post_json("/v2/systemsharedmemory/region/r/register",
                                                 {"key": "/x", "offset": 0, "byte_size": 8},
                                                 {"Authorization": "Bearer s3cret-token"})
        self.assertEqual(status, 400)
        self.assertIn("start wtserve with --system_shared_memory", json.loads(reply)["error"])

    def test_client_certificate_is_required(self):
        anonymous = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.pem"))
        with self.assertRaises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            urllib.request.urlopen(self.server.base + "/v2/health/ready", timeout=10, context=anonymous).read()
        # curl, too, with the client certificate.
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                              os.path.join(self.certs, "ca.pem"), "--cert", os.path.join(self.certs, "client.pem"),
                              "--key", os.path.join(self.certs, "client.key"), self.server.base + "/v2/health/live"],
                             capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout, "200")


if __name__ == "__main__":
    unittest.main(verbosity=2)

#!/usr/bin/python3
"""grpc_round_trip against the real wtserve binary: with --threads callers it makes exactly
--calls ServerLive calls and reports them (threads, calls, latencies in order), and it fails
with a message when the server is not there.

Starts wtserve on free loopback ports with tests/integration's make_test_repo repository;
readiness is decided by wtserve-health, polled.
Usage: grpc_round_trip_test.py BUILD_DIR
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = sys.argv.pop(1) if len(sys.argv) > 1 else "build"
TRIP = os.path.join(BUILD, "bench", "serving", "grpc_round_trip")
SERVER = os.path.join(BUILD, "server", "wtserve")
HEALTH = os.path.join(BUILD, "deploy", "health", "wtserve-health")
MAKE_REPO = os.path.join(BUILD, "tests", "integration", "make_test_repo")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GrpcRoundTripTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wtserve_round_trip_")
        repo = os.path.join(cls.tmp, "repo")
        subprocess.run([MAKE_REPO, repo], check=True)
        port = free_port()
        cls.target = f"127.0.0.1:{port}"
        cls.log = open(os.path.join(cls.tmp, "server.log"), "w")
        cls.server = subprocess.Popen(
            [SERVER, f"--grpc_port={port}", "--metrics_port=-1", "--http_port=-1", "--bind_address=127.0.0.1",
             f"--model_repository={repo}", "--intra_op_threads=1"], stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while subprocess.run([HEALTH, f"--address={cls.target}", "--timeout=2s"], capture_output=True).returncode:
            assert cls.server.poll() is None and time.monotonic() < deadline, "wtserve did not become ready"
            time.sleep(0.2)  # poll interval; readiness is decided by the health service

    @classmethod
    def tearDownClass(cls):
        cls.server.send_signal(signal.SIGTERM)
        code = cls.server.wait(timeout=60)
        cls.log.close()
        shutil.rmtree(cls.tmp)
        assert code == 0, f"wtserve exited with {code}"

    def trip(self, *args):
        run = subprocess.run([TRIP, f"--target={self.target}", *args], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        return json.loads(run.stdout)

    def test_one_caller(self):
        r = self.trip("--calls=50", "--warmup=5")
        self.assertEqual((r["threads"], r["calls"]), (1, 50))
        self.assertGreater(r["mean_us"], 0)
        self.assertLessEqual(r["p50_us"], r["p99_us"])

    def test_callers_share_the_calls(self):
        # 4 callers, 42 calls: 11 + 11 + 10 + 10, every one timed.
        r = self.trip("--calls=42", "--warmup=1", "--threads=4")
        self.assertEqual((r["threads"], r["calls"]), (4, 42))
        self.assertGreater(r["p50_us"], 0)
        self.assertLessEqual(r["p50_us"], r["p99_us"])

    def test_bad_flags_and_no_server(self):
        for bad in ["--threads=0", "--threads=x", "--threads=2000"]:
            run = subprocess.run([TRIP, f"--target={self.target}", bad], capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 1, bad)
            self.assertIn("--threads", run.stderr)
        run = subprocess.run([TRIP, f"--target=127.0.0.1:{free_port()}", "--calls=1", "--warmup=1"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1)
        self.assertIn("ServerLive failed", run.stderr)


if __name__ == "__main__":
    unittest.main()

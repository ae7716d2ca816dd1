#!/usr/bin/python3
"""wtserve-loadgen against the real wtserve binary.

Starts wtserve on free loopback ports with tests/integration's make_test_repo repository (model
"fmnist", versions 1 and 2, random convnext_fmnist weights, max_batch_size 8), runs the loadgen
in every mode for a few hundred requests and checks that its report adds up; checks that the
accuracy grid is the same whichever wire form carried the images; checks CE/mCE against an
independent computation from the report's own cells; and checks the error exits. Readiness is
awaited with the loadgen's --wait_for_server (a health poll with a deadline), never a sleep.
Environment: WTSERVE_BINARY_DIR (the build folder).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

BINARY_DIR = os.environ.get("WTSERVE_BINARY_DIR", "build")
LOADGEN = os.path.join(BINARY_DIR, "client", "loadgen", "wtserve-loadgen")
SERVER = os.path.join(BINARY_DIR, "server", "wtserve")
MAKE_REPO = os.path.join(BINARY_DIR, "tests", "integration", "make_test_repo")
OFFLINE = os.path.join(BINARY_DIR, "tests", "loadgen", "loadgen_offline_reference")
EVAL = os.path.join(BINARY_DIR, "server", "tools", "wtserve-eval")
IMAGENET_C = ["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
              "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
              "elastic_transform", "pixelate", "jpeg_compression"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoadgenServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="wtserve_loadgen_it_")
        repo = cls.repo = os.path.join(cls.tmp, "repo")
        subprocess.run([MAKE_REPO, repo], check=True)
        cls.port = free_port()
        cls.log = open(os.path.join(cls.tmp, "server.log"), "w")
        cls.server = subprocess.Popen(
            [SERVER, f"--grpc_port={cls.port}", f"--metrics_port={free_port()}", "--http_port=-1",
             "--bind_address=127.0.0.1", f"--model_repository={repo}", "--intra_op_threads=1"],
            stdout=cls.log, stderr=subprocess.STDOUT)
        cls.target = f"127.0.0.1:{cls.port}"

    @classmethod
    def tearDownClass(cls):
        cls.server.send_signal(signal.SIGTERM)
        code = cls.server.wait(timeout=60)
        cls.log.close()
        shutil.rmtree(cls.tmp)
        assert code == 0, f"wtserve exited with {code}"

    def loadgen(self, *args, expect=0, target=None, name="report"):
        out = os.path.join(self.tmp, name + ".json")
        if os.path.exists(out):
            os.remove(out)
        command = [LOADGEN, f"--target={target or self.target}", "--wait_for_server=120s",
                   f"--output_json={out}", *args]
        run = subprocess.run(command, capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, expect, f"{' '.join(command)}\n{run.stdout}\n{run.stderr}")
        if expect != 0:
            return run.stderr
        with open(out) as f:
            return json.load(f)

    def check_counts(self, report, requests, batch):
        self.assertEqual(report["format_version"], 1)
        m = report["models"][0]
        self.assertEqual(m["requests"], {"sent": requests, "ok": requests, "failed": 0})
        self.assertEqual(m["images"]["sent"], requests * batch)
        self.assertEqual(m["images"]["ok"], requests * batch)
        self.assertEqual(m["status_codes"], {"OK": requests})
        lat = m["latency_ms"]
        self.assertEqual(lat["count"], requests)
        self.assertEqual(len(m["latencies_ms"]), requests)
        self.assertEqual(lat["min"], min(m["latencies_ms"]))
        self.assertEqual(lat["max"], max(m["latencies_ms"]))
        self.assertTrue(0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"])
        self.assertAlmostEqual(lat["mean"], sum(m["latencies_ms"]) / requests, delta=1e-9 * requests)
        self.assertGreater(m["elapsed_s"], 0)
        self.assertAlmostEqual(m["requests_per_s"], requests / m["elapsed_s"], delta=1e-6)
        self.assertAlmostEqual(m["images_per_s"], batch * m["requests_per_s"], delta=1e-6)
        self.assertEqual(m["version"], "2")

    def test_closed_loop_every_transport_and_input(self):
        for transport in ("sync", "async", "stream"):
            for wire in ("fp32", "uint8", "png"):
                with self.subTest(transport=transport, input=wire):
                    report = self.loadgen("--model=fmnist", f"--transport={transport}", f"--input={wire}",
                                          "--concurrency=4", "--batch_size=2", "--requests=200",
                                          "--warmup=8", "--samples=64")
                    self.check_counts(report, 200, 2)
                    self.assertEqual(report["config"]["mode"], "closed_loop")
                    self.assertEqual(report["config"]["transport"], transport)

    def test_open_loop_every_transport(self):
        for transport, arrival in (("sync", "poisson"), ("async", "constant"), ("stream", "poisson")):
            with self.subTest(transport=transport):
                report = self.loadgen("--model=fmnist", f"--transport={transport}", "--rate=400",
                                      f"--arrival={arrival}", "--requests=240", "--concurrency=4",
                                      "--input=uint8", "--samples=64")
                self.check_counts(report, 240, 1)
                self.assertEqual(report["config"]["mode"], "open_loop")
                # 240 arrivals at 400/s take at least ~0.6 s (constant: exactly 239/400 s).
                if arrival == "constant":
                    self.assertGreaterEqual(report["models"][0]["elapsed_s"], 239 / 400)

    def test_duration_bounds_a_run(self):
        report = self.loadgen("--model=fmnist", "--duration=1s", "--concurrency=2", "--samples=16")
        m = report["models"][0]
        self.assertGreater(m["requests"]["sent"], 0)
        self.assertEqual(m["requests"]["failed"], 0)
        self.assertGreaterEqual(m["elapsed_s"], 1.0)
        self.assertLess(m["elapsed_s"], 30.0)

    def test_accuracy_grid_is_the_same_for_every_wire_form(self):
        # One request at a time keeps each batch's composition fixed (the server's float
        # results depend on it), so the three forms must agree image by image.
        grids = {}
        for wire in ("fp32", "uint8", "png"):
            report = self.loadgen("--model=fmnist", f"--input={wire}", "--samples=200",
                                  "--corruptions=gaussian_noise,contrast,spatter", "--severities=1,5",
                                  "--batch_size=8", "--transport=stream")
            m = report["models"][0]
            acc = m["accuracy"]
            self.assertTrue(acc["complete"])
            # Every (image, corruption, severity) exactly once: 200 x (1 + 3 x 2) images.
            self.assertEqual(m["images"]["ok"], 200 * 7)
            self.assertEqual(m["requests"]["sent"], 175)  # ceil(1400 / 8)
            self.assertEqual(acc["clean"]["total"], 200)
            self.assertEqual([c["name"] for c in acc["corruptions"]], ["gaussian_noise", "contrast", "spatter"])
            cells = []
            for c in acc["corruptions"]:
                self.assertEqual([s["severity"] for s in c["severities"]], [1, 5])
                for s in c["severities"]:
                    self.assertEqual(s["total"], 200)
                    self.assertEqual(s["accuracy"], s["correct"] / 200)
                    cells.append(s["correct"])
                self.assertAlmostEqual(c["mean_accuracy"], sum(s["accuracy"] for s in c["severities"]) / 2)
            self.assertAlmostEqual(acc["mean_corruption_accuracy"], sum(cells) / (200 * len(cells)))
            grids[wire] = (acc["clean"]["correct"], cells)
        self.assertEqual(grids["fp32"], grids["uint8"])
        self.assertEqual(grids["fp32"], grids["png"])

    def test_accuracy_equals_offline_evaluation(self):
        # Offline: the server's own preprocessing and model code, one thread, batches of 8 in
        # file order. Served: one request of 8 images at a time (so every server batch is that
        # request), server on one intra-op thread. The answers must agree exactly.
        report = self.loadgen("--model=fmnist", "--samples=400", "--batch_size=8", "--transport=sync",
                              "--concurrency=1", "--input=fp32", "--corruptions=gaussian_noise",
                              "--severities=3", "--seed=5")
        acc = report["models"][0]["accuracy"]
        self.assertTrue(acc["complete"])
        model_dir = os.path.join(self.repo, "fmnist")
        # The zoo's offline evaluation CLI, same images, batches and thread count.
        eval_json = os.path.join(self.tmp, "eval.json")
        subprocess.run([EVAL, f"--model_dir={model_dir}", "--version=2", "--batch_size=8", "--limit=400",
                        "--intra_op_threads=1", f"--output_json={eval_json}"],
                       capture_output=True, text=True, check=True)
        with open(eval_json) as f:
            offline = json.load(f)
        self.assertEqual((offline["images"], offline["correct"]), (400, acc["clean"]["correct"]))
        # This test's own offline classifier (it can also corrupt) agrees on clean images too.
        clean = subprocess.run([OFFLINE, model_dir, "2", "400", "8"], capture_output=True, text=True, check=True)
        self.assertEqual(clean.stdout.split(), [str(acc["clean"]["correct"]), "400"])
        noisy = subprocess.run([OFFLINE, model_dir, "2", "400", "8", "gaussian_noise", "3", "5"],
                               capture_output=True, text=True, check=True)
        cell = acc["corruptions"][0]["severities"][0]
        self.assertEqual(noisy.stdout.split(), [str(cell["correct"]), "400"])

    def test_baseline_gives_corruption_errors(self):
        csv_path = os.path.join(self.tmp, "grid.csv")
        grids = os.path.join(self.tmp, "grids")
        report = self.loadgen("--model=fmnist", "--model_version=2", "--baseline_model=fmnist",
                              "--baseline_version=1", "--samples=100", "--corruptions=noise,spatter",
                              "--severities=1-5", "--batch_size=8", "--transport=async",
                              "--concurrency=2", f"--output_csv={csv_path}", f"--dump_samples={grids}",
                              "--dump_count=2")
        model, base = report["models"]
        self.assertEqual((model["role"], model["version"]), ("model", "2"))
        self.assertEqual((base["role"], base["version"]), ("baseline", "1"))
        e = report["corruption_errors"]
        names = [c["name"] for c in e["corruptions"]]
        self.assertEqual(names, ["gaussian_noise", "shot_noise", "impulse_noise", "spatter"])

        def errors(m, name):
            c = next(c for c in m["accuracy"]["corruptions"] if c["name"] == name)
            return [1 - s["accuracy"] for s in c["severities"]]

        clean_err = 1 - model["accuracy"]["clean"]["accuracy"]
        base_clean_err = 1 - base["accuracy"]["clean"]["accuracy"]
        ces, rels = {}, {}
        for c in e["corruptions"]:
            em, eb = errors(model, c["name"]), errors(base, c["name"])
            ce = sum(em) / sum(eb) if sum(eb) > 0 else None
            denominator = sum(x - base_clean_err for x in eb)
            rel = sum(x - clean_err for x in em) / denominator if denominator > 0 else None
            for got, want in ((c["ce"], ce), (c["relative_ce"], rel)):
                if want is None:
                    self.assertIsNone(got)
                else:
                    self.assertAlmostEqual(got, want, places=12)
            ces[c["name"]], rels[c["name"]] = ce, rel
        in_c = [n for n in names if n in IMAGENET_C]
        if all(ces[n] is not None for n in in_c):
            self.assertAlmostEqual(e["mce"], sum(ces[n] for n in in_c) / len(in_c), places=12)
        with open(csv_path) as f:
            rows = f.read().splitlines()
        self.assertEqual(rows[0], "model,role,corruption,group,severity,correct,total,accuracy,ce,relative_ce,"
                                  "accuracy_low,accuracy_high,ce_low,ce_high,relative_ce_low,relative_ce_high")
        # Per model: clean + 4 corruptions x (5 severities + mean); then the same rows of differences.
        self.assertEqual(len(rows), 1 + 3 * (1 + 4 * 6))
        self.assertTrue(all(len(r.split(",")) == 16 for r in rows))
        # Paired bootstrap over the 100 images: each point estimate inside its interval.
        p = report["paired_statistics"]
        self.assertEqual(p["images"], 100)
        for role, m in (("model", model), ("baseline", base)):
            acc, ci = m["accuracy"]["clean"]["accuracy"], p[role]["clean"]
            self.assertLessEqual(ci["low"], acc)
            self.assertGreaterEqual(ci["high"], acc)
        d = p["difference"]["clean"]
        self.assertAlmostEqual(d["estimate"], model["accuracy"]["clean"]["accuracy"] - base["accuracy"]["clean"]["accuracy"],
                               places=12)
        self.assertLessEqual(p["clean_mcnemar_exact"]["p_value"], 1.0)
        self.assertTrue(os.path.getsize(os.path.join(grids, "sample_1.png")) > 0)

    def test_errors_exit_non_zero_with_a_clear_message(self):
        message = self.loadgen("--model=resnet", "--samples=4", expect=1)
        self.assertIn("unknown model 'resnet'", message)
        folder = os.path.join(self.tmp, "big")
        os.makedirs(os.path.join(folder, "a"), exist_ok=True)
        # A 32x32 grayscale PGM: OpenCV reads it; the model takes 28x28 tensors.
        with open(os.path.join(folder, "a", "x.pgm"), "wb") as f:
            f.write(b"P5 32 32 255\n" + bytes(32 * 32))
        message = self.loadgen("--model=fmnist", "--data=folder", f"--image_folder={folder}", expect=1)
        self.assertIn("data mismatch", message)
        message = self.loadgen("--model=fmnist", "--input=bmp", expect=2)
        self.assertIn("--input must be", message)
        # Nobody listens there; without --wait_for_server the first call fails at once.
        run = subprocess.run([LOADGEN, f"--target=127.0.0.1:{free_port()}", "--model=fmnist"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1)
        self.assertIn("cannot reach the server", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

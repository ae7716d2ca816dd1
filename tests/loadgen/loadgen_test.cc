// wtserve-loadgen without the real server: report math, flag helpers, workload preparation, and
// the runner and CLI against an in-process fake OIP v2 server whose answers are known.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "client/corrupt/corruptions.h"
#include "client/loadgen/cli.h"
#include "client/loadgen/progress.h"
#include "client/loadgen/report.h"
#include "client/loadgen/runner.h"
#include "client/loadgen/stats.h"
#include "client/loadgen/workload.h"
#include "tests/loadgen/fake_server.h"

namespace wtserve::loadgen {
namespace {
using ::testing::HasSubstr;
using ::testing::Not;

TEST(StatsTest, NearestRankPercentiles) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 90), 90);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 100), 100);
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile({7.0}, 99), 7);
  EXPECT_EQ(Percentile({1.0, 2.0, 3.0}, 50), 2);       // ceil(1.5) = 2nd
  EXPECT_EQ(Percentile({1.0, 2.0, 3.0, 4.0}, 50), 2);  // ceil(2) = 2nd
  LatencySummary s = Summarize({0.3, 0.1, 0.2, 0.4});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.min, 0.1);
  EXPECT_DOUBLE_EQ(s.max, 0.4);
  EXPECT_DOUBLE_EQ(s.mean, 0.25);
  EXPECT_DOUBLE_EQ(s.p50, 0.2);
  EXPECT_EQ(Summarize({}).count, 0);
}

AccuracyTable Table(Cell clean, std::vector<std::vector<Cell>> cells) {
  AccuracyTable t;
  t.clean = clean;
  t.corruptions = {"gaussian_noise", "spatter"};
  t.severities = {1, 2};
  t.cells = std::move(cells);
  return t;
}

TEST(StatsTest, CorruptionErrorsFollowHendrycks) {
  // Model errors: clean 0.1; gaussian_noise 0.2, 0.4; spatter 0.1, 0.3.
  AccuracyTable model = Table({90, 100}, {{{80, 100}, {60, 100}}, {{90, 100}, {70, 100}}});
  // Baseline errors: clean 0.2; gaussian_noise 0.4, 0.6; spatter 0.2, 0.2.
  AccuracyTable base = Table({80, 100}, {{{60, 100}, {40, 100}}, {{80, 100}, {80, 100}}});
  std::string error;
  auto e = ComputeCorruptionErrors(model, base, {"gaussian_noise"}, &error);
  ASSERT_TRUE(e.has_value()) << error;
  EXPECT_NEAR(*e->ce[0], 0.6 / 1.0, 1e-12);
  EXPECT_NEAR(*e->ce[1], 0.4 / 0.4, 1e-12);
  // Relative: (0.1 + 0.3) / (0.2 + 0.4); spatter's baseline lost nothing -> undefined.
  EXPECT_NEAR(*e->relative_ce[0], 0.4 / 0.6, 1e-12);
  EXPECT_FALSE(e->relative_ce[1].has_value());
  // mCE over ImageNet-C corruptions only (spatter is an extra).
  EXPECT_NEAR(*e->mce, 0.6, 1e-12);
  EXPECT_NEAR(*e->relative_mce, 0.4 / 0.6, 1e-12);
  EXPECT_NEAR(*e->mce_all, 0.8, 1e-12);
  EXPECT_FALSE(e->relative_mce_all.has_value());
  EXPECT_NEAR(*model.MeanCorruptionAccuracy(), (0.8 + 0.6 + 0.9 + 0.7) / 4, 1e-12);
  EXPECT_NEAR(model.CorruptionAccuracy(0), 0.7, 1e-12);

  base.severities = {1, 3};
  EXPECT_FALSE(ComputeCorruptionErrors(model, base, {}, &error).has_value());
}

TEST(ProgressTest, BarAndLinesShowDoneTotalRateAndEta) {
  ProgressSnapshot s;
  s.label = "wt";
  s.condition = "fog s3";
  s.done = 250;
  s.total = 1000;
  s.images_ok = 2000;
  s.elapsed_s = 10;
  const std::string bar = FormatProgress(s, ProgressMode::kTerminal);
  EXPECT_EQ(bar.front(), '\r');
  EXPECT_THAT(bar,
              HasSubstr("wt [######------------------]  25%  250/1000 req  200 img/s  0 errors  fog s3  ETA 0:30"));
  const std::string line = FormatProgress(s, ProgressMode::kLines);
  EXPECT_EQ(line, "wt: 25% (250/1000 requests), 200 img/s, 0 errors, at fog s3, 0:10 elapsed, ETA 0:30\n");
  // Bounded by time only: the fraction follows the clock.
  ProgressSnapshot timed;
  timed.label = "m";
  timed.done = 7;
  timed.elapsed_s = 15;
  timed.duration_s = 60;
  EXPECT_DOUBLE_EQ(ProgressFraction(timed), 0.25);
  EXPECT_THAT(FormatProgress(timed, ProgressMode::kLines), HasSubstr("m: 25% (7 requests)"));
  // Nothing answered yet, no bound: no percentage, no ETA.
  ProgressSnapshot start;
  start.label = "m";
  EXPECT_EQ(FormatProgress(start, ProgressMode::kLines), "m: 0 requests, 0 img/s, 0 errors, 0:00 elapsed\n");
  s.done = s.total;
  EXPECT_THAT(FormatProgress(s, ProgressMode::kLines), Not(HasSubstr("ETA")));
}

TEST(CliTest, Severities) {
  EXPECT_EQ(*ParseSeverities("1-5"), (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(*ParseSeverities("3"), (std::vector<int>{3}));
  EXPECT_EQ(*ParseSeverities("5,1-2,2"), (std::vector<int>{1, 2, 5}));
  for (const char* bad : {"", "0", "6", "3-1", "a", "1-2-3", "1,,2"}) {
    EXPECT_FALSE(ParseSeverities(bad).ok()) << bad;
  }
}

TEST(CliTest, FlagNamesAcceptDashes) {
  EXPECT_EQ(NormalizeFlagNames({"prog", "--batch-size=4", "--output-json", "a-b.json", "--", "--x-y"}),
            (std::vector<std::string>{"prog", "--batch_size=4", "--output_json", "a-b.json", "--", "--x-y"}));
  EXPECT_EQ(NormalizeFlagNames({"p", "--corruptions=motion-blur"}),
            (std::vector<std::string>{"p", "--corruptions=motion-blur"}));
  auto conditions = MakeConditions({"fog", "snow"}, {1, 2});
  ASSERT_EQ(conditions.size(), 5u);
  EXPECT_EQ(conditions[0].corruption, "");
  EXPECT_EQ(conditions[2].corruption, "fog");
  EXPECT_EQ(conditions[2].severity, 2);
}

// The JSON report parses back with the structure docs/loadgen.md promises: numbers as written,
// non-finite values (an empty latency summary, an undefined CE) as null, keys in a fixed order.
TEST(JsonReportTest, ParsesBackWithNullsForNonFiniteValues) {
  Report report;
  report.config.model = "wt";
  report.config.baseline_model = "base";
  report.config.severities = {1, 3};
  report.config.corruptions = {"fog"};
  report.config.rate = 0;
  ModelReport m;
  m.model = "wt";
  m.version = "1";
  m.role = "model";
  m.run.requests_sent = m.run.requests_ok = 2;
  m.run.elapsed_s = 0.5;
  m.run.latencies_s = {0.001, 0.0025};
  m.run.status_counts["OK"] = 2;
  m.latency.count = 2;
  m.latency.p99 = 0.0025;
  m.latency.mean = std::nan("");
  AccuracyTable a;
  a.clean = Cell{7, 10};
  a.corruptions = {"fog"};
  a.severities = {1, 3};
  a.cells = {{Cell{6, 10}, Cell{4, 10}}};
  m.accuracy = a;
  report.models.push_back(m);
  m.model = "base";
  m.role = "baseline";
  m.accuracy.reset();
  report.models.push_back(m);
  CorruptionErrors e;
  e.corruptions = {"fog"};
  e.ce = {0.8};
  e.relative_ce = {std::nullopt};
  e.mce = 0.8;
  report.corruption_errors = e;

  const std::string text = RenderJson(report);
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["format_version"], kReportFormatVersion);
  EXPECT_EQ(j["config"]["mode"], "closed_loop");
  EXPECT_EQ(j["config"]["severities"], nlohmann::json({1, 3}));
  ASSERT_EQ(j["models"].size(), 2u);
  const nlohmann::json& wt = j["models"][0];
  EXPECT_EQ(wt["requests_per_s"], 4.0);
  EXPECT_DOUBLE_EQ(wt["latency_ms"]["p99"].get<double>(), 2.5);
  EXPECT_TRUE(wt["latency_ms"]["mean"].is_null());
  ASSERT_EQ(wt["latencies_ms"].size(), 2u);
  EXPECT_DOUBLE_EQ(wt["latencies_ms"][0].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(wt["latencies_ms"][1].get<double>(), 2.5);
  EXPECT_EQ(wt["status_codes"]["OK"], 2);
  EXPECT_EQ(wt["accuracy"]["clean"]["accuracy"], 0.7);
  EXPECT_EQ(wt["accuracy"]["mean_corruption_accuracy"], 0.5);
  EXPECT_EQ(wt["accuracy"]["corruptions"][0]["group"], "weather");
  EXPECT_EQ(wt["accuracy"]["corruptions"][0]["severities"][1]["accuracy"], 0.4);
  EXPECT_TRUE(j["models"][1]["accuracy"].is_null());
  EXPECT_EQ(j["corruption_errors"]["baseline"], "base");
  EXPECT_EQ(j["corruption_errors"]["corruptions"][0]["ce"], 0.8);
  EXPECT_TRUE(j["corruption_errors"]["corruptions"][0]["relative_ce"].is_null());
  EXPECT_TRUE(j["corruption_errors"]["relative_mce"].is_null());
  // Fixed key order: the document starts with its format version, then the tool.
  EXPECT_EQ(text.rfind("{\n  \"format_version\": ", 0), 0u) << text.substr(0, 80);

  EXPECT_EQ(FormatDouble(1e-7), "1e-07");
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(std::nan("")), "");
}

// A run in which no request succeeded has no latency and no accuracy: the reports say null
// (JSON), empty (CSV) and n/a (text), as docs/loadgen.md promises, never 0.
TEST(JsonReportTest, ZeroSuccessesAreUndefinedNotZero) {
  Report report;
  report.config.model = "wt";
  report.config.severities = {1};
  report.config.corruptions = {"fog"};
  ModelReport m;
  m.model = "wt";
  m.role = "model";
  m.run.requests_sent = m.run.requests_failed = 3;
  m.run.status_counts["UNAVAILABLE"] = 3;
  m.latency = Summarize({});
  AccuracyTable a;
  a.corruptions = {"fog"};
  a.severities = {1};
  a.cells = {{Cell{}}};
  m.accuracy = a;
  m.unanswered = 3;
  report.models.push_back(m);

  const nlohmann::json j = nlohmann::json::parse(RenderJson(report));
  const nlohmann::json& wt = j["models"][0];
  EXPECT_EQ(wt["latency_ms"]["count"], 0);
  for (const char* key : {"min", "mean", "p50", "p90", "p95", "p99", "max"}) {
    EXPECT_TRUE(wt["latency_ms"][key].is_null()) << key;
  }
  EXPECT_TRUE(wt["accuracy"]["clean"]["accuracy"].is_null());
  EXPECT_TRUE(wt["accuracy"]["mean_corruption_accuracy"].is_null());
  EXPECT_TRUE(wt["accuracy"]["corruptions"][0]["mean_accuracy"].is_null());
  const std::string text = RenderText(report);
  EXPECT_THAT(text, HasSubstr("latency ms: n/a"));
  EXPECT_THAT(text, HasSubstr("clean n/a (0/0)"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("min 0.000")));
  EXPECT_THAT(RenderCsv(report), HasSubstr("wt,model,clean,clean,0,0,0,,,"));

  // An empty cell makes its corruption's CE undefined too.
  std::string error;
  AccuracyTable base = a;
  base.clean = Cell{5, 10};
  base.cells = {{Cell{2, 10}}};
  AccuracyTable model = base;
  model.cells = {{Cell{}}};
  const auto ce = ComputeCorruptionErrors(model, base, {"fog"}, &error);
  ASSERT_TRUE(ce.has_value()) << error;
  EXPECT_FALSE(ce->ce[0].has_value());
  EXPECT_FALSE(ce->mce.has_value());
}

data::ImageDataset SmallFmnist(int64_t n) {
  DataOptions options;
  options.samples = n;
  auto data = LoadData(options, ModelIo{});
  EXPECT_TRUE(data.ok()) << data.status();
  return *data;
}

ModelIo FakeIo() {
  ModelIo io;
  io.input_name = "images";
  io.input_datatype = "FP32";
  io.output_name = "logits";
  io.channels = 1;
  io.height = io.width = 28;
  io.num_classes = 10;
  return io;
}

TEST(WorkloadTest, MetadataAndCompatibility) {
  ModelMetadata metadata{"m", {"1"}, "p", {{"images", "FP32", {-1, 1, 28, 28}}}, {{"logits", "FP32", {-1, 10}}}};
  auto io = ModelIoFromMetadata(metadata);
  ASSERT_TRUE(io.ok());
  EXPECT_EQ(io->height, 28);
  EXPECT_EQ(io->num_classes, 10);
  EXPECT_TRUE(io->batched);
  metadata.inputs[0].shape = {-1, 784};
  EXPECT_EQ(ModelIoFromMetadata(metadata).status().code(), absl::StatusCode::kFailedPrecondition);
  metadata.inputs[0].shape = {-1, 1, -1, 28};
  EXPECT_EQ(ModelIoFromMetadata(metadata).status().code(), absl::StatusCode::kFailedPrecondition);
  // [C, -1, -1]: tensors go at the data set's own size.
  metadata.inputs[0].shape = {-1, 1, -1, -1};
  auto any_size = ModelIoFromMetadata(metadata);
  ASSERT_TRUE(any_size.ok()) << any_size.status();
  EXPECT_EQ(any_size->channels, 1);
  EXPECT_EQ(any_size->height, -1);
  EXPECT_TRUE(CheckCompatible(SmallFmnist(2), *any_size, InputKind::kFp32, 1).ok());
  any_size->channels = 3;
  EXPECT_THAT(CheckCompatible(SmallFmnist(2), *any_size, InputKind::kFp32, 1).message(), HasSubstr("data mismatch"));

  data::ImageDataset data = SmallFmnist(5);
  EXPECT_EQ(data.size(), 5);
  EXPECT_TRUE(CheckCompatible(data, FakeIo(), InputKind::kFp32, 8).ok());
  ModelIo other = FakeIo();
  other.height = other.width = 32;
  EXPECT_THAT(CheckCompatible(data, other, InputKind::kUint8, 1).message(), HasSubstr("data mismatch"));
  EXPECT_TRUE(CheckCompatible(data, other, InputKind::kPng, 1).ok());  // the server resizes PNGs
  other = FakeIo();
  other.num_classes = 5;
  EXPECT_THAT(CheckCompatible(data, other, InputKind::kPng, 1).message(), HasSubstr("10 classes"));
  other = FakeIo();
  other.batched = false;
  EXPECT_FALSE(CheckCompatible(data, other, InputKind::kFp32, 2).ok());
}

TEST(WorkloadTest, PayloadsMatchTheImagesInEveryForm) {
  data::ImageDataset data = SmallFmnist(6);
  const auto conditions = MakeConditions({"gaussian_noise", "contrast"}, {1, 5});
  for (InputKind kind : {InputKind::kUint8, InputKind::kFp32, InputKind::kPng}) {
    auto w = PrepareWorkload(data, conditions, kind, 7, 2);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(w->size(), 30);
    EXPECT_EQ(w->labels[13], data.labels[1]);  // condition 2, image 1
    EXPECT_EQ(w->condition_of[13], 2);
    auto corrupted = corrupt::Corrupt(data.images[1], "gaussian_noise", 5, 7, 1);
    ASSERT_TRUE(corrupted.ok());
    InferRequest r = BuildRequest(*w, {0, 13}, FakeIo(), "m", "", 1.0f / 255.0f);
    ASSERT_EQ(r.inputs.size(), 1u);
    EXPECT_EQ(r.outputs[0].classification_top_k, 1);
    const Tensor& t = r.inputs[0];
    if (kind == InputKind::kPng) {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 1}));
      auto elements = t.AsBytes();
      ASSERT_TRUE(elements.ok());
      cv::Mat decoded =
          cv::imdecode(std::vector<uchar>((*elements)[1].begin(), (*elements)[1].end()), cv::IMREAD_UNCHANGED);
      EXPECT_EQ(cv::norm(decoded, *corrupted, cv::NORM_INF), 0);
    } else {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 1, 28, 28}));
      const size_t p = 28 * 3 + 5;  // pixel (3, 5) of the second image
      const uint8_t expected = corrupted->at<uint8_t>(3, 5);
      if (kind == InputKind::kUint8) {
        EXPECT_EQ(static_cast<uint8_t>(t.raw[784 + p]), expected);
      } else {
        auto values = t.AsFp32();
        ASSERT_TRUE(values.ok());
        const float want = static_cast<float>(expected) * (1.0f / 255.0f);
        EXPECT_EQ(std::memcmp(&(*values)[784 + p], &want, 4), 0);
      }
    }
  }
}

// Runs the runner against the fake server and checks every item got exactly its known answer.
class RunnerTest : public ::testing::TestWithParam<std::tuple<Transport, bool, InputKind>> {};

TEST_P(RunnerTest, SinglePassAnswersEveryItemOnce) {
  const auto [transport, open_loop, kind] = GetParam();
  testing::FakeInferenceServer server(28, 28);
  ClientOptions co;
  co.target = server.target();
  auto client = Client::Create(co);
  data::ImageDataset data = SmallFmnist(20);
  auto w = PrepareWorkload(data, MakeConditions({"pixelate"}, {2, 4}), kind, 1, 2);
  ASSERT_TRUE(w.ok());
  RunOptions o;
  o.transport = transport;
  o.concurrency = 3;
  o.batch_size = 7;
  if (open_loop) o.rate = 2000;
  auto result = loadgen::Run(**client, *w, FakeIo(), "fake", "", o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->requests_sent, 9);  // ceil(60 / 7)
  EXPECT_EQ(result->requests_ok, 9);
  EXPECT_EQ(result->images_ok, 60);
  EXPECT_EQ(result->status_counts.at("OK"), 9);
  EXPECT_EQ(result->latencies_s.size(), 9u);
  EXPECT_EQ(server.images_seen(), 60);
  for (int64_t item = 0; item < w->size(); ++item) {
    const int64_t image = item % 20, condition = item / 20;
    cv::Mat sent = data.images[static_cast<size_t>(image)];
    if (condition > 0)
      sent = *corrupt::Corrupt(sent, "pixelate", condition == 1 ? 2 : 4, 1, static_cast<uint64_t>(image));
    EXPECT_EQ(result->predictions[static_cast<size_t>(item)], testing::FakeClass(sent)) << "item " << item;
  }
  // The report's accuracy counts every item once.
  ModelReport report = MakeModelReport("fake", "", "model", *w, *result);
  ASSERT_TRUE(report.accuracy.has_value());
  EXPECT_EQ(report.unanswered, 0);
  EXPECT_EQ(report.accuracy->clean.total, 20);
  EXPECT_EQ(report.accuracy->cells[0][1].total, 20);
}

INSTANTIATE_TEST_SUITE_P(Modes, RunnerTest,
                         ::testing::Combine(::testing::Values(Transport::kSync, Transport::kAsync, Transport::kStream),
                                            ::testing::Bool(),
                                            ::testing::Values(InputKind::kFp32, InputKind::kUint8, InputKind::kPng)),
                         [](const ::testing::TestParamInfo<RunnerTest::ParamType>& info) {
                           return std::string(TransportName(std::get<0>(info.param))) +
                                  (std::get<1>(info.param) ? "_open_" : "_closed_") +
                                  InputKindName(std::get<2>(info.param));
                         });

TEST(RunnerBoundsTest, RequestsAndDurationBoundLoadRuns) {
  testing::FakeInferenceServer server(28, 28);
  ClientOptions co;
  co.target = server.target();
  auto client = Client::Create(co);
  auto w = PrepareWorkload(SmallFmnist(10), MakeConditions({}, {}), InputKind::kUint8, 0, 1);
  ASSERT_TRUE(w.ok());
  RunOptions o;
  o.single_pass = false;
  o.transport = Transport::kAsync;
  o.concurrency = 4;
  o.batch_size = 4;
  o.max_requests = 37;
  auto result = loadgen::Run(**client, *w, FakeIo(), "fake", "", o);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->requests_sent, 37);
  EXPECT_EQ(server.images_seen(), 37 * 4);
  // Cycling covers every item.
  EXPECT_EQ(std::count(result->predictions.begin(), result->predictions.end(), -1), 0);

  o.max_requests = 0;
  o.duration = absl::Milliseconds(300);
  o.rate = 200;
  o.arrival = Arrival::kConstant;
  result = loadgen::Run(**client, *w, FakeIo(), "fake", "", o);
  ASSERT_TRUE(result.ok());
  // Constant arrivals at 200/s for 0.3 s: arrivals at 0, 5, ..., 295 ms.
  EXPECT_EQ(result->requests_sent, 60);

  o.duration = absl::ZeroDuration();
  EXPECT_FALSE(ValidateRunOptions(o).ok());  // a load run must be bounded
}

TEST(RunnerErrorsTest, FailuresAreCountedByCode) {
  testing::FakeInferenceServer server(28, 28);
  ClientOptions co;
  co.target = server.target();
  auto client = Client::Create(co);
  auto w = PrepareWorkload(SmallFmnist(4), MakeConditions({}, {}), InputKind::kUint8, 0, 1);
  RunOptions o;
  o.transport = Transport::kAsync;
  auto result = loadgen::Run(**client, *w, FakeIo(), "nope", "", o);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->requests_failed, 4);
  EXPECT_EQ(result->status_counts.at("NOT_FOUND"), 4);
  EXPECT_EQ(result->first_message.at("NOT_FOUND"), "unknown model");
  EXPECT_EQ(std::count(result->predictions.begin(), result->predictions.end(), -1), 4);
  // On a stream a failure is only a message (Triton's error_message), so the code is UNKNOWN.
  o.transport = Transport::kStream;
  result = loadgen::Run(**client, *w, FakeIo(), "nope", "", o);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->status_counts.at("UNKNOWN"), 4);
  EXPECT_EQ(result->first_message.at("UNKNOWN"), "unknown model");
}

TEST(RunnerErrorsTest, DeadStreamFailsEveryRequestWithoutDeepRecursion) {
  // A stream to a closed port ends at once; every later Send is answered inline. 100k such
  // answers in a closed loop would overflow the stack if each started its successor recursively.
  int port = 0;
  {
    testing::FakeInferenceServer server(28, 28);
    port = std::stoi(server.target().substr(server.target().rfind(':') + 1));
  }
  ClientOptions co;
  co.target = "127.0.0.1:" + std::to_string(port);
  co.max_attempts = 1;
  auto client = Client::Create(co);
  auto w = PrepareWorkload(SmallFmnist(4), MakeConditions({}, {}), InputKind::kUint8, 0, 1);
  RunOptions o;
  o.transport = Transport::kStream;
  o.single_pass = false;
  o.max_requests = 100000;
  auto result = loadgen::Run(**client, *w, FakeIo(), "fake", "", o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->requests_sent, 100000);
  EXPECT_EQ(result->status_counts.at("UNAVAILABLE"), 100000);
}

// The CLI binary against the fake server (hosted by this test process).
struct Cli {
  int code;
  std::string output;
};

// The build folder: $WTSERVE_BINARY_DIR, else derived from this test binary's own path
// (<build>/tests/<area>/<test>).
std::string BinaryDir() {
  if (const char* dir = std::getenv("WTSERVE_BINARY_DIR"); dir != nullptr && *dir != '\0') return dir;
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path().string();
}

Cli RunLoadgen(const std::string& args) {
  const std::string binary = BinaryDir() + "/client/loadgen/wtserve-loadgen";
  FILE* pipe = popen((binary + " " + args + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(CliTest, EndToEndAgainstFakeServer) {
  testing::FakeInferenceServer server(28, 28);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("loadgen_cli_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string t = "--target=" + server.target();
  Cli ok = RunLoadgen(t +
                      " --model=fake --samples=12 --corruptions=fog,jpeg_compression --severities=1,5"
                      " --batch-size=5 --transport=async --concurrency=2 --output-json=" +
                      (dir / "r.json").string() + " --output-csv=" + (dir / "r.csv").string() +
                      " --dump-samples=" + (dir / "grids").string() + " --dump_count=2");
  ASSERT_EQ(ok.code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("requests: 12 sent, 12 ok, 0 failed; images: 60 sent, 60 ok"));  // ceil(60/5)
  EXPECT_THAT(ok.output, HasSubstr("jpeg_compression"));
  std::ifstream json_file(dir / "r.json");
  std::stringstream json;
  json << json_file.rdbuf();
  EXPECT_THAT(json.str(), HasSubstr("\"format_version\": 1"));
  EXPECT_THAT(json.str(), HasSubstr("\"p99\": "));
  EXPECT_THAT(json.str(), HasSubstr("\"complete\": true"));
  std::ifstream csv_file(dir / "r.csv");
  int lines = 0;
  for (std::string line; std::getline(csv_file, line);) ++lines;
  EXPECT_EQ(lines, 1 + 1 + 2 * 3);  // header, clean, 2 corruptions x (2 severities + mean)
  cv::Mat grid = cv::imread((dir / "grids" / "sample_1.png").string());
  EXPECT_FALSE(grid.empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "grids" / "sample_2.png"));

  Cli unknown = RunLoadgen(t + " --model=resnet");
  EXPECT_EQ(unknown.code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("unknown model 'resnet'"));
  Cli bad_flag = RunLoadgen(t + " --model=fake --rate=-3");
  EXPECT_EQ(bad_flag.code, 2);
  EXPECT_THAT(bad_flag.output, HasSubstr("--rate"));
  testing::FakeInferenceServer big(32, 32);
  Cli mismatch = RunLoadgen("--target=" + big.target() + " --model=fake --samples=3");
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_THAT(mismatch.output, HasSubstr("1x28x28 (CxHxW) but model input 'images' is 1x32x32"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace wtserve::loadgen

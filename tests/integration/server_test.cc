// End-to-end tests of the real wtserve binary: every RPC, every bad-input status code, dynamic
// batching under concurrent load, metrics, repository control, health and readiness.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "tests/integration/server_process.h"
#include "tests/integration/test_repo.h"

namespace wtserve::testing {
namespace {

using grpc::StatusCode;
using grpc::health::v1::HealthCheckResponse;

// Client threads that are joined on every way out of a test, so that a failed ASSERT returns
// instead of destroying joinable threads (std::terminate). Declare after the ServerProcess:
// the threads finish (their calls are answered) before the server is killed.
class JoinedThreads {
 public:
  ~JoinedThreads() { JoinAll(); }
  template <typename F>
  void emplace_back(F&& f) {
    threads_.emplace_back(std::forward<F>(f));
  }
  void JoinAll() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::vector<std::thread> threads_;
};
using ::testing::HasSubstr;

inference::ModelInferRequest ImagesRequest(const std::string& model, int64_t n, const std::string& version = "") {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  r.set_model_version(version);
  r.set_id("id-" + std::to_string(n));
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  for (int64_t d : {n, int64_t{1}, int64_t{28}, int64_t{28}}) in->add_shape(d);
  std::vector<float> pixels(static_cast<size_t>(n * 28 * 28));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>(i % 256) / 255.0f;
  r.add_raw_input_contents(std::string(reinterpret_cast<const char*>(pixels.data()), pixels.size() * sizeof(float)));
  return r;
}

grpc::Status Infer(inference::GRPCInferenceService::Stub& stub, const inference::ModelInferRequest& request,
                   inference::ModelInferResponse* response = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  inference::ModelInferResponse ignored;
  return stub.ModelInfer(&ctx, request, response ? response : &ignored);
}

std::vector<std::string> SplitBytes(const std::string& raw) {
  std::vector<std::string> elements;
  for (size_t pos = 0; pos + 4 <= raw.size();) {
    uint32_t len;
    std::memcpy(&len, raw.data() + pos, 4);
    elements.push_back(raw.substr(pos + 4, len));
    pos += 4 + len;
  }
  return elements;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_root_ = new std::string(MakeTempDir("wtserve_it_"));
    const std::string repo = *repo_root_ + "/repo";
    WriteFmnistModel(repo, "fmnist",
                     FmnistConfig("fmnist",
                                  "dynamic_batching { max_queue_delay_microseconds: 20000 "
                                  "preferred_batch_size: [8] }\n"),
                     {1, 2});
    // Accepts encoded images: decoded server-side to [1, 28, 28].
    WriteFmnistModel(repo, "fmnist_png",
                     R"pb(name: "fmnist_png"
                          architecture { name: "convnext_fmnist" }
                          max_batch_size: 4
                          input {
                            name: "images"
                            data_type: TYPE_STRING
                            dims: [ 1, 28, 28 ]
                          }
                          output {
                            name: "logits"
                            data_type: TYPE_FP32
                            dims: [ 10 ]
                          })pb",
                     {1});
    server_ = new ServerProcess(repo);
    ASSERT_TRUE(server_->WaitForHealth(HealthCheckResponse::SERVING)) << server_->Log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    std::filesystem::remove_all(*repo_root_);
    delete repo_root_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    stub_ = server_->Stub();
  }

  static std::string* repo_root_;
  static ServerProcess* server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

std::string* ServerTest::repo_root_ = nullptr;
ServerProcess* ServerTest::server_ = nullptr;

TEST_F(ServerTest, LiveReadyAndMetadata) {
  {
    grpc::ClientContext ctx;
    inference::ServerLiveResponse r;
    ASSERT_TRUE(stub_->ServerLive(&ctx, {}, &r).ok());
    EXPECT_TRUE(r.live());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerReadyResponse r;
    ASSERT_TRUE(stub_->ServerReady(&ctx, {}, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ServerMetadataResponse r;
    ASSERT_TRUE(stub_->ServerMetadata(&ctx, {}, &r).ok());
    EXPECT_EQ(r.name(), "wtserve");
    EXPECT_FALSE(r.version().empty());
    EXPECT_THAT(r.extensions(), ::testing::IsSupersetOf({"statistics", "model_repository", "classification"}));
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("fmnist");
    req.set_version("2");
    inference::ModelReadyResponse r;
    ASSERT_TRUE(stub_->ModelReady(&ctx, req, &r).ok());
    EXPECT_TRUE(r.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("fmnist");
    inference::ModelMetadataResponse r;
    ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &r).ok());
    EXPECT_EQ(r.name(), "fmnist");
    EXPECT_THAT(r.versions(), ::testing::ElementsAre("1", "2"));
    EXPECT_EQ(r.platform(), "wtserve_architecture");
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).name(), "images");
    EXPECT_EQ(r.inputs(0).datatype(), "FP32");
    EXPECT_THAT(r.inputs(0).shape(), ::testing::ElementsAre(-1, 1, 28, 28));
    ASSERT_EQ(r.outputs_size(), 1);
    EXPECT_EQ(r.outputs(0).datatype(), "FP32");
    EXPECT_THAT(r.outputs(0).shape(), ::testing::ElementsAre(-1, 10));
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("fmnist_png");
    inference::ModelMetadataResponse r;
    ASSERT_TRUE(stub_->ModelMetadata(&ctx, req, &r).ok());
    EXPECT_EQ(r.inputs(0).datatype(), "BYTES");
    EXPECT_THAT(r.inputs(0).shape(), ::testing::ElementsAre(-1));
  }
}

// Triton's ModelConfig extension: config.pbtxt in Triton's message, decodable by Triton clients.
TEST_F(ServerTest, ModelConfigInTritonForm) {
  auto get = [&](const std::string& name, const std::string& version, inference::ModelConfigResponse* r) {
    grpc::ClientContext ctx;
    inference::ModelConfigRequest req;
    req.set_name(name);
    req.set_version(version);
    return stub_->ModelConfig(&ctx, req, r);
  };
  inference::ModelConfigResponse r;
  ASSERT_TRUE(get("fmnist", "", &r).ok());
  const inference::ModelConfig& c = r.config();
  EXPECT_EQ(c.name(), "fmnist");
  EXPECT_EQ(c.platform(), "wtserve_architecture");
  EXPECT_EQ(c.backend(), "wtserve");
  EXPECT_EQ(c.default_model_filename(), "model.pt");
  EXPECT_EQ(c.max_batch_size(), 8);
  EXPECT_TRUE(c.version_policy().has_all());
  ASSERT_EQ(c.input_size(), 1);
  EXPECT_EQ(c.input(0).name(), "images");
  EXPECT_EQ(c.input(0).data_type(), inference::TYPE_FP32);
  EXPECT_EQ(c.input(0).format(), inference::ModelInput::FORMAT_NCHW);
  EXPECT_THAT(c.input(0).dims(), ::testing::ElementsAre(1, 28, 28));
  ASSERT_EQ(c.output_size(), 1);
  EXPECT_EQ(c.output(0).data_type(), inference::TYPE_FP32);
  EXPECT_THAT(c.output(0).dims(), ::testing::ElementsAre(10));
  EXPECT_EQ(c.output(0).label_filename(), "labels.txt");
  ASSERT_TRUE(c.has_dynamic_batching());
  EXPECT_THAT(c.dynamic_batching().preferred_batch_size(), ::testing::ElementsAre(8));
  EXPECT_EQ(c.dynamic_batching().max_queue_delay_microseconds(), 20000u);
  EXPECT_EQ(c.instance_group_size(), 1);  // the default group, filled in by the server
  EXPECT_THAT(c.parameters().at("architecture").string_value(), HasSubstr("name: \"convnext_fmnist\""));
  EXPECT_THAT(c.parameters().at("input_preprocessing").string_value(), HasSubstr("std: 0.353"));

  // Triton's wire numbering, checked on the bytes rather than through the generated class:
  // max_batch_size is field 4, input 5, dynamic_batching 11; TYPE_FP32 is 11, TYPE_STRING 13.
  google::protobuf::UnknownFieldSet fields;
  ASSERT_TRUE(fields.ParseFromString(c.SerializeAsString()));
  std::map<int, const google::protobuf::UnknownField*> by_number;
  for (int i = 0; i < fields.field_count(); ++i) by_number[fields.field(i).number()] = &fields.field(i);
  ASSERT_TRUE(by_number.count(4));
  EXPECT_EQ(by_number[4]->varint(), 8u);
  EXPECT_TRUE(by_number.count(5) && by_number.count(6) && by_number.count(11));
  EXPECT_EQ(static_cast<int>(inference::TYPE_FP32), 11);
  EXPECT_EQ(static_cast<int>(inference::TYPE_STRING), 13);

  ASSERT_TRUE(get("fmnist", "2", &r).ok());
  EXPECT_EQ(r.config().name(), "fmnist");
  ASSERT_TRUE(get("fmnist_png", "", &r).ok());
  EXPECT_EQ(r.config().input(0).data_type(), inference::TYPE_STRING);
  EXPECT_THAT(r.config().input(0).dims(), ::testing::ElementsAre(1));
  EXPECT_FALSE(r.config().has_dynamic_batching());

  grpc::Status empty = get("", "", &r);
  EXPECT_EQ(empty.error_code(), StatusCode::INVALID_ARGUMENT) << empty.error_message();
  grpc::Status unknown = get("nope", "", &r);
  EXPECT_EQ(unknown.error_code(), StatusCode::NOT_FOUND) << unknown.error_message();
  grpc::Status bad_version = get("fmnist", "9", &r);
  EXPECT_EQ(bad_version.error_code(), StatusCode::NOT_FOUND) << bad_version.error_message();
}

TEST_F(ServerTest, InferLogitsAndClassification) {
  inference::ModelInferRequest request = ImagesRequest("fmnist", 3, "1");
  inference::ModelInferRequest top_request = request;
  auto* out = top_request.add_outputs();
  out->set_name("logits");
  (*out->mutable_parameters())["classification"].set_int64_param(3);
  inference::ModelInferResponse response, top_response;
  grpc::Status status = Infer(*stub_, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = Infer(*stub_, top_request, &top_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.model_name(), "fmnist");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "id-3");
  ASSERT_EQ(top_response.outputs_size(), 1);
  EXPECT_EQ(top_response.outputs(0).datatype(), "BYTES");
  EXPECT_THAT(top_response.outputs(0).shape(), ::testing::ElementsAre(3, 3));
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_THAT(response.outputs(0).shape(), ::testing::ElementsAre(3, 10));
  ASSERT_EQ(response.raw_output_contents(0).size(), 3u * 10 * sizeof(float));
  std::vector<float> logits(30);
  std::memcpy(logits.data(), response.raw_output_contents(0).data(), 120);
  const std::vector<std::string> top = SplitBytes(top_response.raw_output_contents(0));
  ASSERT_EQ(top.size(), 9u);
  // The top-1 of each row is the arg-max of its logits, with its label.
  for (int row = 0; row < 3; ++row) {
    const int best = static_cast<int>(std::max_element(logits.begin() + row * 10, logits.begin() + row * 10 + 10) -
                                      (logits.begin() + row * 10));
    char expected[64];
    std::snprintf(expected, sizeof(expected), "%f:%d:", logits[row * 10 + best], best);
    EXPECT_THAT(top[row * 3], ::testing::StartsWith(expected));
    EXPECT_THAT(top[row * 3], ::testing::EndsWith(FashionMnistLabels()[best]));
  }
  // Each image's logits do not depend on what it was batched with.
  inference::ModelInferResponse single;
  ASSERT_TRUE(Infer(*stub_, ImagesRequest("fmnist", 1, "1"), &single).ok());
  std::vector<float> first(10);
  std::memcpy(first.data(), single.raw_output_contents(0).data(), 40);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(first[i], logits[i], 1e-4) << i;
  // Versions 1 and 2 have different weights.
  inference::ModelInferResponse v2;
  ASSERT_TRUE(Infer(*stub_, ImagesRequest("fmnist", 1, "2"), &v2).ok());
  EXPECT_EQ(v2.model_version(), "2");
  EXPECT_NE(v2.raw_output_contents(0), single.raw_output_contents(0));
  // No version: the latest.
  inference::ModelInferResponse latest;
  ASSERT_TRUE(Infer(*stub_, ImagesRequest("fmnist", 1), &latest).ok());
  EXPECT_EQ(latest.model_version(), "2");
}

TEST_F(ServerTest, EncodedImagesMatchUint8Pixels) {
  cv::Mat image(28, 28, CV_8UC1);
  for (int i = 0; i < 28 * 28; ++i) image.data[i] = static_cast<uint8_t>((i * 37) % 256);
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", image, png));
  inference::ModelInferRequest bytes_request;
  bytes_request.set_model_name("fmnist_png");
  auto* in = bytes_request.add_inputs();
  in->set_name("images");
  in->set_datatype("BYTES");
  in->add_shape(1);
  in->mutable_contents()->add_bytes_contents(std::string(png.begin(), png.end()));
  inference::ModelInferRequest uint8_request = bytes_request;
  auto* raw_in = uint8_request.mutable_inputs(0);
  raw_in->clear_contents();
  raw_in->set_datatype("UINT8");
  raw_in->clear_shape();
  for (int64_t d : {1, 1, 28, 28}) raw_in->add_shape(d);
  uint8_request.add_raw_input_contents(std::string(reinterpret_cast<char*>(image.data), 784));
  inference::ModelInferResponse a, b;
  ASSERT_TRUE(Infer(*stub_, bytes_request, &a).ok());
  ASSERT_TRUE(Infer(*stub_, uint8_request, &b).ok());
  EXPECT_EQ(a.raw_output_contents(0), b.raw_output_contents(0));

  in->mutable_contents()->set_bytes_contents(0, "GIF89a not really");
  grpc::Status bad = Infer(*stub_, bytes_request);
  EXPECT_EQ(bad.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("cannot decode"));
}

TEST_F(ServerTest, BadRequestsGetPreciseStatusCodes) {
  struct Case {
    std::string what;
    inference::ModelInferRequest request;
    StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  auto add = [&](std::string what, auto mutate, StatusCode code, std::string message) {
    inference::ModelInferRequest r = ImagesRequest("fmnist", 1);
    mutate(r);
    cases.push_back({std::move(what), std::move(r), code, std::move(message)});
  };
  add(
      "unknown model", [](auto& r) { r.set_model_name("nope"); }, StatusCode::NOT_FOUND,
      "Request for unknown model: 'nope' is not found");
  add(
      "escaping name", [](auto& r) { r.set_model_name("../repo/fmnist"); }, StatusCode::NOT_FOUND, "unknown model");
  add(
      "empty model", [](auto& r) { r.set_model_name(""); }, StatusCode::INVALID_ARGUMENT, "model_name is empty");
  add(
      "whitespace model", [](auto& r) { r.set_model_name(" \t "); }, StatusCode::INVALID_ARGUMENT,
      "model_name is only whitespace");
  add(
      "unknown version", [](auto& r) { r.set_model_version("9"); }, StatusCode::NOT_FOUND, "no loaded version 9");
  add(
      "bad version", [](auto& r) { r.set_model_version("v1"); }, StatusCode::INVALID_ARGUMENT, "not a version number");
  add(
      "wrong input name", [](auto& r) { r.mutable_inputs(0)->set_name("x"); }, StatusCode::INVALID_ARGUMENT,
      "unknown input 'x'");
  add(
      "missing input",
      [](auto& r) {
        r.clear_inputs();
        r.clear_raw_input_contents();
      },
      StatusCode::INVALID_ARGUMENT, "missing input 'images'");
  add(
      "wrong dtype", [](auto& r) { r.mutable_inputs(0)->set_datatype("FP64"); }, StatusCode::INVALID_ARGUMENT,
      "datatype 'FP64'");
  add(
      "wrong shape", [](auto& r) { r.mutable_inputs(0)->set_shape(3, 27); }, StatusCode::INVALID_ARGUMENT,
      "does not match [N, 1, 28, 28]");
  add(
      "byte length", [](auto& r) { r.mutable_raw_input_contents(0)->pop_back(); }, StatusCode::INVALID_ARGUMENT,
      "needs 3136");
  add(
      "batch too big", [](auto& r) { r = ImagesRequest("fmnist", 9); }, StatusCode::INVALID_ARGUMENT,
      "batch size 9 must be in [1, max_batch_size = 8]");
  add(
      "raw and typed", [](auto& r) { r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0); },
      StatusCode::INVALID_ARGUMENT, "use one");
  add(
      "unknown output", [](auto& r) { r.add_outputs()->set_name("probs"); }, StatusCode::INVALID_ARGUMENT,
      "unknown output 'probs'");
  for (const Case& c : cases) {
    grpc::Status status = Infer(*stub_, c.request);
    EXPECT_EQ(status.error_code(), c.code) << c.what << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.what;
  }
  // Other RPCs with bad names.
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("nope");
    inference::ModelMetadataResponse r;
    EXPECT_EQ(stub_->ModelMetadata(&ctx, req, &r).error_code(), StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("fmnist");
    req.set_version("5");
    inference::ModelReadyResponse r;
    EXPECT_EQ(stub_->ModelReady(&ctx, req, &r).error_code(), StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    inference::ModelStatisticsRequest req;
    req.set_name("nope");
    inference::ModelStatisticsResponse r;
    EXPECT_EQ(stub_->ModelStatistics(&ctx, req, &r).error_code(), StatusCode::NOT_FOUND);
  }
  // An empty model name is a malformed request on every per-model RPC, not an unknown model.
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataResponse r;
    EXPECT_EQ(stub_->ModelMetadata(&ctx, {}, &r).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  // So is a name of only whitespace (Triton answers INVALID_ARGUMENT too, not NOT_FOUND).
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("   ");
    inference::ModelMetadataResponse r;
    const grpc::Status status = stub_->ModelMetadata(&ctx, req, &r);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("only whitespace"));
  }
  {
    grpc::ClientContext ctx;
    inference::ModelStatisticsRequest req;
    req.set_name(" ");
    inference::ModelStatisticsResponse r;
    EXPECT_EQ(stub_->ModelStatistics(&ctx, req, &r).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    inference::ModelReadyResponse r;
    EXPECT_EQ(stub_->ModelReady(&ctx, {}, &r).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest req;
    req.set_model_name("../../etc");
    inference::RepositoryModelLoadResponse r;
    grpc::Status s = stub_->RepositoryModelLoad(&ctx, req, &r);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("directly inside the model repository"));
  }
  // The server keeps serving.
  EXPECT_TRUE(Infer(*stub_, ImagesRequest("fmnist", 1)).ok());
}

// Folder names that start with dots are plain folder names (Triton serves them); only "." and
// ".." and names with a path separator are refused.
TEST_F(ServerTest, FolderNamesStartingWithDotsAreModelNames) {
  const std::string repo = *repo_root_ + "/repo";
  for (const std::string name : {"..dotted", "..."}) {
    WriteFmnistModel(repo, name, FmnistConfig(name), {1});
    {
      grpc::ClientContext ctx;
      inference::RepositoryModelLoadRequest req;
      req.set_model_name(name);
      inference::RepositoryModelLoadResponse resp;
      const grpc::Status s = stub_->RepositoryModelLoad(&ctx, req, &resp);
      ASSERT_TRUE(s.ok()) << name << ": " << s.error_message();
    }
    EXPECT_TRUE(Infer(*stub_, ImagesRequest(name, 1)).ok()) << name;
    {
      grpc::ClientContext ctx;
      inference::RepositoryModelUnloadRequest req;
      req.set_model_name(name);
      inference::RepositoryModelUnloadResponse resp;
      EXPECT_TRUE(stub_->RepositoryModelUnload(&ctx, req, &resp).ok()) << name;
    }
    std::filesystem::remove_all(repo + "/" + name);
  }
  for (const std::string name : {".", ".."}) {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest req;
    req.set_model_name(name);
    inference::RepositoryModelLoadResponse resp;
    EXPECT_EQ(stub_->RepositoryModelLoad(&ctx, req, &resp).error_code(), StatusCode::INVALID_ARGUMENT) << name;
  }
}

TEST_F(ServerTest, ConcurrentRequestsAreBatched) {
  auto stats = [&] {
    grpc::ClientContext ctx;
    inference::ModelStatisticsRequest req;
    req.set_name("fmnist");
    req.set_version("1");
    inference::ModelStatisticsResponse r;
    EXPECT_TRUE(stub_->ModelStatistics(&ctx, req, &r).ok());
    return r.model_stats(0);
  };
  const inference::ModelStatistics before = stats();
  constexpr int kThreads = 16;
  constexpr int kPerThread = 4;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto stub = server_->Stub();
      for (int i = 0; i < kPerThread; ++i) {
        if (Infer(*stub, ImagesRequest("fmnist", 1, "1")).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  const inference::ModelStatistics after = stats();
  const uint64_t inferences = after.inference_count() - before.inference_count();
  const uint64_t executions = after.execution_count() - before.execution_count();
  EXPECT_EQ(inferences, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(executions, inferences) << "no batching happened";
  EXPECT_GT(executions, 0u);
  EXPECT_GE(after.inference_stats().success().count() - before.inference_stats().success().count(),
            static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_GT(after.last_inference(), 0u);
  EXPECT_GT(after.batch_stats_size(), 0);
}

TEST_F(ServerTest, StreamInferAnswersEveryRequest) {
  grpc::ClientContext ctx;
  auto stream = stub_->ModelStreamInfer(&ctx);
  constexpr int kRequests = 5;
  for (int i = 0; i < kRequests; ++i) {
    inference::ModelInferRequest r = ImagesRequest("fmnist", 1 + i % 2);
    r.set_id("s" + std::to_string(i));
    ASSERT_TRUE(stream->Write(r));
  }
  inference::ModelInferRequest bad = ImagesRequest("fmnist", 1);
  bad.set_id("bad");
  bad.mutable_inputs(0)->set_datatype("INT8");
  ASSERT_TRUE(stream->Write(bad));
  stream->WritesDone();
  std::set<std::string> ok_ids;
  std::string error;
  inference::ModelStreamInferResponse response;
  std::string error_code;
  while (stream->Read(&response)) {
    const auto& parameters = response.infer_response().parameters();
    // Triton's convention: every response is the request's final one.
    EXPECT_TRUE(parameters.count("triton_final_response") == 1 && parameters.at("triton_final_response").bool_param());
    if (response.error_message().empty()) {
      ok_ids.insert(response.infer_response().id());
    } else {
      EXPECT_EQ(response.infer_response().id(), "bad");
      error = response.error_message();
      if (parameters.count("wtserve_status_code") == 1) {
        error_code = parameters.at("wtserve_status_code").string_param();
      }
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(ok_ids.size(), static_cast<size_t>(kRequests));
  // Triton's text: the message alone; the code rides in a parameter.
  EXPECT_THAT(error, HasSubstr("datatype 'INT8'"));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("INVALID_ARGUMENT")));
  EXPECT_EQ(error_code, "INVALID_ARGUMENT");
}

// With Triton's header `triton_grpc_error: true` the first error ends the stream with its gRPC
// status (answers before it still arrive) instead of an error_message response.
TEST_F(ServerTest, StreamWithTritonGrpcErrorEndsOnTheFirstError) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("triton_grpc_error", "true");
  auto stream = stub_->ModelStreamInfer(&ctx);
  inference::ModelInferRequest good = ImagesRequest("fmnist", 1);
  good.set_id("good");
  ASSERT_TRUE(stream->Write(good));
  inference::ModelStreamInferResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.infer_response().id(), "good");
  EXPECT_EQ(response.error_message(), "");
  inference::ModelInferRequest bad = ImagesRequest("nope", 1);
  stream->Write(bad);
  while (stream->Read(&response)) {
    EXPECT_EQ(response.error_message(), "") << "an error must end the stream, not arrive as a message";
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "Request for unknown model: 'nope' is not found");
  // The server keeps serving.
  EXPECT_TRUE(Infer(*stub_, ImagesRequest("fmnist", 1)).ok());
}

TEST_F(ServerTest, MetricsAfterKnownTraffic) {
  const std::string before = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_FALSE(before.empty());
  const std::string labels = "model=\"fmnist_png\",version=\"1\"";
  auto value = [&](const std::string& text, const std::string& name, const std::string& l) {
    const double v = MetricValue(text, name, l);
    return v < 0 ? 0.0 : v;
  };
  // 3 successful requests of 2 images, 2 malformed ones.
  cv::Mat image(28, 28, CV_8UC1, cv::Scalar(77));
  std::vector<uchar> png;
  cv::imencode(".png", image, png);
  inference::ModelInferRequest good;
  good.set_model_name("fmnist_png");
  auto* in = good.add_inputs();
  in->set_name("images");
  in->set_datatype("BYTES");
  in->add_shape(2);
  in->mutable_contents()->add_bytes_contents(std::string(png.begin(), png.end()));
  in->mutable_contents()->add_bytes_contents(std::string(png.begin(), png.end()));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Infer(*stub_, good).ok());
  inference::ModelInferRequest bad = good;
  bad.mutable_inputs(0)->set_shape(0, 3);
  for (int i = 0; i < 2; ++i) ASSERT_FALSE(Infer(*stub_, bad).ok());

  const std::string after = HttpGet(server_->metrics_port(), "/metrics");
  auto delta = [&](const std::string& name, const std::string& l) {
    return value(after, name, l) - value(before, name, l);
  };
  EXPECT_EQ(delta("wtserve_inference_request_success_total", labels), 3);
  EXPECT_EQ(delta("wtserve_inference_request_failure_total",
                  "model=\"fmnist_png\",reason=\"invalid_argument\",version=\"1\""),
            2);
  EXPECT_EQ(delta("wtserve_inference_count_total", labels), 6);
  const double executions = delta("wtserve_inference_exec_count_total", labels);
  EXPECT_GE(executions, 1);
  EXPECT_LE(executions, 3);
  EXPECT_EQ(delta("wtserve_inference_request_duration_seconds_count", labels), 3);
  EXPECT_EQ(delta("wtserve_inference_queue_duration_seconds_count", labels), 3);
  EXPECT_EQ(delta("wtserve_inference_compute_duration_seconds_count", labels), executions);
  EXPECT_EQ(delta("wtserve_inference_batch_size_sum", labels), 6);
  EXPECT_GT(delta("wtserve_inference_request_duration_seconds_sum", labels), 0);
  EXPECT_EQ(value(after, "wtserve_model_ready", labels), 1);
  EXPECT_GT(value(after, "wtserve_model_load_duration_seconds", labels), 0);
  EXPECT_EQ(value(after, "wtserve_inference_inflight_requests", labels), 0);
  EXPECT_EQ(value(after, "wtserve_inference_queue_depth", labels), 0);
  EXPECT_GT(value(after, "wtserve_inference_request_failure_total", "model=\"\",reason=\"not_found\",version=\"\""),
            -1);

  // Debian's promtool accepts the exposition.
  const std::string path = *repo_root_ + "/metrics.txt";
  std::ofstream(path) << after;
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  EXPECT_EQ(::pclose(pipe), 0) << output;
}

TEST_F(ServerTest, RepositoryIndexLoadAndUnload) {
  auto index = [&] {
    grpc::ClientContext ctx;
    inference::RepositoryIndexResponse r;
    EXPECT_TRUE(stub_->RepositoryIndex(&ctx, {}, &r).ok());
    return r;
  };
  inference::RepositoryIndexResponse r = index();
  std::map<std::string, std::string> states;
  for (const auto& m : r.models()) states[m.name() + "/" + m.version()] = m.state();
  EXPECT_EQ(states["fmnist/1"], "READY");
  EXPECT_EQ(states["fmnist/2"], "READY");
  EXPECT_EQ(states["fmnist_png/1"], "READY");

  // A model added at run time with a broken config fails with the file and field named; the
  // others keep serving.
  const std::string repo = *repo_root_ + "/repo";
  WriteFmnistModel(repo, "broken", FmnistConfig("broken", "dynamic_batching { preferred_batch_size: [16] }\n"), {1});
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest req;
    req.set_model_name("broken");
    inference::RepositoryModelLoadResponse resp;
    grpc::Status s = stub_->RepositoryModelLoad(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("broken/config.pbtxt: dynamic_batching.preferred_batch_size[0]"));
  }
  r = index();
  bool found = false;
  for (const auto& m : r.models()) {
    if (m.name() != "broken") continue;
    found = true;
    EXPECT_EQ(m.state(), "UNAVAILABLE");
    EXPECT_THAT(m.reason(), HasSubstr("preferred_batch_size"));
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(Infer(*stub_, ImagesRequest("fmnist", 1)).ok());
  grpc::Status unavailable = Infer(*stub_, ImagesRequest("broken", 1));
  EXPECT_EQ(unavailable.error_code(), StatusCode::UNAVAILABLE);
  // Strict readiness: a failed model makes the server not ready (and health NOT_SERVING).
  EXPECT_TRUE(server_->WaitForHealth(HealthCheckResponse::NOT_SERVING));

  // Fix it and load again: ready once more.
  std::ofstream(repo + "/broken/config.pbtxt") << FmnistConfig("broken");
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest req;
    req.set_model_name("broken");
    inference::RepositoryModelLoadResponse resp;
    grpc::Status s = stub_->RepositoryModelLoad(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_TRUE(Infer(*stub_, ImagesRequest("broken", 2)).ok());
  EXPECT_TRUE(server_->WaitForHealth(HealthCheckResponse::SERVING));

  // Unload: the model answers UNAVAILABLE, is not ready, and RepositoryIndex says why.
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelUnloadRequest req;
    req.set_model_name("broken");
    inference::RepositoryModelUnloadResponse resp;
    ASSERT_TRUE(stub_->RepositoryModelUnload(&ctx, req, &resp).ok());
  }
  EXPECT_EQ(Infer(*stub_, ImagesRequest("broken", 1)).error_code(), StatusCode::UNAVAILABLE);
  {
    grpc::ClientContext ctx;
    inference::ModelReadyRequest req;
    req.set_name("broken");
    inference::ModelReadyResponse resp;
    ASSERT_TRUE(stub_->ModelReady(&ctx, req, &resp).ok());
    EXPECT_FALSE(resp.ready());
  }
  {
    grpc::ClientContext ctx;
    inference::RepositoryModelUnloadRequest req;
    req.set_model_name("broken");
    inference::RepositoryModelUnloadResponse resp;
    EXPECT_EQ(stub_->RepositoryModelUnload(&ctx, req, &resp).error_code(), StatusCode::NOT_FOUND);
  }
  // Remove it from disk so the strict readiness of later tests is unaffected.
  std::filesystem::remove_all(repo + "/broken");
  {
    grpc::ClientContext ctx;
    inference::RepositoryIndexRequest req;
    req.set_ready(true);
    inference::RepositoryIndexResponse resp;
    ASSERT_TRUE(stub_->RepositoryIndex(&ctx, req, &resp).ok());
    for (const auto& m : resp.models()) EXPECT_EQ(m.state(), "READY") << m.name();
  }
}

// Triton's load "config" parameter: the model config as JSON replaces config.pbtxt for that load.
TEST_F(ServerTest, LoadWithAConfigOverride) {
  const std::string repo = *repo_root_ + "/repo";
  // On disk the config is broken; the override alone makes the model load.
  WriteFmnistModel(repo, "overridden", FmnistConfig("overridden", "dynamic_batching { preferred_batch_size: [16] }\n"),
                   {1});
  auto load = [&](const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest req;
    req.set_model_name("overridden");
    if (!key.empty()) (*req.mutable_parameters())[key].set_string_param(value);
    inference::RepositoryModelLoadResponse resp;
    return stub_->RepositoryModelLoad(&ctx, req, &resp);
  };
  const std::string config = R"({"architecture": {"name": "convnext_fmnist"}, "max_batch_size": 4,
    "input": [{"name": "images", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}],
    "output": [{"name": "logits", "data_type": "TYPE_FP32", "dims": [10]}],
    "dynamic_batching": {"preferred_batch_size": [2, 4], "max_queue_delay_microseconds": "500"}})";
  grpc::Status loaded = load("config", config);
  ASSERT_TRUE(loaded.ok()) << loaded.error_message();
  {
    grpc::ClientContext ctx;
    inference::ModelConfigRequest req;
    req.set_name("overridden");
    inference::ModelConfigResponse resp;
    ASSERT_TRUE(stub_->ModelConfig(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.config().max_batch_size(), 4);
    EXPECT_EQ(resp.config().dynamic_batching().max_queue_delay_microseconds(), 500u);
  }
  EXPECT_TRUE(Infer(*stub_, ImagesRequest("overridden", 4)).ok());
  EXPECT_EQ(Infer(*stub_, ImagesRequest("overridden", 5)).error_code(), StatusCode::INVALID_ARGUMENT);

  grpc::Status misspelt = load("config", R"({"max_batch_sizes": 4})");
  EXPECT_EQ(misspelt.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(misspelt.error_message(), HasSubstr("load parameter 'config' is not a model config in JSON"));
  // Validated like config.pbtxt, the error naming the override and the field.
  grpc::Status invalid = load("config", R"({"max_batch_size": 4})");
  EXPECT_EQ(invalid.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(invalid.error_message(), HasSubstr("(load config override): input: exactly one input"));
  EXPECT_THAT(load("file:1/model.pt", "x").error_message(), HasSubstr("file overrides are not supported"));
  EXPECT_THAT(load("other", "x").error_message(), HasSubstr("unknown load parameter 'other'"));
  // The failed loads left the overridden version serving.
  EXPECT_TRUE(Infer(*stub_, ImagesRequest("overridden", 1)).ok());
  // Without the override the file is read again: broken, so the load fails, naming the file.
  EXPECT_THAT(load("", "").error_message(), HasSubstr("overridden/config.pbtxt: dynamic_batching"));

  {
    grpc::ClientContext ctx;
    inference::RepositoryModelUnloadRequest req;
    req.set_model_name("overridden");
    inference::RepositoryModelUnloadResponse resp;
    ASSERT_TRUE(stub_->RepositoryModelUnload(&ctx, req, &resp).ok());
  }
  std::filesystem::remove_all(repo + "/overridden");
}

TEST_F(ServerTest, ReflectionListsTheService) {
  // grpc.reflection.v1alpha is served: a raw call for the service list succeeds.
  grpc::GenericStub generic(server_->channel());
  // The reflection protocol is a bidi stream; here it is enough that the method exists, which
  // a call with an empty message proves by not failing with UNIMPLEMENTED.
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto call = generic.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_TRUE(ok);
  call->WritesDone(reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_NE(status.error_code(), StatusCode::UNIMPLEMENTED) << status.error_message();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

std::string RunAndCapture(const std::string& command, int* exit_code) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  std::string output;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

TEST(ServerFlags, HelpListsTheFlagsAndBadFlagsFail) {
  int code = 0;
  const std::string help = RunAndCapture(ServerBinary() + " --help", &code);
  for (const char* flag :
       {"--grpc_port", "--metrics_port", "--bind_address", "--model_repository", "--intra_op_threads", "--exit_timeout",
        "--max_message_bytes", "--strict_readiness", "--log_level"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
  // Each start loads LibTorch (seconds on a busy machine): one bad-flag case stands for all.
  const std::string out = RunAndCapture(ServerBinary() + " --model_repository=/nonexistent", &code);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(out, HasSubstr("--model_repository /nonexistent is not a folder"));
}

// A fresh server whose model holds requests in its queue (10 s batching delay) until SIGTERM:
// the drain must run and answer every accepted request, end open streams, and exit 0.
TEST(ServerLifecycle, SigtermDrainsAcceptedRequests) {
  const std::string root = MakeTempDir("wtserve_drain_");
  const std::string repo = root + "/repo";
  WriteFmnistModel(repo, "slow", FmnistConfig("slow", "dynamic_batching { max_queue_delay_microseconds: 10000000 }\n"),
                   {1});
  ServerProcess server(repo, {"--exit_timeout=20s"});
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::SERVING)) << server.Log();

  constexpr int kRequests = 5;  // 5 images < max_batch_size 8: the batcher waits for more
  std::atomic<int> succeeded{0};
  JoinedThreads clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.emplace_back([&] {
      auto stub = server.Stub();
      grpc::Status s = Infer(*stub, ImagesRequest("slow", 1));
      if (s.ok())
        ++succeeded;
      else
        ADD_FAILURE() << s.error_message();
    });
  }
  // An open stream with one queued request: answered by the drain too, then ended by the server.
  auto stream_stub = server.Stub();
  grpc::ClientContext stream_ctx;
  auto stream = stream_stub->ModelStreamInfer(&stream_ctx);
  inference::ModelInferRequest streamed = ImagesRequest("slow", 1);
  streamed.set_id("streamed");
  ASSERT_TRUE(stream->Write(streamed));

  // Wait until all of them are queued (a real condition, via /metrics), with a deadline.
  ASSERT_TRUE(server.WaitForMetric("wtserve_inference_queue_depth", "model=\"slow\",version=\"1\"", kRequests + 1))
      << server.Log();
  const auto signalled = std::chrono::steady_clock::now();
  server.Signal(SIGTERM);
  clients.JoinAll();
  EXPECT_EQ(succeeded.load(), kRequests);
  inference::ModelStreamInferResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.error_message(), "");
  EXPECT_EQ(response.infer_response().id(), "streamed");
  // Answered by the drain, not by the 10 s batching delay.
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(8));

  // Then the server ends the stream (it would otherwise hold the process until --exit_timeout)
  // and exits. What clients see while the drain runs is tested in tests/api/drain_test.cc.
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status stream_status = stream->Finish();
  EXPECT_EQ(stream_status.error_code(), StatusCode::UNAVAILABLE) << stream_status.error_message();
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(30)), 0) << server.Log();
  EXPECT_THAT(server.Log(), HasSubstr("stopped"));
  std::filesystem::remove_all(root);
}

// Queue limits and timeouts as Triton answers them: a full queue is refused at once, a queue
// timeout is UNAVAILABLE, a passed gRPC deadline is DEADLINE_EXCEEDED. The model's 10 s batching
// delay keeps requests queued, so every outcome is decided by the limit under test.
// SIGTERM while models are still loading: the server finishes the load, drains and exits 0
// (not killed by the signal's default action on a thread that does not wait for it).
TEST(ServerLifecycle, SigtermWhileLoadingExitsCleanly) {
  const std::string root = MakeTempDir("wtserve_early_term_");
  const std::string repo = root + "/repo";
  // A long warmup keeps the server loading (live, NOT_SERVING) for a few seconds.
  WriteFmnistModel(repo, "slow_load", FmnistConfig("slow_load", "model_warmup { batch_size: 8 count: 1000 }\n"), {1});
  ServerProcess server(repo, {"--exit_timeout=30s"});
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::NOT_SERVING)) << server.Log();
  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(120)), 0) << server.Log();
  EXPECT_NE(server.Log().find("signal 15"), std::string::npos) << server.Log();
  std::filesystem::remove_all(root);
}

TEST(ServerLifecycle, QueueLimitsAndTimeouts) {
  const std::string root = MakeTempDir("wtserve_queue_");
  const std::string repo = root + "/repo";
  WriteFmnistModel(repo, "queued",
                   FmnistConfig("queued",
                                "dynamic_batching { max_queue_delay_microseconds: 10000000 "
                                "max_queue_size: 2 }\n"),
                   {1});
  ServerProcess server(repo);
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::SERVING)) << server.Log();
  auto stub = server.Stub();

  // Per-request queue timeout (the "timeout" parameter, µs).
  inference::ModelInferRequest with_timeout = ImagesRequest("queued", 1);
  (*with_timeout.mutable_parameters())["timeout"].set_int64_param(100000);
  grpc::Status timed_out = Infer(*stub, with_timeout);
  EXPECT_EQ(timed_out.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_THAT(timed_out.error_message(), HasSubstr("Request timeout expired"));

  // gRPC deadline passes while queued.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
    inference::ModelInferResponse response;
    grpc::Status s = stub->ModelInfer(&ctx, ImagesRequest("queued", 1), &response);
    EXPECT_EQ(s.error_code(), StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  }
  // The client gives up at its own deadline; the server's copy of that deadline starts when the
  // request arrives, so it can still be queued here. Wait until the server has dropped it, or
  // it would take one of the two queue slots below.
  ASSERT_TRUE(server.WaitForMetric("wtserve_inference_request_failure_total",
                                   "model=\"queued\",reason=\"deadline_exceeded\",version=\"1\"", 1))
      << server.Log();
  ASSERT_TRUE(server.WaitForMetric("wtserve_inference_queue_depth", "model=\"queued\",version=\"1\"", 0))
      << server.Log();

  // Fill the queue (2 requests), then the third is refused at once.
  std::atomic<int> succeeded{0};
  JoinedThreads clients;
  for (int i = 0; i < 2; ++i) {
    clients.emplace_back([&] {
      auto own = server.Stub();
      if (Infer(*own, ImagesRequest("queued", 1)).ok()) ++succeeded;
    });
  }
  ASSERT_TRUE(server.WaitForMetric("wtserve_inference_queue_depth", "model=\"queued\",version=\"1\"", 2))
      << server.Log();
  const auto refused_at = std::chrono::steady_clock::now();
  grpc::Status full = Infer(*stub, ImagesRequest("queued", 1));
  EXPECT_EQ(full.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_THAT(full.error_message(), HasSubstr("Exceeds maximum queue size"));
  EXPECT_LT(std::chrono::steady_clock::now() - refused_at, std::chrono::seconds(2));

  const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_EQ(MetricValue(metrics, "wtserve_inference_request_failure_total",
                        "model=\"queued\",reason=\"unavailable\",version=\"1\""),
            2);
  EXPECT_EQ(MetricValue(metrics, "wtserve_inference_request_failure_total",
                        "model=\"queued\",reason=\"deadline_exceeded\",version=\"1\""),
            1);
  EXPECT_EQ(MetricValue(metrics, "wtserve_inference_inflight_requests", "model=\"queued\",version=\"1\""), 2);

  // The two queued requests were accepted: shutdown runs them.
  server.Signal(SIGTERM);
  clients.JoinAll();
  EXPECT_EQ(succeeded.load(), 2);
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(30)), 0) << server.Log();
  std::filesystem::remove_all(root);
}

// A repository with one bad model: the good one serves; non-strict readiness reports SERVING.
TEST(ServerLifecycle, BadModelDoesNotStopTheOthers) {
  const std::string root = MakeTempDir("wtserve_bad_");
  const std::string repo = root + "/repo";
  WriteFmnistModel(repo, "good", FmnistConfig("good"), {1});
  WriteFmnistModel(repo, "bad_weights", FmnistConfig("bad_weights"), {1});
  std::ofstream(repo + "/bad_weights/1/model.pt") << "not a checkpoint";
  ServerProcess server(repo, {"--strict_readiness=false"});
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::SERVING)) << server.Log();
  auto stub = server.Stub();
  EXPECT_TRUE(Infer(*stub, ImagesRequest("good", 1)).ok());
  grpc::Status s = Infer(*stub, ImagesRequest("bad_weights", 1));
  EXPECT_EQ(s.error_code(), StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("bad_weights/1/model.pt"));
  server.Signal(SIGINT);
  EXPECT_EQ(server.WaitForExit(std::chrono::seconds(30)), 0) << server.Log();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace wtserve::testing

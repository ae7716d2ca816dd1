// The client library against the real wtserve binary: health, metadata, Infer in every wire
// form, Classify, async and streaming forms, and how server errors map to absl::Status. The
// model repository comes from tests/integration's make_test_repo (model "fmnist", versions 1
// and 2, random convnext_fmnist weights, max_batch_size 8).
#include <sys/wait.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "common/data/dataset.h"
#include "tests/integration/server_process.h"
#include "wtserve/client.h"

namespace wtserve {
namespace {
using ::testing::HasSubstr;
using testing::ServerProcess;

// The build folder: $WTSERVE_BINARY_DIR, else derived from this test binary's own path
// (<build>/tests/<area>/<test>).
std::string BinaryDir() {
  if (const char* dir = std::getenv("WTSERVE_BINARY_DIR"); dir != nullptr && *dir != '\0') return dir;
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path().string();
}

class ClientServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    repo_ = new std::string(std::filesystem::temp_directory_path() / ("wtserve_client_it_" + std::to_string(getpid())));
    const std::string command = BinaryDir() + "/tests/integration/make_test_repo " + *repo_;
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    server_ = new ServerProcess(*repo_);
    ASSERT_TRUE(server_->WaitForHealth(grpc::health::v1::HealthCheckResponse::SERVING)) << server_->Log();
    auto data = data::ReadFashionMnist(data::kFashionMnistDir, data::Split::kTest);
    ASSERT_TRUE(data.ok()) << data.status();
    data->images.resize(16);
    data->labels.resize(16);
    data_ = new data::ImageDataset(*std::move(data));
  }
  static void TearDownTestSuite() {
    delete server_;
    delete data_;
    std::filesystem::remove_all(*repo_);
    delete repo_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ClientOptions options;
    options.target = server_->grpc_address();
    auto client = Client::Create(options);
    ASSERT_TRUE(client.ok());
    client_ = *std::move(client);
  }

  static std::vector<uint8_t> Pixels(int i) {
    const cv::Mat& m = data_->images[static_cast<size_t>(i)];
    return std::vector<uint8_t>(m.datastart, m.dataend);
  }
  static std::string Png(int i) {
    std::vector<uchar> png;
    cv::imencode(".png", data_->images[static_cast<size_t>(i)], png);
    return std::string(png.begin(), png.end());
  }
  // A raw-logits request for images [first, first + n) in FP32 or UINT8.
  static InferRequest Logits(int first, int n, bool fp32, const std::string& version = "") {
    InferRequest r;
    r.model_name = "fmnist";
    r.model_version = version;
    std::vector<uint8_t> pixels;
    for (int i = first; i < first + n; ++i) {
      auto p = Pixels(i);
      pixels.insert(pixels.end(), p.begin(), p.end());
    }
    if (fp32) {
      std::vector<float> scaled;
      for (uint8_t p : pixels) scaled.push_back(static_cast<float>(p) * (1.0f / 255.0f));
      r.inputs.push_back(Tensor::Fp32("images", {n, 1, 28, 28}, scaled));
    } else {
      r.inputs.push_back(Tensor::Uint8("images", {n, 1, 28, 28}, pixels));
    }
    return r;
  }

  static std::string* repo_;
  static ServerProcess* server_;
  static data::ImageDataset* data_;
  std::unique_ptr<Client> client_;
};
std::string* ClientServerTest::repo_ = nullptr;
ServerProcess* ClientServerTest::server_ = nullptr;
data::ImageDataset* ClientServerTest::data_ = nullptr;

TEST_F(ClientServerTest, HealthAndMetadata) {
  EXPECT_EQ(*client_->HealthCheck(), HealthStatus::kServing);
  EXPECT_TRUE(client_->WaitUntilServing(absl::Seconds(10)).ok());
  EXPECT_TRUE(*client_->ServerLive());
  EXPECT_TRUE(*client_->ServerReady());
  EXPECT_TRUE(*client_->ModelReady("fmnist"));
  EXPECT_TRUE(*client_->ModelReady("fmnist", "2"));
  EXPECT_EQ(client_->ModelReady("fmnist", "5").status().code(), absl::StatusCode::kNotFound);

  auto server = client_->GetServerMetadata();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->name, "wtserve");
  EXPECT_THAT(server->extensions, ::testing::Contains("classification"));

  auto model = client_->GetModelMetadata("fmnist");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->name, "fmnist");
  EXPECT_THAT(model->versions, ::testing::UnorderedElementsAre("1", "2"));
  ASSERT_EQ(model->inputs.size(), 1u);
  EXPECT_EQ(model->inputs[0].name, "images");
  EXPECT_EQ(model->inputs[0].datatype, "FP32");
  EXPECT_EQ(model->inputs[0].shape, (std::vector<int64_t>{-1, 1, 28, 28}));
  ASSERT_EQ(model->outputs.size(), 1u);
  EXPECT_EQ(model->outputs[0].shape, (std::vector<int64_t>{-1, 10}));
  EXPECT_EQ(client_->GetModelMetadata("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ClientServerTest, Fp32AndUint8InputsGiveBitIdenticalLogits) {
  auto fp32 = client_->Infer(Logits(0, 4, true));
  ASSERT_TRUE(fp32.ok()) << fp32.status();
  auto uint8 = client_->Infer(Logits(0, 4, false));
  ASSERT_TRUE(uint8.ok()) << uint8.status();
  const Tensor& a = **fp32->Output("logits");
  EXPECT_EQ(a.datatype, "FP32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4, 10}));
  EXPECT_EQ(a.raw, (**uint8->Output("logits")).raw);  // the TEAM.md preprocessing contract
  EXPECT_EQ(fp32->model_name, "fmnist");
  EXPECT_EQ(fp32->model_version, "2");  // latest

  // Versions hold different weights.
  auto v1 = client_->Infer(Logits(0, 4, true, "1"));
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->model_version, "1");
  EXPECT_NE((**v1->Output("logits")).raw, a.raw);
}

TEST_F(ClientServerTest, ClassifyAgreesAcrossWireForms) {
  ClassifyRequest request;
  request.model_name = "fmnist";
  request.top_k = 3;
  std::vector<ImageInput> pixels, encoded;
  for (int i = 0; i < 8; ++i) {
    pixels.push_back(ImageInput::Pixels(28, 28, 1, Pixels(i)));
    encoded.push_back(ImageInput::Encoded(Png(i)));
  }
  auto by_uint8 = client_->Classify(request, pixels);
  ASSERT_TRUE(by_uint8.ok()) << by_uint8.status();
  request.pixel_datatype = "FP32";
  auto by_fp32 = client_->Classify(request, pixels);
  ASSERT_TRUE(by_fp32.ok()) << by_fp32.status();
  auto by_png = client_->Classify(request, encoded);
  ASSERT_TRUE(by_png.ok()) << by_png.status();
  ASSERT_EQ(by_uint8->size(), 8u);
  auto logits = client_->Infer(Logits(0, 8, false));
  ASSERT_TRUE(logits.ok());
  const std::vector<float> values = *(**logits->Output("logits")).AsFp32();
  for (size_t i = 0; i < 8; ++i) {
    ASSERT_EQ((*by_uint8)[i].size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ((*by_uint8)[i][k].index, (*by_fp32)[i][k].index);
      EXPECT_EQ((*by_uint8)[i][k].index, (*by_png)[i][k].index);
      EXPECT_EQ((*by_uint8)[i][k].score, (*by_png)[i][k].score);
      const ClassScore& s = (*by_uint8)[i][k];
      EXPECT_EQ(s.label, data::FashionMnistClassNames()[static_cast<size_t>(s.index)]);
      EXPECT_NEAR(s.score, values[i * 10 + static_cast<size_t>(s.index)], 1e-5);
      if (k > 0) {
        EXPECT_GE((*by_uint8)[i][k - 1].score, s.score);
      }
    }
    const auto max =
        std::max_element(values.begin() + static_cast<long>(i * 10), values.begin() + static_cast<long>(i * 10 + 10));
    EXPECT_EQ((*by_uint8)[i][0].index, max - (values.begin() + static_cast<long>(i * 10)));
  }
}

// Concurrent requests are batched together by the server, and a different batch composition
// changes the float rounding of the logits (the kernels differ per batch size), so answers are
// compared to sequential ones within a tolerance.
void ExpectSameLogits(const InferResult& result, const std::string& expected_raw) {
  const Tensor& t = **result.Output("logits");
  const std::vector<float> got = *t.AsFp32();
  const std::vector<float> want = *Tensor{"", "FP32", {}, expected_raw}.AsFp32();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << i;
}

TEST_F(ClientServerTest, AsyncFutureAndStreamMatchSync) {
  std::vector<InferRequest> requests;
  std::vector<std::string> expected;
  for (int i = 0; i < 12; ++i) {
    requests.push_back(Logits(i % 16, 1 + i % 4, i % 2 == 0));
    auto sync = client_->Infer(requests.back());
    ASSERT_TRUE(sync.ok()) << sync.status();
    expected.push_back((**sync->Output("logits")).raw);
  }
  std::vector<std::future<absl::StatusOr<InferResult>>> futures;
  for (const auto& r : requests) futures.push_back(client_->InferFuture(r));
  for (size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectSameLogits(*r, expected[i]);
  }

  auto stream = client_->OpenStream();
  ASSERT_TRUE(stream.ok());
  std::vector<std::promise<absl::StatusOr<InferResult>>> answers(requests.size() + 1);
  for (size_t i = 0; i < requests.size(); ++i) {
    (*stream)->Send(requests[i], [&answers, i](absl::StatusOr<InferResult> r) { answers[i].set_value(std::move(r)); });
  }
  // A failing request on the stream maps the server's "CODE: message" and leaves the stream open.
  InferRequest bad = requests[0];
  bad.model_name = "nope";
  (*stream)->Send(bad, [&answers](absl::StatusOr<InferResult> r) { answers.back().set_value(std::move(r)); });
  for (size_t i = 0; i < requests.size(); ++i) {
    auto r = answers[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectSameLogits(*r, expected[i]);
  }
  auto failed = answers.back().get_future().get();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(failed.status().message(), HasSubstr("nope"));
  EXPECT_TRUE((*stream)->Finish().ok());
}

TEST_F(ClientServerTest, ServerErrorsKeepTheirCodeAndMessage) {
  InferRequest r = Logits(0, 1, true);
  r.model_name = "nope";
  auto s = client_->Infer(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("Request for unknown model: 'nope' is not found"));

  r = Logits(0, 1, true);
  r.model_version = "9";
  EXPECT_EQ(client_->Infer(r).status().code(), absl::StatusCode::kNotFound);

  r = Logits(0, 1, true);
  r.inputs[0].name = "x";
  s = client_->Infer(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unknown input 'x'"));

  r = Logits(0, 9, true);  // max_batch_size is 8
  EXPECT_THAT(client_->Infer(r).status().message(), HasSubstr("max_batch_size = 8"));

  r = Logits(0, 1, true);
  r.outputs.push_back({"logits", 11});  // only 10 classes
  EXPECT_EQ(client_->Infer(r).status().code(), absl::StatusCode::kInvalidArgument);

  ClassifyRequest c;
  c.model_name = "nope";
  EXPECT_EQ(client_->Classify(c, {ImageInput::Pixels(28, 28, 1, Pixels(0))}).status().code(),
            absl::StatusCode::kNotFound);

  CallOptions tiny;
  tiny.deadline = absl::Microseconds(1);
  EXPECT_EQ(client_->Infer(Logits(0, 8, true), tiny).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ClientLifecycleTest, UnavailableAfterShutdown) {
  const std::string repo = std::filesystem::temp_directory_path() / ("wtserve_client_lc_" + std::to_string(getpid()));
  ASSERT_EQ(std::system((BinaryDir() + "/tests/integration/make_test_repo " + repo).c_str()), 0);
  auto server = std::make_unique<ServerProcess>(repo);
  ClientOptions options;
  options.target = server->grpc_address();
  options.max_attempts = 2;
  auto client = Client::Create(options);
  ASSERT_TRUE((*client)->WaitUntilServing(absl::Seconds(120)).ok()) << server->Log();
  server->Signal(SIGTERM);
  EXPECT_EQ(server->WaitForExit(std::chrono::seconds(60)), 0);
  EXPECT_EQ((*client)->ServerLive().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*client)->HealthCheck().status().code(), absl::StatusCode::kUnavailable);
  std::filesystem::remove_all(repo);
}

}  // namespace
}  // namespace wtserve

// Inputs a client can send that are not valid requests, against the real wtserve binary: each
// gets a clear status, and none can turn requests into unbounded log lines.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
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
using ::testing::HasSubstr;

// One unary call of `method` with `bytes` as the serialized request, bypassing the client-side
// serializer (which would refuse invalid UTF-8 itself).
grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                          const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Slice slice(bytes);
  const grpc::ByteBuffer request(&slice, 1);
  auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  int tag = 0;
  call->Finish(&response, &status, &tag);
  void* got = nullptr;
  bool ok = false;
  EXPECT_TRUE(cq.Next(&got, &ok));
  cq.Shutdown();
  while (cq.Next(&got, &ok)) {
  }
  return status;
}

int CountLines(const std::string& log, const std::string& text) {
  int n = 0;
  for (size_t pos = log.find(text); pos != std::string::npos; pos = log.find(text, pos + 1)) ++n;
  return n;
}

std::string Png(int seed) {
  cv::Mat image(28, 28, CV_8UC1);
  for (int i = 0; i < 28 * 28; ++i) image.data[i] = static_cast<uint8_t>((i * 37 + seed) % 256);
  std::vector<uchar> png;
  EXPECT_TRUE(cv::imencode(".png", image, png));
  return std::string(png.begin(), png.end());
}

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(MakeTempDir("wtserve_bad_input_"));
    WriteFmnistModel(*root_ + "/repo", "fmnist_png",
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
    server_ = new ServerProcess(*root_ + "/repo");
    ASSERT_TRUE(server_->WaitForHealth(HealthCheckResponse::SERVING)) << server_->Log();
  }
  static void TearDownTestSuite() {
    delete server_;
    std::filesystem::remove_all(*root_);
    delete root_;
  }

  static inference::ModelInferRequest ImageRequest(const std::string& encoded) {
    inference::ModelInferRequest r;
    r.set_model_name("fmnist_png");
    auto* in = r.add_inputs();
    in->set_name("images");
    in->set_datatype("BYTES");
    in->add_shape(1);
    in->mutable_contents()->add_bytes_contents(encoded);
    return r;
  }
  static grpc::Status Infer(const inference::ModelInferRequest& request) {
    auto stub = server_->Stub();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    inference::ModelInferResponse response;
    return stub->ModelInfer(&ctx, request, &response);
  }

  static std::string* root_;
  static ServerProcess* server_;
};
std::string* BadInputTest::root_ = nullptr;
ServerProcess* BadInputTest::server_ = nullptr;

// proto3 `string` fields must be UTF-8: libprotobuf refuses such a request while parsing it,
// before any handler, and logs a line about it. The client gets INVALID_ARGUMENT with a reason
// (gRPC alone answers UNIMPLEMENTED with an empty message), and 200 such requests add a handful
// of log lines, not 200.
TEST_F(BadInputTest, InvalidUtf8IsInvalidArgumentAndLoggedBounded) {
  inference::ModelInferRequest request = ImageRequest(Png(0));
  request.set_model_name("MODEL_NAME_PLACEHOLDER");
  std::string bytes;
  ASSERT_TRUE(request.SerializeToString(&bytes));
  const size_t at = bytes.find("MODEL_NAME_PLACEHOLDER");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '\xC3';  // a UTF-8 lead byte followed by ASCII: invalid
  bytes[at + 1] = '(';
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    const grpc::Status status = RawUnaryCall(server_->channel(), "/inference.GRPCInferenceService/ModelInfer", bytes);
    ASSERT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status.error_message();
    ASSERT_THAT(status.error_message(), HasSubstr("not valid UTF-8"));
  }
  // Other methods of the service answer the same way.
  const grpc::Status metadata =
      RawUnaryCall(server_->channel(), "/inference.GRPCInferenceService/ModelMetadata", "\x0a\x02\xC3(");
  EXPECT_EQ(metadata.error_code(), StatusCode::INVALID_ARGUMENT) << metadata.error_message();
  // The server is fine afterwards, and its log grew by a bounded number of lines.
  EXPECT_TRUE(Infer(ImageRequest(Png(1))).ok());
  const int lines = CountLines(server_->Log(), "invalid UTF-8");
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 10) << server_->Log();
}

// A PNG whose compressed data is damaged makes libpng print an error line per request; those are
// limited per cause like any other library line. Each request is still answered INVALID_ARGUMENT.
TEST_F(BadInputTest, DamagedImagesAreRefusedAndLoggedBounded) {
  std::string damaged = Png(2);
  for (size_t i = damaged.size() / 2; i < damaged.size() / 2 + 10; ++i) damaged[i] ^= 0x5a;
  constexpr int kRequests = 100;
  for (int i = 0; i < kRequests; ++i) {
    const grpc::Status status = Infer(ImageRequest(damaged));
    ASSERT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status.error_message();
  }
  const int lines = CountLines(server_->Log(), "libpng");
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 10) << server_->Log();
  // A JPEG cut short is refused too (libjpeg alone would decode it with grey rows).
  cv::Mat image(28, 28, CV_8UC1, cv::Scalar(90));
  std::vector<uchar> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", image, jpeg));
  const grpc::Status cut = Infer(ImageRequest(std::string(jpeg.begin(), jpeg.begin() + jpeg.size() * 6 / 10)));
  EXPECT_EQ(cut.error_code(), StatusCode::INVALID_ARGUMENT) << cut.error_message();
  EXPECT_THAT(cut.error_message(), HasSubstr("truncated"));
}

// A response larger than the server's send limit: gRPC would fail the send (the client sees
// RESOURCE_EXHAUSTED) after the request had been counted as a success. The server checks the
// size itself: the client gets RESOURCE_EXHAUSTED with the sizes, and /metrics and
// ModelStatistics count a failure, not a success.
TEST(ResponseLimit, ResponseOverTheSendLimitIsAFailureEverywhere) {
  const std::string root = MakeTempDir("wtserve_response_limit_");
  WriteFmnistModel(root + "/repo", "labelled",
                   R"pb(name: "labelled"
                        architecture { name: "convnext_fmnist" }
                        max_batch_size: 8
                        input {
                          name: "images"
                          data_type: TYPE_STRING
                          dims: [ 1, 28, 28 ]
                        }
                        output {
                          name: "logits"
                          data_type: TYPE_FP32
                          dims: [ 10 ]
                          label_filename: "labels.txt"
                        })pb",
                   {1});
  // 1024 bytes: 6 small PNGs fit in a request; their top-10 classes with labels do not fit in a
  // response.
  ServerProcess server(root + "/repo", {"--max_message_bytes=1024"});
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::SERVING)) << server.Log();
  auto request_for = [](int images) {
    inference::ModelInferRequest r;
    r.set_model_name("labelled");
    auto* in = r.add_inputs();
    in->set_name("images");
    in->set_datatype("BYTES");
    in->add_shape(images);
    cv::Mat flat(28, 28, CV_8UC1, cv::Scalar(60));
    std::vector<uchar> png;
    EXPECT_TRUE(cv::imencode(".png", flat, png));
    for (int i = 0; i < images; ++i) {
      in->mutable_contents()->add_bytes_contents(std::string(png.begin(), png.end()));
    }
    auto* out = r.add_outputs();
    out->set_name("logits");
    (*out->mutable_parameters())["classification"].set_int64_param(10);
    return r;
  };
  auto stub = server.Stub();
  auto infer = [&](const inference::ModelInferRequest& r) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    inference::ModelInferResponse response;
    return stub->ModelInfer(&ctx, r, &response);
  };
  const inference::ModelInferRequest big = request_for(6);
  ASSERT_LT(big.ByteSizeLong(), 1024u);
  const grpc::Status too_large = infer(big);
  EXPECT_EQ(too_large.error_code(), StatusCode::RESOURCE_EXHAUSTED) << too_large.error_message();
  EXPECT_THAT(too_large.error_message(), HasSubstr("--max_message_bytes"));
  const grpc::Status small = infer(request_for(1));
  EXPECT_TRUE(small.ok()) << small.error_message();

  const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_EQ(MetricValue(metrics, "wtserve_inference_request_success_total", "model=\"labelled\",version=\"1\""), 1);
  EXPECT_EQ(MetricValue(metrics, "wtserve_inference_request_failure_total",
                        "model=\"labelled\",reason=\"resource_exhausted\",version=\"1\""),
            1);
  grpc::ClientContext ctx;
  inference::ModelStatisticsRequest stats_request;
  stats_request.set_name("labelled");
  inference::ModelStatisticsResponse stats;
  ASSERT_TRUE(stub->ModelStatistics(&ctx, stats_request, &stats).ok());
  ASSERT_EQ(stats.model_stats_size(), 1);
  EXPECT_EQ(stats.model_stats(0).inference_stats().success().count(), 1u);
  EXPECT_EQ(stats.model_stats(0).inference_stats().fail().count(), 1u);
  EXPECT_EQ(stats.model_stats(0).inference_count(), 1u);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace wtserve::testing

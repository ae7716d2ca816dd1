// server/api/inference_service.h in process, on a real repository (the integration tests drive
// the same code through the spawned binary): InferenceService::Infer — the request path gRPC and
// REST share — answers with the network's logits and names the model and version; unknown
// models, malformed inputs and a shutting-down server get their status codes, and `done` is
// called exactly once in every case.
#include "server/api/inference_service.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "server/api/server_state.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_repository.h"
#include "tests/integration/test_repo.h"

namespace wtserve::api {
namespace {

namespace fs = std::filesystem;

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("wtserve_service_");
    testing::WriteFmnistModel(root_, "m", testing::FmnistConfig("m"), {1}, /*seed=*/0);
    network_ = testing::FmnistNetwork(1);
    repository_ = std::make_unique<runtime::ModelRepository>(root_, &metrics_);
    ASSERT_TRUE(repository_->LoadAll().ok());
    state_ = std::make_unique<ServerState>(repository_.get(), /*strict_readiness=*/true);
    state_->MarkStartupDone();
    service_ = std::make_unique<InferenceService>(repository_.get(), state_.get(), &metrics_, absl::Seconds(10),
                                                  int64_t{64} << 20);
  }
  void TearDown() override {
    repository_->ShutdownAll(absl::Now() + absl::Seconds(10));
    service_.reset();
    fs::remove_all(root_);
  }

  // One FP32 request for model "m" with `images` [n, 1, 28, 28] as raw contents (FmnistZerosRequest
  // with other pixels).
  static inference::ModelInferRequest Request(const at::Tensor& images, const std::string& model = "m") {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    auto* input = request.add_inputs();
    input->set_name("images");
    input->set_datatype("FP32");
    for (int64_t d : images.sizes()) input->add_shape(d);
    const at::Tensor contiguous = images.contiguous();
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(contiguous.data_ptr<float>()), contiguous.numel() * sizeof(float)));
    return request;
  }

  // Runs Infer and waits for `done`; fails the test if `done` runs more than once.
  absl::Status Run(const inference::ModelInferRequest& request, inference::ModelInferResponse* response) {
    absl::Notification finished;
    std::atomic<int> calls{0};
    absl::Status result;
    service_->Infer(
        request, absl::Now(), absl::InfiniteFuture(), [] { return false; }, response, /*response_overhead=*/0,
        [&](absl::Status status) {
          result = status;
          if (calls.fetch_add(1) == 0) finished.Notify();
        });
    finished.WaitForNotification();
    EXPECT_EQ(calls.load(), 1);
    return result;
  }

  std::string root_;
  std::shared_ptr<nn::ClassifierImpl> network_;
  metrics::ServerMetrics metrics_;
  std::unique_ptr<runtime::ModelRepository> repository_;
  std::unique_ptr<ServerState> state_;
  std::unique_ptr<InferenceService> service_;
};

TEST_F(InferenceServiceTest, AnswersWithTheNetworksLogits) {
  const at::Tensor images = at::rand({2, 1, 28, 28});
  inference::ModelInferResponse response;
  ASSERT_TRUE(Run(Request(images), &response).ok());
  EXPECT_EQ(response.model_name(), "m");
  EXPECT_EQ(response.model_version(), "1");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "logits");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::string& raw = response.raw_output_contents(0);
  ASSERT_EQ(raw.size(), 2 * 10 * sizeof(float));
  at::Tensor served = at::empty({2, 10});
  std::memcpy(served.data_ptr<float>(), raw.data(), raw.size());
  c10::InferenceMode guard;
  // FP32 inputs are normalised with the config's mean and std (FmnistConfig: 0.2860, 0.3530).
  EXPECT_TRUE(at::allclose(served, network_->forward((images - 0.2860f) / 0.3530f), 1e-5, 1e-5));
}

TEST_F(InferenceServiceTest, RefusalsCarryTheirStatusCodes) {
  inference::ModelInferResponse response;
  EXPECT_EQ(Run(Request(at::rand({1, 1, 28, 28}), "nope"), &response).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Run(Request(at::rand({1, 1, 27, 28})), &response).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Run(Request(at::rand({9, 1, 28, 28})), &response).code(), absl::StatusCode::kInvalidArgument)
      << "9 images with max_batch_size 8";
  at::Tensor not_finite = at::rand({1, 1, 28, 28});
  not_finite[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Run(Request(not_finite), &response).code(), absl::StatusCode::kInvalidArgument);
  state_->BeginShutdown();
  EXPECT_EQ(Run(Request(at::rand({1, 1, 28, 28})), &response).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace wtserve::api

// server/api/inference_service.h in process, on a real repository (the integration tests drive
// the same code through the spawned binary): InferenceService::Infer — the request path gRPC and
// REST share — answers with the network's logits and names the model and version; unknown
// models, malformed inputs and a shutting-down server get their status codes, and `done` is
// called exactly once in every case.
#include "server/api/inference_service.h"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include "absl/synchronization/notification.h"
#include "server/api/server_state.h"
#include "server/metrics/server_metrics.h"
#include "server/nn/models/checkpoint.h"
#include "server/nn/models/registry.h"
#include "server/runtime/model_repository.h"

namespace wtserve::api {
namespace {

namespace fs = std::filesystem;

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("wtserve_service_" + std::to_string(::getpid()));
    fs::create_directories(root_ / "m" / "1");
    torch::manual_seed(0);
    nn::ClassifierOptions options;
    options.num_classes = 10;
    options.in_chans = 1;
    network_ = nn::CreateClassifier("convnext_fmnist", options);
    network_->eval();
    nn::SaveStateDict(*network_, (root_ / "m" / "1" / "model.pt").string());
    std::ofstream(root_ / "m" / "config.pbtxt") << R"pb(
      name: "m"
      architecture { name: "convnext_fmnist" }
      max_batch_size: 2
      input {
        name: "x"
        data_type: TYPE_FP32
        dims: [ 1, 28, 28 ]
      }
      output {
        name: "y"
        data_type: TYPE_FP32
        dims: [ 10 ]
      }
    )pb";
    repository_ = std::make_unique<runtime::ModelRepository>(root_.string(), &metrics_);
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

  // One FP32 request for model "m" with `images` [n, 1, 28, 28] as raw contents.
  static inference::ModelInferRequest Request(const at::Tensor& images, const std::string& model = "m") {
    inference::ModelInferRequest request;
    request.set_model_name(model);
    auto* input = request.add_inputs();
    input->set_name("x");
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

  fs::path root_;
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
  EXPECT_EQ(response.outputs(0).name(), "y");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::string& raw = response.raw_output_contents(0);
  ASSERT_EQ(raw.size(), 2 * 10 * sizeof(float));
  at::Tensor served = at::empty({2, 10});
  std::memcpy(served.data_ptr<float>(), raw.data(), raw.size());
  c10::InferenceMode guard;
  EXPECT_TRUE(at::allclose(served, network_->forward(images), 1e-5, 1e-5));
}

TEST_F(InferenceServiceTest, RefusalsCarryTheirStatusCodes) {
  inference::ModelInferResponse response;
  EXPECT_EQ(Run(Request(at::rand({1, 1, 28, 28}), "nope"), &response).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Run(Request(at::rand({1, 1, 27, 28})), &response).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Run(Request(at::rand({3, 1, 28, 28})), &response).code(), absl::StatusCode::kInvalidArgument)
      << "3 images with max_batch_size 2";
  at::Tensor not_finite = at::rand({1, 1, 28, 28});
  not_finite[0][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Run(Request(not_finite), &response).code(), absl::StatusCode::kInvalidArgument);
  state_->BeginShutdown();
  EXPECT_EQ(Run(Request(at::rand({1, 1, 28, 28})), &response).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace wtserve::api

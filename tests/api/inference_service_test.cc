// server/api/inference_service.h in process, on a real repository (the integration tests drive
// the same code through the spawned binary): InferenceService::Infer — the request path gRPC and
// REST share — answers with the network's logits and names the model and version; unknown
// models, malformed inputs and a shutting-down server get their status codes, and `done` is
// called exactly once in every case. Requests with encoded images wait for the decode pool (raw
// tensors do not), and a full pool, a cancellation or a deadline while waiting are answered.
#include "server/api/inference_service.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "absl/synchronization/blocking_counter.h"
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
                                                  int64_t{64} << 20, BearerTokenAuth{}, /*shared_memory=*/nullptr,
                                                  /*decode_threads=*/1, /*send_threads=*/1);
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

  // One request for model "m" with a 28 x 28 grey PNG as its BYTES input.
  static inference::ModelInferRequest PngRequest() {
    inference::ModelInferRequest request;
    request.set_model_name("m");
    auto* input = request.add_inputs();
    input->set_name("images");
    input->set_datatype("BYTES");
    input->add_shape(1);
    input->add_shape(1);
    std::vector<uchar> png;
    EXPECT_TRUE(cv::imencode(".png", cv::Mat(28, 28, CV_8UC1, cv::Scalar(90)), png));
    input->mutable_contents()->add_bytes_contents(std::string(png.begin(), png.end()));
    return request;
  }

  // Occupies `pool`'s one thread until the returned notification is notified.
  static std::shared_ptr<absl::Notification> Block(TaskPool* pool) {
    auto release = std::make_shared<absl::Notification>();
    absl::Notification started;
    absl::Status admitted;
    pool->Schedule([release, &started, &admitted](absl::Status status) {
      admitted = status;
      started.Notify();
      release->WaitForNotification();
    });
    started.WaitForNotification();
    EXPECT_TRUE(admitted.ok()) << admitted;
    return release;
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

TEST_F(InferenceServiceTest, EncodedImagesWaitForTheDecodePoolRawTensorsDoNot) {
  const std::shared_ptr<absl::Notification> release = Block(service_->decode_pool());
  // Raw tensors are decoded inline and answered while the pool is busy.
  inference::ModelInferResponse raw_response;
  ASSERT_TRUE(Run(Request(at::rand({1, 1, 28, 28})), &raw_response).ok());
  // The PNG request waits in the pool's queue: not answered until the pool's thread is free.
  const inference::ModelInferRequest png = PngRequest();
  inference::ModelInferResponse png_response;
  absl::Notification answered;
  absl::Status png_status;
  service_->Infer(png, absl::Now(), absl::InfiniteFuture(), /*is_cancelled=*/nullptr, &png_response, 0,  // as REST's
                  [&](absl::Status status) {
                    png_status = status;
                    answered.Notify();
                  });
  // A raw request after it is answered first (decoded inline, it would have been queued on the
  // model behind the PNG and answered after it: the batcher is FIFO).
  ASSERT_TRUE(Run(Request(at::rand({1, 1, 28, 28})), &raw_response).ok());
  EXPECT_FALSE(answered.HasBeenNotified());
  release->Notify();
  answered.WaitForNotification();
  ASSERT_TRUE(png_status.ok()) << png_status;
  EXPECT_EQ(png_response.raw_output_contents(0).size(), 10 * sizeof(float));
}

TEST_F(InferenceServiceTest, AFullDecodeQueueACancellationAndADeadlineAreAnswered) {
  const std::shared_ptr<absl::Notification> release = Block(service_->decode_pool());
  const inference::ModelInferRequest png = PngRequest();
  std::atomic<bool> cancelled{false};
  // Queued while the pool is busy: one cancelled and one past its deadline by the time they run.
  std::vector<absl::Status> results(2);
  std::vector<inference::ModelInferResponse> responses(2);
  absl::Notification first, second;
  service_->Infer(
      png, absl::Now(), absl::InfiniteFuture(), [&] { return cancelled.load(); }, &responses[0], 0,
      [&](absl::Status s) {
        results[0] = s;
        first.Notify();
      });
  service_->Infer(
      png, absl::Now(), absl::Now() - absl::Milliseconds(1), [] { return false; }, &responses[1], 0,
      [&](absl::Status s) {
        results[1] = s;
        second.Notify();
      });
  // Fill the queue (two are waiting already); the next request is refused at once.
  std::vector<inference::ModelInferResponse> filler_responses(InferenceService::kMaxQueuedDecodes);
  absl::BlockingCounter fillers_answered(InferenceService::kMaxQueuedDecodes - 2);
  for (int i = 2; i < InferenceService::kMaxQueuedDecodes; ++i) {
    service_->Infer(
        png, absl::Now(), absl::InfiniteFuture(), [] { return false; }, &filler_responses[i], 0,
        [&](absl::Status) { fillers_answered.DecrementCount(); });
  }
  inference::ModelInferResponse refused_response;
  EXPECT_EQ(Run(png, &refused_response).code(), absl::StatusCode::kUnavailable);
  cancelled = true;
  release->Notify();
  first.WaitForNotification();
  second.WaitForNotification();
  EXPECT_EQ(results[0].code(), absl::StatusCode::kCancelled) << results[0];
  EXPECT_EQ(results[1].code(), absl::StatusCode::kDeadlineExceeded) << results[1];
  fillers_answered.Wait();  // each queued request is decoded and answered (by the model or refused)
}

TEST_F(InferenceServiceTest, ResponsesAreSentFromTheSendPoolNotTheModelsWorker) {
  const std::shared_ptr<absl::Notification> release = Block(service_->send_pool());
  inference::ModelInferResponse response;
  absl::Notification answered;
  absl::Status result;
  std::thread::id sender;
  const inference::ModelInferRequest request = Request(at::rand({1, 1, 28, 28}));  // alive until answered
  service_->Infer(
      request, absl::Now(), absl::InfiniteFuture(), [] { return false; }, &response, 0,
      [&](absl::Status status) {
        result = status;
        sender = std::this_thread::get_id();
        answered.Notify();
      });
  // The model answers (its statistics count the success before the send), but the send waits
  // for the pool's thread.
  absl::StatusOr<std::shared_ptr<runtime::ServedModel>> model = repository_->Find("m", "");
  ASSERT_TRUE(model.ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while ((*model)->Stats().success.count == 0 && absl::Now() < give_up) std::this_thread::yield();
  ASSERT_EQ((*model)->Stats().success.count, 1u);
  EXPECT_FALSE(answered.HasBeenNotified());
  release->Notify();
  answered.WaitForNotification();
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_NE(sender, std::this_thread::get_id());
}

}  // namespace
}  // namespace wtserve::api

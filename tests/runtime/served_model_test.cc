// server/runtime/served_model.h in process (the integration tests drive it only through the
// spawned binary): requests through the real batcher come back with the network's own logits,
// statistics and the send action follow the documented order, a refused request's callback is
// dropped uncalled, and rejected requests count as failures.
#include "server/runtime/served_model.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_config.h"
#include "server/runtime/model_loader.h"
#include "tests/integration/test_repo.h"
#include "tests/runtime/enqueue_images.h"

namespace wtserve::runtime {
namespace {

namespace fs = std::filesystem;

class ServedModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("wtserve_served_");
    testing::WriteFmnistModel(dir_, "m", testing::FmnistConfig("m"), {1}, /*seed=*/0);
    network_ = testing::FmnistNetwork(1);
    auto cfg = ReadModelConfig((fs::path(dir_) / "m").string());
    ASSERT_TRUE(cfg.ok()) << cfg.status();
    auto devices = InstanceDevices(*cfg);
    ASSERT_TRUE(devices.ok()) << devices.status();
    auto loaded = LoadModelVersion(*cfg, (fs::path(dir_) / "m").string(), 1, *devices);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    auto served = ServedModel::Create(*cfg, std::move(*loaded), &metrics_);
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = std::move(*served);
  }
  void TearDown() override {
    if (served_ != nullptr) served_->Shutdown(absl::Now() + absl::Seconds(10));
    served_.reset();
    fs::remove_all(dir_);
  }

  at::Tensor Expected(const at::Tensor& x) {
    c10::InferenceMode guard;
    return network_->forward(x);
  }

  std::string dir_;
  std::shared_ptr<nn::ClassifierImpl> network_;
  metrics::ServerMetrics metrics_;
  std::unique_ptr<ServedModel> served_;
};

TEST_F(ServedModelTest, AnswersEveryRequestWithTheNetworksLogits) {
  constexpr int kRequests = 6;
  std::vector<at::Tensor> inputs, answers(kRequests);
  for (int i = 0; i < kRequests; ++i) inputs.push_back(at::randn({1 + i % 2, 1, 28, 28}));
  absl::Mutex mu;
  absl::BlockingCounter sent(kRequests);
  std::atomic<int> counted_before_send{0};
  for (int i = 0; i < kRequests; ++i) {
    const absl::Status queued =
        EnqueueImages(*served_, inputs[i], [&, i](absl::StatusOr<at::Tensor> logits, const RequestTimings& timings) {
          EXPECT_TRUE(logits.ok()) << logits.status();
          EXPECT_GE(timings.batch_size, inputs[i].size(0));
          {
            absl::MutexLock lock(&mu);
            if (logits.ok()) answers[i] = *logits;
          }
          // The statistics record this request before `send` runs.
          return Reply{absl::OkStatus(), [&] {
                         if (served_->Stats().success.count >= 1) ++counted_before_send;
                         sent.DecrementCount();
                       }};
        });
    ASSERT_TRUE(queued.ok()) << queued;
  }
  sent.Wait();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(answers[i].defined()) << i;
    EXPECT_TRUE(at::allclose(answers[i], Expected(inputs[i]), 1e-5, 1e-5)) << "request " << i;
  }
  EXPECT_EQ(counted_before_send.load(), kRequests);
  const ModelStatsSnapshot stats = served_->Stats();
  EXPECT_EQ(stats.success.count, static_cast<uint64_t>(kRequests));
  EXPECT_EQ(stats.fail.count, 0u);
  EXPECT_EQ(stats.inference_count, 9u);  // 1 + 2 + 1 + 2 + 1 + 2 images
  EXPECT_GE(stats.execution_count, 2u);  // at most 8 images per batch
  EXPECT_LE(stats.execution_count, static_cast<uint64_t>(kRequests));
  uint64_t batches = 0;
  for (const auto& [size, stat] : stats.batch_compute) {
    EXPECT_GE(size, 1);
    EXPECT_LE(size, 8);
    batches += stat.count;
  }
  EXPECT_EQ(batches, stats.execution_count);
}

TEST_F(ServedModelTest, AFailedDeliveryCountsAsAFailure) {
  absl::BlockingCounter sent(1);
  const absl::Status queued =
      EnqueueImages(*served_, at::randn({1, 1, 28, 28}), [&](absl::StatusOr<at::Tensor> logits, const RequestTimings&) {
        EXPECT_TRUE(logits.ok());
        return Reply{absl::ResourceExhaustedError("response too large"), [&] { sent.DecrementCount(); }};
      });
  ASSERT_TRUE(queued.ok()) << queued;
  sent.Wait();
  const ModelStatsSnapshot stats = served_->Stats();
  EXPECT_EQ(stats.success.count, 0u);
  EXPECT_EQ(stats.fail.count, 1u);
  EXPECT_EQ(stats.inference_count, 0u);
}

TEST_F(ServedModelTest, AfterShutdownARequestIsRefusedAndStaysWithItsCaller) {
  served_->Shutdown(absl::Now() + absl::Seconds(10));
  auto called = std::make_shared<std::atomic<bool>>(false);
  auto request = std::make_unique<InferenceRequest>();
  request->input = at::randn({1, 1, 28, 28});
  request->on_complete = [called](absl::StatusOr<at::Tensor> logits, const RequestTimings&) {
    called->store(true);
    return Reply{logits.status(), {}};
  };
  const absl::Status queued = served_->Enqueue(&request);
  EXPECT_EQ(queued.code(), absl::StatusCode::kUnavailable) << queued;
  // Ownership moves only on success: the caller still holds the request, uncalled, and is the
  // only holder of its completion.
  ASSERT_NE(request, nullptr);
  EXPECT_FALSE(called->load());
  EXPECT_EQ(called.use_count(), 2) << "the refused request's completion is held somewhere else too";
  // The caller answers it through its own completion.
  EXPECT_EQ(request->on_complete(queued, RequestTimings{}).status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(called->load());
  const ModelStatsSnapshot stats = served_->Stats();
  EXPECT_EQ(stats.success.count, 0u);
  EXPECT_EQ(stats.fail.count, 1u);  // counted once, as refused, however the caller answers it
}

TEST_F(ServedModelTest, RejectedRequestsCountAsFailuresOnly) {
  served_->RecordRejected(absl::Milliseconds(3));
  const ModelStatsSnapshot stats = served_->Stats();
  EXPECT_EQ(stats.fail.count, 1u);
  EXPECT_EQ(stats.fail.ns, 3'000'000u);
  EXPECT_EQ(stats.success.count, 0u);
  EXPECT_EQ(stats.execution_count, 0u);
}

}  // namespace
}  // namespace wtserve::runtime

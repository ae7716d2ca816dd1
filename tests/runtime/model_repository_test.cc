// server/runtime/model_repository.h in process: a bad model folder is UNAVAILABLE with its
// reason while the good one serves, Find's status codes, readiness (strict and not), unload,
// a reload that moves to a new version (an old version a caller holds stays a valid object),
// the state listener, and names that would leave the root.
#include "server/runtime/model_repository.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/served_model.h"
#include "tests/integration/test_repo.h"
#include "tests/runtime/enqueue_images.h"

namespace wtserve::runtime {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ModelRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("wtserve_repository_");
    testing::WriteFmnistModel(root_, "good", Config("good"), {1});
    testing::WriteFmnistModel(root_, "bad", Config("bad"), {});
    fs::create_directories(fs::path(root_) / "bad" / "1");    // a version folder without weights
    fs::create_directories(fs::path(root_) / "not_a_model");  // no config.pbtxt: not listed
  }
  void TearDown() override { fs::remove_all(root_); }

  // The test repository's config, serving the latest version only (as the default policy does).
  static std::string Config(const std::string& name) {
    return testing::FmnistConfig(name, "", "latest { num_versions: 1 }");
  }
  // Runs one image through `served` and waits for the answer.
  static absl::Status Run(ServedModel& served) {
    absl::Notification done;
    absl::Status result;
    const absl::Status queued =
        EnqueueImages(served, at::zeros({1, 1, 28, 28}), [&](absl::StatusOr<at::Tensor> logits, const RequestTimings&) {
          result = logits.status();
          return Reply{absl::OkStatus(), [&] { done.Notify(); }};
        });
    if (!queued.ok()) return queued;
    done.WaitForNotification();
    return result;
  }

  std::string root_;
  metrics::ServerMetrics metrics_;
};

TEST_F(ModelRepositoryTest, ABadFolderIsUnavailableWithItsReasonWhileTheGoodOneServes) {
  ModelRepository repository(root_, &metrics_);
  std::atomic<int> changes{0};
  repository.SetStateListener([&] { ++changes; });
  EXPECT_EQ(*repository.ListModels(), (std::vector<std::string>{"bad", "good"}));
  auto failed = repository.LoadAll();
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(*failed, 1);
  EXPECT_GE(changes.load(), 2);

  const std::vector<ModelIndexEntry> index = repository.Index();
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index[0].name, "bad");
  EXPECT_EQ(index[0].state, kStateUnavailable);
  EXPECT_THAT(index[0].reason, HasSubstr("model.pt"));
  EXPECT_EQ(index[1].name, "good");
  EXPECT_EQ(index[1].version, "1");
  EXPECT_EQ(index[1].state, kStateReady);

  auto good = repository.Find("good", "");
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ((*good)->version(), 1);
  EXPECT_TRUE(Run(**good).ok());
  EXPECT_EQ(repository.Find("good", "2").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repository.Find("good", "one").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repository.Find("bad", "").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(repository.Find("nope", "").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repository.Find("  ", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(repository.Ready(/*strict=*/true));
  EXPECT_TRUE(repository.Ready(/*strict=*/false));
  EXPECT_TRUE(repository.Exists("bad"));
  EXPECT_FALSE(repository.Exists("not_a_model"));
  repository.ShutdownAll(absl::Now() + absl::Seconds(10));
}

TEST_F(ModelRepositoryTest, AReloadMovesToTheNewVersionAndAHeldOldOneStaysValid) {
  ModelRepository repository(root_, &metrics_);
  ASSERT_TRUE(repository.Load("good").ok());
  auto old_version = repository.Find("good", "");
  ASSERT_TRUE(old_version.ok());
  testing::WriteFmnistModel(root_, "good", Config("good"), {2});
  ASSERT_TRUE(repository.Load("good").ok());
  auto new_version = repository.Find("good", "");
  ASSERT_TRUE(new_version.ok());
  EXPECT_EQ((*new_version)->version(), 2);
  // latest {num_versions: 1}: version 1 is no longer served, but the caller that still holds it
  // had it drained, not destroyed under it.
  EXPECT_EQ(repository.Find("good", "1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*old_version)->version(), 1);
  EXPECT_TRUE(Run(**new_version).ok());
  repository.ShutdownAll(absl::Now() + absl::Seconds(10));
}

TEST_F(ModelRepositoryTest, UnloadStopsServingAndNamesCannotLeaveTheRoot) {
  ModelRepository repository(root_, &metrics_);
  ASSERT_TRUE(repository.Load("good").ok());
  ASSERT_TRUE(repository.Unload("good", absl::Now() + absl::Seconds(10)).ok());
  const absl::StatusCode after_unload = repository.Find("good", "").status().code();
  EXPECT_TRUE(after_unload == absl::StatusCode::kUnavailable || after_unload == absl::StatusCode::kNotFound)
      << after_unload;
  EXPECT_FALSE(repository.Ready(/*strict=*/false));
  EXPECT_EQ(repository.Unload("nope", absl::Now()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(repository.Load("../good").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(repository.Load("missing").code(), absl::StatusCode::kNotFound);
  repository.ShutdownAll(absl::Now() + absl::Seconds(10));
  EXPECT_FALSE(repository.Load("good").ok()) << "loads after ShutdownAll must fail";
}

}  // namespace
}  // namespace wtserve::runtime

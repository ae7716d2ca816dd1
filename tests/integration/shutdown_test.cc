// How the real wtserve binary closes on SIGTERM while clients keep calls open that would never
// end by themselves: an idle ModelStreamInfer and a grpc.health.v1 Watch. (A call caught between
// gRPC and its handler is tested in process: tests/api/drain_test.cc.)
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/integration/server_process.h"
#include "tests/integration/test_repo.h"

namespace wtserve::testing {
namespace {

using grpc::StatusCode;
using grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

constexpr auto kExitWithin = std::chrono::seconds(20);

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = MakeTempDir("wtserve_shutdown_");
    WriteFmnistModel(root_ + "/repo", "fmnist", FmnistConfig("fmnist"), {1});
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string repo() const { return root_ + "/repo"; }

  std::string root_;
};

// An open ModelStreamInfer with nothing in flight does not hold the process for --exit_timeout:
// the server ends it with UNAVAILABLE once the drain is done, and exits.
TEST_F(ShutdownTest, IdleStreamIsClosedByTheDrain) {
  ServerProcess server(repo(), {"--exit_timeout=600s"});
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::SERVING)) << server.Log();
  auto stub = server.Stub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kExitWithin);
  auto stream = stub->ModelStreamInfer(&ctx);
  // One answered request proves the stream is established on the server before the signal.
  ASSERT_TRUE(stream->Write(FmnistZerosRequest("fmnist")));
  inference::ModelStreamInferResponse response;
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.error_message(), "");

  server.Signal(SIGTERM);
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
  EXPECT_EQ(server.WaitForExit(kExitWithin), 0) << server.Log();
  EXPECT_THAT(server.Log(), ::testing::Not(HasSubstr("exit timeout")));
}

// A grpc.health.v1 Watch sees SERVING, then NOT_SERVING exactly once, then its end; it does not
// hold the process for --exit_timeout either.
TEST_F(ShutdownTest, HealthWatchSeesOneNotServingAndEnds) {
  ServerProcess server(repo(), {"--exit_timeout=600s"});
  ASSERT_TRUE(server.WaitForHealth(HealthCheckResponse::SERVING)) << server.Log();
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kExitWithin);
  grpc::health::v1::HealthCheckRequest request;
  auto watch = health->Watch(&ctx, request);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  ASSERT_EQ(update.status(), HealthCheckResponse::SERVING);

  server.Signal(SIGTERM);
  std::vector<HealthCheckResponse::ServingStatus> seen;
  while (watch->Read(&update)) seen.push_back(update.status());
  EXPECT_THAT(seen, ::testing::ElementsAre(HealthCheckResponse::NOT_SERVING));
  // gRPC's health service never ends a Watch by itself: the close cancels it after its grace.
  const grpc::Status status = watch->Finish();
  EXPECT_NE(status.error_code(), StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(server.WaitForExit(kExitWithin), 0) << server.Log();
  EXPECT_THAT(server.Log(), ::testing::Not(HasSubstr("exit timeout")));
}

}  // namespace
}  // namespace wtserve::testing

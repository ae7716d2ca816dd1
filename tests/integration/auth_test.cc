// The real wtserve binary with --grpc_auth_token_file: which calls need the bearer token, and
// what a missing, malformed or wrong one gets.
#include <chrono>
#include <filesystem>
#include <fstream>
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
using ::testing::HasSubstr;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

constexpr char kToken[] = "wtserve-test-token_0123456789";

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(MakeTempDir("wtserve_auth_it_"));
    WriteFmnistModel(Repo(), "fmnist", FmnistConfig("fmnist"), {1});
    std::ofstream(TokenFile()) << kToken << "\n";  // a trailing newline, as in a Secret file
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*root_);
    delete root_;
  }
  static std::string Repo() { return *root_ + "/repo"; }
  static std::string TokenFile() { return *root_ + "/token"; }
  // A context carrying `authorization: <value>` (none if empty), deadline 30 s.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& authorization) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
    return ctx;
  }
  static grpc::Status Infer(const ServerProcess& server, const std::string& authorization) {
    inference::ModelInferResponse response;
    return server.Stub()->ModelInfer(Context(authorization).get(), FmnistZerosRequest("fmnist"), &response);
  }
  static std::string* root_;
};
std::string* AuthTest::root_ = nullptr;

TEST_F(AuthTest, InferenceAndRepositoryCallsNeedTheToken) {
  ServerProcess server(Repo(), {"--grpc_auth_token_file=" + TokenFile()});
  // grpc.health.v1 stays open: probes carry no token.
  ASSERT_TRUE(server.WaitForHealth(HealthStatus::SERVING)) << server.Log();
  EXPECT_TRUE(Infer(server, std::string("Bearer ") + kToken).ok());
  EXPECT_TRUE(Infer(server, std::string("bearer ") + kToken).ok());  // the scheme is case-insensitive
  const grpc::Status missing = Infer(server, "");
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("missing authorization"));
  EXPECT_EQ(Infer(server, std::string("Bearer ") + kToken + "x").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Infer(server, "Bearer wtserve-test-token_012345678").error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Infer(server, std::string("Basic ") + kToken).error_code(), StatusCode::UNAUTHENTICATED);
  const grpc::Status wrong = Infer(server, "Bearer nope");
  EXPECT_EQ(wrong.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), ::testing::Not(HasSubstr(kToken)));
  EXPECT_THAT(server.Log(), ::testing::Not(HasSubstr(kToken)));

  auto stub = server.Stub();
  {
    inference::RepositoryIndexResponse r;
    EXPECT_EQ(stub->RepositoryIndex(Context("").get(), {}, &r).error_code(), StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(stub->RepositoryIndex(Context(std::string("Bearer ") + kToken).get(), {}, &r).ok());
  }
  {
    inference::ModelMetadataRequest req;
    req.set_name("fmnist");
    inference::ModelMetadataResponse r;
    EXPECT_EQ(stub->ModelMetadata(Context("").get(), req, &r).error_code(), StatusCode::UNAUTHENTICATED);
  }
  {
    // A stream without the token ends at once with UNAUTHENTICATED.
    auto ctx = Context("");
    auto stream = stub->ModelStreamInfer(ctx.get());
    stream->Write(FmnistZerosRequest("fmnist"));
    inference::ModelStreamInferResponse r;
    EXPECT_FALSE(stream->Read(&r));
    EXPECT_EQ(stream->Finish().error_code(), StatusCode::UNAUTHENTICATED);
  }
  {
    // Health calls of the OIP service stay open by default.
    inference::ServerLiveResponse r;
    EXPECT_TRUE(stub->ServerLive(Context("").get(), {}, &r).ok());
    EXPECT_TRUE(r.live());
  }
  EXPECT_TRUE(server.WaitForLog("bearer token except health calls", std::chrono::seconds(5)));
}

TEST_F(AuthTest, HealthCallsToo) {
  ServerProcess server(Repo(), {"--grpc_auth_token_file=" + TokenFile(), "--grpc_auth_health"});
  ASSERT_TRUE(server.WaitForHealth(HealthStatus::SERVING)) << server.Log();
  auto stub = server.Stub();
  inference::ServerReadyResponse r;
  EXPECT_EQ(stub->ServerReady(Context("").get(), {}, &r).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(stub->ServerReady(Context(std::string("Bearer ") + kToken).get(), {}, &r).ok());
  EXPECT_TRUE(r.ready());
}

TEST_F(AuthTest, FlagMistakesStopTheServer) {
  std::ofstream(*root_ + "/empty") << "\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--grpc_auth_token_file=" + *root_ + "/missing"}, "--grpc_auth_token_file: cannot read"},
      {{"--grpc_auth_token_file=" + *root_ + "/empty"}, "is empty"},
      {{"--grpc_auth_health"}, "--grpc_auth_health needs --grpc_auth_token_file"},
  };
  for (const auto& [flags, message] : cases) {
    ServerProcess server(Repo(), flags);
    EXPECT_NE(server.WaitForExit(std::chrono::seconds(60)), 0) << message;
    EXPECT_THAT(server.Log(), HasSubstr(message));
  }
}

}  // namespace
}  // namespace wtserve::testing

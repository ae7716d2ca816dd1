// DrainAndClose in process, with a gRPC server interceptor that holds a ModelInfer call after
// gRPC received it and before the handler runs: the state in which a call arriving at the moment
// the drain ends used to be cancelled (CANCELLED, not retried by clients) instead of answered.
#include "server/api/drain.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "inference.grpc.pb.h"
#include "server/api/inference_service.h"
#include "server/api/server_state.h"
#include "server/metrics/server_metrics.h"
#include "server/runtime/model_repository.h"
#include "tests/integration/test_repo.h"

namespace wtserve::api {
namespace {

using ::testing::HasSubstr;

// Holds the first ModelInfer call once its message has been received (before the handler) until
// Release(); every other call passes through.
class HoldFirstInfer {
 public:
  class Interceptor final : public grpc::experimental::Interceptor {
   public:
    Interceptor(HoldFirstInfer* owner, bool hold) : owner_(owner), hold_(hold) {}
    void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
      if (hold_ && methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::POST_RECV_MESSAGE)) {
        owner_->Hold(methods);
        return;  // Proceed() comes from Release()
      }
      methods->Proceed();
    }

   private:
    HoldFirstInfer* const owner_;
    const bool hold_;
  };

  class Factory final : public grpc::experimental::ServerInterceptorFactoryInterface {
   public:
    explicit Factory(HoldFirstInfer* owner) : owner_(owner) {}
    grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
      const bool infer = std::string(info->method()) == "/inference.GRPCInferenceService/ModelInfer";
      return new Interceptor(owner_, infer && owner_->TakeHoldSlot());
    }

   private:
    HoldFirstInfer* const owner_;
  };

  bool TakeHoldSlot() {
    absl::MutexLock lock(&mu_);
    if (slot_taken_) return false;
    slot_taken_ = true;
    return true;
  }
  void Hold(grpc::experimental::InterceptorBatchMethods* methods) {
    {
      absl::MutexLock lock(&mu_);
      held_ = methods;
    }
    holding_.Notify();
  }
  void WaitUntilHolding() { holding_.WaitForNotification(); }
  void Release() {
    grpc::experimental::InterceptorBatchMethods* methods;
    {
      absl::MutexLock lock(&mu_);
      methods = held_;
      held_ = nullptr;
    }
    if (methods != nullptr) methods->Proceed();
  }

 private:
  absl::Mutex mu_;
  bool slot_taken_ ABSL_GUARDED_BY(mu_) = false;
  grpc::experimental::InterceptorBatchMethods* held_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Notification holding_;
};

// True once nothing listens on 127.0.0.1:`port` (the gRPC server has begun to close).
bool ListenerClosed(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0;
  ::close(fd);
  return refused;
}

class DrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::MakeTempDir("wtserve_drain_inproc_");
    testing::WriteFmnistModel(root_ + "/repo", "fmnist", testing::FmnistConfig("fmnist"), {1});
    repository_ = std::make_unique<runtime::ModelRepository>(root_ + "/repo", &metrics_);
    absl::StatusOr<int> failed = repository_->LoadAll();
    ASSERT_TRUE(failed.ok()) << failed.status();
    ASSERT_EQ(*failed, 0);
    state_ = std::make_unique<ServerState>(repository_.get(), true);
    state_->MarkStartupDone();
    service_ = std::make_unique<InferenceService>(repository_.get(), state_.get(), &metrics_, absl::Seconds(30),
                                                  int64_t{64} << 20);
  }
  void TearDown() override {
    service_.reset();
    state_.reset();
    repository_.reset();
    std::filesystem::remove_all(root_);
  }

  std::unique_ptr<grpc::Server> StartServer(HoldFirstInfer* hold, int* port) {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
    builder.RegisterService(service_.get());
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(std::make_unique<HoldFirstInfer::Factory>(hold));
    builder.experimental().SetInterceptorCreators(std::move(creators));
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server != nullptr) state_->SetHealthService(server->GetHealthCheckService());
    return server;
  }

  std::string root_;
  metrics::ServerMetrics metrics_;
  std::unique_ptr<runtime::ModelRepository> repository_;
  std::unique_ptr<ServerState> state_;
  std::unique_ptr<InferenceService> service_;
};

// The held call is in gRPC's hands, invisible to the service's call count, when the drain ends
// and the server closes. It must still reach the handler and be answered UNAVAILABLE.
TEST_F(DrainTest, CallHeldBeforeItsHandlerIsAnsweredNotCancelled) {
  HoldFirstInfer hold;
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartServer(&hold, &port);
  ASSERT_NE(server, nullptr);
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const inference::ModelInferRequest request = testing::FmnistZerosRequest("fmnist");
  inference::ModelInferResponse response;
  grpc::Status status;
  absl::Notification answered;
  stub->async()->ModelInfer(&ctx, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    answered.Notify();
  });
  hold.WaitUntilHolding();

  state_->BeginShutdown();
  std::thread closer([&] {
    // A grace far above any scheduling delay: the test, not a timer, decides when the call moves.
    DrainAndClose(*repository_, *service_, *server, absl::Now() + absl::Seconds(60),
                  /*close_grace=*/absl::Seconds(60));
  });
  // The close has begun once the listener is gone; only then let the held call go on.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!ListenerClosed(port) && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(ListenerClosed(port));
  hold.Release();
  answered.WaitForNotification();
  closer.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
}

// Between BeginShutdown and the end of the drain: not serving, not ready, and every new request
// refused UNAVAILABLE with a reason, on a new call and on a stream opened before.
TEST_F(DrainTest, DuringTheDrainNewRequestsAreRefusedWithAReason) {
  HoldFirstInfer hold;
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartServer(&hold, &port);
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  // The first ModelInfer is the interceptor's; let it through untouched.
  {
    grpc::ClientContext ctx;
    const inference::ModelInferRequest request = testing::FmnistZerosRequest("fmnist");
    inference::ModelInferResponse response;
    absl::Notification answered;
    grpc::Status status;
    stub->async()->ModelInfer(&ctx, &request, &response, [&](grpc::Status s) {
      status = std::move(s);
      answered.Notify();
    });
    hold.WaitUntilHolding();
    hold.Release();
    answered.WaitForNotification();
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  grpc::ClientContext stream_ctx;
  auto stream = stub->ModelStreamInfer(&stream_ctx);
  inference::ModelStreamInferResponse streamed;
  ASSERT_TRUE(stream->Write(testing::FmnistZerosRequest("fmnist")));
  ASSERT_TRUE(stream->Read(&streamed));
  ASSERT_EQ(streamed.error_message(), "");

  state_->BeginShutdown();
  {
    grpc::ClientContext ctx;
    inference::ModelInferResponse response;
    const grpc::Status refused = stub->ModelInfer(&ctx, testing::FmnistZerosRequest("fmnist"), &response);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
    EXPECT_THAT(refused.error_message(), HasSubstr("shutting down"));
  }
  ASSERT_TRUE(stream->Write(testing::FmnistZerosRequest("fmnist")));
  ASSERT_TRUE(stream->Read(&streamed));
  EXPECT_THAT(streamed.error_message(), HasSubstr("shutting down"));
  EXPECT_EQ(streamed.infer_response().parameters().at("wtserve_status_code").string_param(), "UNAVAILABLE");
  {
    grpc::ClientContext ctx;
    inference::ServerReadyResponse ready;
    ASSERT_TRUE(stub->ServerReady(&ctx, {}, &ready).ok());
    EXPECT_FALSE(ready.ready());
  }
  {
    auto health = grpc::health::v1::Health::NewStub(channel);
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&ctx, {}, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  EXPECT_TRUE(DrainAndClose(*repository_, *service_, *server, absl::Now() + absl::Seconds(60)));
  EXPECT_FALSE(stream->Read(&streamed));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace wtserve::api

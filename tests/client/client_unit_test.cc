// Client library tests that need no wtserve server: tensors, classification parsing, options,
// the service config, status mapping against an unreachable port, and gRPC-level retries
// against a small in-process health service.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "client/lib/channel.h"
#include "client/lib/convert.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/common/test_certs.h"
#include "wtserve/client.h"

namespace wtserve {
namespace {
using ::testing::HasSubstr;

TEST(TensorTest, Fp32RoundTripAndValidation) {
  Tensor t = Tensor::Fp32("x", {2, 2}, std::vector<float>{1.f, -2.5f, 3.f, 0.25f});
  EXPECT_TRUE(t.Validate().ok());
  EXPECT_EQ(t.raw.size(), 16u);
  EXPECT_EQ(*t.AsFp32(), (std::vector<float>{1.f, -2.5f, 3.f, 0.25f}));
  EXPECT_EQ(t.AsUint8().status().code(), absl::StatusCode::kFailedPrecondition);
  t.shape = {3, 2};
  EXPECT_THAT(t.Validate().message(), HasSubstr("needs 24 bytes, got 16"));
  t.shape = {-1, 4};
  EXPECT_THAT(t.Validate().message(), HasSubstr("negative"));
  EXPECT_THAT((Tensor{"y", "FP8", {1}, "a"}).Validate().message(), HasSubstr("unknown datatype"));
}

TEST(TensorTest, BytesUseLengthPrefixedRawForm) {
  Tensor t = Tensor::Bytes("s", {2}, {"ab", ""});
  EXPECT_EQ(t.raw, std::string("\x02\x00\x00\x00"
                               "ab"
                               "\x00\x00\x00\x00",
                               10));
  EXPECT_TRUE(t.Validate().ok());
  EXPECT_EQ(*t.AsBytes(), (std::vector<std::string>{"ab", ""}));
  t.shape = {3};
  EXPECT_THAT(t.Validate().message(), HasSubstr("needs 3 BYTES elements, got 2"));
  t.raw.pop_back();
  EXPECT_THAT(t.Validate().message(), HasSubstr("truncated"));
}

TEST(ClassificationTest, ParsesScoreIndexLabel) {
  Tensor t = Tensor::Bytes("out", {2, 2}, {"9.5:3:Dress", "1.25:0:T-shirt/top", "-0.5:7", "2:1:a:b"});
  auto parsed = ParseClassification(t);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0][0].index, 3);
  EXPECT_FLOAT_EQ((*parsed)[0][0].score, 9.5f);
  EXPECT_EQ((*parsed)[0][0].label, "Dress");
  EXPECT_EQ((*parsed)[0][1].label, "T-shirt/top");
  EXPECT_EQ((*parsed)[1][0].index, 7);
  EXPECT_EQ((*parsed)[1][0].label, "");
  EXPECT_EQ((*parsed)[1][1].label, "a:b");
  EXPECT_FALSE(ParseClassification(Tensor::Bytes("o", {1, 1}, {"x:1"})).ok());
  EXPECT_FALSE(ParseClassification(Tensor::Bytes("o", {1, 1}, {"1.0"})).ok());
  EXPECT_FALSE(ParseClassification(Tensor::Fp32("o", {1}, std::vector<float>{1})).ok());
}

TEST(ConvertTest, RequestToProtoAndResponseContents) {
  InferRequest request;
  request.model_name = "m";
  request.inputs.push_back(Tensor::Uint8("in", {1, 2}, std::vector<uint8_t>{7, 8}));
  request.outputs.push_back({"out", 3});
  request.queue_timeout = absl::Milliseconds(5);
  inference::ModelInferRequest proto;
  ASSERT_TRUE(internal::ToProto(request, &proto).ok());
  EXPECT_EQ(proto.raw_input_contents(0), "\x07\x08");
  EXPECT_EQ(proto.inputs(0).datatype(), "UINT8");
  EXPECT_EQ(proto.outputs(0).parameters().at("classification").int64_param(), 3);
  EXPECT_EQ(proto.parameters().at("timeout").int64_param(), 5000);

  request.inputs[0].shape = {3};
  EXPECT_EQ(internal::ToProto(request, &proto).code(), absl::StatusCode::kInvalidArgument);

  inference::ModelInferResponse response;
  auto* out = response.add_outputs();
  out->set_name("logits");
  out->set_datatype("FP32");
  out->add_shape(1);
  out->add_shape(2);
  out->mutable_contents()->add_fp32_contents(0.5f);
  out->mutable_contents()->add_fp32_contents(-1.f);
  auto result = internal::FromProto(response);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*(*result->Output("logits"))->AsFp32(), (std::vector<float>{0.5f, -1.f}));
  EXPECT_EQ(result->Output("nope").status().code(), absl::StatusCode::kNotFound);
  out->add_shape(2);  // now claims 4 elements
  EXPECT_EQ(internal::FromProto(response).status().code(), absl::StatusCode::kInternal);
}

TEST(ConvertTest, StreamErrorCodes) {
  EXPECT_EQ(internal::StreamErrorToStatus("NOT_FOUND: unknown model 'x'"), absl::NotFoundError("unknown model 'x'"));
  EXPECT_EQ(internal::StreamErrorToStatus("something broke").code(), absl::StatusCode::kUnknown);
  // The code from wtserve's parameter, the message alone (Triton's text); then the old prefix form.
  inference::ModelStreamInferResponse r;
  r.set_error_message("Request for unknown model: 'x' is not found");
  (*r.mutable_infer_response()->mutable_parameters())["wtserve_status_code"].set_string_param("NOT_FOUND");
  EXPECT_EQ(internal::StreamResponseError(r), absl::NotFoundError("Request for unknown model: 'x' is not found"));
  (*r.mutable_infer_response()->mutable_parameters())["wtserve_status_code"].set_string_param("NOT_FOUNDX");
  EXPECT_EQ(internal::StreamResponseError(r).code(), absl::StatusCode::kUnknown);
  r.mutable_infer_response()->clear_parameters();
  r.set_error_message("UNAVAILABLE: shutting down");
  EXPECT_EQ(internal::StreamResponseError(r), absl::UnavailableError("shutting down"));
}

// Every non-OK code the server can write (absl::StatusCodeToString) reads back as itself, in both
// the parameter and the "CODE: message" forms.
TEST(ConvertTest, EveryStatusCodeNameRoundTrips) {
  for (int value = 1; value <= 16; ++value) {
    const auto code = static_cast<absl::StatusCode>(value);
    const std::string name = absl::StatusCodeToString(code);
    EXPECT_EQ(internal::StreamErrorToStatus(name + ": m"), absl::Status(code, "m")) << name;
    inference::ModelStreamInferResponse r;
    r.set_error_message("m");
    (*r.mutable_infer_response()->mutable_parameters())["wtserve_status_code"].set_string_param(name);
    EXPECT_EQ(internal::StreamResponseError(r), absl::Status(code, "m")) << name;
  }
}

TEST(OptionsTest, ValidationAndServiceConfig) {
  ClientOptions o;
  EXPECT_TRUE(internal::ValidateOptions(o).ok());
  o.max_attempts = 6;
  EXPECT_THAT(internal::ValidateOptions(o).message(), HasSubstr("1..5"));
  o = {};
  o.load_balancing_policy = "random";
  EXPECT_FALSE(internal::ValidateOptions(o).ok());
  o = {};
  o.tls.enabled = true;
  o.tls.client_cert_pem = "cert";
  EXPECT_THAT(internal::ValidateOptions(o).message(), HasSubstr("both"));
  o = {};
  o.target = "";
  EXPECT_EQ(Client::Create(o).status().code(), absl::StatusCode::kInvalidArgument);

  o = {};
  o.max_attempts = 4;
  o.initial_backoff = absl::Milliseconds(50);
  const std::string json = internal::ServiceConfigJson(o);
  EXPECT_THAT(json, HasSubstr("\"round_robin\""));
  EXPECT_THAT(json, HasSubstr("\"maxAttempts\":4"));
  EXPECT_THAT(json, HasSubstr("\"initialBackoff\":\"0.050000s\""));
  EXPECT_THAT(json, HasSubstr("\"retryableStatusCodes\":[\"UNAVAILABLE\"]"));
  o.max_attempts = 1;
  EXPECT_THAT(internal::ServiceConfigJson(o), ::testing::Not(HasSubstr("retryPolicy")));
}

// Health service that answers UNAVAILABLE to its first `failures` calls.
class FlakyHealth final : public grpc::health::v1::Health::Service {
 public:
  explicit FlakyHealth(int failures) : failures_(failures) {}
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override {
    if (calls_++ < failures_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "warming up");
    if (request->service() == "missing") return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service missing");
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  int calls() const { return calls_; }

 private:
  const int failures_;
  std::atomic<int> calls_{0};
};

struct FakeServer {
  explicit FakeServer(int failures,
                      std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials())
      : service(failures) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
  }
  ~FakeServer() { server->Shutdown(); }
  FlakyHealth service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

// A port nobody listens on: start a server on port 0, note the port, shut it down.
int UnusedPort() {
  FakeServer server(0);
  return server.port;
}

TEST(UnreachableTest, FailsUnavailableOrDeadline) {
  ClientOptions o;
  o.target = "127.0.0.1:" + std::to_string(UnusedPort());
  o.max_attempts = 2;
  o.initial_backoff = absl::Milliseconds(1);
  o.max_backoff = absl::Milliseconds(1);
  auto client = Client::Create(o);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->ServerLive().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*client)->HealthCheck().status().code(), absl::StatusCode::kUnavailable);

  InferRequest request;
  request.model_name = "m";
  request.inputs.push_back(Tensor::Fp32("x", {1}, std::vector<float>{1}));
  EXPECT_EQ((*client)->InferFuture(request).get().status().code(), absl::StatusCode::kUnavailable);
  // Client-side validation errors never reach the network.
  request.inputs[0].shape = {2};
  EXPECT_EQ((*client)->InferFuture(request).get().status().code(), absl::StatusCode::kInvalidArgument);

  auto stream = (*client)->OpenStream();
  ASSERT_TRUE(stream.ok());
  request.inputs[0].shape = {1};
  std::promise<absl::Status> sent;
  (*stream)->Send(request, [&](absl::StatusOr<InferResult> r) { sent.set_value(r.status()); });
  EXPECT_EQ(sent.get_future().get().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*stream)->Finish().code(), absl::StatusCode::kUnavailable);

  o.wait_for_ready = true;
  o.default_deadline = absl::Milliseconds(200);
  auto waiting = Client::Create(o);
  EXPECT_EQ((*waiting)->ServerLive().status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*waiting)->WaitUntilServing(absl::Milliseconds(300)).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RetryTest, ServiceConfigRetriesUnavailable) {
  FakeServer fake(2);
  ClientOptions o;
  o.target = "127.0.0.1:" + std::to_string(fake.port);
  o.max_attempts = 3;
  o.initial_backoff = absl::Milliseconds(1);
  o.max_backoff = absl::Milliseconds(5);
  auto client = Client::Create(o);
  auto status = (*client)->HealthCheck();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, HealthStatus::kServing);
  EXPECT_EQ(fake.service.calls(), 3);
  // Other codes are not retried, and come back with the server's message.
  auto missing = (*client)->HealthCheck("missing");
  EXPECT_EQ(missing.status(), absl::NotFoundError("unknown service missing"));
  EXPECT_EQ(fake.service.calls(), 4);
}

TEST(RetryTest, NoRetryWithOneAttempt) {
  FakeServer fake(1);
  ClientOptions o;
  o.target = "dns:///127.0.0.1:" + std::to_string(fake.port);
  o.max_attempts = 1;
  auto client = Client::Create(o);
  EXPECT_EQ((*client)->HealthCheck().status(), absl::UnavailableError("warming up"));
  EXPECT_EQ(fake.service.calls(), 1);
  EXPECT_TRUE((*client)->WaitUntilServing(absl::Seconds(10)).ok());
}

// Certificates made at test time with the openssl CLI (tests/common/test_certs.h).
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(std::filesystem::temp_directory_path() / ("wtserve_tls_" + std::to_string(getpid())));
    ASSERT_TRUE(testing::MakeTestCertificates(*dir_)) << "openssl failed, see " << *dir_;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::string Pem(const std::string& name) { return *ReadPemFile(*dir_ + "/" + name); }
  static std::shared_ptr<grpc::ServerCredentials> MutualTlsServer() {
    grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = Pem("ca.pem");
    options.pem_key_cert_pairs.push_back({Pem("server.key"), Pem("server.pem")});
    return grpc::SslServerCredentials(options);
  }
  static ClientOptions Options(int port) {
    ClientOptions o;
    o.target = "127.0.0.1:" + std::to_string(port);
    o.max_attempts = 1;
    o.default_deadline = absl::Seconds(10);
    o.tls.enabled = true;
    o.tls.root_certs_pem = Pem("ca.pem");
    o.tls.server_name_override = testing::kTestServerName;
    return o;
  }
  static std::string* dir_;
};
std::string* TlsTest::dir_ = nullptr;

TEST_F(TlsTest, MutualTlsConnectsOnlyWithTheRightCredentials) {
  FakeServer server(0, MutualTlsServer());
  ClientOptions o = Options(server.port);
  o.tls.client_cert_pem = Pem("client.pem");
  o.tls.client_key_pem = Pem("client.key");
  auto status = (*Client::Create(o))->HealthCheck();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, HealthStatus::kServing);

  // No client certificate: the server refuses the handshake.
  EXPECT_EQ((*Client::Create(Options(server.port)))->HealthCheck().status().code(), absl::StatusCode::kUnavailable);
  // The certificate names wtserve.test only: without the override the name check fails.
  o.tls.server_name_override = "";
  EXPECT_EQ((*Client::Create(o))->HealthCheck().status().code(), absl::StatusCode::kUnavailable);
  // Plaintext to a TLS port.
  ClientOptions plain;
  plain.target = "127.0.0.1:" + std::to_string(server.port);
  plain.max_attempts = 1;
  EXPECT_EQ((*Client::Create(plain))->HealthCheck().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReadPemFile(*dir_ + "/missing.pem").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace wtserve

// The real wtserve binary with TLS and mutual TLS on its gRPC port (--grpc_use_ssl*), against
// openssl-made certificates: who can connect, and the flag mistakes that stop it at startup.
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/common/test_certs.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_repo.h"

namespace wtserve::testing {
namespace {

using ::testing::HasSubstr;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

class TlsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(MakeTempDir("wtserve_tls_it_"));
    ASSERT_TRUE(MakeTestCertificates(Certs())) << "openssl failed, see " << Certs();
    ASSERT_TRUE(MakeTestCertificates(OtherCerts())) << "openssl failed, see " << OtherCerts();
    WriteFmnistModel(Repo(), "fmnist", FmnistConfig("fmnist"), {1});
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*root_);
    delete root_;
  }
  static std::string Certs() { return *root_ + "/certs"; }
  static std::string OtherCerts() { return *root_ + "/other-ca"; }  // a second, unrelated CA
  static std::string Repo() { return *root_ + "/repo"; }
  static std::string Cert(const std::string& name) { return Certs() + "/" + name; }
  static std::vector<std::string> TlsFlags() {
    return {"--grpc_use_ssl", "--grpc_server_cert=" + Cert("server.pem"), "--grpc_server_key=" + Cert("server.key")};
  }
  // TLS channel credentials trusting the test CA, optionally with the client certificate.
  static std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(bool with_client_cert) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ReadTestFile(Certs(), "ca.pem");
    if (with_client_cert) {
      o.pem_cert_chain = ReadTestFile(Certs(), "client.pem");
      o.pem_private_key = ReadTestFile(Certs(), "client.key");
    }
    return grpc::SslCredentials(o);
  }
  // One health check over a channel with `credentials` (deadline 5 s): OK or the failure code.
  static grpc::StatusCode HealthCode(const ServerProcess& server,
                                     std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kTestServerName);
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateCustomChannel(server.grpc_address(), credentials, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest request;
    HealthStatus response;
    return stub->Check(&ctx, request, &response).error_code();
  }
  static std::string* root_;
};
std::string* TlsServerTest::root_ = nullptr;

// deploy/health's probe next to the server binary's folder.
std::string HealthBinary() {
  const std::string server = ServerBinary();  // <build>/server/wtserve
  return server.substr(0, server.size() - std::string("server/wtserve").size()) + "deploy/health/wtserve-health";
}

grpc::Status InferZeros(const ServerProcess& server) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  inference::ModelInferResponse response;
  return server.Stub()->ModelInfer(&ctx, FmnistZerosRequest("fmnist"), &response);
}

TEST_F(TlsServerTest, TlsServesTlsClientsAndRefusesPlaintext) {
  ServerProcess server(Repo(), TlsFlags(), ClientCredentials(false), kTestServerName);
  ASSERT_TRUE(server.WaitForHealth(HealthStatus::SERVING)) << server.Log();
  const grpc::Status infer = InferZeros(server);
  EXPECT_TRUE(infer.ok()) << infer.error_message();
  EXPECT_EQ(HealthCode(server, grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(server.WaitForLog("(TLS; live", std::chrono::seconds(5))) << server.Log();
}

TEST_F(TlsServerTest, MutualTlsNeedsAClientCertificateSignedByTheRootCert) {
  std::vector<std::string> flags = TlsFlags();
  flags[0] = "--grpc_use_ssl_mutual";  // implies --grpc_use_ssl
  flags.push_back("--grpc_root_cert=" + Cert("ca.pem"));
  ServerProcess server(Repo(), flags, ClientCredentials(true), kTestServerName);
  ASSERT_TRUE(server.WaitForHealth(HealthStatus::SERVING)) << server.Log();
  EXPECT_TRUE(InferZeros(server).ok());
  EXPECT_EQ(HealthCode(server, ClientCredentials(false)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(HealthCode(server, grpc::InsecureChannelCredentials()), grpc::StatusCode::UNAVAILABLE);
  // A client certificate signed by another CA is refused too.
  grpc::SslCredentialsOptions stranger;
  stranger.pem_root_certs = ReadTestFile(Certs(), "ca.pem");
  stranger.pem_cert_chain = ReadTestFile(OtherCerts(), "client.pem");
  stranger.pem_private_key = ReadTestFile(OtherCerts(), "client.key");
  EXPECT_EQ(HealthCode(server, grpc::SslCredentials(stranger)), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(server.WaitForLog("(mutual TLS; live", std::chrono::seconds(5))) << server.Log();
}

// The probe binary of the container image speaks TLS too (Kubernetes' own gRPC probe cannot).
TEST_F(TlsServerTest, HealthProbeConnectsOverMutualTls) {
  std::vector<std::string> flags = TlsFlags();
  flags[0] = "--grpc_use_ssl_mutual";
  flags.push_back("--grpc_root_cert=" + Cert("ca.pem"));
  ServerProcess server(Repo(), flags, ClientCredentials(true), kTestServerName);
  ASSERT_TRUE(server.WaitForHealth(HealthStatus::SERVING)) << server.Log();
  // Failing checks wait out their deadline (the probe waits for a connection): keep it short.
  const std::string probe = HealthBinary() + " --address=" + server.grpc_address() + " --timeout=1s";
  const std::string tls = " --tls --root_cert=" + Cert("ca.pem") + " --server_name=" + kTestServerName;
  const std::string client = " --client_cert=" + Cert("client.pem") + " --client_key=" + Cert("client.key");
  auto exit_code = [](const std::string& command) {
    const int status = std::system((command + " >/dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(exit_code(probe + tls + client + " --timeout=10s"), 0);
  EXPECT_EQ(exit_code(probe + tls), 1);                                           // no client certificate
  EXPECT_EQ(exit_code(probe), 1);                                                 // plaintext
  EXPECT_EQ(exit_code(probe + " --root_cert=" + Cert("ca.pem")), 2);              // TLS flag without --tls
  EXPECT_EQ(exit_code(probe + tls + " --client_cert=" + Cert("client.pem")), 2);  // cert without key
}

TEST_F(TlsServerTest, FlagMistakesStopTheServerWithTheFlagNamed) {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--grpc_use_ssl"}, "--grpc_server_cert is required"},
      {{"--grpc_use_ssl", "--grpc_server_cert=" + Cert("server.pem")}, "--grpc_server_key is required"},
      {{"--grpc_server_cert=" + Cert("server.pem")}, "--grpc_server_cert is set but TLS is off"},
      {{"--grpc_use_ssl", "--grpc_server_cert=" + Cert("missing.pem"), "--grpc_server_key=" + Cert("server.key")},
       "--grpc_server_cert: cannot read"},
      {{"--grpc_use_ssl", "--grpc_server_cert=" + Cert("server.ext"), "--grpc_server_key=" + Cert("server.key")},
       "is not a PEM file"},
      {{"--grpc_use_ssl_mutual", "--grpc_server_cert=" + Cert("server.pem"), "--grpc_server_key=" + Cert("server.key")},
       "--grpc_root_cert is required with --grpc_use_ssl_mutual"},
      // The REST port's HTTPS flags follow the same rules.
      {{"--http_use_ssl"}, "--http_use_ssl needs --http_server_cert and --http_server_key"},
      {{"--http_server_cert=" + Cert("server.pem")}, "--http_server_cert and --http_server_key need --http_use_ssl"},
      {{"--http_use_ssl_mutual", "--http_server_cert=" + Cert("server.pem"), "--http_server_key=" + Cert("server.key")},
       "--http_use_ssl_mutual needs --http_root_cert"},
      {{"--http_use_ssl", "--http_server_cert=" + Cert("server.ext"), "--http_server_key=" + Cert("server.key")},
       "HTTPS: cannot load the certificate"},
  };
  for (const Case& c : cases) {
    ServerProcess server(Repo(), c.flags);
    EXPECT_NE(server.WaitForExit(std::chrono::seconds(60)), 0) << c.message;
    EXPECT_THAT(server.Log(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace wtserve::testing

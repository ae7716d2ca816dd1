#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace wtserve::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

}  // namespace

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw std::runtime_error("FreePort: bind failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string ServerBinary() {
  if (const char* dir = std::getenv("WTSERVE_BINARY_DIR"); dir != nullptr && *dir != '\0') {
    return std::string(dir) + "/server/wtserve";
  }
  // Run by hand (or by a ctest entry without the variable): this test binary lives in
  // <build>/tests/integration/.
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("WTSERVE_BINARY_DIR is not set and /proc/self/exe unreadable");
  return (self.parent_path().parent_path().parent_path() / "server" / "wtserve").string();
}

ServerProcess::ServerProcess(const std::string& repo, const std::vector<std::string>& extra_flags,
                             std::shared_ptr<grpc::ChannelCredentials> credentials, const std::string& tls_server_name)
    : grpc_port_(FreePort()), metrics_port_(FreePort()), http_port_(FreePort()) {
  while (metrics_port_ == grpc_port_) metrics_port_ = FreePort();
  while (http_port_ == grpc_port_ || http_port_ == metrics_port_) http_port_ = FreePort();
  log_path_ = repo + "/../wtserve-" + std::to_string(grpc_port_) + ".log";
  std::vector<std::string> args = {ServerBinary(),
                                   "--model_repository=" + repo,
                                   "--bind_address=127.0.0.1",
                                   "--grpc_port=" + std::to_string(grpc_port_),
                                   "--metrics_port=" + std::to_string(metrics_port_),
                                   "--http_port=" + std::to_string(http_port_),
                                   "--intra_op_threads=1"};
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  grpc::ChannelArguments channel_args;
  if (!tls_server_name.empty()) channel_args.SetSslTargetNameOverride(tls_server_name);
  channel_ = grpc::CreateCustomChannel(
      grpc_address(), credentials != nullptr ? credentials : grpc::InsecureChannelCredentials(), channel_args);
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

HealthCheckResponse::ServingStatus ServerProcess::Health() {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  HealthCheckResponse response;
  if (!stub->Check(&ctx, request, &response).ok()) return HealthCheckResponse::UNKNOWN;
  return response.status();
}

bool ServerProcess::WaitForHealth(HealthCheckResponse::ServingStatus status, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Health() == status) return true;
    // Also stop early if the server died.
    int wstatus = 0;
    if (pid_ > 0 && ::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    // Wait for the channel to change state (or 100 ms) instead of spinning.
    channel_->WaitForStateChange(channel_->GetState(true),
                                 std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  }
  return false;
}

void ServerProcess::Signal(int signal_number) {
  if (pid_ > 0) ::kill(pid_, signal_number);
}

bool ServerProcess::WaitForMetric(const std::string& name, const std::string& labels, double value,
                                  std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (MetricValue(HttpGet(metrics_port_, "/metrics"), name, labels) != value) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  }
  return true;
}

bool ServerProcess::WaitForLog(const std::string& text, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Log().find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  return true;
}

int ServerProcess::WaitForExit(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int wstatus = 0;
    const pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    // waitpid has no timeout; poll the child's state at 10 ms intervals.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string ServerProcess::Log() const {
  std::ifstream file(log_path_);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

std::unique_ptr<inference::GRPCInferenceService::Stub> ServerProcess::Stub() const {
  return inference::GRPCInferenceService::NewStub(channel_);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (fd >= 0) ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  ::send(fd, request.data(), request.size(), 0);
  std::string response;
  char buffer[65536];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

double MetricValue(const std::string& text, const std::string& name, const std::string& labels) {
  const std::string key = labels.empty() ? name + " " : name + "{" + labels + "} ";
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(key, 0) == 0) return std::stod(line.substr(key.size()));
  }
  return -1;
}

}  // namespace wtserve::testing

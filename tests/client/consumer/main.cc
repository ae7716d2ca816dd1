// Uses only the installed headers: builds a tensor and fails to reach a closed port.
#include <cstdio>

#include <wtserve/client.h>

int main(int argc, char** argv) {
  wtserve::ClientOptions options;
  options.target = argc > 1 ? argv[1] : "127.0.0.1:1";
  options.max_attempts = 1;
  options.default_deadline = absl::Seconds(5);
  auto client = wtserve::Client::Create(options);
  if (!client.ok()) return 2;
  wtserve::Tensor t = wtserve::Tensor::Fp32("x", {1, 2}, std::vector<float>{1.f, 2.f});
  if (!t.Validate().ok()) return 3;
  absl::StatusOr<bool> live = (*client)->ServerLive();
  std::printf("ServerLive: %s\n", live.status().ToString().c_str());
  return live.status().code() == absl::StatusCode::kUnavailable ? 0 : 4;
}

#include "server/api/bearer_auth.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file/read_file.h"

namespace wtserve::api {

BearerTokenAuth::BearerTokenAuth(std::string token, bool protect_health)
    : token_(std::move(token)), protect_health_(protect_health) {}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Every byte of the longer string is visited, so the time leaks the lengths only.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

absl::Status BearerTokenAuth::Check(const grpc::ServerContextBase& ctx, bool health_call) const {
  if (!enabled() || (health_call && !protect_health_)) return absl::OkStatus();
  const auto& metadata = ctx.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) return CheckHeader(std::nullopt, health_call);
  return CheckHeader(std::string_view(it->second.data(), it->second.size()), health_call);
}

absl::Status BearerTokenAuth::CheckHeader(std::optional<std::string_view> authorization, bool health_call) const {
  if (!enabled() || (health_call && !protect_health_)) return absl::OkStatus();
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError("missing authorization (expected 'authorization: Bearer <token>')");
  }
  const std::string value(*authorization);
  constexpr char kScheme[] = "bearer ";
  if (value.size() < sizeof(kScheme) - 1 || !absl::StartsWithIgnoreCase(value, kScheme)) {
    return absl::UnauthenticatedError("authorization is not 'Bearer <token>'");
  }
  if (!ConstantTimeEquals(value.substr(sizeof(kScheme) - 1), token_)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadBearerTokenFile(const std::string& path) {
  std::string contents;
  if (!file::ReadWholeFile(path, &contents)) {
    return absl::InvalidArgumentError(absl::StrCat("--grpc_auth_token_file: cannot read ", path));
  }
  const std::string token(absl::StripAsciiWhitespace(contents));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("--grpc_auth_token_file: ", path, " is empty"));
  for (const char c : token) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("--grpc_auth_token_file: ", path, " holds whitespace or control characters inside the token"));
    }
  }
  return token;
}

}  // namespace wtserve::api

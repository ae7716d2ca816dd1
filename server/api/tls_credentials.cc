#include "server/api/tls_credentials.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file/read_file.h"

namespace wtserve::api {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(flag, " is required"));
  std::string contents;
  if (!file::ReadWholeFile(path, &contents)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  }
  if (contents.find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " is not a PEM file"));
  }
  return contents;
}

}  // namespace

std::string DescribeTls(const ServerTlsOptions& o) { return o.mutual ? "mutual TLS" : o.use_ssl ? "TLS" : "plaintext"; }

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsOptions& o) {
  if (!o.use_ssl && !o.mutual) {
    for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{"--grpc_server_cert", o.cert_file},
                                      {"--grpc_server_key", o.key_file},
                                      {"--grpc_root_cert", o.root_cert_file}}) {
      if (!value.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, " is set but TLS is off (add --grpc_use_ssl)"));
      }
    }
    return grpc::InsecureServerCredentials();
  }
  absl::StatusOr<std::string> cert = ReadPem("--grpc_server_cert", o.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem("--grpc_server_key", o.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(o.mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (o.mutual || !o.root_cert_file.empty()) {
    absl::StatusOr<std::string> root = ReadPem("--grpc_root_cert", o.root_cert_file);
    if (!root.ok()) {
      if (o.mutual && o.root_cert_file.empty()) {
        return absl::InvalidArgumentError(
            "--grpc_root_cert is required with --grpc_use_ssl_mutual (the CA that signs client certificates)");
      }
      return root.status();
    }
    ssl.pem_root_certs = *std::move(root);
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace wtserve::api

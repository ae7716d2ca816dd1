// Server-side TLS for the gRPC port, configured like Triton's --grpc-use-ssl* flags.
//
//   use_ssl         TLS with the server certificate `cert_file` and key `key_file` (PEM files).
//   mutual          mutual TLS: also require a client certificate signed by `root_cert_file`
//                   (PEM CA bundle); implies use_ssl.
// Without use_ssl/mutual the port is plaintext and no file may be given (a certificate flag
// without --grpc_use_ssl is a mistake, not a preference). A root certificate without `mutual`
// is accepted and unused, as in Triton.
#ifndef WTSERVE_SERVER_API_TLS_CREDENTIALS_H_
#define WTSERVE_SERVER_API_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace wtserve::api {

struct ServerTlsOptions {
  bool use_ssl = false;
  bool mutual = false;
  std::string cert_file;       // server certificate chain, PEM
  std::string key_file;        // its private key, PEM
  std::string root_cert_file;  // CA bundle that signs client certificates, PEM (mutual TLS)
};

// The credentials for the gRPC listening port. Errors (InvalidArgument) name the flag or file:
// a certificate flag without --grpc_use_ssl, TLS without a certificate or key, mutual TLS
// without a root certificate, an unreadable or empty file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const ServerTlsOptions& options);

// "plaintext", "TLS" or "mutual TLS" (for the startup log).
std::string DescribeTls(const ServerTlsOptions& options);

}  // namespace wtserve::api

#endif  // WTSERVE_SERVER_API_TLS_CREDENTIALS_H_

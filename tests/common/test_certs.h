// Certificates made at test time with the openssl CLI, for TLS tests of the client and the
// server: a CA, a server certificate for the DNS name "wtserve.test" only, and a client
// certificate, both signed by the CA (EC P-256, valid 2 days).
#ifndef WTSERVE_TESTS_COMMON_TEST_CERTS_H_
#define WTSERVE_TESTS_COMMON_TEST_CERTS_H_

#include <string>

namespace wtserve::testing {

// The name the server certificate is issued for (clients override the target name with it).
inline constexpr char kTestServerName[] = "wtserve.test";

// Writes ca.pem, ca.key, server.pem, server.key, client.pem, client.key into `dir` (created if
// missing). Returns false if openssl failed; its stderr is in dir/openssl.log.
bool MakeTestCertificates(const std::string& dir);

// The contents of dir/name ("" if unreadable).
std::string ReadTestFile(const std::string& dir, const std::string& name);

}  // namespace wtserve::testing

#endif  // WTSERVE_TESTS_COMMON_TEST_CERTS_H_

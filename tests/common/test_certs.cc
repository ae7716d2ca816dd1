#include "tests/common/test_certs.h"

#include <cstdlib>
#include <filesystem>

#include "common/file/read_file.h"

namespace wtserve::testing {

bool MakeTestCertificates(const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "set -e; cd '" + dir +
      "'; exec 2>openssl.log;"
      "openssl req -x509" +
      key +
      " -keyout ca.key -out ca.pem -days 2 -subj /CN=wtserve-test-ca;"
      "printf 'subjectAltName=DNS:" +
      std::string(kTestServerName) +
      "' > server.ext;"
      "openssl req" +
      key + " -keyout server.key -out server.csr -subj /CN=" + kTestServerName +
      ";"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
      " -extfile server.ext;"
      "openssl req" +
      key +
      " -keyout client.key -out client.csr -subj /CN=wtserve-client;"
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2";
  return std::system(("bash -c \"" + script + "\"").c_str()) == 0;
}

std::string ReadTestFile(const std::string& dir, const std::string& name) {
  std::string contents;
  file::ReadWholeFile(dir + "/" + name, &contents);
  return contents;
}

}  // namespace wtserve::testing

// The bearer-token helpers; the check on real calls is tested end to end in
// tests/integration/auth_test.cc.
#include "server/api/bearer_auth.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace wtserve::api {
namespace {

using ::testing::HasSubstr;

TEST(BearerAuth, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret", "s3cret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3creT"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cre"));                     // a prefix
  EXPECT_FALSE(ConstantTimeEquals("s3cret", std::string("s3cret\0", 7)));  // same C string, one byte longer
  EXPECT_FALSE(ConstantTimeEquals(std::string("ab\0c", 4), std::string("ab\0d", 4)));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
}

TEST(BearerAuth, TokenFileIsTrimmedAndChecked) {
  const std::string dir = std::filesystem::temp_directory_path() / ("wtserve_token_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  };
  absl::StatusOr<std::string> ok = ReadBearerTokenFile(write("ok", "  abc.DEF-123_~+/=\n"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, "abc.DEF-123_~+/=");
  EXPECT_THAT(ReadBearerTokenFile(write("empty", " \n\t")).status().message(), HasSubstr("is empty"));
  EXPECT_THAT(ReadBearerTokenFile(write("space", "two words")).status().message(), HasSubstr("whitespace"));
  EXPECT_THAT(ReadBearerTokenFile(write("ctrl", std::string("a\x01") + "b")).status().message(),
              HasSubstr("control characters"));
  EXPECT_THAT(ReadBearerTokenFile(dir + "/missing").status().message(), HasSubstr("cannot read"));
  EXPECT_EQ(ReadBearerTokenFile(dir + "/missing").status().code(), absl::StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(BearerAuth, DisabledPassesEverything) {
  const BearerTokenAuth none;
  EXPECT_FALSE(none.enabled());
}

}  // namespace
}  // namespace wtserve::api

// Path safety and manifest parsing of the model fetcher (berth pull). The
// network side is tested end to end by pull_test.py against a loopback server.
#include "fetch/model_fetcher.h"

#include <gtest/gtest.h>

#include <string>

namespace berth::fetch {
namespace {

constexpr char kDigestA[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
constexpr char kDigestB[] = "60303AE22B998861BCE3B28F33EEC1BE758A213C86C93C076DBE9F558C11C752";

TEST(SafeRelativePathTest, NormalisesHarmlessSpellings) {
  EXPECT_EQ(*SafeRelativePath("model.onnx"), "model.onnx");
  EXPECT_EQ(*SafeRelativePath("./digits//1/./model.onnx"), "digits/1/model.onnx");
  EXPECT_EQ(*SafeRelativePath("digits/config.pbtxt/"), "digits/config.pbtxt");
  EXPECT_EQ(*SafeRelativePath("a..b/..c"), "a..b/..c");  // dots inside a name are fine
}

TEST(SafeRelativePathTest, RefusesWhatCouldEscape) {
  for (const char* path :
       {"", "/etc/passwd", "../model.onnx", "digits/../../x", "a/..", "..", ".", "./", "a\\..\\b", "a\nb", "a\x7f"}) {
    auto result = SafeRelativePath(path);
    EXPECT_FALSE(result.ok()) << "accepted '" << path << "' as '" << (result.ok() ? *result : "") << "'";
  }
  EXPECT_EQ(SafeRelativePath(std::string("a\0b", 3)).status().code(), core::StatusCode::kInvalidArgument);
}

TEST(ParseManifestTest, ReadsSha256sumOutput) {
  std::string text =
      std::string("# models\n\n") + kDigestA + "  ./digits/1/model.onnx\n" + kDigestB + " *digits/config.pbtxt\r\n";
  auto entries = ParseManifest(text);
  ASSERT_TRUE(entries.ok()) << entries.status().message();
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].relative_path, "digits/1/model.onnx");
  EXPECT_EQ((*entries)[0].sha256, kDigestA);
  EXPECT_EQ((*entries)[1].relative_path, "digits/config.pbtxt");
  EXPECT_EQ((*entries)[1].sha256, "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752");  // lower-cased
}

TEST(ParseManifestTest, RefusesBadLines) {
  EXPECT_FALSE(ParseManifest("").ok());
  EXPECT_FALSE(ParseManifest("# nothing\n").ok());
  EXPECT_FALSE(ParseManifest("abc  model.onnx\n").ok());
  EXPECT_FALSE(ParseManifest(std::string(kDigestA) + "model.onnx\n").ok());
  auto traversal = ParseManifest(std::string(kDigestA) + "  ../../etc/cron.d/x\n");
  ASSERT_FALSE(traversal.ok());
  EXPECT_NE(traversal.status().message().find("manifest line 1"), std::string::npos);
  EXPECT_FALSE(ParseManifest(std::string(kDigestA) + "  /etc/passwd\n").ok());
  EXPECT_FALSE(ParseManifest(std::string(kDigestA) + "  a\n" + kDigestB + "  ./a\n").ok());  // listed twice
}

TEST(FetchModelTest, RefusesBadSourcesBeforeTouchingTheNetwork) {
  FetchOptions options;
  EXPECT_FALSE(FetchModel("ftp://host/model.onnx", "/tmp/berth-fetch-test", options).ok());
  EXPECT_FALSE(FetchModel("model.onnx", "/tmp/berth-fetch-test", options).ok());
  EXPECT_FALSE(FetchModel("s3:///key", "/tmp/berth-fetch-test", options).ok());
  EXPECT_FALSE(FetchModel("http://host/%2E%2E", "/tmp/berth-fetch-test", options).ok());
  options.sha256 = "not-a-digest";
  EXPECT_FALSE(FetchModel("http://127.0.0.1:1/model.onnx", "/tmp/berth-fetch-test", options).ok());
}

}  // namespace
}  // namespace berth::fetch

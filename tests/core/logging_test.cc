// Log lines: a value from outside (a request id, a folder name) can neither
// forge a line nor smuggle raw control bytes or invalid UTF-8, in either
// format.
#include "core/logging.h"

#include <gtest/gtest.h>

#include <string>

#include "core/utf8.h"

namespace berth::core {
namespace {

bool Clean(const std::string& line) {
  for (unsigned char c : line) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return IsValidUtf8(line);
}

TEST(Logging, PlainValuesStayBare) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, "T", LogLevel::kInfo, "model version ready",
                          {{"model", "digits"}, {"version", "1"}}),
            "T info model version ready model=digits version=1");
}

TEST(Logging, TextValuesThatCouldForgeALineAreQuotedAndEscaped) {
  const std::string forged = "a\n2026-01-01T00:00:00.000Z info request id=evil\tstatus=200";
  std::string line = FormatLogLine(LogFormat::kText, "T", LogLevel::kInfo, "request", {{"id", forged}});
  EXPECT_EQ(line, "T info request id=\"a\\n2026-01-01T00:00:00.000Z info request id=evil\\tstatus=200\"") << line;
  EXPECT_TRUE(Clean(line));
  for (std::string value : {std::string("x\x1b[31mred"), std::string("del\x7f"), std::string("nul\0x", 5),
                            std::string("bad\xff\xfeutf8"), std::string("a=b"), std::string("")}) {
    line = FormatLogLine(LogFormat::kText, "T", LogLevel::kInfo, "m", {{"v", value}});
    EXPECT_TRUE(Clean(line)) << line;
    EXPECT_NE(line.find("v=\""), std::string::npos) << line;
  }
  line = FormatLogLine(LogFormat::kText, "T", LogLevel::kWarning, "skipping\ta folder", {{"name\n", "x"}});
  EXPECT_TRUE(Clean(line)) << line;
}

TEST(Logging, JsonLinesAreValidWhateverTheValue) {
  std::string line =
      FormatLogLine(LogFormat::kJson, "T", LogLevel::kError, "m\x1b", {{"id", std::string("a\n\x7f\xff\0", 5)}});
  EXPECT_TRUE(Clean(line)) << line;
  EXPECT_EQ(line, "{\"ts\":\"T\",\"level\":\"error\",\"msg\":\"m\\u001b\",\"id\":\"a\\n\\u007f?\\u0000\"}");
}

}  // namespace
}  // namespace berth::core

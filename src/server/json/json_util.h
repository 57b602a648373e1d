// JSON helpers for the protocol layer: limits checked before parsing,
// RapidJSON parse flags, and a writer that appends to a std::string.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace berth::server {

// Iterative (no recursion on untrusted input), full-precision numbers, and
// NaN/Infinity accepted so that what berth writes it can read back.
inline constexpr unsigned kJsonParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag | rapidjson::kParseNanAndInfFlag;

// Rejects, before any parse, text nested deeper than `max_depth` or holding
// more than `max_objects` objects. One linear pass over the bytes; strings
// (with escapes) are skipped. Malformed text is left for the parser.
core::Status CheckJsonLimits(std::string_view text, int max_depth, size_t max_objects);

// A RapidJSON output stream appending to a std::string.
class JsonStringSink {
 public:
  using Ch = char;
  explicit JsonStringSink(std::string* out) : out_(out) {}
  void Put(char c) { out_->push_back(c); }
  void Flush() {}
  std::string* string() { return out_; }

 private:
  std::string* out_;
};

using JsonWriter = rapidjson::Writer<JsonStringSink, rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator,
                                     rapidjson::kWriteNanAndInfFlag>;

// Writes a float/double as the shortest text that reads back to the same
// value; NaN and infinities as NaN / Infinity / -Infinity.
template <typename Float>
void WriteFloat(JsonWriter& writer, Float value) {
  if (std::isnan(value)) {
    writer.RawValue("NaN", 3, rapidjson::kNumberType);
  } else if (std::isinf(value)) {
    if (value > 0) {
      writer.RawValue("Infinity", 8, rapidjson::kNumberType);
    } else {
      writer.RawValue("-Infinity", 9, rapidjson::kNumberType);
    }
  } else {
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
    writer.RawValue(buffer, static_cast<size_t>(end - buffer), rapidjson::kNumberType);
  }
}

// Describes a parse failure: "invalid JSON at offset 17: Missing a colon ...".
std::string DescribeJsonError(const rapidjson::Document& document);

}  // namespace berth::server

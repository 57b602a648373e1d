#include "server/json_util.h"

#include <rapidjson/error/en.h>

#include "core/logging.h"

namespace berth::server {

core::Status CheckJsonLimits(std::string_view text, int max_depth, size_t max_objects) {
  int depth = 0;
  size_t objects = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // skip the escaped character (a \uXXXX tail is plain hex)
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
        if (++objects > max_objects) {
          return core::InvalidArgument("request JSON holds more than {} objects", max_objects);
        }
        [[fallthrough]];
      case '[':
        if (++depth > max_depth)
          return core::InvalidArgument("request JSON is nested deeper than {} levels", max_depth);
        break;
      case '}':
      case ']':
        --depth;
        break;
      default:
        break;
    }
  }
  return core::Status::Ok();
}

namespace {

// Length of the well-formed UTF-8 sequence at text[i], or 0.
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (length == 0 || i + length > text.size() || (length == 2 && c < 0xC2)) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return 0;
  }
  return length;
}

// Replaces bytes that are not part of a well-formed UTF-8 sequence with '?',
// so error messages quoting request bytes stay valid JSON.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(text, i);
    if (length > 0) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string JsonErrorBody(std::string_view message) {
  std::string body = "{\"error\":\"";
  body += core::JsonEscape(ValidUtf8(message));
  body += "\"}";
  return body;
}

std::string DescribeJsonError(const rapidjson::Document& document) {
  return fmt::format("invalid JSON at offset {}: {}", document.GetErrorOffset(),
                     rapidjson::GetParseError_En(document.GetParseError()));
}

}  // namespace berth::server

#include "server/kserve/json_util.h"

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

std::string DescribeJsonError(const rapidjson::Document& document) {
  return fmt::format("invalid JSON at offset {}: {}", document.GetErrorOffset(),
                     rapidjson::GetParseError_En(document.GetParseError()));
}

}  // namespace berth::server

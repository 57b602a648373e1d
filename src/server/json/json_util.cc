#include "server/json/json_util.h"

#include <rapidjson/error/en.h>

#include "core/logging.h"
#include "core/text_limits.h"

namespace berth::server {

core::Status CheckJsonLimits(std::string_view text, int max_depth, size_t max_objects) {
  ASSIGN_OR_RETURN(core::NestingCount count, core::CheckNesting(text, core::kJsonSyntax, max_depth, "request JSON"));
  if (count.opened > max_objects) return core::InvalidArgument("request JSON holds more than {} objects", max_objects);
  return core::Status::Ok();
}

std::string DescribeJsonError(const rapidjson::Document& document) {
  return fmt::format("invalid JSON at offset {}: {}", document.GetErrorOffset(),
                     rapidjson::GetParseError_En(document.GetParseError()));
}

}  // namespace berth::server

// HttpRouter: maps a request line to one of the KServe v2 / berth routes and
// extracts the model name and version from the path. No regular expressions:
// the path is split on '/' and matched segment by segment.
//
// Model names are percent-decoded and must pass IsValidModelName; versions
// are positive decimal integers; any "." or ".." path segment is refused. A
// bad name or version is a 400, an unknown path a 404, a known path with the
// wrong method a 405 (GET routes also answer HEAD).
#pragma once

#include <boost/beast/http/verb.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace berth::server {

enum class Route : uint8_t {
  kHealthLive,
  kHealthReady,
  kServerMetadata,
  kModelMetadata,
  kModelReady,
  kModelInfer,
  kModelConfig,
  kModelStats,
  kRepositoryIndex,
  kRepositoryLoad,
  kRepositoryUnload,
  kMetrics,
  kNotFound,
  kCount,
};

// The route's path template, used as the `route` metric label.
std::string_view RouteTemplate(Route route);
// Health probes are open to all (Kubernetes and HEALTHCHECK carry no token).
bool RouteRequiresAuth(Route route);
// Health and metrics requests are logged at debug level, the rest at info.
bool RouteIsQuiet(Route route);

struct RouteMatch {
  Route route = Route::kNotFound;
  std::string model;    // decoded; empty when the route has none
  int64_t version = 0;  // 0 = not given
  core::Status error;   // bad name/version/path: answer 400 with it
  bool method_allowed = true;
  std::string_view allow;  // the methods the route takes, for 405's Allow header
};

RouteMatch MatchRoute(boost::beast::http::verb method, std::string_view target);

}  // namespace berth::server

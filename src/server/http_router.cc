#include "server/http_router.h"

#include <array>
#include <charconv>

#include "server/model_repository.h"

namespace berth::server {
namespace {

using boost::beast::http::verb;

constexpr size_t kMaxSegments = 8;

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'a' && h <= 'f') return h - 'a' + 10;
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;
    };
    int high = hex(text[i + 1]);
    int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

bool IsGet(verb method) { return method == verb::get || method == verb::head; }

}  // namespace

std::string_view RouteTemplate(Route route) {
  switch (route) {
    case Route::kHealthLive:
      return "/v2/health/live";
    case Route::kHealthReady:
      return "/v2/health/ready";
    case Route::kServerMetadata:
      return "/v2";
    case Route::kModelMetadata:
      return "/v2/models/{model}";
    case Route::kModelReady:
      return "/v2/models/{model}/ready";
    case Route::kModelInfer:
      return "/v2/models/{model}/infer";
    case Route::kModelConfig:
      return "/v2/models/{model}/config";
    case Route::kModelStats:
      return "/v2/models/{model}/stats";
    case Route::kRepositoryIndex:
      return "/v2/repository/index";
    case Route::kRepositoryLoad:
      return "/v2/repository/models/{model}/load";
    case Route::kRepositoryUnload:
      return "/v2/repository/models/{model}/unload";
    case Route::kMetrics:
      return "/metrics";
    case Route::kNotFound:
    case Route::kCount:
      break;
  }
  return "other";
}

bool RouteRequiresAuth(Route route) { return route != Route::kHealthLive && route != Route::kHealthReady; }

bool RouteIsQuiet(Route route) {
  return route == Route::kHealthLive || route == Route::kHealthReady || route == Route::kMetrics;
}

RouteMatch MatchRoute(verb method, std::string_view target) {
  RouteMatch match;
  std::string_view path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/') {
    match.error = core::InvalidArgument("the request target must be an absolute path");
    return match;
  }
  std::array<std::string_view, kMaxSegments> segments;
  size_t count = 0;
  std::string_view rest = path.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    if (count == kMaxSegments) return match;  // longer than any route
    segments[count++] = segment;
    auto decoded = PercentDecode(segment);
    if (!decoded || *decoded == "." || *decoded == ".." || decoded->find('/') != std::string::npos) {
      match.error = core::InvalidArgument(
          "the path must not contain '.', '..' or encoded '/' segments, or bad "
          "percent escapes");
      return match;
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  auto route = [&](Route r, bool method_ok, std::string_view allow) {
    match.route = r;
    match.method_allowed = method_ok;
    match.allow = allow;
  };
  auto model_at = [&](size_t i) -> bool {
    auto decoded = PercentDecode(segments[i]);
    if (!decoded || !IsValidModelName(*decoded)) {
      match.error = core::InvalidArgument("'{}' is not a valid model name (letters, digits, '_', '.', '-'; no '..')",
                                          decoded ? *decoded : std::string(segments[i]));
      return false;
    }
    match.model = std::move(*decoded);
    return true;
  };
  auto version_at = [&](size_t i) -> bool {
    std::string_view text = segments[i];
    int64_t version = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
    if (text.empty() || text.size() > 18 || ec != std::errc() || end != text.data() + text.size() || version <= 0) {
      match.error = core::InvalidArgument("'{}' is not a valid model version (a positive integer)", text);
      return false;
    }
    match.version = version;
    return true;
  };
  const bool get = IsGet(method);
  const bool post = method == verb::post;

  if (count == 1 && segments[0] == "health") {
    route(Route::kHealthReady, get, "GET, HEAD");
  } else if (count == 1 && segments[0] == "metrics") {
    route(Route::kMetrics, get, "GET, HEAD");
  } else if (count >= 1 && segments[0] == "v2") {
    if (count == 1) {
      route(Route::kServerMetadata, get, "GET, HEAD");
    } else if (count == 3 && segments[1] == "health" && segments[2] == "live") {
      route(Route::kHealthLive, get, "GET, HEAD");
    } else if (count == 3 && segments[1] == "health" && segments[2] == "ready") {
      route(Route::kHealthReady, get, "GET, HEAD");
    } else if (count == 3 && segments[1] == "repository" && segments[2] == "index") {
      route(Route::kRepositoryIndex, post, "POST");
    } else if (count == 5 && segments[1] == "repository" && segments[2] == "models" &&
               (segments[4] == "load" || segments[4] == "unload")) {
      if (!model_at(3)) return match;
      route(segments[4] == "load" ? Route::kRepositoryLoad : Route::kRepositoryUnload, post, "POST");
    } else if (count == 3 && segments[1] == "models" && segments[2] == "stats") {
      route(Route::kModelStats, get, "GET, HEAD");
    } else if (count >= 3 && segments[1] == "models") {
      // /v2/models/{m}[/versions/{v}][/ready|infer|config|stats]
      size_t next = 3;
      if (count >= 5 && segments[3] == "versions") next = 5;
      std::string_view action = count == next + 1 ? segments[next] : std::string_view();
      if (count > next + 1 || (next == 3 && count == 4 && segments[3] == "versions")) return match;
      Route r = Route::kNotFound;
      bool method_ok = get;
      std::string_view allow = "GET, HEAD";
      if (count == next) {
        r = Route::kModelMetadata;
      } else if (action == "ready") {
        r = Route::kModelReady;
      } else if (action == "infer") {
        r = Route::kModelInfer;
        method_ok = post;
        allow = "POST";
      } else if (action == "config") {
        r = Route::kModelConfig;
      } else if (action == "stats") {
        r = Route::kModelStats;
      } else {
        return match;
      }
      if (!model_at(2)) return match;
      if (next == 5 && !version_at(4)) return match;
      route(r, method_ok, allow);
    }
  }
  return match;
}

}  // namespace berth::server

#include "server/http/route_table.h"

#include <algorithm>
#include <array>
#include <optional>

namespace berth::server {
namespace {

using boost::beast::http::verb;

// Longer paths than this fit no route: they are not even split.
constexpr size_t kMaxSegments = 8;

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = hex(text[i + 1]);
    int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

bool IsParameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

std::vector<std::string> SplitPattern(std::string_view pattern) {
  std::vector<std::string> segments;
  std::string_view rest = pattern.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    segments.emplace_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return segments;
}

bool Takes(const Route& route, verb method) {
  return route.method == method || (route.method == verb::get && method == verb::head);
}

}  // namespace

std::string_view RouteMatch::Parameter(std::string_view name) const {
  for (const auto& [key, value] : parameters) {
    if (key == name) return value;
  }
  return {};
}

RouteTable::RouteTable() : labels_{"other"} {}

void RouteTable::DefineParameter(std::string name, ParameterCheck check) {
  checks_.emplace_back(std::move(name), std::move(check));
}

void RouteTable::Add(Route route) {
  Entry entry;
  entry.segments = SplitPattern(route.pattern);
  entry.literals = static_cast<size_t>(
      std::count_if(entry.segments.begin(), entry.segments.end(), [](const auto& s) { return !IsParameter(s); }));
  if (route.label.empty()) route.label = route.pattern;
  auto label = std::find(labels_.begin(), labels_.end(), route.label);
  entry.label = static_cast<size_t>(label - labels_.begin());
  if (label == labels_.end()) labels_.push_back(route.label);
  entry.route = std::move(route);
  entries_.push_back(std::move(entry));
}

RouteMatch RouteTable::Match(verb method, std::string_view target) const {
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
    if (count == kMaxSegments) return match;  // longer than any route
    segments[count++] = rest.substr(0, slash);
    auto decoded = PercentDecode(segments[count - 1]);
    if (!decoded || *decoded == "." || *decoded == ".." || decoded->find('/') != std::string::npos) {
      match.error = core::InvalidArgument(
          "the path must not contain '.', '..' or encoded '/' segments, or bad "
          "percent escapes");
      return match;
    }
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }

  // The most literal pattern that fits the path structurally.
  const Entry* best = nullptr;
  for (const Entry& entry : entries_) {
    if (entry.segments.size() != count) continue;
    bool fits = true;
    for (size_t i = 0; fits && i < count; ++i) {
      fits = IsParameter(entry.segments[i]) || entry.segments[i] == segments[i];
    }
    if (fits && (!best || entry.literals > best->literals)) best = &entry;
  }
  if (!best) return match;

  for (size_t i = 0; i < count; ++i) {
    const std::string& segment = best->segments[i];
    if (!IsParameter(segment)) continue;
    std::string name = segment.substr(1, segment.size() - 2);
    std::string value = *PercentDecode(segments[i]);
    for (const auto& [checked, check] : checks_) {
      if (checked != name) continue;
      core::Status status = check(value);
      if (!status.ok()) {
        match.error = status;
        return match;
      }
    }
    match.parameters.emplace_back(std::move(name), std::move(value));
  }

  // The method, among the routes with the same pattern.
  std::vector<std::string> allowed;
  for (const Entry& entry : entries_) {
    if (entry.route.pattern != best->route.pattern) continue;
    if (Takes(entry.route, method) && !match.route) {
      match.route = &entry.route;
      match.label = entry.label;
    }
    std::string name(boost::beast::http::to_string(entry.route.method));
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) allowed.push_back(name);
    if (entry.route.method == verb::get) allowed.emplace_back("HEAD");
  }
  for (const auto& name : allowed) match.allow += (match.allow.empty() ? "" : ", ") + name;
  if (!match.route) {
    match.route = &best->route;
    match.label = best->label;
    match.method_allowed = false;
  }
  return match;
}

}  // namespace berth::server

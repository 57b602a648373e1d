// berth health [--url URL] [--timeout-secs S]
//
// Exits 0 iff the server answers 200 on its readiness route: a Docker
// HEALTHCHECK / exec probe for images without curl. The default URL is built
// from BERTH_HOST and BERTH_PORT (what `berth serve` reads), so one set of
// environment variables configures both.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"

namespace berth::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct HealthArguments {
  std::string url;
  double timeout_secs = 3;
};

struct ParsedUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};

core::Result<ParsedUrl> ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return core::InvalidArgument("--url '{}' must start with http:// (https is not supported)", url);
  }
  url.remove_prefix(kScheme.size());
  ParsedUrl parsed;
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) parsed.target = std::string(url.substr(slash));
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return core::InvalidArgument("--url '{}' has a bad IPv6 address", url);
    parsed.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      parsed.port = std::string(authority.substr(close + 2));
  } else {
    size_t colon = authority.rfind(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) parsed.port = std::string(authority.substr(colon + 1));
  }
  if (parsed.host.empty()) return core::InvalidArgument("--url '{}' has no host", url);
  return parsed;
}

std::string DefaultUrl() {
  if (const char* url = std::getenv("BERTH_HEALTH_URL"); url && *url) return url;
  std::string host = "127.0.0.1";
  if (const char* env = std::getenv("BERTH_HOST"); env && *env) host = env;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  std::string port = "8080";
  if (const char* env = std::getenv("BERTH_PORT"); env && *env) port = env;
  return "http://" + host + ":" + port + "/v2/health/ready";
}

int CheckHealth(const HealthArguments& args) {
  std::string url = args.url.empty() ? DefaultUrl() : args.url;
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) return ReportError(parsed.status());
  try {
    asio::io_context io_context;
    asio::ip::tcp::resolver resolver(io_context);
    beast::tcp_stream stream(io_context);
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(args.timeout_secs * 1000));
    auto endpoints = resolver.resolve(parsed->host, parsed->port);
    stream.expires_after(timeout);
    stream.connect(endpoints);
    http::request<http::empty_body> request(http::verb::get, parsed->target, 11);
    request.set(http::field::host, parsed->host);
    request.set(http::field::user_agent, "berth-health");
    request.set(http::field::connection, "close");
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    if (response.result_int() == 200) {
      std::cout << "ready (" << url << ")\n";
      return 0;
    }
    std::cerr << "berth: not ready (" << url << "): HTTP " << response.result_int() << " " << response.body() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "berth: not ready (" << url << "): " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

void AddHealthCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<HealthArguments>();
  CLI::App* cmd = app.add_subcommand("health", "Exit 0 iff a berth server answers ready (a HEALTHCHECK without curl)");
  cmd->add_option("--url", args->url,
                  "readiness URL (default: http://$BERTH_HOST:$BERTH_PORT/v2/health/ready, or $BERTH_HEALTH_URL)");
  cmd->add_option("--timeout-secs", args->timeout_secs, "give up after this long")->capture_default_str();
  cmd->callback([args, exit_code] { *exit_code = CheckHealth(*args); });
}

}  // namespace berth::cli

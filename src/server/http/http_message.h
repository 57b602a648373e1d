// HTTP request/response types shared by the transport (HttpConnection) and
// the protocol handlers, and the one place where a core::Status becomes an
// HTTP status code.
#pragma once

#include <boost/beast/http.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace berth::server {

namespace http = boost::beast::http;
using HttpRequestMessage = http::request<http::string_body>;

struct HttpResponse {
  unsigned status = 200;
  std::string_view content_type = "application/json";  // static strings only
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool close = false;                                        // answer with "Connection: close" and close
  // For the request log line.
  std::string model;
  std::string version;
  std::string request_id;
};

// Delivers the response for one request. Callable from any thread, once.
using HttpRespond = std::function<void(HttpResponse)>;

// Status code mapping, shared by every route:
//   InvalidArgument, OutOfRange, FailedPrecondition -> 400, Unauthenticated -> 401,
//   NotFound -> 404, AlreadyExists -> 409, Unimplemented -> 501,
//   Unavailable, ResourceExhausted -> 503, RequestTooLarge -> 507, DeadlineExceeded -> 504,
//   Cancelled -> 499,
//   Internal (the model's or the server's fault) -> 500.
unsigned HttpStatusFor(core::StatusCode code);

// Header value helpers: optional whitespace (spaces, tabs) off both ends,
// and ASCII case-insensitive comparison of tokens ("gzip", "chunked").
std::string_view TrimOws(std::string_view value);
bool TokenEquals(std::string_view a, std::string_view b);
std::string_view HttpReasonPhrase(unsigned status);

HttpResponse JsonResponse(unsigned status, std::string body);
// {"error": message}; 503s carry Retry-After: 1.
HttpResponse ErrorResponse(unsigned status, std::string_view message);
HttpResponse ErrorResponse(const core::Status& status);

}  // namespace berth::server

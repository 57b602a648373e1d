#include "server/http/http_message.h"

#include <cctype>

#include "core/logging.h"
#include "core/utf8.h"

namespace berth::server {

std::string_view TrimOws(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

bool TokenEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

unsigned HttpStatusFor(core::StatusCode code) {
  switch (code) {
    case core::StatusCode::kOk:
      return 200;
    case core::StatusCode::kInvalidArgument:
    case core::StatusCode::kOutOfRange:
    case core::StatusCode::kFailedPrecondition:
      return 400;
    case core::StatusCode::kUnauthenticated:
      return 401;
    case core::StatusCode::kNotFound:
      return 404;
    case core::StatusCode::kAlreadyExists:
      return 409;
    case core::StatusCode::kUnimplemented:
      return 501;
    case core::StatusCode::kResourceExhausted:
    case core::StatusCode::kUnavailable:
      return 503;
    case core::StatusCode::kRequestTooLarge:
      return 507;  // Insufficient Storage: this request will never fit as it is
    case core::StatusCode::kDeadlineExceeded:
      return 504;
    case core::StatusCode::kCancelled:
      return 499;  // nginx's "client closed request": nobody reads it, the logs do
    case core::StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string_view HttpReasonPhrase(unsigned status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return "Unknown";
  }
}

HttpResponse JsonResponse(unsigned status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse ErrorResponse(unsigned status, std::string_view message) {
  HttpResponse response = JsonResponse(status, "{\"error\":\"" + core::JsonEscape(core::ValidUtf8(message)) + "\"}");
  if (status == 503) response.headers.emplace_back("Retry-After", "1");
  return response;
}

HttpResponse ErrorResponse(const core::Status& status) {
  return ErrorResponse(HttpStatusFor(status.code()), status.message());
}

}  // namespace berth::server

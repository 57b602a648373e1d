// RouteTable: the routes of one HTTP server, as the protocols registered
// them (KServe v2 in server/kserve/, later others). The transport matches a
// request line against the table and hands the request to the route's
// handler; it knows nothing of what the routes mean.
//
// A pattern is a path of literal segments and {parameters}:
// "/v2/models/{model}/versions/{version}/infer". Matching splits the path on
// '/' (no regular expressions), percent-decodes each segment and refuses "."
// and ".." segments, encoded '/' and bad escapes (400). Among the patterns
// that fit the path, those with the most literal segments win
// ("/v2/models/stats" before "/v2/models/{model}"). Their parameters are
// checked with the checks defined for them (400 with the check's message),
// then the method: none of the path's routes takes it is a 405 with an Allow
// header, and GET routes also answer HEAD. No pattern fits: 404.
//
// Thread safety: fill the table before the server starts; it is read-only
// (and so safe from every I/O thread) afterwards.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/memory_budget.h"
#include "core/status.h"
#include "server/http/http_message.h"

namespace berth::server {

struct RouteMatch;

// A response whose body is sent in pieces as they are made (Server-Sent
// Events): HTTP/1.1 chunked transfer coding, each Write flushed to the
// socket as soon as the previous one is written. Thread-safe; the
// connection outlives the object's use. Writes queued beyond
// kMaxQueuedBytes (a client that stopped reading) end the stream as gone.
class HttpStream {
 public:
  static constexpr size_t kMaxQueuedBytes = size_t{4} << 20;
  virtual ~HttpStream() = default;
  // Queues a piece of the body. False once the client has gone (or the
  // stream was ended): the producer should stop.
  virtual bool Write(std::string data) = 0;
  // Ends the body; the connection then serves its next request. Once.
  virtual void End() = 0;
  // True once the client has gone.
  virtual bool gone() const = 0;
};

// Starts a streamed response with `head`'s status and headers (its body is
// ignored). Call it instead of `respond`, once, from any thread.
using HttpStartStream = std::function<std::shared_ptr<HttpStream>(HttpResponse head)>;

// One request handed to a route's handler.
struct HttpExchange {
  const RouteMatch& match;
  HttpRequestMessage& request;            // valid until `respond` is called
  boost::asio::any_io_executor executor;  // the connection's strand
  HttpRespond respond;                    // exactly once, from any thread (or `stream`)
  HttpStartStream stream;                 // instead of `respond`: a body sent in pieces
  // Becomes true when the client closes its connection before the answer:
  // work done for it can stop.
  std::shared_ptr<std::atomic<bool>> cancelled;
  // The request's memory account: its body is charged to it already; what
  // the handler builds from it (parsed inputs, results) belongs there too.
  std::shared_ptr<core::MemoryAccount> memory;
};

// Answers a request; must not throw (a throw is logged and answered 500).
using HttpHandler = std::function<void(HttpExchange& exchange)>;

// Checks a decoded path parameter; an error answers 400 with its message.
using ParameterCheck = std::function<core::Status(std::string_view value)>;

struct Route {
  boost::beast::http::verb method = boost::beast::http::verb::get;  // GET also answers HEAD
  std::string pattern;
  std::string label;  // the `route` label of the HTTP metrics; empty = the pattern
  HttpHandler handler;
  bool requires_auth = true;  // false for health probes: Kubernetes and HEALTHCHECK carry no key
  bool quiet = false;         // logged at debug level instead of info (probes, scrapes)
  bool probe = false;         // answered even when every --max-connections slot is taken
};

struct RouteMatch {
  const Route* route = nullptr;                                 // null: no route for the path (404), or `error` is set
  std::vector<std::pair<std::string, std::string>> parameters;  // decoded, in path order
  core::Status error;                                           // a bad path or parameter: 400
  bool method_allowed = true;
  std::string allow;  // the methods the path takes, for 405's Allow header
  size_t label = 0;   // index into RouteTable::labels(); 0 = "other"

  // The decoded parameter, or "" when the route has none of that name.
  std::string_view Parameter(std::string_view name) const;
};

class RouteTable {
 public:
  RouteTable();

  // Every route with a {name} parameter has it checked this way.
  void DefineParameter(std::string name, ParameterCheck check);
  void Add(Route route);

  RouteMatch Match(boost::beast::http::verb method, std::string_view target) const;

  // Metric labels: index 0 is "other" (no route), then each distinct label.
  const std::vector<std::string>& labels() const { return labels_; }

 private:
  struct Entry {
    Route route;
    std::vector<std::string> segments;  // literal text, or "{name}"
    size_t literals = 0;
    size_t label = 0;
  };
  std::vector<Entry> entries_;
  std::vector<std::pair<std::string, ParameterCheck>> checks_;
  std::vector<std::string> labels_;
};

}  // namespace berth::server

// KServeRoutes: the KServe v2 / Triton HTTP routes, translated onto the
// Server API. Parses and serializes on the calling I/O thread; inference
// results come back from an instance thread and are serialized on the
// connection's executor, so instance threads only compute.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include "server/http_message.h"
#include "server/http_router.h"
#include "server/kserve_codec.h"
#include "server/server.h"

namespace berth::server {

struct HttpExchange {
  const RouteMatch& match;
  HttpRequestMessage& request;            // valid until `respond` is called
  boost::asio::any_io_executor executor;  // the connection's strand
  HttpRespond respond;
};

class KServeRoutes {
 public:
  KServeRoutes(Server& server, JsonLimits limits) : server_(server), limits_(limits) {}

  // Answers a routed request whose method is allowed and whose match has no
  // error. Never throws; every failure is a JSON error response.
  void Handle(HttpExchange exchange);

 private:
  HttpResponse HealthLive() const;
  HttpResponse HealthReady() const;
  HttpResponse ServerMetadata() const;
  HttpResponse ModelMetadata(const RouteMatch& match) const;
  HttpResponse ModelReady(const RouteMatch& match) const;
  HttpResponse ModelConfig(const RouteMatch& match) const;
  HttpResponse ModelStats(const RouteMatch& match) const;
  HttpResponse RepositoryIndex(const HttpRequestMessage& request) const;
  HttpResponse RepositoryUnload(const RouteMatch& match);
  HttpResponse Metrics();
  void RepositoryLoad(HttpExchange& exchange);
  void Infer(HttpExchange& exchange);

  Server& server_;
  JsonLimits limits_;
};

}  // namespace berth::server

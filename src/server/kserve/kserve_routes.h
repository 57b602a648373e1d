// KServeRoutes: the KServe v2 / Triton HTTP routes, translated onto the
// Server API and registered in the transport's RouteTable. Parses and
// serializes on the calling I/O thread; inference results come back from an
// instance thread and are serialized on the connection's executor, so
// instance threads only compute.
//
// Routes (GET ones also answer HEAD; {model} and {version} are checked by
// the table: a valid model name, a positive integer):
//   GET  /v2/health/live, /v2/health/ready (also /health)   no API key needed
//   GET  /v2                                                server metadata
//   GET  /v2/models/{model}[/versions/{version}]            model metadata
//   GET  .../ready, .../config, .../stats, /v2/models/stats
//   POST .../infer
//   POST /v2/repository/index, /v2/repository/models/{model}/load|unload
#pragma once

#include <cstdint>
#include <string>

#include "server/http/route_table.h"
#include "server/kserve/kserve_codec.h"
#include "server/server.h"

namespace berth::server {

class KServeRoutes {
 public:
  // `keys_required`: the server asks for an API key. The probes stay open
  // then, but say only whether the server is ready, never why not (a reason
  // names models, files and load errors).
  KServeRoutes(Server& server, JsonLimits limits, bool keys_required = false)
      : server_(server), limits_(limits), keys_required_(keys_required) {}

  // Adds every route, and the checks of {model} and {version}. The routes
  // hold a reference to this object, which must outlive the table's use.
  void Register(RouteTable& table);

 private:
  HttpResponse HealthLive() const;
  HttpResponse HealthReady() const;
  HttpResponse ServerMetadata() const;
  HttpResponse ModelMetadata(const std::string& model, int64_t version) const;
  HttpResponse ModelReady(const std::string& model, int64_t version) const;
  HttpResponse ModelConfig(const std::string& model, int64_t version) const;
  HttpResponse ModelStats(const std::string& model, int64_t version) const;
  HttpResponse RepositoryIndex(const HttpRequestMessage& request) const;
  HttpResponse RepositoryUnload(const std::string& model);
  void RepositoryLoad(HttpExchange& exchange);
  void Infer(HttpExchange& exchange);

  Server& server_;
  JsonLimits limits_;
  bool keys_required_;
};

}  // namespace berth::server

// OpenAiRoutes: OpenAI's HTTP API for the language models a Server serves,
// onto Server::Generate, registered in the transport's RouteTable beside the
// KServe v2 routes.
//
//   GET  /v1/models, /v1/models/{model}
//   POST /v1/chat/completions, /v1/completions    (stream: Server-Sent Events)
//   POST /v1/embeddings
//   POST /tokenize, /detokenize
//
// Errors are OpenAI's error object with the HTTP status the failure maps to
// (400 bad field, 404 unknown model, 429 queue full with Retry-After, 5xx
// the server's). A streamed response that fails after its head has gone
// out ends with an `error` event before `[DONE]`. A client that hangs up
// cancels its sequences: their slots free at the next step.
#pragma once

#include <chrono>

#include "server/http/route_table.h"
#include "server/openai/openai_request.h"
#include "server/server.h"

namespace berth::server {

class OpenAiRoutes {
 public:
  OpenAiRoutes(Server& server, OpenAiLimits limits) : server_(server), limits_(limits) {}

  // Adds the routes. They hold a reference to this object, which must
  // outlive the table's use.
  void Register(RouteTable& table);

 private:
  void ListModels(HttpExchange& exchange) const;
  void GetModel(HttpExchange& exchange) const;
  void Generate(HttpExchange& exchange, bool chat);
  void Embed(HttpExchange& exchange);
  void Tokenize(HttpExchange& exchange, bool detokenize) const;
  // The model the request names; with none named, the only one served.
  core::Result<Server::GeneratorHandle> Resolve(const std::string& model) const;
  // When a request's sequences end at the latest: --compute-timeout-secs from now.
  std::chrono::steady_clock::time_point RequestDeadline() const;

  Server& server_;
  OpenAiLimits limits_;
};

}  // namespace berth::server

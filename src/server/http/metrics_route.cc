#include "server/http/metrics_route.h"

namespace berth::server {

Route MetricsRoute(std::function<std::string()> render) {
  Route route;
  route.pattern = "/metrics";
  route.quiet = true;
  route.handler = [render = std::move(render)](HttpExchange& exchange) {
    HttpResponse response = JsonResponse(200, render());
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    exchange.respond(std::move(response));
  };
  return route;
}

}  // namespace berth::server

// The Prometheus scrape route, GET /metrics: whatever `render` returns, as
// Prometheus text exposition. Quiet in the request log (scraped every few
// seconds); it needs the API key when keys are set.
#pragma once

#include <functional>
#include <string>

#include "server/http/route_table.h"

namespace berth::server {

Route MetricsRoute(std::function<std::string()> render);

}  // namespace berth::server

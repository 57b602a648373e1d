#include "server/http/http_metrics.h"

#include <fmt/format.h>

namespace berth::server {

HttpMetrics::HttpMetrics(std::vector<std::string> labels)
    : labels_(std::move(labels)), counts_(std::make_unique<std::atomic<uint64_t>[]>(labels_.size() * kStatusSlots)) {
  for (size_t i = 0; i < labels_.size() * kStatusSlots; ++i) counts_[i].store(0, std::memory_order_relaxed);
  for (size_t r = 0; r < labels_.size(); ++r) durations_.push_back(std::make_unique<Histogram>(LatencyBuckets()));
}

void HttpMetrics::CountRequest(size_t r, unsigned status, double seconds) {
  if (r >= labels_.size()) return;
  if (status >= kMinStatus && status < kMinStatus + kStatusSlots) {
    counts_[r * kStatusSlots + (status - kMinStatus)].fetch_add(1, std::memory_order_relaxed);
  }
  durations_[r]->Observe(seconds);
}

void HttpMetrics::Render(std::string& out) const {
  out += "# HELP berth_http_requests_total HTTP requests by route template and status code.\n";
  out += "# TYPE berth_http_requests_total counter\n";
  for (size_t r = 0; r < labels_.size(); ++r) {
    for (unsigned s = 0; s < kStatusSlots; ++s) {
      uint64_t count = counts_[r * kStatusSlots + s].load(std::memory_order_relaxed);
      if (count == 0) continue;
      out +=
          fmt::format("berth_http_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", labels_[r], s + kMinStatus, count);
    }
  }
  out +=
      "# HELP berth_http_request_duration_seconds Time from a request's first byte to its response "
      "being written, by route template.\n";
  out += "# TYPE berth_http_request_duration_seconds histogram\n";
  for (size_t r = 0; r < labels_.size(); ++r) {
    Histogram::Snapshot snapshot = durations_[r]->Take();
    if (snapshot.count == 0) continue;
    const std::string& route = labels_[r];
    const auto& bounds = durations_[r]->bounds();
    for (size_t i = 0; i <= bounds.size(); ++i) {
      out += fmt::format("berth_http_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", route,
                         i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf", snapshot.cumulative[i]);
    }
    out += fmt::format("berth_http_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route,
                       FormatMetricValue(snapshot.sum));
    out += fmt::format("berth_http_request_duration_seconds_count{{route=\"{}\"}} {}\n", route, snapshot.count);
  }
  out += "# HELP berth_http_open_connections HTTP connections open now.\n";
  out += "# TYPE berth_http_open_connections gauge\n";
  out += fmt::format("berth_http_open_connections {}\n", open_connections.load());
  out += "# HELP berth_http_connections_total HTTP connections accepted.\n";
  out += "# TYPE berth_http_connections_total counter\n";
  out += fmt::format("berth_http_connections_total {}\n", accepted_connections.load());
  out += "# HELP berth_http_rejected_connections_total Connections refused with 503 at --max-connections.\n";
  out += "# TYPE berth_http_rejected_connections_total counter\n";
  out += fmt::format("berth_http_rejected_connections_total {}\n", rejected_connections.load());
}

}  // namespace berth::server

// HttpMetrics: per-route request counts and latencies, and connection
// counts, for the HTTP frontend. Updated lock-free from I/O threads; rendered
// into /metrics through a ServerMetrics collector.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "server/http_router.h"
#include "server/metrics.h"

namespace berth::server {

class HttpMetrics {
 public:
  HttpMetrics();
  void CountRequest(Route route, unsigned status, double seconds);
  void Render(std::string& out) const;

  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> accepted_connections{0};
  std::atomic<uint64_t> rejected_connections{0};

 private:
  static constexpr size_t kRoutes = static_cast<size_t>(Route::kCount);
  static constexpr unsigned kMinStatus = 100;
  static constexpr unsigned kStatusSlots = 500;      // 100..599
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // kRoutes * kStatusSlots
  std::array<std::unique_ptr<Histogram>, kRoutes> durations_;
};

}  // namespace berth::server

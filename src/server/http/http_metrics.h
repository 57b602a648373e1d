// HttpMetrics: per-route request counts and latencies (by the routes' metric
// labels, see RouteTable::labels), and connection counts, for the HTTP
// transport. Updated lock-free from I/O threads; rendered
// into /metrics through a ServerMetrics collector.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/metrics.h"

namespace berth::server {

class HttpMetrics {
 public:
  explicit HttpMetrics(std::vector<std::string> labels);
  // `label`: an index into the labels given at construction.
  void CountRequest(size_t label, unsigned status, double seconds);
  void Render(std::string& out) const;

  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> accepted_connections{0};
  std::atomic<uint64_t> rejected_connections{0};

 private:
  static constexpr unsigned kMinStatus = 100;
  static constexpr unsigned kStatusSlots = 500;  // 100..599
  const std::vector<std::string> labels_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // labels * kStatusSlots
  std::vector<std::unique_ptr<Histogram>> durations_;
};

}  // namespace berth::server

// Prometheus metrics, written by hand in the text exposition format (0.0.4).
//
// Counters, gauges and histograms are lock-free to update (atomics). A
// MetricFamily creates a labelled series on first use and never removes it,
// so counters stay monotonic across model unload/reload and references to a
// series stay valid for the family's lifetime: hot paths look a series up once
// (at model load) and keep the reference. All classes here are thread-safe.
//
// docs/SERVING.md lists every metric berth exports; keep it in step.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/memory_budget.h"

namespace berth::server {

class Counter {
 public:
  void Increment(double delta = 1.0) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `upper_bounds` ascending; the +Inf bucket is implicit.
  explicit Histogram(std::span<const double> upper_bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Take() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // non-cumulative, bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// Latency buckets in seconds, 50 us to 60 s.
std::span<const double> LatencyBuckets();
// Batch-size buckets: powers of two, 1 to 1024.
std::span<const double> BatchSizeBuckets();

// Escapes a label value for the exposition format (\\, \", \n).
std::string EscapeLabelValue(std::string_view value);
// Formats a sample value: integers without a fraction, others shortest round-trip.
std::string FormatMetricValue(double value);

template <typename Metric>
class MetricFamily {
 public:
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::span<const double> bounds = {});
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  // The series with these label values (one per label name, in order).
  Metric& WithLabels(std::initializer_list<std::string_view> values);
  void Render(std::string& out) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> series_;
};

extern template class MetricFamily<Counter>;
extern template class MetricFamily<Gauge>;
extern template class MetricFamily<Histogram>;

// Every metric berth's server exports. Frontends add their own text through
// AddCollector (the HTTP layer's per-route request counts, for instance).
class ServerMetrics {
 public:
  ServerMetrics(std::string server_version, std::string build_revision);

  // Inference, per model version (labels model, version[, outcome]).
  MetricFamily<Counter> inference_requests;  // outcome: success|client_error|server_error|rejected
  MetricFamily<Histogram> inference_queue_seconds;
  MetricFamily<Histogram> inference_compute_seconds;
  MetricFamily<Histogram> inference_request_seconds;
  MetricFamily<Histogram> inference_batch_size;
  MetricFamily<Gauge> inference_inflight;
  MetricFamily<Gauge> inference_queue_depth;
  // Model lifecycle (labels model, version[, state]).
  MetricFamily<Gauge> model_state;  // 1 for the current state, 0 for the others
  MetricFamily<Gauge> model_load_seconds;
  MetricFamily<Counter> model_load_failures;
  MetricFamily<Gauge> model_memory_bytes;
  MetricFamily<Gauge> server_ready;  // no labels
  // Language models (label model; see Server::Generate).
  MetricFamily<Histogram> llm_time_to_first_token_seconds;
  MetricFamily<Histogram> llm_inter_token_seconds;
  MetricFamily<Histogram> llm_request_seconds;
  MetricFamily<Counter> llm_prompt_tokens;
  MetricFamily<Counter> llm_generation_tokens;
  MetricFamily<Counter> llm_prefix_cache_hit_tokens;
  MetricFamily<Counter> llm_requests;  // outcome: stop|length|cancelled|timeout|client_error|server_error|rejected
  MetricFamily<Gauge> llm_running_sequences;
  MetricFamily<Gauge> llm_waiting_sequences;
  MetricFamily<Gauge> llm_kv_cache_usage_ratio;

  using Collector = std::function<void(std::string& out)>;
  void AddCollector(Collector collector);

  // The whole exposition: berth's families, collectors, process metrics, build info.
  std::string Render() const;

 private:
  std::string server_version_;
  std::string build_revision_;
  mutable std::mutex collectors_mutex_;
  std::vector<Collector> collectors_;
};

// Appends the memory budget's metrics: berth_memory_budget_bytes,
// berth_memory_request_limit_bytes, berth_memory_in_use_bytes,
// berth_memory_peak_bytes and berth_memory_refusals_total{limit}.
void RenderMemoryMetrics(const core::MemoryBudget& budget, uint64_t request_limit, std::string& out);

// Appends process_* metrics (CPU seconds, resident and virtual memory, open
// file descriptors, start time) read from /proc/self.
void RenderProcessMetrics(std::string& out);

}  // namespace berth::server

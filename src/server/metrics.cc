#include "server/metrics.h"

#include <dirent.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace berth::server {

Histogram::Histogram(std::span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot snapshot;
  snapshot.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative[i] = running;
  }
  // count is the +Inf bucket so the two always agree within one scrape.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::span<const double> BatchSizeBuckets() {
  static constexpr double kBounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  return kBounds;
}

std::span<const double> LatencyBuckets() {
  static constexpr double kBuckets[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,     0.25,   0.5,     1,      2.5,   5,      10,    30,   60};
  return kBuckets;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{}", static_cast<int64_t>(value));
  return fmt::format("{}", value);
}

namespace {

void AppendLabels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i];
    out += "=\"";
    out += EscapeLabelValue(values[i]);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

const char* TypeName(const Counter*) { return "counter"; }
const char* TypeName(const Gauge*) { return "gauge"; }
const char* TypeName(const Histogram*) { return "histogram"; }

template <typename Metric>
std::unique_ptr<Metric> MakeMetric(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    return std::make_unique<Metric>();
  }
}

}  // namespace

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                   std::span<const double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      bounds_(bounds.begin(), bounds.end()) {}

template <typename Metric>
Metric& MetricFamily<Metric>::WithLabels(std::initializer_list<std::string_view> values) {
  std::vector<std::string> key(values.begin(), values.end());
  key.resize(label_names_.size());
  std::lock_guard lock(mutex_);
  auto& slot = series_[std::move(key)];
  if (!slot) slot = MakeMetric<Metric>(bounds_);
  return *slot;
}

template <typename Metric>
void MetricFamily<Metric>::Render(std::string& out) const {
  std::lock_guard lock(mutex_);
  if (series_.empty()) return;
  out += "# HELP " + name_ + " " + help_ + "\n";
  out += "# TYPE " + name_ + " " + TypeName(static_cast<const Metric*>(nullptr)) + "\n";
  for (const auto& [labels, metric] : series_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      Histogram::Snapshot snapshot = metric->Take();
      const auto& bounds = metric->bounds();
      for (size_t i = 0; i <= bounds.size(); ++i) {
        out += name_ + "_bucket";
        AppendLabels(out, label_names_, labels, "le", i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf");
        out += ' ';
        out += std::to_string(snapshot.cumulative[i]);
        out += '\n';
      }
      out += name_ + "_sum";
      AppendLabels(out, label_names_, labels);
      out += ' ' + FormatMetricValue(snapshot.sum) + '\n';
      out += name_ + "_count";
      AppendLabels(out, label_names_, labels);
      out += ' ' + std::to_string(snapshot.count) + '\n';
    } else {
      out += name_;
      AppendLabels(out, label_names_, labels);
      out += ' ' + FormatMetricValue(metric->value()) + '\n';
    }
  }
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

ServerMetrics::ServerMetrics(std::string server_version, std::string build_revision)
    : inference_requests("berth_inference_requests_total",
                         "Inference requests by model, version and outcome "
                         "(success, client_error, server_error, rejected).",
                         {"model", "version", "outcome"}),
      inference_queue_seconds("berth_inference_queue_duration_seconds",
                              "Time inference requests waited in the model's queue.", {"model", "version"},
                              LatencyBuckets()),
      inference_compute_seconds("berth_inference_compute_duration_seconds", "Time the model took to compute a request.",
                                {"model", "version"}, LatencyBuckets()),
      inference_request_seconds("berth_inference_request_duration_seconds",
                                "Time from a request's arrival to its response being ready (queue and compute "
                                "included).",
                                {"model", "version"}, LatencyBuckets()),
      inference_batch_size("berth_inference_batch_size",
                           "Rows per model execution: a request's batch dimension, or the sum of the requests "
                           "dynamic batching ran together.",
                           {"model", "version"}, BatchSizeBuckets()),
      inference_inflight("berth_inference_inflight_requests",
                         "Inference requests accepted by a model version and not yet answered.", {"model", "version"}),
      inference_queue_depth("berth_inference_queue_depth", "Inference requests waiting for a model instance.",
                            {"model", "version"}),
      model_state("berth_model_state",
                  "1 for the state a model version is in (loading, ready, unloading, unavailable, failed), 0 for "
                  "the others.",
                  {"model", "version", "state"}),
      model_load_seconds("berth_model_load_duration_seconds", "How long the last load of a model version took.",
                         {"model", "version"}),
      model_load_failures("berth_model_load_failures_total", "Failed loads of a model version.", {"model", "version"}),
      model_memory_bytes("berth_model_memory_bytes",
                         "Bytes a loaded model version holds: its weights (prepared copies included) and the "
                         "activation memory it keeps cached between requests; 0 once unloaded.",
                         {"model", "version"}),
      server_ready("berth_server_ready", "1 when the server answers ready, else 0.", {}),
      llm_time_to_first_token_seconds("berth_llm_time_to_first_token_seconds",
                                      "Time from a generation request's arrival to its first generated token.",
                                      {"model"}, LatencyBuckets()),
      llm_inter_token_seconds("berth_llm_inter_token_seconds",
                              "Time between consecutive generated tokens of one sequence.", {"model"},
                              LatencyBuckets()),
      llm_request_seconds("berth_llm_request_duration_seconds",
                          "Time from a generation request's arrival to its last token.", {"model"}, LatencyBuckets()),
      llm_prompt_tokens("berth_llm_prompt_tokens_total", "Prompt tokens of finished generation requests.", {"model"}),
      llm_generation_tokens("berth_llm_generation_tokens_total", "Tokens generated.", {"model"}),
      llm_prefix_cache_hit_tokens("berth_llm_prefix_cache_hit_tokens_total",
                                  "Prompt tokens reused from the KV cache of an earlier request.", {"model"}),
      llm_requests("berth_llm_requests_total",
                   "Generation requests by how they ended: stop, length, cancelled (the client left), timeout, "
                   "client_error, server_error, rejected (queue full).",
                   {"model", "outcome"}),
      llm_running_sequences("berth_llm_running_sequences", "Sequences holding a slot (prefilling or generating).",
                            {"model"}),
      llm_waiting_sequences("berth_llm_waiting_sequences", "Generation requests waiting for a slot.", {"model"}),
      llm_kv_cache_usage_ratio("berth_llm_kv_cache_usage_ratio", "Fraction of the KV cache's positions in use.",
                               {"model"}),
      server_version_(std::move(server_version)),
      build_revision_(std::move(build_revision)) {}

void ServerMetrics::AddCollector(Collector collector) {
  std::lock_guard lock(collectors_mutex_);
  collectors_.push_back(std::move(collector));
}

std::string ServerMetrics::Render() const {
  std::string out;
  out.reserve(16384);
  inference_requests.Render(out);
  inference_queue_seconds.Render(out);
  inference_compute_seconds.Render(out);
  inference_request_seconds.Render(out);
  inference_batch_size.Render(out);
  inference_inflight.Render(out);
  inference_queue_depth.Render(out);
  model_state.Render(out);
  model_load_seconds.Render(out);
  model_load_failures.Render(out);
  model_memory_bytes.Render(out);
  server_ready.Render(out);
  llm_time_to_first_token_seconds.Render(out);
  llm_inter_token_seconds.Render(out);
  llm_request_seconds.Render(out);
  llm_prompt_tokens.Render(out);
  llm_generation_tokens.Render(out);
  llm_prefix_cache_hit_tokens.Render(out);
  llm_requests.Render(out);
  llm_running_sequences.Render(out);
  llm_waiting_sequences.Render(out);
  llm_kv_cache_usage_ratio.Render(out);
  {
    std::lock_guard lock(collectors_mutex_);
    for (const auto& collector : collectors_) collector(out);
  }
  RenderProcessMetrics(out);
  out += "# HELP berth_build_info Build information; the value is always 1.\n";
  out += "# TYPE berth_build_info gauge\n";
  out += "berth_build_info{version=\"" + EscapeLabelValue(server_version_) + "\",revision=\"" +
         EscapeLabelValue(build_revision_) + "\"} 1\n";
  return out;
}

void RenderMemoryMetrics(const core::MemoryBudget& budget, uint64_t request_limit, std::string& out) {
  auto gauge = [&out](std::string_view name, std::string_view help, uint64_t value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, value);
  };
  gauge("berth_memory_budget_bytes", "Memory for requests in flight and loaded models together (0: no limit).",
        budget.limit());
  gauge("berth_memory_request_limit_bytes", "Memory one request may hold (0: no limit).", request_limit);
  gauge("berth_memory_in_use_bytes",
        "Memory charged to the budget now: request bodies, inputs, activations, "
        "outputs and loaded models.",
        budget.in_use());
  gauge("berth_memory_peak_bytes", "The most memory charged to the budget at once since the start.", budget.peak());
  out +=
      "# HELP berth_memory_refusals_total Requests refused for memory, by the limit that refused them "
      "(request: 507, process: 503).\n# TYPE berth_memory_refusals_total counter\n";
  out += fmt::format("berth_memory_refusals_total{{limit=\"request\"}} {}\n", budget.request_refusals());
  out += fmt::format("berth_memory_refusals_total{{limit=\"process\"}} {}\n", budget.process_refusals());
}

void RenderProcessMetrics(std::string& out) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start after ')'.
  size_t close = stat.rfind(')');
  std::vector<std::string> fields;
  if (close != std::string::npos) {
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    while (rest >> field) fields.push_back(field);
  }
  auto field = [&](size_t stat_index) -> double {
    // stat_index is the 1-based field number of proc(5); fields[0] is field 3.
    size_t i = stat_index - 3;
    return i < fields.size() ? std::strtod(fields[i].c_str(), nullptr) : 0.0;
  };
  double cpu_seconds = (field(14) + field(15)) / ticks;
  double virtual_bytes = field(23);
  double resident_bytes = field(24) * page;
  double start_ticks = field(22);
  double boot_time = 0;
  {
    std::ifstream boot("/proc/stat");
    std::string key;
    while (boot >> key) {
      if (key == "btime") {
        boot >> boot_time;
        break;
      }
    }
  }
  int open_fds = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++open_fds;
    closedir(dir);
    open_fds = std::max(open_fds - 3, 0);  // ".", ".." and the descriptor of the listing itself
  }
  auto emit = [&](const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, FormatMetricValue(value));
  };
  emit("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.", cpu_seconds);
  emit("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident_bytes);
  emit("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtual_bytes);
  emit("process_open_fds", "gauge", "Open file descriptors.", open_fds);
  emit("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
       boot_time + start_ticks / ticks);
}

}  // namespace berth::server

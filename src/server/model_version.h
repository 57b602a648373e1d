// ModelVersion: one loaded version of one model — its completed config, its
// Backend (whatever format the model is in), its InstanceScheduler and its
// metrics.
//
// Lifecycle (driven by ModelRepository, see model_repository.h):
//   loading    ModelVersion::Load runs on the repository's loader thread:
//              loads the model through its backend, starts the instances.
//   ready      the repository puts a shared_ptr into its routing table;
//              requests hold their own shared_ptr while they are queued or run.
//   unloading  the repository drops its pointer; the version keeps serving
//              the requests that hold one. When the last one finishes, the
//              shared_ptr's deleter hands the object to the repository's
//              reaper thread, which calls Shutdown (joins the instances) and
//              deletes it. So an unload never fails a request already routed.
//
// Thread safety: everything but Shutdown may be called from any thread.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "core/memory_budget.h"
#include "core/status.h"
#include "server/backend.h"
#include "server/infer_request.h"
#include "server/instance_scheduler.h"
#include "server/metrics.h"
#include "server/model_config.h"

namespace berth::server {

enum class ModelVersionState { kLoading, kReady, kUnloading, kUnavailable, kFailed };
// "LOADING", "READY", "UNLOADING", "UNAVAILABLE", "FAILED" (Triton's names, plus FAILED).
std::string_view ModelVersionStateName(ModelVersionState state);

// One of Triton's statistics: how many, and their total duration.
struct DurationStat {
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> ns{0};
  void Add(uint64_t duration_ns) {
    count.fetch_add(1, std::memory_order_relaxed);
    ns.fetch_add(duration_ns, std::memory_order_relaxed);
  }
};

// Cumulative counts for the statistics route (Triton's field names and
// semantics). success/fail: whole requests, received to answered (a request
// refused before it runs counts as a fail without a duration). queue: waiting
// for an instance. The rest count successful requests only: inference_count
// adds a request's batch size (its first dimension when max_batch_size > 0,
// else 1); compute_input is preparing the inputs, compute_infer the run,
// compute_output gathering the outputs.
struct ModelVersionStats {
  DurationStat success;
  DurationStat fail;
  DurationStat queue;
  DurationStat compute_input;
  DurationStat compute_infer;
  DurationStat compute_output;
  std::atomic<uint64_t> inference_count{0};
  std::atomic<uint64_t> execution_count{0};
  std::atomic<uint64_t> last_inference_ms{0};  // Unix epoch milliseconds
  // The same three per batch size.
  struct Batch {
    uint64_t count = 0;
    uint64_t input_ns = 0;
    uint64_t infer_ns = 0;
    uint64_t output_ns = 0;
  };
  std::map<int64_t, Batch> Batches() const {
    std::lock_guard lock(batch_mutex);
    return batches;
  }
  void AddBatch(int64_t size, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns) {
    std::lock_guard lock(batch_mutex);
    Batch& batch = batches[size];
    ++batch.count;
    batch.input_ns += input_ns;
    batch.infer_ns += infer_ns;
    batch.output_ns += output_ns;
  }

 private:
  mutable std::mutex batch_mutex;
  std::map<int64_t, Batch> batches;
};

struct ModelVersionOptions {
  int intra_op_threads = 0;     // 0 = hardware threads / instances
  size_t queue_capacity = 128;  // unless the config sets max_queue_size
  // The longest one request may compute (checked between nodes and loop
  // iterations); zero: no limit.
  std::chrono::steady_clock::duration compute_timeout{};
  // The process's memory budget: the loaded model's memory is charged to it
  // while the version lives (never refused), leaving less for requests.
  core::MemoryBudget* memory = nullptr;
  // The server's instance threads; a version that does not fit fails to load.
  InstanceThreadBudget* threads = nullptr;
};

class ModelVersion {
 public:
  // Loads `model_file` with `backend`, completes `config` from what it
  // declares and starts the instances. Errors name the model, the version
  // and the reason.
  static core::Result<std::unique_ptr<ModelVersion>> Load(const std::string& name, int64_t version,
                                                          const std::filesystem::path& model_file,
                                                          const BackendFactory& backend, config::ModelConfig config,
                                                          const ModelVersionOptions& options, ServerMetrics* metrics);
  ~ModelVersion();
  ModelVersion(const ModelVersion&) = delete;
  ModelVersion& operator=(const ModelVersion&) = delete;

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const std::string& version_label() const { return version_label_; }
  const config::ModelConfig& config() const { return config_; }
  const ModelSignature& signature() const { return signature_; }
  double load_seconds() const { return load_seconds_; }
  size_t memory_bytes() const { return backend_->MemoryBytes(); }
  const ModelVersionStats& stats() const { return stats_; }
  size_t queue_depth() const { return scheduler_->depth(); }
  // The backend's generator when the model is a language model, else null.
  TextGenerator* text_generator() const { return backend_->text_generator(); }

  // Checks the request's inputs and requested outputs against the signature.
  core::Status Validate(const InferRequest& request) const;

  // Validates and queues the request; `done` gets the response or the error.
  // `self` is this version's shared_ptr: the job keeps it alive.
  void Submit(std::shared_ptr<ModelVersion> self, InferRequest request, InferCallback done);

  // Stops taking requests, finishes the queued ones, joins the instances.
  // Never call it from an instance thread.
  void Shutdown();

 private:
  ModelVersion() = default;
  // Runs what the scheduler hands over: one job, or a dynamic batch.
  void Execute(std::span<InferJob> jobs);
  // One job in a run of its own.
  void RunAlone(InferJob& job);
  // The jobs' inputs joined into one run and its outputs split back; false
  // (nothing answered) when they cannot be joined or the joined run fails,
  // so that each runs alone and a failure is charged to the request causing it.
  bool RunJoined(std::span<InferJob* const> jobs);
  // Answers `job` from its run (or from why it did not run) and records its
  // metrics and statistics; `start`..`end` is the run's compute.
  void Finish(InferJob& job, BackendResponse& run, Clock::time_point start, Clock::time_point end);
  // Once per execution: its batch size in rows (Triton's execution_count
  // and batch statistics, the batch-size histogram).
  void RecordExecution(int64_t rows, const BackendResponse& run, Clock::duration output_time);
  // The batch size Triton's statistics count a request as.
  int64_t BatchSize(const InferRequest& request) const;
  void RecordComputeStats(const InferRequest& request, const BackendResponse& run, Clock::duration output_time);
  enum class Outcome { kSuccess, kClientError, kServerError, kRejected };
  void RecordOutcome(Outcome outcome);
  std::string Prefix() const;

  std::string name_;
  int64_t version_ = 0;
  std::string version_label_;
  config::ModelConfig config_;
  ModelSignature signature_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<InstanceScheduler> scheduler_;
  double load_seconds_ = 0;
  ModelVersionStats stats_;
  Clock::duration compute_timeout_{};
  // dynamic_batching's default_queue_policy timeout (REJECT); zero: none.
  Clock::duration queue_timeout_{};
  bool queue_timeout_override_ = false;  // a request's own timeout replaces it

  // Metric series, looked up once at load.
  Counter* requests_success_ = nullptr;
  Counter* requests_client_error_ = nullptr;
  Counter* requests_server_error_ = nullptr;
  Counter* requests_rejected_ = nullptr;
  Histogram* queue_seconds_ = nullptr;
  Histogram* compute_seconds_ = nullptr;
  Histogram* request_seconds_ = nullptr;
  Histogram* batch_size_ = nullptr;
  Gauge* inflight_ = nullptr;
  Gauge* memory_ = nullptr;
  core::MemoryBudget* budget_ = nullptr;  // charged budget_charge_ bytes while this version lives
  uint64_t budget_charge_ = 0;
};

}  // namespace berth::server

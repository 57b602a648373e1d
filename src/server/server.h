// Server: the one narrow API every frontend uses (HTTP/KServe today, gRPC
// later). It owns the model repository and the metrics, and speaks only
// native types (InferRequest, TensorSpec, Status). A frontend parses its wire
// format into these, calls Server, and writes the result back; it holds no
// model state of its own.
//
// Lifecycle: Create -> Start (models load in the background; IsReady is false
// until every model to serve is ready) -> BeginShutdown (IsReady false from
// then on; requests still run) -> Stop (unloads everything, after the
// frontends have drained).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/memory_budget.h"
#include "core/status.h"
#include "server/backend.h"
#include "server/infer_request.h"
#include "server/metrics.h"
#include "server/model_repository.h"
#include "server/server_options.h"

namespace berth::server {

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // ready versions, ascending
  std::string platform;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

struct ModelReadiness {
  std::string name;
  int64_t version = 0;  // 0 when asked about the model as a whole
  bool ready = false;
  ModelVersionState state = ModelVersionState::kUnavailable;
  std::string reason;
};

struct ModelStatistics {
  std::string name;
  int64_t version = 0;
  ModelVersionState state = ModelVersionState::kUnavailable;
  std::string reason;
  uint64_t last_inference_ms = 0;
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  struct CountNs {
    uint64_t count = 0;
    uint64_t ns = 0;
  };
  CountNs success, fail, queue, compute_input, compute_infer, compute_output;  // see ModelVersionStats
  std::map<int64_t, ModelVersionStats::Batch> batches;                         // by batch size
  size_t memory_bytes = 0;
  size_t queue_depth = 0;
};

class Server {
 public:
  // `backends`: the model formats this server serves (see backend.h).
  static core::Result<std::unique_ptr<Server>> Create(ServerOptions options, BackendRegistry backends);
  ~Server();

  core::Status Start();
  void BeginShutdown();
  void Stop();

  bool IsLive() const { return true; }
  // Ready: started, not shutting down, and every model to serve is ready.
  bool IsReady(std::string* reason = nullptr) const;
  ServerMetadata Metadata() const;

  core::Result<ModelMetadata> GetModelMetadata(std::string_view name, int64_t version) const;
  core::Result<ModelReadiness> GetModelReadiness(std::string_view name, int64_t version) const;
  core::Result<config::ModelConfig> GetModelConfig(std::string_view name, int64_t version) const;
  // name empty = every model; version 0 = every version.
  core::Result<std::vector<ModelStatistics>> GetModelStatistics(std::string_view name, int64_t version) const;
  std::vector<ModelStatus> RepositoryIndex() const;
  void LoadModel(const std::string& name, std::function<void(core::Status)> done);
  core::Status UnloadModel(std::string_view name);

  // Routes, validates and queues; `done` is called exactly once.
  void Infer(InferRequest request, InferCallback done);

  // A ready language model (its highest ready version), held for as long as
  // the handle lives. NotFound for an unknown model, InvalidArgument for
  // one that is not a language model, Unavailable while it loads.
  struct GeneratorHandle {
    std::shared_ptr<ModelVersion> version;
    TextGenerator* generator = nullptr;
  };
  core::Result<GeneratorHandle> AcquireGenerator(std::string_view name) const;
  // Every ready language model, by name.
  std::vector<GeneratorHandle> LanguageModels() const;
  // Generates through `handle` (which the request keeps alive) and records
  // the berth_llm_* metrics; `done` is the request's callback.
  void Generate(const GeneratorHandle& handle, GenerationRequest request, GenerationCallback done);

  ServerMetrics& metrics() { return metrics_; }
  // Memory for requests and models (--memory-budget); frontends charge
  // request bodies to it.
  core::MemoryBudget& memory_budget() { return memory_budget_; }
  std::string RenderMetrics();
  const ServerOptions& options() const { return options_; }
  ModelRepository& repository() { return *repository_; }

 private:
  Server(ServerOptions options, BackendRegistry backends);

  const ServerOptions options_;
  const BackendRegistry backends_;  // before the repository, which points into it
  ServerMetrics metrics_;
  core::MemoryBudget memory_budget_;
  InstanceThreadBudget instance_threads_;
  std::unique_ptr<ModelRepository> repository_;
  std::atomic<bool> started_{false};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace berth::server

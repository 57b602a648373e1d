#include "server/server.h"

#include "core/logging.h"

namespace berth::server {

core::Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, BackendRegistry backends) {
  std::unique_ptr<Server> server(new Server(std::move(options), std::move(backends)));
  ModelRepositoryOptions repository = server->options_.RepositoryOptions();
  repository.backends = &server->backends_;
  repository.version_options.memory = &server->memory_budget_;
  repository.version_options.threads = &server->instance_threads_;
  server->metrics_.AddCollector([budget = &server->memory_budget_, limit = server->options_.max_request_memory](
                                    std::string& out) { RenderMemoryMetrics(*budget, limit, out); });
  ASSIGN_OR_RETURN(server->repository_, ModelRepository::Create(std::move(repository), &server->metrics_));
  return server;
}

Server::Server(ServerOptions options, BackendRegistry backends)
    : options_(std::move(options)),
      backends_(std::move(backends)),
      metrics_(options_.server_version, options_.build_revision),
      memory_budget_(options_.memory_budget),
      instance_threads_(options_.max_instance_threads) {}

Server::~Server() { Stop(); }

core::Status Server::Start() {
  RETURN_IF_ERROR(repository_->Start());
  started_ = true;
  return core::Status::Ok();
}

void Server::BeginShutdown() { shutting_down_ = true; }

void Server::Stop() {
  shutting_down_ = true;
  if (repository_) repository_->Stop();
}

bool Server::IsReady(std::string* reason) const {
  if (shutting_down_) {
    if (reason) *reason = "the server is shutting down";
    return false;
  }
  if (!started_) {
    if (reason) *reason = "the server is starting";
    return false;
  }
  // Triton's --strict-readiness=false: ready once started, models or not
  // (each model's own readiness route still tells).
  if (!options_.strict_readiness) return true;
  return repository_->AllReady(reason);
}

ServerMetadata Server::Metadata() const {
  return {"berth",
          options_.server_version,
          {"binary_tensor_data", "parameters", "model_repository", "model_configuration", "statistics"}};
}

core::Result<ModelMetadata> Server::GetModelMetadata(std::string_view name, int64_t version) const {
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> model, repository_->Acquire(name, version));
  ModelMetadata metadata;
  metadata.name = model->name();
  for (const auto& ready : repository_->ReadyVersions(name)) metadata.versions.push_back(ready->version_label());
  metadata.platform = model->config().platform();
  metadata.inputs = model->signature().inputs;
  metadata.outputs = model->signature().outputs;
  return metadata;
}

core::Result<ModelReadiness> Server::GetModelReadiness(std::string_view name, int64_t version) const {
  ASSIGN_OR_RETURN(ModelStatus status, repository_->GetModelStatus(name));
  ModelReadiness readiness;
  readiness.name = status.name;
  readiness.version = version;
  if (version == 0) {
    readiness.ready = status.ready;
    readiness.state = status.ready ? ModelVersionState::kReady : ModelVersionState::kUnavailable;
    readiness.reason = status.reason;
    for (auto it = status.versions.rbegin(); it != status.versions.rend(); ++it) {
      if (!readiness.ready && it->state == ModelVersionState::kLoading) readiness.state = ModelVersionState::kLoading;
      if (readiness.reason.empty() && !it->reason.empty()) readiness.reason = it->reason;
    }
    if (!readiness.ready && readiness.state != ModelVersionState::kLoading) {
      for (const auto& v : status.versions) {
        if (v.state == ModelVersionState::kFailed) readiness.state = ModelVersionState::kFailed;
      }
    }
    return readiness;
  }
  for (const auto& v : status.versions) {
    if (v.version != version) continue;
    readiness.ready = v.state == ModelVersionState::kReady;
    readiness.state = v.state;
    readiness.reason = v.reason;
    return readiness;
  }
  return core::NotFound("model '{}' has no version {}", name, version);
}

core::Result<config::ModelConfig> Server::GetModelConfig(std::string_view name, int64_t version) const {
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> model, repository_->Acquire(name, version));
  return model->config();
}

core::Result<std::vector<ModelStatistics>> Server::GetModelStatistics(std::string_view name, int64_t version) const {
  std::vector<ModelStatus> models;
  if (name.empty()) {
    models = repository_->ListModels();
  } else {
    ASSIGN_OR_RETURN(ModelStatus status, repository_->GetModelStatus(name));
    models.push_back(std::move(status));
  }
  std::vector<ModelStatistics> all;
  bool found_version = version == 0;
  for (const auto& model : models) {
    std::vector<std::shared_ptr<ModelVersion>> ready = repository_->ReadyVersions(model.name);
    for (const auto& v : model.versions) {
      if (version != 0 && v.version != version) continue;
      found_version = true;
      ModelStatistics stats;
      stats.name = model.name;
      stats.version = v.version;
      stats.state = v.state;
      stats.reason = v.reason;
      for (const auto& loaded : ready) {
        if (loaded->version() != v.version) continue;
        const ModelVersionStats& s = loaded->stats();
        auto load = [](const DurationStat& stat) {
          return ModelStatistics::CountNs{stat.count.load(), stat.ns.load()};
        };
        stats.last_inference_ms = s.last_inference_ms.load();
        stats.success = load(s.success);
        stats.fail = load(s.fail);
        stats.queue = load(s.queue);
        stats.compute_input = load(s.compute_input);
        stats.compute_infer = load(s.compute_infer);
        stats.compute_output = load(s.compute_output);
        stats.execution_count = s.execution_count.load();
        stats.inference_count = s.inference_count.load();
        stats.batches = s.Batches();
        stats.memory_bytes = loaded->memory_bytes();
        stats.queue_depth = loaded->queue_depth();
      }
      all.push_back(std::move(stats));
    }
  }
  if (!found_version) return core::NotFound("model '{}' has no version {}", name, version);
  return all;
}

std::vector<ModelStatus> Server::RepositoryIndex() const { return repository_->ListModels(); }

void Server::LoadModel(const std::string& name, std::function<void(core::Status)> done) {
  if (shutting_down_) {
    done(core::Unavailable("the server is shutting down"));
    return;
  }
  repository_->Load(name, std::move(done));
}

core::Status Server::UnloadModel(std::string_view name) { return repository_->Unload(name); }

void Server::Infer(InferRequest request, InferCallback done) {
  auto model = repository_->Acquire(request.model_name, request.model_version);
  if (!model.ok()) {
    done(model.status());
    return;
  }
  std::shared_ptr<ModelVersion> version = std::move(model).value();
  ModelVersion* raw = version.get();
  raw->Submit(std::move(version), std::move(request), std::move(done));
}

core::Result<Server::GeneratorHandle> Server::AcquireGenerator(std::string_view name) const {
  ASSIGN_OR_RETURN(std::shared_ptr<ModelVersion> version, repository_->Acquire(name, 0));
  TextGenerator* generator = version->text_generator();
  if (!generator) return core::InvalidArgument("model '{}' is not a language model", name);
  return GeneratorHandle{std::move(version), generator};
}

std::vector<Server::GeneratorHandle> Server::LanguageModels() const {
  std::vector<GeneratorHandle> models;
  for (const ModelStatus& status : repository_->ListModels()) {
    if (!status.ready) continue;
    auto handle = AcquireGenerator(status.name);
    if (handle.ok()) models.push_back(std::move(handle).value());
  }
  return models;
}

namespace {

// The berth_llm_* series of one request, and where its timings stand.
struct GenerationTracker {
  Clock::time_point start = Clock::now();
  Clock::time_point last;
  bool first = true;
  Histogram* first_token = nullptr;
  Histogram* inter_token = nullptr;
  Histogram* request = nullptr;
  Counter* prompt_tokens = nullptr;
  Counter* generation_tokens = nullptr;
  Counter* cache_hits = nullptr;
  MetricFamily<Counter>* outcomes = nullptr;
  std::string model;

  void Record(const GenerationUpdate& update) {
    const Clock::time_point now = Clock::now();
    if (update.token_count > 0) {
      if (first) {
        first_token->Observe(std::chrono::duration<double>(now - start).count());
        first = false;
      } else {
        inter_token->Observe(std::chrono::duration<double>(now - last).count() /
                             static_cast<double>(update.token_count));
      }
      last = now;
      generation_tokens->Increment(static_cast<double>(update.token_count));
    }
    if (!update.finished) return;
    request->Observe(std::chrono::duration<double>(now - start).count());
    prompt_tokens->Increment(static_cast<double>(update.usage.prompt_tokens));
    cache_hits->Increment(static_cast<double>(update.usage.cached_prompt_tokens));
    outcomes->WithLabels({model, Outcome(update)}).Increment();
  }

  static std::string_view Outcome(const GenerationUpdate& update) {
    if (update.status.ok()) {
      if (update.timed_out) return "timeout";
      return update.finish_reason == FinishReason::kLength ? "length" : "stop";
    }
    switch (update.status.code()) {
      case core::StatusCode::kCancelled:
        return "cancelled";
      case core::StatusCode::kDeadlineExceeded:
        return "timeout";
      case core::StatusCode::kResourceExhausted:
        return "rejected";
      default:
        return IsCallersFault(update.status.code()) ? "client_error" : "server_error";
    }
  }

  static bool IsCallersFault(core::StatusCode code) {
    return code == core::StatusCode::kInvalidArgument || code == core::StatusCode::kOutOfRange ||
           code == core::StatusCode::kFailedPrecondition || code == core::StatusCode::kNotFound;
  }
};

}  // namespace

void Server::Generate(const GeneratorHandle& handle, GenerationRequest request, GenerationCallback done) {
  auto tracker = std::make_shared<GenerationTracker>();
  const std::string& model = handle.version->name();
  tracker->model = model;
  tracker->first_token = &metrics_.llm_time_to_first_token_seconds.WithLabels({model});
  tracker->inter_token = &metrics_.llm_inter_token_seconds.WithLabels({model});
  tracker->request = &metrics_.llm_request_seconds.WithLabels({model});
  tracker->prompt_tokens = &metrics_.llm_prompt_tokens.WithLabels({model});
  tracker->generation_tokens = &metrics_.llm_generation_tokens.WithLabels({model});
  tracker->cache_hits = &metrics_.llm_prefix_cache_hit_tokens.WithLabels({model});
  tracker->outcomes = &metrics_.llm_requests;
  // The callback holds the version: it stays loaded until the last update.
  handle.generator->Generate(std::move(request),
                             [tracker, version = handle.version, done = std::move(done)](GenerationUpdate update) {
                               tracker->Record(update);
                               done(std::move(update));
                             });
}

std::string Server::RenderMetrics() {
  metrics_.server_ready.WithLabels({}).Set(IsReady() ? 1 : 0);
  for (const GeneratorHandle& handle : LanguageModels()) {
    const GeneratorLoad load = handle.generator->load();
    const std::string& model = handle.version->name();
    metrics_.llm_running_sequences.WithLabels({model}).Set(load.running);
    metrics_.llm_waiting_sequences.WithLabels({model}).Set(load.waiting);
    metrics_.llm_kv_cache_usage_ratio.WithLabels({model}).Set(load.kv_cache_usage);
  }
  return metrics_.Render();
}

}  // namespace berth::server

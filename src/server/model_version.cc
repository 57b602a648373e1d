#include "server/model_version.h"

#include <algorithm>
#include <thread>

#include "core/logging.h"
#include "core/parallel.h"
#include "server/batching.h"

namespace berth::server {
namespace {

std::string SpecToString(const TensorSpec& spec) {
  std::string dtype(core::DataTypeWireName(spec.dtype));
  if (dtype.empty()) dtype = std::string(core::DataTypeName(spec.dtype));
  if (!spec.rank_known) return dtype + " [?]";
  return dtype + " " + core::ShapeToString(spec.shape);
}

std::string TensorToString(const core::Tensor& tensor) {
  std::string dtype(core::DataTypeWireName(tensor.dtype()));
  return dtype + " " + core::ShapeToString(tensor.shape());
}

uint64_t Nanoseconds(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A request that fits the model's signature and still fails is the model's
// (or the server's) fault: it answers 5xx whatever code the backend used (a
// kernel's InvalidArgument there means the model is broken, not the request).
core::Status AsModelFault(const core::Status& status) {
  switch (status.code()) {
    case core::StatusCode::kInvalidArgument:
    case core::StatusCode::kOutOfRange:
    case core::StatusCode::kFailedPrecondition:
    case core::StatusCode::kNotFound:
    case core::StatusCode::kAlreadyExists:
    case core::StatusCode::kUnauthenticated:
      return core::Status(core::StatusCode::kInternal, status.message());
    default:
      return status;
  }
}

}  // namespace

std::string_view ModelVersionStateName(ModelVersionState state) {
  switch (state) {
    case ModelVersionState::kLoading:
      return "LOADING";
    case ModelVersionState::kReady:
      return "READY";
    case ModelVersionState::kUnloading:
      return "UNLOADING";
    case ModelVersionState::kUnavailable:
      return "UNAVAILABLE";
    case ModelVersionState::kFailed:
      return "FAILED";
  }
  return "UNAVAILABLE";
}

core::Result<std::unique_ptr<ModelVersion>> ModelVersion::Load(
    const std::string& name, int64_t version, const std::filesystem::path& model_file, const BackendFactory& backend,
    config::ModelConfig config, const ModelVersionOptions& options, ServerMetrics* metrics) {
  auto start = Clock::now();
  std::unique_ptr<ModelVersion> loaded(new ModelVersion());
  loaded->name_ = name;
  loaded->version_ = version;
  loaded->version_label_ = std::to_string(version);
  const std::string prefix = fmt::format("model '{}' version {}", name, version);

  std::error_code ec;
  // Only presence here: the backend opens the file and says what is wrong
  // with anything that is not a regular file.
  if (!std::filesystem::exists(model_file, ec)) {
    return core::NotFound("{}: model file '{}' does not exist", prefix, model_file.string());
  }
  const int instances = InstanceCount(config);
  BackendLoadOptions load_options;
  load_options.intra_op_threads = IntraOpThreadsParameter(config).value_or(options.intra_op_threads);
  if (load_options.intra_op_threads <= 0) {
    load_options.intra_op_threads = std::max(1, core::HardwareThreads() / instances);
  }
  auto loaded_backend = backend.load(model_file, config, load_options);
  if (!loaded_backend.ok()) return loaded_backend.status().WithContext(prefix);
  loaded->backend_ = std::move(loaded_backend).value();

  auto signature = CompleteModelConfig(name, loaded->backend_->signature(), backend, &config);
  if (!signature.ok()) return signature.status().WithContext(fmt::format("version {}", version));
  loaded->signature_ = std::move(signature).value();
  loaded->config_ = std::move(config);
  loaded->compute_timeout_ = options.compute_timeout;

  const std::string& v = loaded->version_label_;
  loaded->requests_success_ = &metrics->inference_requests.WithLabels({name, v, "success"});
  loaded->requests_client_error_ = &metrics->inference_requests.WithLabels({name, v, "client_error"});
  loaded->requests_server_error_ = &metrics->inference_requests.WithLabels({name, v, "server_error"});
  loaded->requests_rejected_ = &metrics->inference_requests.WithLabels({name, v, "rejected"});
  loaded->queue_seconds_ = &metrics->inference_queue_seconds.WithLabels({name, v});
  loaded->compute_seconds_ = &metrics->inference_compute_seconds.WithLabels({name, v});
  loaded->request_seconds_ = &metrics->inference_request_seconds.WithLabels({name, v});
  loaded->inflight_ = &metrics->inference_inflight.WithLabels({name, v});
  loaded->memory_ = &metrics->model_memory_bytes.WithLabels({name, v});
  loaded->memory_->Set(static_cast<double>(loaded->backend_->MemoryBytes()));
  if (options.memory) {
    // A model that does not fit would leave no memory for any request.
    const uint64_t bytes = loaded->backend_->MemoryBytes();
    if (!options.memory->TryCharge(bytes)) {
      return core::ResourceExhausted(
          "{}: the model holds {}, more than is left of the memory budget ({} of {} in use; --memory-budget)", prefix,
          core::FormatBytes(bytes), core::FormatBytes(options.memory->in_use()),
          core::FormatBytes(options.memory->limit()));
    }
    loaded->budget_ = options.memory;
    loaded->budget_charge_ = bytes;
  }
  loaded->batch_size_ = &metrics->inference_batch_size.WithLabels({name, v});
  Gauge* depth = &metrics->inference_queue_depth.WithLabels({name, v});

  // dynamic_batching: requests are joined along the batch dimension, which
  // only a model with max_batch_size > 0 has; its queue policy applies either way.
  BatchPolicy batching;
  const config::ModelConfig& completed = loaded->config_;
  if (completed.has_dynamic_batching()) {
    const auto& dynamic = completed.dynamic_batching();
    if (completed.max_batch_size() > 0) {
      batching.max_rows = completed.max_batch_size();
      batching.preferred.assign(dynamic.preferred_batch_size().begin(), dynamic.preferred_batch_size().end());
      std::sort(batching.preferred.begin(), batching.preferred.end());
      batching.max_delay = std::chrono::microseconds(dynamic.max_queue_delay_microseconds());
      batching.rows = [](const InferJob& job) { return RequestRows(job.request); };
      batching.compatible = [](const InferJob& a, const InferJob& b) {
        return SameBatchSignature(a.request, b.request);
      };
    }
    const auto& policy = dynamic.default_queue_policy();
    if (policy.timeout_action() == config::ModelQueuePolicy::REJECT && policy.default_timeout_microseconds() > 0) {
      loaded->queue_timeout_ = std::chrono::microseconds(policy.default_timeout_microseconds());
      loaded->queue_timeout_override_ = policy.allow_timeout_override();
    }
  }

  ModelVersion* self = loaded.get();
  loaded->scheduler_ = std::make_unique<InstanceScheduler>(
      fmt::format("{}:{}", name, version), instances, QueueCapacity(loaded->config_, options.queue_capacity),
      [self](std::span<InferJob> jobs, int) { self->Execute(jobs); }, depth, options.threads, std::move(batching));
  core::Status started = loaded->scheduler_->Start();
  if (!started.ok()) return started.WithContext(prefix);
  loaded->load_seconds_ = Seconds(Clock::now() - start);
  return loaded;
}

ModelVersion::~ModelVersion() {
  Shutdown();
  if (budget_) budget_->Release(budget_charge_);
}

void ModelVersion::Shutdown() {
  if (scheduler_) scheduler_->Stop();
}

std::string ModelVersion::Prefix() const { return fmt::format("model '{}' version {}", name_, version_); }

core::Status ModelVersion::Validate(const InferRequest& request) const {
  const auto& inputs = signature_.inputs;
  std::vector<bool> given(inputs.size(), false);
  int64_t batch = -1;
  const bool batched = config_.max_batch_size() > 0;
  for (const auto& [name, value] : request.inputs) {
    size_t index = 0;
    while (index < inputs.size() && inputs[index].name != name) ++index;
    if (index == inputs.size()) {
      std::string known;
      for (const auto& spec : inputs) known += (known.empty() ? "" : ", ") + spec.name;
      return core::InvalidArgument("{} has no input '{}' (inputs: {})", Prefix(), name, known);
    }
    if (given[index]) return core::InvalidArgument("{}: input '{}' is given twice", Prefix(), name);
    given[index] = true;
    const TensorSpec& spec = inputs[index];
    const core::Tensor& tensor = value.tensor();
    bool match = spec.dtype == core::DataType::kUndefined || tensor.dtype() == spec.dtype;
    if (match && spec.rank_known) {
      match = tensor.rank() == static_cast<int64_t>(spec.shape.size());
      for (size_t d = 0; match && d < spec.shape.size(); ++d) {
        if (spec.shape[d] >= 0 && spec.shape[d] != tensor.dim(static_cast<int64_t>(d))) match = false;
      }
    }
    if (!match) {
      return core::InvalidArgument("{}: input '{}' expects {}, got {}", Prefix(), name, SpecToString(spec),
                                   TensorToString(tensor));
    }
    if (batched) {
      if (tensor.rank() == 0) return core::InvalidArgument("{}: input '{}' has no batch dimension", Prefix(), name);
      int64_t n = tensor.dim(0);
      if (n > config_.max_batch_size()) {
        return core::InvalidArgument("{}: input '{}' has batch size {}, above max_batch_size {}", Prefix(), name, n,
                                     config_.max_batch_size());
      }
      if (batch >= 0 && n != batch) {
        return core::InvalidArgument("{}: inputs disagree on the batch size ({} and {})", Prefix(), batch, n);
      }
      batch = n;
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!given[i]) {
      return core::InvalidArgument("{}: input '{}' ({}) is missing", Prefix(), inputs[i].name, SpecToString(inputs[i]));
    }
  }
  const auto& outputs = signature_.outputs;
  if (request.outputs.size() > outputs.size()) {
    return core::InvalidArgument("{}: {} outputs requested, the model has {}", Prefix(), request.outputs.size(),
                                 outputs.size());
  }
  for (size_t i = 0; i < request.outputs.size(); ++i) {
    const std::string& name = request.outputs[i];
    if (std::none_of(outputs.begin(), outputs.end(), [&](const TensorSpec& s) { return s.name == name; })) {
      std::string known;
      for (const auto& spec : outputs) known += (known.empty() ? "" : ", ") + spec.name;
      return core::InvalidArgument("{} has no output '{}' (outputs: {})", Prefix(), name, known);
    }
    for (size_t j = 0; j < i; ++j) {
      if (request.outputs[j] == name)
        return core::InvalidArgument("{}: output '{}' is requested twice", Prefix(), name);
    }
  }
  return core::Status::Ok();
}

void ModelVersion::RecordOutcome(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      requests_success_->Increment();
      break;
    case Outcome::kClientError:
      requests_client_error_->Increment();
      break;
    case Outcome::kServerError:
      requests_server_error_->Increment();
      break;
    case Outcome::kRejected:
      requests_rejected_->Increment();
      break;
  }
}

void ModelVersion::Submit(std::shared_ptr<ModelVersion> self, InferRequest request, InferCallback done) {
  core::Status valid = Validate(request);
  if (!valid.ok()) {
    RecordOutcome(Outcome::kClientError);
    stats_.fail.count.fetch_add(1, std::memory_order_relaxed);
    done(std::move(valid));
    return;
  }
  InferJob job;
  if (queue_timeout_.count() > 0 && !(queue_timeout_override_ && request.parameters.contains("timeout"))) {
    job.queue_deadline = request.received + queue_timeout_;
  }
  job.request = std::move(request);
  job.done = std::move(done);
  job.keep_alive = std::move(self);
  inflight_->Add(1);
  core::Status queued = scheduler_->TryEnqueue(job);
  if (!queued.ok()) {
    inflight_->Add(-1);
    RecordOutcome(Outcome::kRejected);
    stats_.fail.count.fetch_add(1, std::memory_order_relaxed);
    job.done(std::move(queued));
  }
}

int64_t ModelVersion::BatchSize(const InferRequest& request) const {
  if (config_.max_batch_size() <= 0 || request.inputs.empty()) return 1;
  const core::Value& first = request.inputs.front().second;
  if (!first.is_tensor() || first.tensor().rank() == 0) return 1;
  return first.tensor().dim(0);
}

void ModelVersion::RecordComputeStats(const InferRequest& request, const BackendResponse& run,
                                      Clock::duration output_time) {
  stats_.inference_count.fetch_add(static_cast<uint64_t>(BatchSize(request)), std::memory_order_relaxed);
  stats_.compute_input.Add(Nanoseconds(run.input_time));
  stats_.compute_infer.Add(Nanoseconds(run.infer_time));
  stats_.compute_output.Add(Nanoseconds(output_time));
}

void ModelVersion::RecordExecution(int64_t rows, const BackendResponse& run, Clock::duration output_time) {
  stats_.execution_count.fetch_add(1, std::memory_order_relaxed);
  stats_.last_inference_ms.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                           std::chrono::system_clock::now().time_since_epoch())
                                                           .count()),
                                 std::memory_order_relaxed);
  if (run.status.ok()) {
    stats_.AddBatch(rows, Nanoseconds(run.input_time), Nanoseconds(run.infer_time), Nanoseconds(output_time));
    batch_size_->Observe(static_cast<double>(rows));
  }
}

void ModelVersion::Execute(std::span<InferJob> jobs) {
  const auto now = Clock::now();
  std::vector<InferJob*> live;
  live.reserve(jobs.size());
  for (InferJob& job : jobs) {
    // Jobs that may no longer run are answered without one. (A job alone
    // goes to the backend, which checks the same.)
    BackendResponse refused;
    refused.fault = Fault::kCaller;
    if (now > job.queue_deadline) {
      // Like a full queue: the server is too busy for this request now.
      refused.fault = Fault::kModel;
      refused.status = core::Unavailable(
          "the request waited in the queue longer than the queue policy's timeout ({} us); retry later",
          std::chrono::duration_cast<std::chrono::microseconds>(queue_timeout_).count());
    } else if (jobs.size() > 1 && job.request.cancelled && job.request.cancelled->load(std::memory_order_relaxed)) {
      refused.status = core::Status(core::StatusCode::kCancelled, "the request was cancelled before it ran");
    } else if (jobs.size() > 1 && now > job.request.deadline) {
      refused.status = core::Status(core::StatusCode::kDeadlineExceeded, "the request's deadline passed before it ran");
    } else {
      live.push_back(&job);
      continue;
    }
    Finish(job, refused, now, now);
  }
  if (live.size() > 1 && RunJoined(live)) return;
  for (InferJob* job : live) RunAlone(*job);
}

void ModelVersion::RunAlone(InferJob& job) {
  const auto start = Clock::now();
  BackendRequest request;
  request.inputs = job.request.inputs;
  request.outputs = job.request.outputs;
  request.deadline = job.request.deadline;
  if (compute_timeout_.count() > 0) request.deadline = std::min(request.deadline, start + compute_timeout_);
  request.cancelled = job.request.cancelled.get();
  request.memory = job.request.memory;
  BackendResponse run;
  backend_->Run(std::span<const BackendRequest>(&request, 1), std::span<BackendResponse>(&run, 1));
  const auto end = Clock::now();
  RecordExecution(BatchSize(job.request), run, {});
  Finish(job, run, start, end);
}

bool ModelVersion::RunJoined(std::span<InferJob* const> jobs) {
  const auto start = Clock::now();
  std::vector<const InferRequest*> requests;
  std::vector<int64_t> rows;
  int64_t total_rows = 0;
  uint64_t memory_limit = 0;  // the requests' own limits together; 0: none
  bool limited = true;
  Clock::time_point deadline = Clock::time_point::min();
  for (const InferJob* job : jobs) {
    requests.push_back(&job->request);
    rows.push_back(RequestRows(job->request));
    total_rows += rows.back();
    deadline = std::max(deadline, job->request.deadline);
    const core::MemoryAccount* account = job->request.memory.get();
    if (account && account->limit() > 0) {
      memory_limit += account->limit();
    } else {
      limited = false;
    }
  }
  // The joined run's memory (joined inputs, activations, outputs) is charged
  // to the process budget like any request's.
  auto memory = std::make_shared<core::MemoryAccount>(budget_, limited ? memory_limit : 0);
  core::AccountedAllocator allocator(core::HeapAllocator(), memory);
  auto joined = JoinInputs(requests, allocator);
  if (!joined.ok()) return false;

  BackendRequest request;
  request.inputs = *joined;
  request.outputs = jobs.front()->request.outputs;
  request.deadline = deadline;
  if (compute_timeout_.count() > 0) request.deadline = std::min(request.deadline, start + compute_timeout_);
  request.memory = memory;
  BackendResponse run;
  backend_->Run(std::span<const BackendRequest>(&request, 1), std::span<BackendResponse>(&run, 1));
  const auto end = Clock::now();
  if (!run.status.ok()) return false;

  // Every output must be per row; one that is not (a model whose output does
  // not follow the batch) makes the requests run alone instead.
  std::vector<std::vector<core::Tensor>> pieces;
  for (core::Value& value : run.outputs) {
    if (!value.is_tensor()) return false;
    auto split = SplitRows(value.tensor(), rows);
    if (!split.ok()) return false;
    pieces.push_back(std::move(split).value());
  }
  RecordExecution(total_rows, run, Clock::now() - end);
  for (size_t j = 0; j < jobs.size(); ++j) {
    BackendResponse mine;
    mine.status = core::Status::Ok();
    mine.fault = Fault::kModel;
    mine.input_time = run.input_time;
    mine.infer_time = run.infer_time;
    mine.outputs.reserve(pieces.size());
    for (auto& output : pieces) mine.outputs.emplace_back(std::move(output[j]));
    Finish(*jobs[j], mine, start, end);
  }
  return true;
}

void ModelVersion::Finish(InferJob& job, BackendResponse& run, Clock::time_point start, Clock::time_point end) {
  const auto queue_time = start - job.enqueued;
  const auto compute_time = end - start;
  const auto total_time = end - job.request.received;

  queue_seconds_->Observe(Seconds(queue_time));
  compute_seconds_->Observe(Seconds(compute_time));
  stats_.queue.Add(Nanoseconds(queue_time));

  core::Result<InferResponse> result = [&]() -> core::Result<InferResponse> {
    if (!run.status.ok()) {
      return (run.fault == Fault::kCaller ? run.status : AsModelFault(run.status)).WithContext(Prefix());
    }
    InferResponse response;
    response.id = std::move(job.request.id);
    response.model_name = name_;
    response.model_version = version_;
    response.queue_time = queue_time;
    response.compute_time = compute_time;
    response.outputs.reserve(run.outputs.size());
    for (size_t i = 0; i < run.outputs.size(); ++i) {
      const std::string& output_name =
          job.request.outputs.empty() ? signature_.outputs[i].name : job.request.outputs[i];
      core::Value& value = run.outputs[i];
      if (!value.is_tensor()) {
        return core::Unimplemented("{}: output '{}' is {}, not a tensor; it cannot be returned", Prefix(), output_name,
                                   value.is_sequence() ? "a sequence" : "an empty optional");
      }
      response.outputs.push_back({output_name, std::move(value.tensor())});
    }
    return response;
  }();

  if (result.ok()) {
    RecordOutcome(Outcome::kSuccess);
    stats_.success.Add(Nanoseconds(total_time));
    RecordComputeStats(job.request, run, Clock::now() - end);
  } else {
    Outcome outcome = Outcome::kServerError;
    if (!run.status.ok() && run.fault == Fault::kCaller) outcome = Outcome::kClientError;
    // The process's memory budget taken by other requests, or a queue
    // timeout: turned away like a full queue.
    if (run.status.code() == core::StatusCode::kResourceExhausted ||
        run.status.code() == core::StatusCode::kUnavailable) {
      outcome = Outcome::kRejected;
    }
    RecordOutcome(outcome);
    stats_.fail.Add(Nanoseconds(total_time));
  }
  request_seconds_->Observe(Seconds(total_time));
  memory_->Set(static_cast<double>(backend_->MemoryBytes()));
  inflight_->Add(-1);
  job.done(std::move(result));
}

}  // namespace berth::server

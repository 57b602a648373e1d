#include "server/model_repository.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>

#include "core/logging.h"
#include "core/regular_file.h"

namespace berth::server {
namespace fs = std::filesystem;
using core::Result;
using core::Status;

namespace {

constexpr uintmax_t kMaxConfigBytes = 1 << 20;

int64_t MtimeNs(const fs::path& path, std::error_code& ec) {
  auto time = fs::last_write_time(path, ec);
  if (ec) return 0;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

std::optional<int64_t> ParseVersionDirectory(const std::string& name) {
  if (name.empty() || name.size() > 18) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (ec != std::errc() || end != name.data() + name.size() || value <= 0) return std::nullopt;
  return value;
}

std::string JoinVersions(const std::vector<int64_t>& versions) {
  std::string out;
  for (int64_t v : versions) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

}  // namespace

std::string_view ModelControlModeName(ModelControlMode mode) {
  switch (mode) {
    case ModelControlMode::kNone:
      return "none";
    case ModelControlMode::kPoll:
      return "poll";
    case ModelControlMode::kExplicit:
      return "explicit";
  }
  return "none";
}

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  auto ok = [](char c, bool first) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') return true;
    return !first && (c == '.' || c == '-');
  };
  for (size_t i = 0; i < name.size(); ++i) {
    if (!ok(name[i], i == 0)) return false;
  }
  return name.find("..") == std::string_view::npos;
}

Result<std::unique_ptr<ModelRepository>> ModelRepository::Create(ModelRepositoryOptions options,
                                                                 ServerMetrics* metrics) {
  if (options.root.empty() == options.model_file.empty()) {
    return core::InvalidArgument("give either a model repository directory or one model file");
  }
  if (!options.backends || options.backends->empty()) return core::Internal("no model backend is registered");
  std::error_code ec;
  if (!options.model_file.empty()) {
    if (options.mode != ModelControlMode::kNone) {
      return core::InvalidArgument("--model-control {} needs a model repository, not a single model file",
                                   ModelControlModeName(options.mode));
    }
    if (!fs::is_regular_file(options.model_file, ec)) {
      return core::NotFound("model file '{}' does not exist", options.model_file.string());
    }
    RETURN_IF_ERROR(options.backends->ForModelFile(options.model_file).status());
    std::string name = options.model_file.stem().string();
    if (!IsValidModelName(name)) {
      return core::InvalidArgument("model file '{}': '{}' is not a valid model name (letters, digits, '_', '.', '-')",
                                   options.model_file.string(), name);
    }
  } else if (!fs::is_directory(options.root, ec)) {
    return core::NotFound("model repository '{}' is not a directory", options.root.string());
  }
  if (options.mode == ModelControlMode::kPoll && options.poll_interval.count() <= 0) {
    return core::InvalidArgument("the repository poll interval must be positive");
  }
  return std::unique_ptr<ModelRepository>(new ModelRepository(std::move(options), metrics));
}

ModelRepository::ModelRepository(ModelRepositoryOptions options, ServerMetrics* metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      loader_(std::make_unique<BackgroundWorker>("berth-loader")),
      reaper_(std::make_unique<BackgroundWorker>("berth-reaper")) {}

ModelRepository::~ModelRepository() { Stop(); }

Status ModelRepository::Start() {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListModelNames());
  std::vector<std::optional<DiskModel>> scanned;
  for (const auto& name : names) scanned.push_back(ScanModel(name));
  std::vector<Completion> completions;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < names.size(); ++i) {
      ModelEntry& entry = EntryFor(names[i]);
      ApplyDisk(entry, std::move(scanned[i]));
      entry.should_serve = options_.mode != ModelControlMode::kExplicit;
      Reconcile(entry);
      PublishState(entry);
    }
  }
  if (names.empty() && options_.mode == ModelControlMode::kNone) {
    core::LogWarning("the model repository holds no models", {{"repository", options_.root.string()}});
  }
  if (options_.mode == ModelControlMode::kExplicit) {
    for (const auto& name : options_.startup_models) {
      Load(name, [name](Status status) {
        if (!status.ok())
          core::LogError("startup model failed to load", {{"model", name}, {"error", status.message()}});
      });
    }
  }
  if (options_.mode == ModelControlMode::kPoll) {
    poll_thread_ = std::thread([this] { PollLoop(); });
  }
  return Status::Ok();
}

void ModelRepository::Stop() {
  {
    std::lock_guard lock(poll_mutex_);
    poll_stop_ = true;
  }
  poll_wake_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();

  std::vector<std::function<void(Status)>> waiters;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !loader_) return;
    stopping_ = true;
    for (auto& [name, entry] : entries_) {
      entry.should_serve = false;
      for (auto& [version, record] : entry.versions) {
        if (record.serving) DropServing(entry, record, version, "server is stopping");
      }
      for (auto& waiter : entry.load_waiters) waiters.push_back(std::move(waiter));
      entry.load_waiters.clear();
    }
  }
  for (auto& waiter : waiters) waiter(core::Unavailable("the server is shutting down"));
  if (loader_) loader_->Stop(/*drain=*/false);
  {
    std::unique_lock lock(mutex_);
    all_retired_.wait(lock, [this] { return live_versions_.load() == 0; });
  }
  if (reaper_) reaper_->Stop(/*drain=*/true);
  std::lock_guard lock(mutex_);
  loader_.reset();
  reaper_.reset();
}

// ---- file system -----------------------------------------------------------

Result<std::vector<std::string>> ModelRepository::ListModelNames() const {
  std::vector<std::string> names;
  if (!options_.model_file.empty()) {
    names.push_back(options_.model_file.stem().string());
    return names;
  }
  std::error_code ec;
  fs::directory_iterator it(options_.root, ec);
  if (ec) return core::Unavailable("cannot read model repository '{}': {}", options_.root.string(), ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    std::string name = it->path().filename().string();
    if (!IsValidModelName(name)) {
      if (!name.empty() && name[0] != '.') {
        core::LogWarning("skipping a repository directory whose name is not a valid model name", {{"name", name}});
      }
      continue;
    }
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<ModelRepository::DiskModel> ModelRepository::ScanModel(const std::string& name) const {
  std::error_code ec;
  DiskModel disk;
  disk.name = name;
  if (!options_.model_file.empty()) {
    if (name != options_.model_file.stem().string()) return std::nullopt;
    DiskVersion version;
    version.version = 1;
    version.model_file = options_.model_file;
    version.backend = *options_.backends->ForModelFile(options_.model_file);
    version.fingerprint.model_mtime = MtimeNs(options_.model_file, ec);
    version.fingerprint.model_size = static_cast<int64_t>(fs::file_size(options_.model_file, ec));
    disk.versions.push_back(version);
    return disk;
  }
  const fs::path dir = options_.root / name;
  if (!fs::is_directory(dir, ec)) return std::nullopt;

  const fs::path config_path = dir / "config.pbtxt";
  if (fs::exists(fs::symlink_status(config_path, ec))) {
    disk.config_fingerprint.config_mtime = MtimeNs(config_path, ec);
    uintmax_t size = fs::file_size(config_path, ec);
    disk.config_fingerprint.config_size = ec ? 0 : static_cast<int64_t>(size);
    auto text = core::ReadRegularFile(config_path, "config", kMaxConfigBytes);
    if (!text.ok()) {
      disk.config_ok = false;
      disk.config_error = fmt::format("model '{}': {}", name, text.status().message());
    } else {
      auto parsed = ParseModelConfig(*text, config_path.string(), &disk.config_warnings);
      Status valid = parsed.ok() ? ValidateModelConfig(*parsed, name) : parsed.status();
      if (valid.ok()) valid = options_.backends->CheckNames(*parsed, name);
      if (!valid.ok()) {
        disk.config_ok = false;
        disk.config_error = valid.message();
      } else {
        disk.config = std::move(parsed).value();
      }
    }
  }
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    auto version = ParseVersionDirectory(it->path().filename().string());
    if (!version) continue;
    DiskVersion entry;
    entry.version = *version;
    // The backend: the one config.pbtxt names, else by the model file the
    // folder holds (CheckNames above vouched for the names).
    auto backend = options_.backends->Select(disk.config_ok ? disk.config : config::ModelConfig(), it->path());
    if (!backend.ok()) continue;
    entry.backend = *backend;
    entry.model_file = it->path() / ModelFilename(disk.config, *entry.backend);
    entry.fingerprint = disk.config_fingerprint;
    std::error_code file_ec;
    entry.fingerprint.model_mtime = MtimeNs(entry.model_file, file_ec);
    uintmax_t size = fs::file_size(entry.model_file, file_ec);
    entry.fingerprint.model_size = file_ec ? -1 : static_cast<int64_t>(size);
    disk.versions.push_back(std::move(entry));
  }
  std::sort(disk.versions.begin(), disk.versions.end(),
            [](const DiskVersion& a, const DiskVersion& b) { return a.version < b.version; });
  return disk;
}

// ---- state (under mutex_) ---------------------------------------------------

ModelRepository::ModelEntry& ModelRepository::EntryFor(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    it = entries_.emplace(name, ModelEntry{}).first;
    it->second.name = name;
  }
  return it->second;
}

void ModelRepository::ApplyDisk(ModelEntry& entry, std::optional<DiskModel> disk) {
  entry.on_disk = disk.has_value();
  if (!disk) {
    entry.disk.reset();
    entry.reason.clear();
    return;
  }
  bool config_changed = !entry.disk || entry.disk->config_fingerprint != disk->config_fingerprint ||
                        entry.disk->config_ok != disk->config_ok;
  if (config_changed) {
    for (const auto& warning : disk->config_warnings) {
      core::LogWarning("config.pbtxt: ignoring a field berth does not know",
                       {{"model", entry.name}, {"detail", warning}});
    }
  }
  if (!disk->config_ok) {
    if (config_changed) {
      core::LogError("model configuration is invalid; keeping the previous state",
                     {{"model", entry.name}, {"error", disk->config_error}});
    }
    entry.reason = disk->config_error;
    if (!entry.disk) {
      // A new model with a broken config: known, not loadable.
      disk->versions.clear();
      entry.disk = std::move(disk);
    }
    return;
  }
  entry.reason.clear();
  entry.disk = std::move(disk);
}

std::vector<int64_t> ModelRepository::DesiredVersions(const ModelEntry& entry) const {
  if (!entry.should_serve || stopping_ || !entry.disk || !entry.disk->config_ok) return {};
  std::vector<int64_t> available;
  for (const auto& v : entry.disk->versions) available.push_back(v.version);
  return SelectVersions(entry.disk->config.version_policy(), available);
}

ModelVersionState ModelRepository::StateOf(const VersionRecord& record) {
  if (record.serving) return ModelVersionState::kReady;
  if (record.loading) return ModelVersionState::kLoading;
  if (record.unloading > 0) return ModelVersionState::kUnloading;
  if (record.failed) return ModelVersionState::kFailed;
  return ModelVersionState::kUnavailable;
}

void ModelRepository::Reconcile(ModelEntry& entry) {
  const std::vector<int64_t> desired = DesiredVersions(entry);
  for (int64_t v : desired) {
    const DiskVersion* disk_version = nullptr;
    for (const auto& candidate : entry.disk->versions) {
      if (candidate.version == v) disk_version = &candidate;
    }
    VersionRecord& record = entry.versions[v];
    if (record.loading) continue;
    if (record.serving && record.serving_fingerprint == disk_version->fingerprint) continue;
    if (record.failed && record.failed_fingerprint == disk_version->fingerprint) continue;
    ScheduleLoad(entry, *disk_version);
  }
  bool pending = false;
  bool any_ready = false;
  for (int64_t v : desired) {
    const VersionRecord& record = entry.versions[v];
    pending = pending || record.loading;
    any_ready = any_ready || record.serving != nullptr;
  }
  for (auto& [v, record] : entry.versions) {
    if (!record.serving || std::find(desired.begin(), desired.end(), v) != desired.end()) continue;
    if (desired.empty()) {
      DropServing(entry, record, v, entry.should_serve ? "no version selected" : "model not served");
    } else if (!pending && any_ready) {
      DropServing(entry, record, v, "superseded by version(s) " + JoinVersions(desired));
    }
  }
}

void ModelRepository::ScheduleLoad(ModelEntry& entry, const DiskVersion& version) {
  VersionRecord& record = entry.versions[version.version];
  record.loading = true;
  const std::string name = entry.name;
  const int64_t number = version.version;
  const fs::path model_file = version.model_file;
  const BackendFactory* backend = version.backend;
  const Fingerprint fingerprint = version.fingerprint;
  config::ModelConfig config = entry.disk->config;
  core::LogInfo("loading model version",
                {{"model", name}, {"version", std::to_string(number)}, {"file", model_file.string()}});
  bool posted =
      loader_->Post([this, name, number, model_file, backend, fingerprint, config = std::move(config)]() mutable {
        auto loaded = ModelVersion::Load(name, number, model_file, *backend, std::move(config),
                                         options_.version_options, metrics_);
        FinishLoad(name, number, fingerprint, std::move(loaded));
      });
  if (!posted) record.loading = false;
}

void ModelRepository::DropServing(ModelEntry& entry, VersionRecord& record, int64_t version, std::string_view why) {
  core::LogInfo("unloading model version",
                {{"model", entry.name}, {"version", std::to_string(version)}, {"reason", std::string(why)}});
  record.unloading += 1;
  std::shared_ptr<ModelVersion> dropped = std::move(record.serving);
  record.serving.reset();
  // The object is shut down on the reaper thread once its last request is done.
}

bool ModelRepository::Settled(const ModelEntry& entry) const {
  for (int64_t v : DesiredVersions(entry)) {
    auto it = entry.versions.find(v);
    if (it != entry.versions.end() && it->second.loading) return false;
  }
  return true;
}

Status ModelRepository::LoadResult(const ModelEntry& entry) const {
  if (stopping_) return core::Unavailable("the server is shutting down");
  if (!entry.should_serve) return core::Unavailable("model '{}' was unloaded while it was loading", entry.name);
  if (!entry.reason.empty()) return core::InvalidArgument("{}", entry.reason);
  const std::vector<int64_t> desired = DesiredVersions(entry);
  if (desired.empty()) {
    return core::NotFound(
        "model '{}' has no version to load (no numeric version directory selected by its "
        "version_policy)",
        entry.name);
  }
  std::string errors;
  core::StatusCode code = core::StatusCode::kOk;
  for (int64_t v : desired) {
    auto it = entry.versions.find(v);
    if (it == entry.versions.end() || it->second.serving) continue;
    errors += (errors.empty() ? "" : "; ") + it->second.reason;
    code = it->second.reason.find("does not exist") != std::string::npos ? core::StatusCode::kNotFound
                                                                         : core::StatusCode::kInvalidArgument;
  }
  if (errors.empty()) return Status::Ok();
  return Status(code, errors);
}

void ModelRepository::CollectSettledWaiters(ModelEntry& entry, std::vector<Completion>* completions) {
  if (entry.load_waiters.empty() || !Settled(entry)) return;
  Status result = LoadResult(entry);
  if (!result.ok() && entry.should_serve) {
    // A failed explicit load leaves the model as it was: if nothing of it is
    // serving, the repository does not mean to serve it (readiness ignores it).
    bool serving = std::any_of(entry.versions.begin(), entry.versions.end(),
                               [](const auto& v) { return v.second.serving != nullptr; });
    if (!serving) entry.should_serve = false;
  }
  for (auto& waiter : entry.load_waiters) {
    completions->push_back([waiter = std::move(waiter), result] { waiter(result); });
  }
  entry.load_waiters.clear();
}

void ModelRepository::PublishState(const ModelEntry& entry) {
  static constexpr ModelVersionState kStates[] = {ModelVersionState::kLoading, ModelVersionState::kReady,
                                                  ModelVersionState::kUnloading, ModelVersionState::kUnavailable,
                                                  ModelVersionState::kFailed};
  for (const auto& [v, record] : entry.versions) {
    const std::string version = std::to_string(v);
    const ModelVersionState current = StateOf(record);
    for (ModelVersionState state : kStates) {
      std::string label(ModelVersionStateName(state));
      std::transform(label.begin(), label.end(), label.begin(), [](unsigned char c) { return std::tolower(c); });
      metrics_->model_state.WithLabels({entry.name, version, label}).Set(state == current ? 1 : 0);
    }
    // A loaded version keeps its own memory figure up to date; none is held
    // once no object of this version is left.
    if (!record.serving && record.unloading == 0) metrics_->model_memory_bytes.WithLabels({entry.name, version}).Set(0);
  }
}

void ModelRepository::Prune(const std::string& name) {
  auto it = entries_.find(name);
  if (it == entries_.end()) return;
  ModelEntry& entry = it->second;
  std::set<int64_t> on_disk;
  if (entry.disk) {
    for (const auto& v : entry.disk->versions) on_disk.insert(v.version);
  }
  for (auto v = entry.versions.begin(); v != entry.versions.end();) {
    const VersionRecord& record = v->second;
    bool idle = !record.serving && !record.loading && record.unloading == 0;
    if (idle && !on_disk.count(v->first)) {
      for (const char* state : {"loading", "ready", "unloading", "failed"}) {
        metrics_->model_state.WithLabels({name, std::to_string(v->first), state}).Set(0);
      }
      metrics_->model_state.WithLabels({name, std::to_string(v->first), "unavailable"}).Set(1);
      v = entry.versions.erase(v);
    } else {
      ++v;
    }
  }
  if (entry.versions.empty() && !entry.on_disk && !entry.should_serve && entry.load_waiters.empty()) {
    entries_.erase(it);
  }
}

// ---- loader / reaper ---------------------------------------------------------

std::shared_ptr<ModelVersion> ModelRepository::Adopt(std::unique_ptr<ModelVersion> version) {
  live_versions_.fetch_add(1);
  return std::shared_ptr<ModelVersion>(version.release(), [this](ModelVersion* raw) { Retire(raw); });
}

void ModelRepository::Retire(ModelVersion* version) {
  // Runs wherever the last reference was dropped (possibly an instance thread
  // of this very version), so the shutdown itself happens on the reaper.
  auto task = [this, version] {
    const std::string name = version->name();
    const int64_t number = version->version();
    version->Shutdown();
    delete version;
    core::LogInfo("model version unloaded", {{"model", name}, {"version", std::to_string(number)}});
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      auto record = it->second.versions.find(number);
      if (record != it->second.versions.end() && record->second.unloading > 0) record->second.unloading -= 1;
      PublishState(it->second);
      Prune(name);
    }
    live_versions_.fetch_sub(1);
    all_retired_.notify_all();
  };
  if (!reaper_ || !reaper_->Post(task)) {
    // Only after Stop: nothing may still reference a version then.
    live_versions_.fetch_sub(1);
  }
}

void ModelRepository::FinishLoad(const std::string& name, int64_t version, Fingerprint fingerprint,
                                 Result<std::unique_ptr<ModelVersion>> loaded) {
  std::shared_ptr<ModelVersion> adopted;
  if (loaded.ok()) adopted = Adopt(std::move(loaded).value());
  std::vector<Completion> completions;
  std::shared_ptr<ModelVersion> discard;
  {
    std::lock_guard lock(mutex_);
    ModelEntry& entry = EntryFor(name);
    VersionRecord& record = entry.versions[version];
    record.loading = false;
    if (!startup_loaded_ && !AnyVersionLoading()) startup_loaded_ = true;
    const std::string label = std::to_string(version);
    if (adopted) {
      const std::vector<int64_t> desired = DesiredVersions(entry);
      if (std::find(desired.begin(), desired.end(), version) == desired.end()) {
        core::LogInfo("model version loaded but no longer wanted", {{"model", name}, {"version", label}});
        record.unloading += 1;
        discard = std::move(adopted);
      } else {
        if (record.serving) DropServing(entry, record, version, "replaced by a reload");
        record.serving = std::move(adopted);
        record.serving_fingerprint = fingerprint;
        record.failed = false;
        record.reason.clear();
        record.load_seconds = record.serving->load_seconds();
        metrics_->model_load_seconds.WithLabels({name, label}).Set(record.load_seconds);
        core::LogInfo(
            "model version ready",
            {{"model", name}, {"version", label}, {"load_seconds", fmt::format("{:.3f}", record.load_seconds)}});
      }
    } else {
      record.failed = true;
      record.failed_fingerprint = fingerprint;
      record.reason = loaded.status().message();
      metrics_->model_load_failures.WithLabels({name, label}).Increment();
      core::LogError("model version failed to load",
                     {{"model", name},
                      {"version", label},
                      {"error", record.reason},
                      {"serving", record.serving ? "previous load of this version" : "unchanged"}});
    }
    Reconcile(entry);
    CollectSettledWaiters(entry, &completions);
    PublishState(entry);
  }
  discard.reset();  // outside the lock: its deleter posts to the reaper
  for (auto& completion : completions) completion();
}

// ---- queries -------------------------------------------------------------

Result<std::shared_ptr<ModelVersion>> ModelRepository::Acquire(std::string_view name, int64_t version) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return core::NotFound("unknown model '{}'", name);
  const ModelEntry& entry = it->second;
  if (version == 0) {
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.serving) return v->second.serving;
    }
    for (const auto& [number, record] : entry.versions) {
      if (record.loading) return core::Unavailable("model '{}' is loading", name);
    }
    if (!entry.reason.empty()) return core::Unavailable("model '{}' is not ready: {}", name, entry.reason);
    for (auto v = entry.versions.rbegin(); v != entry.versions.rend(); ++v) {
      if (v->second.failed) return core::Unavailable("model '{}' is not ready: {}", name, v->second.reason);
    }
    return core::Unavailable("model '{}' is not loaded", name);
  }
  auto v = entry.versions.find(version);
  if (v == entry.versions.end()) return core::NotFound("model '{}' has no version {}", name, version);
  if (v->second.serving) return v->second.serving;
  const VersionRecord& record = v->second;
  std::string state(ModelVersionStateName(StateOf(record)));
  if (record.failed) return core::Unavailable("model '{}' version {} is {}: {}", name, version, state, record.reason);
  return core::Unavailable("model '{}' version {} is {}", name, version, state);
}

std::vector<std::shared_ptr<ModelVersion>> ModelRepository::ReadyVersions(std::string_view name) const {
  std::vector<std::shared_ptr<ModelVersion>> ready;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return ready;
  for (const auto& [v, record] : it->second.versions) {
    if (record.serving) ready.push_back(record.serving);
  }
  return ready;
}

Result<ModelStatus> ModelRepository::GetModelStatus(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return core::NotFound("unknown model '{}'", name);
  const ModelEntry& entry = it->second;
  ModelStatus status;
  status.name = entry.name;
  status.should_serve = entry.should_serve;
  status.reason = entry.reason;
  for (const auto& [v, record] : entry.versions) {
    VersionStatus version;
    version.version = v;
    version.state = StateOf(record);
    version.reason = record.reason;
    // A version that was loaded and is no longer (Triton's word for it).
    if (version.state == ModelVersionState::kUnavailable && version.reason.empty()) version.reason = "unloaded";
    version.load_seconds = record.load_seconds;
    status.ready = status.ready || record.serving != nullptr;
    status.versions.push_back(std::move(version));
  }
  return status;
}

std::vector<ModelStatus> ModelRepository::ListModels() const {
  std::vector<std::string> names;
  if (options_.mode == ModelControlMode::kExplicit) {
    // Explicit mode never polls: list what the directory holds now.
    if (auto on_disk = ListModelNames(); on_disk.ok()) names = std::move(on_disk).value();
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, entry] : entries_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<ModelStatus> models;
  for (const auto& name : names) {
    auto status = GetModelStatus(name);
    if (status.ok()) {
      models.push_back(std::move(status).value());
    } else {
      ModelStatus unloaded;  // on disk, never loaded
      unloaded.name = name;
      models.push_back(std::move(unloaded));
    }
  }
  return models;
}

bool ModelRepository::AnyVersionLoading() const {
  for (const auto& [name, entry] : entries_) {
    for (const auto& [v, record] : entry.versions) {
      if (record.loading) return true;
    }
  }
  return false;
}

bool ModelRepository::AllReady(std::string* reason) const {
  std::lock_guard lock(mutex_);
  bool any_loading = false;
  for (const auto& [name, entry] : entries_) {
    if (!entry.should_serve) continue;
    bool ready = false;
    bool loading = false;
    std::string failure = entry.reason;
    for (const auto& [v, record] : entry.versions) {
      ready = ready || record.serving != nullptr;
      loading = loading || record.loading;
      if (record.failed && failure.empty()) failure = record.reason;
    }
    any_loading = any_loading || loading;
    if (ready && (startup_loaded_ || !loading)) continue;
    if (reason) {
      if (loading) {
        *reason = fmt::format("model '{}' is loading", name);
      } else if (!failure.empty()) {
        *reason = fmt::format("model '{}' is not ready: {}", name, failure);
      } else {
        *reason = fmt::format("model '{}' has no version to serve", name);
      }
    }
    return false;
  }
  if (!any_loading) startup_loaded_ = true;
  return true;
}

// ---- control ---------------------------------------------------------------

void ModelRepository::Load(const std::string& name, std::function<void(Status)> done) {
  if (options_.mode != ModelControlMode::kExplicit) {
    done(core::FailedPrecondition("model control mode is '{}'; load and unload need --model-control explicit",
                                  ModelControlModeName(options_.mode)));
    return;
  }
  if (!IsValidModelName(name)) {
    done(core::InvalidArgument("'{}' is not a valid model name", name));
    return;
  }
  std::optional<DiskModel> disk = ScanModel(name);
  if (!disk) {
    done(core::NotFound("model '{}' is not in the repository", name));
    return;
  }
  std::vector<Completion> completions;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      completions.push_back([done] { done(core::Unavailable("the server is shutting down")); });
    } else {
      ModelEntry& entry = EntryFor(name);
      ApplyDisk(entry, std::move(disk));
      entry.should_serve = true;
      // A failed version is retried on an explicit load even if unchanged.
      for (auto& [v, record] : entry.versions) record.failed_fingerprint = Fingerprint{-1, -1, -1, -1};
      Reconcile(entry);
      entry.load_waiters.push_back(std::move(done));
      CollectSettledWaiters(entry, &completions);
      PublishState(entry);
    }
  }
  for (auto& completion : completions) completion();
}

Status ModelRepository::Unload(std::string_view name) {
  if (options_.mode != ModelControlMode::kExplicit) {
    return core::FailedPrecondition("model control mode is '{}'; load and unload need --model-control explicit",
                                    ModelControlModeName(options_.mode));
  }
  if (!IsValidModelName(name)) return core::InvalidArgument("'{}' is not a valid model name", name);
  std::vector<Completion> completions;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end()) return core::NotFound("unknown model '{}'", name);
    ModelEntry& entry = it->second;
    entry.should_serve = false;
    Reconcile(entry);
    CollectSettledWaiters(entry, &completions);
    PublishState(entry);
  }
  for (auto& completion : completions) completion();
  return Status::Ok();
}

void ModelRepository::Poll() {
  auto names = ListModelNames();
  if (!names.ok()) {
    core::LogError("repository poll failed", {{"error", names.status().message()}});
    return;
  }
  std::set<std::string> all(names->begin(), names->end());
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, entry] : entries_) all.insert(name);
  }
  std::vector<std::pair<std::string, std::optional<DiskModel>>> scanned;
  for (const auto& name : all) scanned.emplace_back(name, ScanModel(name));
  std::vector<Completion> completions;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    for (auto& [name, disk] : scanned) {
      ModelEntry& entry = EntryFor(name);
      ApplyDisk(entry, std::move(disk));
      if (options_.mode == ModelControlMode::kPoll) entry.should_serve = entry.on_disk;
      Reconcile(entry);
      CollectSettledWaiters(entry, &completions);
      PublishState(entry);
      Prune(name);
    }
  }
  for (auto& completion : completions) completion();
}

void ModelRepository::PollLoop() {
  pthread_setname_np(pthread_self(), "berth-poll");
  std::unique_lock lock(poll_mutex_);
  while (!poll_stop_) {
    poll_wake_.wait_for(lock, options_.poll_interval, [this] { return poll_stop_; });
    if (poll_stop_) break;
    lock.unlock();
    Poll();
    lock.lock();
  }
}

}  // namespace berth::server

// ModelRepository: which models and versions exist on disk, which are
// loaded, and which one a request goes to.
//
// Layout (Triton's): <root>/<model>/config.pbtxt (optional) and
// <root>/<model>/<version>/model.onnx, versions being positive integers.
// `berth serve MODEL.onnx` is a repository of one model (named after the
// file) with one version, 1.
//
// Model control modes:
//   none      every model found at Start is loaded; nothing changes later.
//   poll      the root is rescanned every poll interval: new models and
//             versions load, removed ones unload, changed files reload.
//   explicit  nothing loads unless named at Start or by Load(); Unload()
//             unloads. Load/Unload fail with FailedPrecondition otherwise.
//             A load that fails while no version of the model is serving
//             leaves the model unserved (so it does not hold readiness down).
//
// Version lifecycle rules:
//   * A model's desired versions are those its version_policy selects among
//     the version directories on disk (default: latest {1}).
//   * A version loads in the background (loader thread) and becomes routable
//     only once it is ready; routing never sees a half-loaded version.
//   * A version that is no longer desired (superseded or removed from disk)
//     keeps serving until every desired version has finished loading and at
//     least one of them is ready; then it is dropped from routing. If the
//     model itself is gone or unloaded, its versions are dropped at once.
//   * A dropped version finishes the requests already routed to it (they
//     hold a shared_ptr) and is then shut down on the reaper thread.
//   * A version that fails to load is reported (log, metrics, status) with
//     its reason, leaves whatever was serving in place, and is retried only
//     when its files change.
//   * An unversioned request goes to the highest ready version.
//
// Thread safety: every public method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/status.h"
#include "server/background_worker.h"
#include "server/metrics.h"
#include "server/model_version.h"

namespace berth::server {

enum class ModelControlMode { kNone, kPoll, kExplicit };
std::string_view ModelControlModeName(ModelControlMode mode);

// Model names: [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 200 bytes. Anything else
// (including "..", "/" and empty names) is rejected before it reaches the
// file system.
bool IsValidModelName(std::string_view name);

struct ModelRepositoryOptions {
  std::filesystem::path root;                 // the repository directory, or
  std::filesystem::path model_file;           // a single model file
  const BackendRegistry* backends = nullptr;  // the model formats served; outlives the repository
  ModelControlMode mode = ModelControlMode::kNone;
  std::chrono::milliseconds poll_interval{15000};
  std::vector<std::string> startup_models;  // explicit mode: loaded by Start
  ModelVersionOptions version_options;
};

struct VersionStatus {
  int64_t version = 0;
  ModelVersionState state = ModelVersionState::kUnavailable;
  std::string reason;  // why the last load failed, if it did
  double load_seconds = 0;
};

struct ModelStatus {
  std::string name;
  bool should_serve = false;  // the repository means to serve it (mode rules)
  bool ready = false;         // some version is ready
  std::string reason;         // model-level problem (config.pbtxt), if any
  std::vector<VersionStatus> versions;
};

class ModelRepository {
 public:
  static core::Result<std::unique_ptr<ModelRepository>> Create(ModelRepositoryOptions options, ServerMetrics* metrics);
  ~ModelRepository();
  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  // Scans the repository and starts loading (in the background). Fails only
  // when the repository cannot be read at all.
  core::Status Start();
  // Stops polling and loading, drops every version from routing and waits
  // until all of them have finished their requests and shut down.
  void Stop();

  // The version a request for (name, version) goes to; version 0 = highest
  // ready. NotFound for unknown models/versions, Unavailable for known ones
  // that are not ready (loading, failed, unloaded).
  core::Result<std::shared_ptr<ModelVersion>> Acquire(std::string_view name, int64_t version) const;
  // Ready versions of a model, ascending.
  std::vector<std::shared_ptr<ModelVersion>> ReadyVersions(std::string_view name) const;

  core::Result<ModelStatus> GetModelStatus(std::string_view name) const;
  // Every model known (on disk or loaded), by name.
  std::vector<ModelStatus> ListModels() const;
  // True when every model the repository should serve has a ready version
  // and the versions found at start have all finished loading (a later new
  // version, in poll or explicit mode, loads while the older one keeps the
  // server ready); otherwise `reason` names the first model that is not.
  bool AllReady(std::string* reason) const;

  // Explicit mode. Load rescans the model's directory and loads its desired
  // versions; `done` runs (on the loader thread, or at once) when all of them
  // have finished loading, with OK or the load errors.
  void Load(const std::string& name, std::function<void(core::Status)> done);
  core::Status Unload(std::string_view name);

  // Rescans now (poll mode does this every poll interval).
  void Poll();
  ModelControlMode mode() const { return options_.mode; }

 private:
  struct Fingerprint {
    int64_t model_mtime = 0;
    int64_t model_size = -1;
    int64_t config_mtime = 0;
    int64_t config_size = -1;
    bool operator==(const Fingerprint&) const = default;
  };
  struct DiskVersion {
    int64_t version = 0;
    std::filesystem::path model_file;
    const BackendFactory* backend = nullptr;
    Fingerprint fingerprint;
  };
  struct DiskModel {
    std::string name;
    bool config_ok = true;
    std::string config_error;
    std::vector<std::string> config_warnings;
    config::ModelConfig config;
    Fingerprint config_fingerprint;
    std::vector<DiskVersion> versions;  // ascending
  };
  struct VersionRecord {
    std::shared_ptr<ModelVersion> serving;
    Fingerprint serving_fingerprint;
    bool loading = false;
    int unloading = 0;  // dropped objects not yet shut down
    bool failed = false;
    Fingerprint failed_fingerprint;
    std::string reason;
    double load_seconds = 0;
  };
  struct ModelEntry {
    std::string name;
    bool should_serve = false;
    bool on_disk = false;
    std::optional<DiskModel> disk;
    std::string reason;
    std::map<int64_t, VersionRecord> versions;
    std::vector<std::function<void(core::Status)>> load_waiters;
  };
  using Completion = std::function<void()>;

  ModelRepository(ModelRepositoryOptions options, ServerMetrics* metrics);

  // File system (no lock held).
  core::Result<std::vector<std::string>> ListModelNames() const;
  std::optional<DiskModel> ScanModel(const std::string& name) const;

  // Under mutex_.
  ModelEntry& EntryFor(const std::string& name);
  void ApplyDisk(ModelEntry& entry, std::optional<DiskModel> disk);
  std::vector<int64_t> DesiredVersions(const ModelEntry& entry) const;
  void Reconcile(ModelEntry& entry);
  void ScheduleLoad(ModelEntry& entry, const DiskVersion& version);
  void DropServing(ModelEntry& entry, VersionRecord& record, int64_t version, std::string_view why);
  bool Settled(const ModelEntry& entry) const;
  core::Status LoadResult(const ModelEntry& entry) const;
  void CollectSettledWaiters(ModelEntry& entry, std::vector<Completion>* completions);
  void PublishState(const ModelEntry& entry);
  void Prune(const std::string& name);
  static ModelVersionState StateOf(const VersionRecord& record);

  // Loader / reaper thread bodies.
  void FinishLoad(const std::string& name, int64_t version, Fingerprint fingerprint,
                  core::Result<std::unique_ptr<ModelVersion>> loaded);
  std::shared_ptr<ModelVersion> Adopt(std::unique_ptr<ModelVersion> version);
  void Retire(ModelVersion* version);
  bool AnyVersionLoading() const;  // mutex_ held
  void PollLoop();

  const ModelRepositoryOptions options_;
  ServerMetrics* const metrics_;

  mutable std::mutex mutex_;
  std::condition_variable all_retired_;
  std::map<std::string, ModelEntry, std::less<>> entries_;
  bool stopping_ = false;
  // Set once no version is loading for the first time: the start-up loads
  // are over (by a load finishing, or by AllReady finding none).
  mutable bool startup_loaded_ = false;
  std::atomic<int> live_versions_{0};

  std::unique_ptr<BackgroundWorker> loader_;
  std::unique_ptr<BackgroundWorker> reaper_;
  std::mutex poll_mutex_;
  std::condition_variable poll_wake_;
  bool poll_stop_ = false;
  std::thread poll_thread_;
};

}  // namespace berth::server

// Backend: one model format behind the serving core. The repository, the
// versions, scheduling, metrics and readiness talk to a model only through
// this interface; they do not know which format it is. The ONNX engine is
// one backend (server/backends/onnx_backend.h); each format registers a
// BackendFactory with the BackendRegistry.
//
// Lifecycle: BackendFactory::load runs on the repository's loader thread and
// returns a ready backend (or an error naming the file and the reason); Run
// is then called from the version's instance threads, possibly several at
// once; the backend is destroyed (its memory released) once the version has
// unloaded and no request holds it.
//
// Errors: a backend says whose fault a failed request is. kCaller: the
// request does not fit the model (names, types, shapes, sizes) and the client
// must change it (HTTP 4xx). kModel: a request that fits the model's
// signature failed inside the model or the server (HTTP 5xx): a broken
// model, a resource limit, a bug.
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/data_type.h"
#include "core/memory_budget.h"
#include "core/status.h"
#include "core/tensor_shape.h"
#include "core/value.h"
#include "server/infer_request.h"
#include "server/model_config.pb.h"
#include "server/text_generation.h"

namespace berth::server {

// One input or output as the model itself declares it (before config.pbtxt
// is merged in: see CompleteModelConfig).
struct DeclaredTensor {
  std::string name;
  bool is_tensor = true;    // false: a sequence, map or optional, which cannot be served
  std::string description;  // the declared type in words, for messages ("sequence of float32")
  core::DataType dtype = core::DataType::kUndefined;  // kUndefined: not declared
  bool rank_known = false;
  core::TensorShape shape;  // -1 for an extent that is not fixed
};

struct DeclaredSignature {
  std::vector<DeclaredTensor> inputs;
  std::vector<DeclaredTensor> outputs;
};

enum class Fault { kCaller, kModel };

// One request of a batch handed to Backend::Run. The spans point into the
// InferRequest, which outlives the call.
struct BackendRequest {
  std::span<const NamedValue> inputs;
  std::span<const std::string> outputs;  // requested outputs; empty = all, in model order
  Clock::time_point deadline = Clock::time_point::max();
  const std::atomic<bool>* cancelled = nullptr;  // set by the frontend when the client has gone
  // What the run allocates is charged here (null: nothing is charged). A
  // refused charge fails the request with the account's refusal
  // (RequestTooLarge: 507, ResourceExhausted: 503), never an OOM kill.
  std::shared_ptr<core::MemoryAccount> memory;
};

struct BackendResponse {
  core::Status status;  // OK, or why this request failed
  Fault fault = Fault::kModel;
  std::vector<core::Value> outputs;  // on success: one per requested output (or every output), in order
  // Where the time went (for Triton's statistics): preparing the inputs and
  // running the model. Zero where a backend does not tell them apart.
  Clock::duration input_time{};
  Clock::duration infer_time{};
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The inputs and outputs the model declares.
  virtual const DeclaredSignature& signature() const = 0;

  // Runs every request of `batch` and fills the response at the same index
  // (`responses` has batch.size() entries): one call per batch, however many
  // tensors it carries. Safe to call from several threads at once. A request
  // past its deadline or cancelled before it starts is not run
  // (DeadlineExceeded / Cancelled, the caller's).
  virtual void Run(std::span<const BackendRequest> batch, std::span<BackendResponse> responses) const = 0;

  // Bytes the loaded model holds (weights and their prepared copies, plus
  // the activation memory it keeps cached between runs).
  virtual size_t MemoryBytes() const = 0;

  // A language model's generator (chat, completions, tokenizing); null for
  // a model that only runs tensors. Lives as long as the backend.
  virtual TextGenerator* text_generator() const { return nullptr; }
};

struct BackendLoadOptions {
  int intra_op_threads = 1;  // threads one run may use
};

// How a backend is chosen and loaded. The repository picks the factory
// that config.pbtxt's `backend` or `platform` names, else the one whose
// default model file is in the version folder.
struct BackendFactory {
  std::string name;                    // in messages ("ONNX")
  std::string backend;                 // config.pbtxt `backend`, as reported ("berth")
  std::string platform;                // config.pbtxt `platform`, as reported ("onnxruntime_onnx")
  std::vector<std::string> names;      // every backend or platform name that selects it
  std::string default_model_filename;  // in a version folder ("model.onnx")
  std::function<core::Result<std::unique_ptr<Backend>>(
      const std::filesystem::path& model_file, const config::ModelConfig& config, const BackendLoadOptions& options)>
      load;
};

// The factories of one server. Filled before the repository starts; read
// only afterwards (so safe from any thread then).
class BackendRegistry {
 public:
  void Register(BackendFactory factory);

  // The factory for a model: by config.pbtxt's backend or platform when it
  // names one (an unknown name is Unimplemented, listing the known ones),
  // else by the default model file found in `version_dir` (when none is
  // there, the first registered factory, whose file is then reported missing).
  core::Result<const BackendFactory*> Select(const config::ModelConfig& config,
                                             const std::filesystem::path& version_dir) const;
  // The factory whose default model file has this name's extension (single-file serving).
  core::Result<const BackendFactory*> ForModelFile(const std::filesystem::path& file) const;
  // Checks config.pbtxt's backend / platform names without a version folder.
  core::Status CheckNames(const config::ModelConfig& config, std::string_view model_name) const;

  bool empty() const { return factories_.empty(); }

 private:
  const BackendFactory* FindByName(std::string_view name) const;
  std::vector<BackendFactory> factories_;
};

}  // namespace berth::server

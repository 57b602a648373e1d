// Session: the engine's public API. Load a model once, run it many times.
//
//   auto session = Session::Load("model.onnx", {.intra_op_threads = 2});
//   auto outputs = (*session)->Run({{"x", tensor}});
//
// Creating a session loads and validates the model, runs the optimizer
// passes, infers static types and compiles an ExecutionPlan (every kernel is
// built, weights are prepared). Run() checks the inputs against the model's
// declared types and shapes, then executes. Run() is thread-safe: the server
// calls it from several model-instance threads at once.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/value.h"
#include "engine/onnx/graph.h"
#include "engine/runtime/execution_plan.h"

namespace berth::engine {

struct SessionOptions {
  int intra_op_threads = 0;  // 0 = all hardware threads
  bool optimize = true;      // graph optimizer passes
};

using NamedValue = std::pair<std::string, core::Value>;

class Session {
 public:
  static core::Result<std::unique_ptr<Session>> Load(const std::filesystem::path& path, SessionOptions options = {});
  static core::Result<std::unique_ptr<Session>> Create(std::shared_ptr<Model> model, SessionOptions options = {});

  const Model& model() const { return *model_; }
  // Inputs the caller must feed (initializer-backed inputs are left out), with
  // static types; outputs in graph order.
  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  const SessionOptions& options() const { return options_; }

  // Runs with the named inputs; returns outputs in graph order, or only those
  // named in `output_names` (in that order) when it is not empty. BindInputs
  // then RunBound.
  core::Result<std::vector<core::Value>> Run(const std::vector<NamedValue>& inputs,
                                             const std::vector<std::string>& output_names = {},
                                             const RunOptions& run_options = {}) const;

  // The two halves of Run, for callers that tell whose fault a failure is.
  // BindInputs checks the named inputs against the model (names, types,
  // ranks, fixed dims, none missing; InvalidArgument otherwise: the caller's
  // fault) and orders them as the graph does. RunBound runs bound inputs: a
  // failure there is the model's (or a resource's), not the inputs' shape.
  core::Result<std::vector<core::Value>> BindInputs(std::span<const NamedValue> inputs) const;
  core::Result<std::vector<core::Value>> RunBound(std::span<const core::Value> bound,
                                                  std::span<const std::string> output_names = {},
                                                  const RunOptions& run_options = {}) const;

  // Bytes the session holds: its weights (the prepacked copies counted at
  // the size of the originals they replaced) and the activation memory its
  // allocator keeps cached between runs.
  size_t MemoryBytes() const;

  // Checks one input against the model's declaration: dtype, rank, fixed dims.
  core::Status CheckInput(const ValueInfo& declared, const core::Value& value) const;

 private:
  Session() = default;
  std::shared_ptr<Model> model_;
  SessionOptions options_;
  std::shared_ptr<ExecutionPlan> plan_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::unique_ptr<core::CachingAllocator> allocator_;
  size_t weight_bytes_ = 0;  // initializers, and the originals of the copies kernels prepared
};

}  // namespace berth::engine

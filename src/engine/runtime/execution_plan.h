// ExecutionPlan: a graph compiled for running.
//
// Compiling assigns every value a slot, orders the nodes topologically,
// builds one Kernel per node (weights prepared once here), and records after
// which step each intermediate value is dead so its memory goes back to the
// allocator at once. A plan is immutable after Compile and may be run from
// several threads at once; each Run keeps its values in its own slot vector.
//
// Subgraphs (If/Loop/Scan bodies) are compiled into child plans. A child
// plan reads enclosing-scope values through "outer" slots, which its owning
// node supplies from its implicit inputs at run time.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/memory_budget.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/onnx/graph.h"
#include "engine/ops/kernel.h"
#include "engine/ops/op_registry.h"
#include "engine/ops/subgraph.h"
#include "engine/ops/type_inference.h"

namespace berth::engine {

struct RunOptions {
  core::Allocator* allocator = nullptr;  // default: heap
  // Optional per-node timing: called after each top-level step.
  std::function<void(const Node&, double milliseconds)> on_step;
  // Checked before every step, in subgraphs too (so before every loop
  // iteration): a run past its deadline stops with DeadlineExceeded, a
  // cancelled one with Cancelled. Null / max: none.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  const std::atomic<bool>* cancelled = nullptr;
  // Every tensor the run allocates is charged to this account (see
  // core/memory_budget.h); a refused charge stops the run with the
  // account's refusal (RequestTooLarge or ResourceExhausted). Null: none.
  std::shared_ptr<core::MemoryAccount> memory;
};

class ExecutionPlan : public CompiledSubgraph {
 public:
  // `outer_types` lists the enclosing-scope values this graph may read (by
  // name); empty for a top-level graph. `inferred`, when given, holds the
  // graph's types inferred already (by the optimizer): they are completed,
  // not inferred again. The graph must outlive the plan.
  static core::Result<std::shared_ptr<ExecutionPlan>> Compile(const Graph& graph, const OpRegistry& registry,
                                                              const ValueTypes& outer_types = {},
                                                              ValueTypes* inferred = nullptr);

  // `inputs`: one value per graph input in declaration order (an undefined
  // Value for an input that has an initializer means "use the initializer").
  // `outer`: one value per outer_names() entry.
  core::Status Run(std::span<const core::Value> inputs, std::span<const core::Value* const> outer,
                   std::vector<core::Value>* outputs, const RunOptions& options) const;

  const Graph& graph() const { return *graph_; }
  const std::vector<std::string>& outer_names() const { return outer_names_; }
  // Static types after inference, by value name.
  const ValueTypes& value_types() const { return value_types_; }
  size_t output_count() const override { return output_slots_.size(); }
  ValueType OutputType(size_t index) const override;
  size_t step_count() const { return steps_.size(); }
  // Initializers the plan dropped because the kernels reading them keep their
  // own (prepacked) copies; the graph's copies can go too (Session does so).
  const std::vector<std::string>& released_constants() const { return released_constants_; }

 private:
  struct Step {
    const Node* node = nullptr;
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;           // slot per node input, -1 when absent
    std::vector<int> outputs;          // slot per node output, -1 when unused
    std::vector<int> implicit_inputs;  // slots of outer-scope values its subgraphs read
    std::vector<int> release_after;    // slots dead after this step
  };
  class StepContext;
  class BuildContext;
  static void ReleaseConstantsKeptByKernels(ExecutionPlan& plan);
  core::Status CheckBounds(const RunOptions& options, size_t step) const;
  friend class StepContext;

  const Graph* graph_ = nullptr;
  int slot_count_ = 0;
  std::unordered_map<std::string, int> slot_of_;
  std::vector<core::Value> constants_;  // by slot; kind kNone unless a constant
  std::vector<bool> is_constant_;
  std::vector<std::string> released_constants_;
  std::vector<std::string> outer_names_;
  std::vector<int> outer_slots_;
  std::vector<int> input_slots_;
  std::vector<int> output_slots_;
  std::vector<Step> steps_;
  ValueTypes value_types_;
  // Child plans by the graph they were compiled from (kept alive here).
  std::vector<std::shared_ptr<const ExecutionPlan>> children_;
  // For a child plan: its outer_names() as indices into the owning node's
  // implicit inputs.
  std::vector<int> outer_binding_;
};

}  // namespace berth::engine

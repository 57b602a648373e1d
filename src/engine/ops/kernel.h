// The contract between the runtime and operator implementations.
//
// An operator is registered once (OpDefinition) with two functions:
//   infer   static type/shape inference on ValueTypes (dims may be unknown,
//           constant inputs may be known); used by `berth inspect`, model
//           metadata and load-time validation.
//   create  builds a Kernel for one node at load time. This is where
//           attributes are parsed and checked and constant inputs (weights)
//           are prepared, so errors in the model surface at load, not at run.
// Kernel::Compute runs the node on concrete inputs. It must:
//   - be safe to call from several threads at once (sessions are shared by
//     model instances); caches inside a kernel need their own lock;
//   - never abort or throw on bad data: return a Status naming the node;
//   - compute output shapes itself (sharing helpers with `infer` where it can).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/value.h"
#include "engine/onnx/graph.h"
#include "engine/ops/subgraph.h"

namespace berth::engine {

// Everything a kernel needs while it runs.
class KernelContext {
 public:
  virtual ~KernelContext() = default;

  virtual int input_count() const = 0;
  // nullptr when the optional input is absent.
  virtual const core::Value* input(int index) const = 0;
  // The tensor at `index`, or nullptr when absent or not a tensor.
  const core::Tensor* input_tensor(int index) const {
    const core::Value* value = input(index);
    return value && value->is_tensor() ? &value->tensor() : nullptr;
  }

  virtual int output_count() const = 0;
  // False for optional outputs nobody reads (the kernel may skip them).
  virtual bool output_wanted(int index) const = 0;
  // Allocates output `index` from the run's allocator and returns it.
  virtual core::Result<core::Tensor*> AllocateOutput(int index, core::DataType dtype, core::TensorShape shape) = 0;
  // Allocates output `index` in a channel-blocked layout (rank-4 only); for
  // kernels whose node the optimizer marked to produce one.
  virtual core::Result<core::Tensor*> AllocateBlockedOutput(int index, core::DataType dtype, core::TensorShape shape,
                                                            core::TensorLayout layout) = 0;
  // Sets output `index` to an existing value (views, sequences, pass-through).
  virtual void SetOutput(int index, core::Value value) = 0;

  virtual core::Allocator& allocator() = 0;

  // Runs a subgraph compiled at load time (see KernelBuildContext). The node's
  // implicit inputs (outer-scope values the subgraph reads) are supplied by
  // the runtime; `inputs` are the subgraph's formal inputs in order.
  virtual core::Status RunSubgraph(const CompiledSubgraph& subgraph, std::span<const core::Value> inputs,
                                   std::vector<core::Value>* outputs) = 0;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual core::Status Compute(KernelContext& context) const = 0;
  // True for kernels that read inputs in channel-blocked layouts as well as
  // plain ones. The runtime refuses to hand a blocked tensor to any other.
  virtual bool AcceptsBlockedInputs() const { return false; }
  // True when the kernel took what it needs of constant input `index` at
  // build time (prepacked weights) and never reads that input at run time.
  // When every reader of a constant says so, the plan and the session drop
  // it, so the model's weights are held once (the input then arrives empty).
  virtual bool KeepsConstantInput(int index) const { return false; }
};

// What an operator factory sees while building a kernel at load time.
class KernelBuildContext {
 public:
  virtual ~KernelBuildContext() = default;
  virtual const Node& node() const = 0;
  // The graph the node belongs to (for ops that read other nodes, e.g. Gradient).
  virtual const Graph& graph() const = 0;
  int opset() const { return node().opset; }
  // The value of input `index` when it is known at load time (an initializer
  // or a folded constant); nullptr otherwise.
  virtual const core::Tensor* constant_input(int index) const = 0;
  // Static type of input `index` as far as inference knows it.
  virtual const ValueType* input_type(int index) const = 0;
  // Compiles a graph attribute of this node for RunSubgraph.
  virtual core::Result<std::shared_ptr<const CompiledSubgraph>> CompileSubgraph(const Graph& graph) = 0;
};

// What an operator's inference function sees.
class InferenceContext {
 public:
  virtual ~InferenceContext() = default;
  virtual const Node& node() const = 0;
  int opset() const { return node().opset; }
  int input_count() const { return static_cast<int>(node().inputs.size()); }
  bool has_input(int index) const { return node().HasInput(static_cast<size_t>(index)); }
  // Type of input `index`; kind kUnknown when absent or unknown.
  virtual const ValueType& input_type(int index) const = 0;
  // Value of input `index` when it is known statically (initializer or
  // constant), else nullptr.
  virtual const core::Tensor* input_value(int index) const = 0;
  int output_count() const { return static_cast<int>(node().outputs.size()); }
  virtual void set_output_type(int index, ValueType type) = 0;
  // Infers the output types of a subgraph given its input types.
  virtual core::Result<std::vector<ValueType>> InferSubgraph(const Graph& graph,
                                                             const std::vector<ValueType>& input_types) = 0;
};

using InferFunction = std::function<core::Status(InferenceContext&)>;
using KernelFactory = std::function<core::Result<std::unique_ptr<Kernel>>(KernelBuildContext&)>;

struct OpDefinition {
  std::string domain;  // "" for the ONNX default domain
  std::string op_type;
  int since_version = 1;  // first opset this definition serves (up to the next registered one)
  InferFunction infer;
  KernelFactory create;
};

// Wraps a callable `Status(KernelContext&)` taking no load-time state.
template <typename Fn>
class FunctionKernel : public Kernel {
 public:
  explicit FunctionKernel(Fn fn) : fn_(std::move(fn)) {}
  core::Status Compute(KernelContext& context) const override { return fn_(context); }

 private:
  Fn fn_;
};

template <typename Fn>
std::unique_ptr<Kernel> MakeFunctionKernel(Fn fn) {
  return std::make_unique<FunctionKernel<Fn>>(std::move(fn));
}

}  // namespace berth::engine

// If and Loop: nodes that run subgraphs compiled at load time. (Scan lives in
// control_scan.cc.) Values crossing a subgraph boundary may be tensors,
// sequences or optionals; an optional that holds something is the thing it
// holds and an empty one is a Value of kind kNone (see core/value.h).
#include <optional>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/control_flow/control_flow_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Tensor;
using core::Value;

Result<const Graph*> RequireGraph(const Node& node, std::string_view name) {
  const Graph* graph = node.GetGraph(name);
  if (!graph) return core::InvalidArgument("attribute '{}' (a graph) is missing", name);
  return graph;
}

// ---------------------------------------------------------------------------
// If

Status InferIf(InferenceContext& context) {
  const Graph* then_branch = context.node().GetGraph("then_branch");
  const Graph* else_branch = context.node().GetGraph("else_branch");
  if (!then_branch || !else_branch) return core::InvalidArgument("If needs then_branch and else_branch");
  // A condition known statically decides which branch's types flow out.
  std::optional<bool> known;
  if (const Tensor* cond = context.input_value(0)) {
    if (cond->dtype() == core::DataType::kBool && cond->element_count() == 1) known = cond->data<bool>()[0];
  }
  std::vector<ValueType> then_types;
  std::vector<ValueType> else_types;
  if (!known || *known) {
    ASSIGN_OR_RETURN(then_types, context.InferSubgraph(*then_branch, {}));
  }
  if (!known || !*known) {
    ASSIGN_OR_RETURN(else_types, context.InferSubgraph(*else_branch, {}));
  }
  for (int o = 0; o < context.output_count(); ++o) {
    const size_t i = static_cast<size_t>(o);
    if (known) {
      const auto& taken = *known ? then_types : else_types;
      if (i < taken.size()) context.set_output_type(o, taken[i]);
    } else if (i < then_types.size() && i < else_types.size()) {
      context.set_output_type(o, MergeValueTypes(then_types[i], else_types[i]));
    }
  }
  return Status::Ok();
}

class IfKernel : public Kernel {
 public:
  IfKernel(std::shared_ptr<const CompiledSubgraph> then_plan, std::shared_ptr<const CompiledSubgraph> else_plan)
      : then_plan_(std::move(then_plan)), else_plan_(std::move(else_plan)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(bool cond, ReadCondition(context.input(0), "input 0 (cond)"));
    const CompiledSubgraph& branch = cond ? *then_plan_ : *else_plan_;
    std::vector<Value> outputs;
    Status status = context.RunSubgraph(branch, {}, &outputs);
    if (!status.ok()) return status.WithContext(cond ? "then_branch" : "else_branch");
    if (outputs.size() != static_cast<size_t>(context.output_count())) {
      return core::InvalidArgument("{} produced {} outputs for {} node outputs", cond ? "then_branch" : "else_branch",
                                   outputs.size(), context.output_count());
    }
    for (size_t o = 0; o < outputs.size(); ++o) context.SetOutput(static_cast<int>(o), std::move(outputs[o]));
    return Status::Ok();
  }

 private:
  std::shared_ptr<const CompiledSubgraph> then_plan_;
  std::shared_ptr<const CompiledSubgraph> else_plan_;
};

Result<std::unique_ptr<Kernel>> CreateIf(KernelBuildContext& build) {
  const Node& node = build.node();
  ASSIGN_OR_RETURN(const Graph* then_branch, RequireGraph(node, "then_branch"));
  ASSIGN_OR_RETURN(const Graph* else_branch, RequireGraph(node, "else_branch"));
  for (const Graph* branch : {then_branch, else_branch}) {
    const char* which = branch == then_branch ? "then_branch" : "else_branch";
    if (!branch->inputs.empty()) {
      return core::InvalidArgument("{} declares {} inputs; If branches take none", which, branch->inputs.size());
    }
    if (branch->outputs.size() != node.outputs.size()) {
      return core::InvalidArgument("{} has {} outputs but the node has {}", which, branch->outputs.size(),
                                   node.outputs.size());
    }
  }
  ASSIGN_OR_RETURN(auto then_plan, build.CompileSubgraph(*then_branch));
  ASSIGN_OR_RETURN(auto else_plan, build.CompileSubgraph(*else_branch));
  return std::unique_ptr<Kernel>(new IfKernel(std::move(then_plan), std::move(else_plan)));
}

// ---------------------------------------------------------------------------
// Loop
//
// Inputs: M (optional trip count), cond (optional), v_initial...; body inputs:
// (iteration_num, cond, v...); body outputs: (cond, v..., scan...); node
// outputs: (v_final..., scan_outputs...).

// Per-iteration tensors stacked along a new leading axis, in storage that
// doubles when full: the trip count need not be known (or small) up front.
class StackBuilder {
 public:
  Status Append(const Tensor& item, core::Allocator& allocator) {
    if (count_ == 0) {
      dtype_ = item.dtype();
      item_shape_ = item.shape();
    } else if (item.dtype() != dtype_ || item.shape() != item_shape_) {
      return core::InvalidArgument("iteration {} produced {} but earlier iterations produced {}{}", count_,
                                   item.DebugString(), core::DataTypeName(dtype_), core::ShapeToString(item_shape_));
    }
    const int64_t item_elements = item.element_count();
    if (count_ == capacity_) {
      const int64_t new_capacity = std::max<int64_t>(4, capacity_ * 2);
      core::TensorShape shape = item_shape_;
      shape.insert(shape.begin(), new_capacity);
      RETURN_IF_ERROR(core::CheckedElementCount(shape, ElementStride(dtype_)).status());
      ASSIGN_OR_RETURN(Tensor grown, Tensor::Create(dtype_, {new_capacity * item_elements}, allocator));
      if (count_ > 0) core::CopyElements(dtype_, buffer_.raw_data(), grown.raw_data(), count_ * item_elements);
      buffer_ = std::move(grown);
      capacity_ = new_capacity;
    }
    auto* dst = static_cast<unsigned char*>(buffer_.raw_data()) +
                static_cast<size_t>(count_ * item_elements) * ElementStride(dtype_);
    core::CopyElements(dtype_, item.raw_data(), dst, item_elements);
    ++count_;
    return Status::Ok();
  }

  int64_t count() const { return count_; }

  // [count, item shape...] over the builder's storage.
  Tensor Finish() {
    core::TensorShape shape = item_shape_;
    shape.insert(shape.begin(), count_);
    return Tensor::Wrap(dtype_, std::move(shape), buffer_.raw_data(), buffer_.storage());
  }

 private:
  core::DataType dtype_ = core::DataType::kUndefined;
  core::TensorShape item_shape_;
  int64_t count_ = 0;
  int64_t capacity_ = 0;
  Tensor buffer_;
};

Status InferLoop(InferenceContext& context) {
  const Graph* body = context.node().GetGraph("body");
  if (!body) return core::InvalidArgument("Loop needs a body");
  const int carried_count = std::max(0, context.input_count() - 2);
  std::vector<ValueType> carried;
  for (int i = 0; i < carried_count; ++i) carried.push_back(context.input_type(2 + i));
  const std::vector<ValueType> prefix = {ValueType::TensorFromShape(core::DataType::kInt64, {}),
                                         ValueType::TensorFromShape(core::DataType::kBool, {})};
  ASSIGN_OR_RETURN(LoopBodyTypes types, InferLoopBody(context, *body, prefix, carried, {}, 1));
  for (int o = 0; o < context.output_count(); ++o) {
    if (o < carried_count) {
      context.set_output_type(o, types.carried[static_cast<size_t>(o)]);
    } else if (static_cast<size_t>(o) + 1 < types.outputs.size()) {
      context.set_output_type(o, InsertDim(types.outputs[static_cast<size_t>(o) + 1], 0, Dimension{}));
    }
  }
  return Status::Ok();
}

class LoopKernel : public Kernel {
 public:
  LoopKernel(std::shared_ptr<const CompiledSubgraph> body, int carried_count, int scan_count)
      : body_(std::move(body)), carried_count_(carried_count), scan_count_(scan_count) {}

  Status Compute(KernelContext& context) const override {
    std::optional<int64_t> trip_count;
    if (const Value* m = context.input(0)) {
      ASSIGN_OR_RETURN(trip_count, ReadScalarInteger(m, "input 0 (M, the trip count)"));
    }
    bool cond = true;
    if (const Value* c = context.input(1)) {
      ASSIGN_OR_RETURN(cond, ReadCondition(c, "input 1 (cond)"));
    }

    // body_inputs holds (iteration_num, cond, v...) and is refilled in place.
    std::vector<Value> body_inputs(2 + static_cast<size_t>(carried_count_));
    for (int i = 0; i < carried_count_; ++i) {
      // An absent loop-carried input is an empty optional (opset 16).
      const Value* initial = context.input(2 + i);
      body_inputs[2 + static_cast<size_t>(i)] = initial ? *initial : Value();
    }
    std::vector<StackBuilder> scans(static_cast<size_t>(scan_count_));
    std::vector<Value> outputs;
    // The body's cond output ends the loop even when the cond input is absent
    // (the spec's table calls it ignored there; onnxruntime and ONNX's
    // reference implementation both honour it).
    for (int64_t iteration = 0; cond && (!trip_count || iteration < *trip_count); ++iteration) {
      body_inputs[0] = Tensor::Scalar<int64_t>(iteration);
      body_inputs[1] = Tensor::Scalar<bool>(cond);
      Status status = context.RunSubgraph(*body_, body_inputs, &outputs);
      if (!status.ok()) return status.WithContext(fmt::format("iteration {}", iteration));
      if (outputs.size() != 1 + static_cast<size_t>(carried_count_ + scan_count_)) {
        return core::Internal("loop body produced {} outputs, expected {}", outputs.size(),
                              1 + carried_count_ + scan_count_);
      }
      ASSIGN_OR_RETURN(cond, ReadCondition(&outputs[0], fmt::format("iteration {}: body output 0 (cond)", iteration)));
      for (int i = 0; i < carried_count_; ++i) {
        body_inputs[2 + static_cast<size_t>(i)] = std::move(outputs[1 + static_cast<size_t>(i)]);
      }
      for (int k = 0; k < scan_count_; ++k) {
        const Value& item = outputs[1 + static_cast<size_t>(carried_count_ + k)];
        if (!item.is_tensor() || !item.tensor().defined()) {
          return core::InvalidArgument("iteration {}: scan output {} must be a tensor, got {}", iteration, k,
                                       DescribeValue(item));
        }
        Status appended = scans[static_cast<size_t>(k)].Append(item.tensor(), context.allocator());
        if (!appended.ok()) return appended.WithContext(fmt::format("scan output {}", k));
      }
    }
    for (int i = 0; i < carried_count_; ++i) {
      context.SetOutput(i, std::move(body_inputs[2 + static_cast<size_t>(i)]));
    }
    for (int k = 0; k < scan_count_; ++k) {
      const int index = carried_count_ + k;
      if (!context.output_wanted(index)) continue;
      StackBuilder& scan = scans[static_cast<size_t>(k)];
      if (scan.count() > 0) {
        context.SetOutput(index, scan.Finish());
        continue;
      }
      ASSIGN_OR_RETURN(Tensor empty, EmptyStack(body_->OutputType(1 + static_cast<size_t>(carried_count_ + k)), 0,
                                                context.allocator(), fmt::format("scan output {}", k)));
      context.SetOutput(index, std::move(empty));
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const CompiledSubgraph> body_;
  int carried_count_;
  int scan_count_;
};

Result<std::unique_ptr<Kernel>> CreateLoop(KernelBuildContext& build) {
  const Node& node = build.node();
  ASSIGN_OR_RETURN(const Graph* body, RequireGraph(node, "body"));
  const int carried_count = std::max(0, static_cast<int>(node.inputs.size()) - 2);
  if (body->inputs.size() != 2 + static_cast<size_t>(carried_count)) {
    return core::InvalidArgument("body takes {} inputs; with {} loop-carried values it must take {}",
                                 body->inputs.size(), carried_count, 2 + carried_count);
  }
  const int scan_count = static_cast<int>(body->outputs.size()) - 1 - carried_count;
  if (scan_count < 0) {
    return core::InvalidArgument("body has {} outputs; it needs at least {} (cond and {} loop-carried values)",
                                 body->outputs.size(), 1 + carried_count, carried_count);
  }
  if (node.outputs.size() != static_cast<size_t>(carried_count + scan_count)) {
    return core::InvalidArgument("node has {} outputs but the body gives {} loop-carried values and {} scan outputs",
                                 node.outputs.size(), carried_count, scan_count);
  }
  ASSIGN_OR_RETURN(auto plan, build.CompileSubgraph(*body));
  return std::unique_ptr<Kernel>(new LoopKernel(std::move(plan), carried_count, scan_count));
}

}  // namespace

void RegisterControlFlowKernels(OpRegistry& registry) {
  // 11: branch outputs may differ in shape; 13: sequences; 16: optionals.
  registry.Register("", "If", {1, 11, 13, 16}, InferIf, CreateIf);
  // 11: M and cond both optional, carried shapes may change; 13: sequences; 16: optionals.
  registry.Register("", "Loop", {1, 11, 13, 16}, InferLoop, CreateLoop);
}

}  // namespace berth::engine

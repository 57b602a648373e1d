// Gradient (ai.onnx.preview.training): reverse-mode derivative of a value `y`
// of the enclosing graph with respect to the values named in `xs`, evaluated
// at the node's inputs (the values of xs followed by zs).
//
// At load time the nodes that compute y from xs/zs (and constants) are copied
// into a small forward graph whose outputs are every intermediate value; it is
// compiled like a subgraph. At run time that graph runs on the node's inputs,
// then the derivative rules below walk its nodes backwards. The backward pass
// computes in double: Gradient is a training/debugging op where accuracy
// matters more than speed, and one compute type keeps the rules simple.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "engine/kernels/common/kernel_util.h"
#include "engine/onnx/graph_validation.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

// Ops with a derivative rule (default domain). Others may appear in the
// forward graph only where they do not depend on xs.
bool HasDerivativeRule(const Node& node) {
  static const std::unordered_set<std::string> kOps = {"Add",  "Sub",     "Mul",  "Div", "Neg", "Identity", "MatMul",
                                                       "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt"};
  return node.domain.empty() && kOps.count(node.op_type) != 0;
}

// What the kernel keeps from load time; immutable afterwards.
struct GradientProgram {
  std::shared_ptr<Graph> forward;                // owns the graph `plan` reads
  std::shared_ptr<const CompiledSubgraph> plan;  // null when y is one of the inputs
  std::vector<std::string> input_names;          // xs then zs
  size_t x_count = 0;
  std::string y;
  std::vector<bool> active;                        // per forward node: depends on some x
  std::unordered_set<std::string> differentiable;  // xs and values computed from them
};

// ---------------------------------------------------------------------------
// Broadcasting helpers on double buffers.

// Calls fn(big_index, small_offset) for every element of `big`, where
// small_offset is the element of `small` (numpy-broadcast to `big`) it reads.
template <typename Fn>
void ForEachBroadcast(const TensorShape& big, const TensorShape& small, Fn&& fn) {
  const size_t rank = big.size();
  const std::vector<int64_t> strides = BroadcastStrides(small, rank);
  std::vector<int64_t> index(rank, 0);
  const int64_t count = core::ElementCount(big);
  int64_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    fn(i, offset);
    for (size_t axis = rank; axis-- > 0;) {
      offset += strides[axis];
      if (++index[axis] < big[axis]) break;
      offset -= strides[axis] * big[axis];
      index[axis] = 0;
    }
  }
}

std::vector<double> Expand(const std::vector<double>& values, const TensorShape& from, const TensorShape& to) {
  if (from == to) return values;
  std::vector<double> out(static_cast<size_t>(core::ElementCount(to)));
  ForEachBroadcast(to, from, [&](int64_t i, int64_t offset) { out[i] = values[offset]; });
  return out;
}

// Sums `values` (shape `from`) over the axes that broadcasting added or
// stretched, giving shape `to`: the adjoint of Expand.
std::vector<double> ReduceTo(const std::vector<double>& values, const TensorShape& from, const TensorShape& to) {
  if (from == to) return values;
  std::vector<double> out(static_cast<size_t>(core::ElementCount(to)), 0.0);
  ForEachBroadcast(from, to, [&](int64_t i, int64_t offset) { out[offset] += values[i]; });
  return out;
}

std::vector<double> ToDouble(const Tensor& tensor) {
  std::vector<double> out(static_cast<size_t>(tensor.element_count()));
  core::VisitFloatType(tensor.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      const T* in = tensor.data<T>();
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(in[i]);
    }
  });
  return out;
}

// ---------------------------------------------------------------------------

class GradientKernel : public Kernel {
 public:
  explicit GradientKernel(std::shared_ptr<const GradientProgram> program) : program_(std::move(program)) {}
  Status Compute(KernelContext& context) const override;

 private:
  std::shared_ptr<const GradientProgram> program_;
};

// One backward pass: the forward values by name and the gradients so far.
class BackwardPass {
 public:
  struct Gradient {
    TensorShape shape;
    std::vector<double> values;
  };

  explicit BackwardPass(const GradientProgram& program) : program_(program) {}

  void AddValue(const std::string& name, const Tensor* tensor) { values_[name] = tensor; }

  Result<const Tensor*> Value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end() || !it->second || !it->second->defined()) {
      return core::Internal("Gradient: value '{}' was not computed by the forward pass", name);
    }
    return it->second;
  }

  // The value as doubles (converted once); error for non-float values.
  Result<const std::vector<double>*> Doubles(const std::string& name) {
    auto cached = doubles_.find(name);
    if (cached != doubles_.end()) return &cached->second;
    ASSIGN_OR_RETURN(const Tensor* tensor, Value(name));
    if (!core::IsFloatingPoint(tensor->dtype())) {
      return core::Unimplemented("Gradient: value '{}' has type {}; only float values are differentiable", name,
                                 core::DataTypeName(tensor->dtype()));
    }
    return &doubles_.emplace(name, ToDouble(*tensor)).first->second;
  }

  Status Seed(const std::string& y) {
    ASSIGN_OR_RETURN(const Tensor* tensor, Value(y));
    if (!core::IsFloatingPoint(tensor->dtype())) {
      return core::InvalidArgument("Gradient: y '{}' has type {}; it must be a float tensor", y,
                                   core::DataTypeName(tensor->dtype()));
    }
    gradients_[y] = Gradient{tensor->shape(), std::vector<double>(static_cast<size_t>(tensor->element_count()), 1.0)};
    return Status::Ok();
  }

  // Applies the derivative rule of `node` if its output has a gradient.
  Status Backpropagate(const Node& node);

  const Gradient* Find(const std::string& name) const {
    auto it = gradients_.find(name);
    return it == gradients_.end() ? nullptr : &it->second;
  }

 private:
  bool Wants(const std::string& name) const { return program_.differentiable.count(name) != 0; }

  // gradient[name] += values (shape must be the value's shape).
  Status Accumulate(const std::string& name, std::vector<double> values) {
    ASSIGN_OR_RETURN(const Tensor* tensor, Value(name));
    auto it = gradients_.find(name);
    if (it == gradients_.end()) {
      gradients_[name] = Gradient{tensor->shape(), std::move(values)};
      return Status::Ok();
    }
    if (it->second.values.size() != values.size()) {
      return core::Internal("Gradient: gradient of '{}' changed size", name);
    }
    for (size_t i = 0; i < values.size(); ++i) it->second.values[i] += values[i];
    return Status::Ok();
  }

  Status BinaryRule(const Node& node, const Gradient& dy);
  Status MatMulRule(const Node& node, const Gradient& dy);
  Status UnaryRule(const Node& node, const Gradient& dy);

  const GradientProgram& program_;
  std::unordered_map<std::string, const Tensor*> values_;
  std::unordered_map<std::string, std::vector<double>> doubles_;
  std::unordered_map<std::string, Gradient> gradients_;
};

Status BackwardPass::Backpropagate(const Node& node) {
  if (node.outputs.empty() || node.outputs[0].empty()) return Status::Ok();
  auto it = gradients_.find(node.outputs[0]);
  if (it == gradients_.end()) return Status::Ok();
  // Copy: accumulating into inputs may rehash the map.
  const Gradient dy = it->second;
  const std::string& op = node.op_type;
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return BinaryRule(node, dy);
  if (op == "MatMul") return MatMulRule(node, dy);
  return UnaryRule(node, dy);
}

Status BackwardPass::BinaryRule(const Node& node, const Gradient& dy) {
  if (node.inputs.size() != 2) return core::InvalidArgument("Gradient: {} needs 2 inputs", node.Describe());
  const std::string& a_name = node.inputs[0];
  const std::string& b_name = node.inputs[1];
  ASSIGN_OR_RETURN(const Tensor* a, Value(a_name));
  ASSIGN_OR_RETURN(const Tensor* b, Value(b_name));
  const std::string& op = node.op_type;
  const size_t n = dy.values.size();
  if (Wants(a_name)) {
    std::vector<double> da = dy.values;
    if (op == "Mul" || op == "Div") {
      ASSIGN_OR_RETURN(const std::vector<double>* b_values, Doubles(b_name));
      std::vector<double> bx = Expand(*b_values, b->shape(), dy.shape);
      for (size_t i = 0; i < n; ++i) da[i] = op == "Mul" ? da[i] * bx[i] : da[i] / bx[i];
    }
    RETURN_IF_ERROR(Accumulate(a_name, ReduceTo(da, dy.shape, a->shape())));
  }
  if (Wants(b_name)) {
    std::vector<double> db = dy.values;
    if (op == "Sub") {
      for (double& v : db) v = -v;
    } else if (op == "Mul") {
      ASSIGN_OR_RETURN(const std::vector<double>* a_values, Doubles(a_name));
      std::vector<double> ax = Expand(*a_values, a->shape(), dy.shape);
      for (size_t i = 0; i < n; ++i) db[i] *= ax[i];
    } else if (op == "Div") {
      // d(a/b)/db = -a / b^2
      ASSIGN_OR_RETURN(const std::vector<double>* a_values, Doubles(a_name));
      ASSIGN_OR_RETURN(const std::vector<double>* b_values, Doubles(b_name));
      std::vector<double> ax = Expand(*a_values, a->shape(), dy.shape);
      std::vector<double> bx = Expand(*b_values, b->shape(), dy.shape);
      for (size_t i = 0; i < n; ++i) db[i] = -db[i] * ax[i] / (bx[i] * bx[i]);
    }
    RETURN_IF_ERROR(Accumulate(b_name, ReduceTo(db, dy.shape, b->shape())));
  }
  return Status::Ok();
}

// numpy matmul: 1-D operands are promoted to matrices, batch dims broadcast.
Status BackwardPass::MatMulRule(const Node& node, const Gradient& dy) {
  if (node.inputs.size() != 2) return core::InvalidArgument("Gradient: {} needs 2 inputs", node.Describe());
  const std::string& a_name = node.inputs[0];
  const std::string& b_name = node.inputs[1];
  const bool want_a = Wants(a_name);
  const bool want_b = Wants(b_name);
  if (!want_a && !want_b) return Status::Ok();
  ASSIGN_OR_RETURN(const Tensor* a, Value(a_name));
  ASSIGN_OR_RETURN(const Tensor* b, Value(b_name));
  if (a->rank() == 0 || b->rank() == 0)
    return core::InvalidArgument("Gradient: {} has a scalar operand", node.Describe());
  TensorShape a2 = a->rank() == 1 ? TensorShape{1, a->dim(0)} : a->shape();
  TensorShape b2 = b->rank() == 1 ? TensorShape{b->dim(0), 1} : b->shape();
  const int64_t m = a2[a2.size() - 2];
  const int64_t k = a2[a2.size() - 1];
  const int64_t n = b2[b2.size() - 1];
  if (b2[b2.size() - 2] != k) return core::InvalidArgument("Gradient: {} has mismatched operands", node.Describe());
  ASSIGN_OR_RETURN(TensorShape batch, core::BroadcastShapes(std::span<const int64_t>(a2).first(a2.size() - 2),
                                                            std::span<const int64_t>(b2).first(b2.size() - 2)));
  const int64_t batches = core::ElementCount(batch);
  if (static_cast<int64_t>(dy.values.size()) != batches * m * n) {
    return core::Internal("Gradient: {} output gradient has the wrong size", node.Describe());
  }
  TensorShape a_full = batch;
  a_full.insert(a_full.end(), {m, k});
  TensorShape b_full = batch;
  b_full.insert(b_full.end(), {k, n});
  ASSIGN_OR_RETURN(const std::vector<double>* a_values, Doubles(a_name));
  ASSIGN_OR_RETURN(const std::vector<double>* b_values, Doubles(b_name));
  const std::vector<double>& g = dy.values;  // [batch, m, n]
  if (want_a) {
    // dA = dY · B^T
    std::vector<double> bx = Expand(*b_values, b2, b_full);
    std::vector<double> da(static_cast<size_t>(batches * m * k), 0.0);
    for (int64_t t = 0; t < batches; ++t) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          const double gv = g[(t * m + i) * n + j];
          const double* brow = &bx[t * k * n];
          double* out = &da[(t * m + i) * k];
          for (int64_t p = 0; p < k; ++p) out[p] += gv * brow[p * n + j];
        }
      }
    }
    RETURN_IF_ERROR(Accumulate(a_name, ReduceTo(da, a_full, a2)));
  }
  if (want_b) {
    // dB = A^T · dY
    std::vector<double> ax = Expand(*a_values, a2, a_full);
    std::vector<double> db(static_cast<size_t>(batches * k * n), 0.0);
    for (int64_t t = 0; t < batches; ++t) {
      for (int64_t i = 0; i < m; ++i) {
        const double* arow = &ax[(t * m + i) * k];
        const double* grow = &g[(t * m + i) * n];
        for (int64_t p = 0; p < k; ++p) {
          double* out = &db[(t * k + p) * n];
          for (int64_t j = 0; j < n; ++j) out[j] += arow[p] * grow[j];
        }
      }
    }
    RETURN_IF_ERROR(Accumulate(b_name, ReduceTo(db, b_full, b2)));
  }
  return Status::Ok();
}

Status BackwardPass::UnaryRule(const Node& node, const Gradient& dy) {
  if (node.inputs.empty()) return Status::Ok();
  const std::string& x_name = node.inputs[0];
  if (!Wants(x_name)) return Status::Ok();
  const std::string& op = node.op_type;
  std::vector<double> dx = dy.values;
  const size_t n = dx.size();
  if (op == "Neg") {
    for (double& v : dx) v = -v;
  } else if (op == "Identity") {
    // dx = dy
  } else if (op == "Relu" || op == "Log") {
    ASSIGN_OR_RETURN(const std::vector<double>* x, Doubles(x_name));
    if (x->size() != n) return core::Internal("Gradient: {} changed the size", node.Describe());
    for (size_t i = 0; i < n; ++i) dx[i] = op == "Relu" ? ((*x)[i] > 0 ? dx[i] : 0.0) : dx[i] / (*x)[i];
  } else {
    // Sigmoid, Tanh, Exp, Sqrt: the derivative is cheapest from the output.
    ASSIGN_OR_RETURN(const std::vector<double>* y, Doubles(node.outputs[0]));
    if (y->size() != n) return core::Internal("Gradient: {} changed the size", node.Describe());
    if (op == "Sigmoid") {
      for (size_t i = 0; i < n; ++i) dx[i] *= (*y)[i] * (1.0 - (*y)[i]);
    } else if (op == "Tanh") {
      for (size_t i = 0; i < n; ++i) dx[i] *= 1.0 - (*y)[i] * (*y)[i];
    } else if (op == "Exp") {
      for (size_t i = 0; i < n; ++i) dx[i] *= (*y)[i];
    } else if (op == "Sqrt") {
      for (size_t i = 0; i < n; ++i) dx[i] *= 0.5 / (*y)[i];
    } else {
      return core::Unimplemented("Gradient: no derivative rule for {}", node.Describe());
    }
  }
  return Accumulate(x_name, std::move(dx));
}

Status GradientKernel::Compute(KernelContext& context) const {
  const GradientProgram& program = *program_;
  if (context.input_count() != static_cast<int>(program.input_names.size())) {
    return core::InvalidArgument("Gradient expects {} inputs (xs then zs), got {}", program.input_names.size(),
                                 context.input_count());
  }
  std::vector<core::Value> inputs;
  BackwardPass pass(program);
  for (size_t i = 0; i < program.input_names.size(); ++i) {
    ASSIGN_OR_RETURN(const Tensor* tensor, RequireTensor(context, static_cast<int>(i), program.input_names[i]));
    inputs.emplace_back(*tensor);
    pass.AddValue(program.input_names[i], tensor);
  }
  std::vector<core::Value> outputs;
  if (program.plan) {
    RETURN_IF_ERROR(context.RunSubgraph(*program.plan, inputs, &outputs));
    for (size_t o = 0; o < outputs.size() && o < program.forward->outputs.size(); ++o) {
      if (outputs[o].is_tensor()) pass.AddValue(program.forward->outputs[o].name, &outputs[o].tensor());
    }
  }
  RETURN_IF_ERROR(pass.Seed(program.y));
  const auto& nodes = program.forward->nodes;
  for (size_t n = nodes.size(); n-- > 0;) {
    if (program.active[n]) RETURN_IF_ERROR(pass.Backpropagate(nodes[n]));
  }
  for (size_t i = 0; i < program.x_count && static_cast<int>(i) < context.output_count(); ++i) {
    if (!context.output_wanted(static_cast<int>(i))) continue;
    const Tensor& x = inputs[i].tensor();
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(static_cast<int>(i), x.dtype(), x.shape()));
    const BackwardPass::Gradient* gradient = pass.Find(program.input_names[i]);
    bool supported = core::VisitFloatType(x.dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        T* po = out->data<T>();
        // An x that y does not depend on has a zero gradient.
        for (int64_t e = 0; e < x.element_count(); ++e) {
          po[e] = ConvertElement<T>(gradient ? gradient->values[e] : 0.0);
        }
        return true;
      }
    });
    if (!supported) {
      return core::InvalidArgument("Gradient: x '{}' has type {}; gradients are float tensors", program.input_names[i],
                                   core::DataTypeName(x.dtype()));
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------

Result<std::unique_ptr<Kernel>> CreateGradient(KernelBuildContext& build) {
  const Node& node = build.node();
  const Graph& graph = build.graph();
  auto program = std::make_shared<GradientProgram>();
  std::vector<std::string> xs = node.GetStrings("xs");
  std::vector<std::string> zs = node.GetStrings("zs");
  program->y = node.GetString("y");
  if (xs.empty()) return core::InvalidArgument("attribute 'xs' is required and must not be empty");
  if (program->y.empty()) return core::InvalidArgument("attribute 'y' is required");
  program->x_count = xs.size();
  program->input_names = xs;
  program->input_names.insert(program->input_names.end(), zs.begin(), zs.end());
  if (node.inputs.size() != program->input_names.size()) {
    return core::InvalidArgument("has {} inputs but xs and zs name {} values", node.inputs.size(),
                                 program->input_names.size());
  }
  if (node.outputs.size() > xs.size()) {
    return core::InvalidArgument("has {} outputs but xs names only {} values", node.outputs.size(), xs.size());
  }
  const std::unordered_set<std::string> leaves(program->input_names.begin(), program->input_names.end());
  if (leaves.size() != program->input_names.size()) {
    return core::InvalidArgument("xs and zs name a value more than once");
  }

  // The nodes y depends on, stopping at xs/zs; what else they read must be a
  // constant (a non-overridable initializer).
  std::unordered_map<std::string, size_t> producer;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    for (const auto& output : graph.nodes[n].outputs) {
      if (!output.empty()) producer[output] = n;
    }
  }
  std::unordered_set<std::string> overridable;
  for (const auto& input : graph.inputs) overridable.insert(input.name);
  std::vector<bool> needed(graph.nodes.size(), false);
  std::unordered_set<std::string> constants;
  std::unordered_set<std::string> seen;
  std::vector<std::string> stack = {program->y};
  while (!stack.empty()) {
    std::string name = std::move(stack.back());
    stack.pop_back();
    if (name.empty() || !seen.insert(name).second || leaves.count(name)) continue;
    auto it = producer.find(name);
    if (it != producer.end()) {
      const Node& source = graph.nodes[it->second];
      if (source.domain == kTrainingDomain && source.op_type == "Gradient") {
        return core::Unimplemented("y depends on another Gradient node ({})", source.Describe());
      }
      needed[it->second] = true;
      for (const auto& input : source.inputs) stack.push_back(input);
      continue;
    }
    if (graph.IsInitializer(name) && !overridable.count(name)) {
      constants.insert(name);
      continue;
    }
    return core::InvalidArgument("y '{}' depends on '{}', which is neither in xs/zs nor computed from them", program->y,
                                 name);
  }

  // Forward graph: needed nodes in execution order, every value an output.
  ASSIGN_OR_RETURN(std::vector<size_t> order, TopologicalOrder(graph));
  auto forward = std::make_shared<Graph>();
  forward->name = node.name.empty() ? "gradient_forward" : node.name + "/forward";
  for (size_t i = 0; i < program->input_names.size(); ++i) {
    const ValueType* type = build.input_type(static_cast<int>(i));
    forward->inputs.push_back(ValueInfo{program->input_names[i], type ? *type : ValueType{}, ""});
  }
  for (const auto& name : constants) forward->initializers[name] = graph.initializers.at(name);
  program->differentiable.insert(xs.begin(), xs.end());
  for (size_t index : order) {
    if (!needed[index]) continue;
    const Node& source = graph.nodes[index];
    for (const auto& attr : source.attributes) {
      if (attr.g || !attr.graphs.empty()) {
        return core::Unimplemented("y depends on {}, which has a subgraph", source.Describe());
      }
    }
    bool active = std::any_of(source.inputs.begin(), source.inputs.end(),
                              [&](const std::string& input) { return program->differentiable.count(input) != 0; });
    if (active) {
      if (!HasDerivativeRule(source)) {
        return core::Unimplemented("no derivative rule for op '{}' ({})", source.op_type, source.Describe());
      }
      for (const auto& output : source.outputs) {
        if (!output.empty()) program->differentiable.insert(output);
      }
    }
    program->active.push_back(active);
    forward->nodes.push_back(source);
    for (const auto& output : source.outputs) {
      if (output.empty()) continue;
      auto type = graph.value_types.find(output);
      forward->outputs.push_back(ValueInfo{output, type == graph.value_types.end() ? ValueType{} : type->second, ""});
    }
  }
  program->forward = forward;
  if (!forward->nodes.empty()) {
    ASSIGN_OR_RETURN(program->plan, build.CompileSubgraph(*forward));
  }
  return std::unique_ptr<Kernel>(std::make_unique<GradientKernel>(std::move(program)));
}

// Output i has the type of input i (the i-th x).
Status InferGradient(InferenceContext& context) {
  for (int i = 0; i < context.output_count() && i < context.input_count(); ++i) {
    context.set_output_type(i, context.input_type(i));
  }
  return Status::Ok();
}

}  // namespace

void RegisterGradientKernel(OpRegistry& registry) {
  registry.Register(std::string(kTrainingDomain), "Gradient", {1}, InferGradient, CreateGradient);
}

}  // namespace berth::engine

#include "engine/ops/type_inference.h"

#include <algorithm>

#include "engine/onnx/graph_validation.h"

namespace berth::engine {

using core::Result;
using core::Status;

namespace {

const ValueType& UnknownType() {
  static const ValueType unknown;
  return unknown;
}

class GraphInferenceContext : public InferenceContext {
 public:
  GraphInferenceContext(const Node& node, const Graph& graph, const OpRegistry& registry,
                        std::unordered_map<std::string, ValueType>* types)
      : node_(node), graph_(graph), registry_(registry), types_(types) {
    outputs_.resize(node.outputs.size());
  }
  const Node& node() const override { return node_; }
  const ValueType& input_type(int index) const override {
    if (!has_input(index)) return UnknownType();
    auto it = types_->find(node_.inputs[index]);
    return it == types_->end() ? UnknownType() : it->second;
  }
  const core::Tensor* input_value(int index) const override {
    if (!has_input(index)) return nullptr;
    auto it = graph_.initializers.find(node_.inputs[index]);
    if (it != graph_.initializers.end()) {
      // An initializer that is also a graph input can be overridden: not constant.
      for (const auto& input : graph_.inputs) {
        if (input.name == it->first) return nullptr;
      }
      return &it->second;
    }
    return nullptr;
  }
  void set_output_type(int index, ValueType type) override {
    if (index >= 0 && static_cast<size_t>(index) < outputs_.size()) outputs_[index] = std::move(type);
  }
  Result<std::vector<ValueType>> InferSubgraph(const Graph& graph, const std::vector<ValueType>& input_types) override {
    std::unordered_map<std::string, ValueType> inner = *types_;
    for (size_t i = 0; i < graph.inputs.size(); ++i) {
      inner[graph.inputs[i].name] =
          i < input_types.size() ? MergeTypes(graph.inputs[i].type, input_types[i]) : graph.inputs[i].type;
    }
    RETURN_IF_ERROR(InferGraphTypes(graph, registry_, inner, &inner));
    std::vector<ValueType> out;
    for (const auto& output : graph.outputs) {
      auto it = inner.find(output.name);
      out.push_back(it == inner.end() ? output.type : MergeTypes(output.type, it->second));
    }
    return out;
  }
  std::vector<ValueType>& outputs() { return outputs_; }

 private:
  const Node& node_;
  const Graph& graph_;
  const OpRegistry& registry_;
  std::unordered_map<std::string, ValueType>* types_;
  std::vector<ValueType> outputs_;
};

}  // namespace

ValueType MergeTypes(const ValueType& declared, const ValueType& inferred) {
  if (inferred.kind == ValueType::Kind::kUnknown) return declared;
  if (declared.kind != ValueType::Kind::kTensor || inferred.kind != ValueType::Kind::kTensor) return inferred;
  ValueType out = inferred;
  if (out.dtype == core::DataType::kUndefined) out.dtype = declared.dtype;
  if (!out.has_shape && declared.has_shape) return declared;
  if (out.has_shape && declared.has_shape && out.dims.size() == declared.dims.size()) {
    for (size_t i = 0; i < out.dims.size(); ++i) {
      if (!out.dims[i].known() && declared.dims[i].known()) out.dims[i] = declared.dims[i];
      if (out.dims[i].symbol.empty()) out.dims[i].symbol = declared.dims[i].symbol;
    }
  }
  return out;
}

void SeedGraphTypes(const Graph& graph, ValueTypes* types) {
  for (const auto& input : graph.inputs) {
    auto it = types->find(input.name);
    (*types)[input.name] = it == types->end() ? input.type : MergeTypes(input.type, it->second);
  }
  for (const auto& [name, tensor] : graph.initializers) {
    if (!types->count(name)) (*types)[name] = ValueType::TensorFromShape(tensor.dtype(), tensor.shape());
  }
}

void InferNodeTypes(const Node& node, const Graph& graph, const OpRegistry& registry, ValueTypes* types) {
  const OpDefinition* definition = registry.Find(node.domain, node.op_type, node.opset);
  GraphInferenceContext context(node, graph, registry, types);
  if (definition && definition->infer) {
    // Inference is advisory: a failure leaves the outputs unknown and the
    // kernel reports the real problem, with real shapes, at run time.
    Status status = definition->infer(context);
    if (!status.ok()) std::fill(context.outputs().begin(), context.outputs().end(), ValueType{});
  }
  for (size_t o = 0; o < node.outputs.size(); ++o) {
    if (node.outputs[o].empty()) continue;
    auto declared = graph.value_types.find(node.outputs[o]);
    const ValueType& inferred = context.outputs()[o];
    (*types)[node.outputs[o]] = declared == graph.value_types.end() ? inferred : MergeTypes(declared->second, inferred);
  }
}

namespace {

enum class Nodes { kAll, kUntyped };

Status InferTypes(const Graph& graph, const OpRegistry& registry, Nodes nodes, ValueTypes* types) {
  SeedGraphTypes(graph, types);
  ASSIGN_OR_RETURN(std::vector<size_t> order, TopologicalOrder(graph));
  for (size_t index : order) {
    const Node& node = graph.nodes[index];
    const bool typed = std::all_of(node.outputs.begin(), node.outputs.end(),
                                   [&](const std::string& output) { return output.empty() || types->count(output); });
    if (nodes == Nodes::kAll || !typed) InferNodeTypes(node, graph, registry, types);
  }
  for (const auto& output : graph.outputs) {
    auto it = types->find(output.name);
    (*types)[output.name] = it == types->end() ? output.type : MergeTypes(output.type, it->second);
  }
  return Status::Ok();
}

}  // namespace

Status InferGraphTypes(const Graph& graph, const OpRegistry& registry, const ValueTypes& outer_types,
                       ValueTypes* types) {
  if (types != &outer_types) {
    for (const auto& [name, type] : outer_types) (*types)[name] = type;
  }
  return InferTypes(graph, registry, Nodes::kAll, types);
}

Status CompleteGraphTypes(const Graph& graph, const OpRegistry& registry, ValueTypes* types) {
  return InferTypes(graph, registry, Nodes::kUntyped, types);
}

}  // namespace berth::engine

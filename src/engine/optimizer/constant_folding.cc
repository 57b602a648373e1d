// Constant folding, shape folding, Identity elimination and dead-node
// elimination: the clean-up passes that make fusion patterns visible.
#include <unordered_set>

#include "engine/onnx/graph_validation.h"
#include "engine/optimizer/passes.h"
#include "engine/runtime/execution_plan.h"

namespace berth::engine {
namespace {

// Ops whose outputs are not a function of their inputs.
bool IsNondeterministic(const Node& node) {
  static const std::unordered_set<std::string> kRandom = {"RandomNormal",      "RandomUniform", "RandomNormalLike",
                                                          "RandomUniformLike", "Bernoulli",     "Multinomial"};
  if (kRandom.count(node.op_type)) return true;
  // Dropout in training mode draws a mask.
  return node.op_type == "Dropout" && node.inputs.size() >= 3 && !node.inputs[2].empty();
}

bool HasSubgraph(const Node& node) {
  for (const auto& attr : node.attributes) {
    if (attr.g || !attr.graphs.empty()) return true;
  }
  return false;
}

// Folding must not turn a cheap op on a small tensor into a large constant
// (Expand/Tile/ConstantOfShape): keep what it makes within reason.
constexpr size_t kMaxFoldedBytes = size_t{1} << 20;

// Runs one node on constant inputs through the normal kernel path.
core::Result<std::vector<core::Tensor>> Evaluate(const Node& node, GraphEditor& editor, const OpRegistry& registry) {
  Graph single;
  single.name = "fold";
  single.nodes.push_back(node);
  for (const auto& input : node.inputs) {
    if (!input.empty()) single.initializers[input] = *editor.Constant(input);
  }
  for (const auto& output : node.outputs) {
    if (!output.empty()) single.outputs.push_back({output, {}, {}});
  }
  ASSIGN_OR_RETURN(auto plan, ExecutionPlan::Compile(single, registry));
  std::vector<core::Value> outputs;
  RETURN_IF_ERROR(plan->Run({}, {}, &outputs, RunOptions{}));
  std::vector<core::Tensor> tensors;
  for (const auto& value : outputs) {
    if (!value.is_tensor() || !value.tensor().defined()) return core::Unimplemented("not a tensor");
    tensors.push_back(value.tensor());
  }
  return tensors;
}

core::Result<core::Tensor> ConstantNodeValue(const Node& node) {
  if (const core::Tensor* tensor = node.GetTensor("value")) return *tensor;
  if (const Attribute* attr = node.FindAttribute("value_float")) return core::Tensor::Scalar<float>(attr->f);
  if (const Attribute* attr = node.FindAttribute("value_int")) return core::Tensor::Scalar<int64_t>(attr->i);
  if (const Attribute* attr = node.FindAttribute("value_floats")) {
    return core::Tensor::FromVector<float>(attr->floats, {static_cast<int64_t>(attr->floats.size())});
  }
  if (const Attribute* attr = node.FindAttribute("value_ints")) {
    return core::Tensor::FromVector<int64_t>(attr->ints, {static_cast<int64_t>(attr->ints.size())});
  }
  return core::Unimplemented("constant kind not folded");
}

// Shape/Size of a value whose static shape is fully known.
std::optional<core::Tensor> FoldShape(const Node& node, const std::unordered_map<std::string, ValueType>& types) {
  if (node.domain != "" || (node.op_type != "Shape" && node.op_type != "Size") || node.inputs.empty()) {
    return std::nullopt;
  }
  auto it = types.find(node.inputs[0]);
  if (it == types.end() || !it->second.FullyKnown()) return std::nullopt;
  core::TensorShape shape = it->second.Shape();
  if (node.op_type == "Size") return core::Tensor::Scalar<int64_t>(core::ElementCount(shape));
  int64_t rank = static_cast<int64_t>(shape.size());
  int64_t start = node.GetInt("start", 0);
  int64_t end = node.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  std::vector<int64_t> dims(shape.begin() + start, shape.begin() + end);
  return core::Tensor::FromVector<int64_t>(dims, {static_cast<int64_t>(dims.size())});
}

}  // namespace

core::Status FoldConstants(GraphEditor& editor, const OpRegistry& registry, ValueTypes* types) {
  Graph& graph = editor.graph();
  types->clear();
  SeedGraphTypes(graph, types);
  ASSIGN_OR_RETURN(std::vector<size_t> order, TopologicalOrder(graph));
  for (size_t index : order) {
    const Node& node = editor.node(index);
    if (!editor.alive(index)) continue;
    InferNodeTypes(node, graph, registry, types);
    if (HasSubgraph(node) || IsNondeterministic(node)) continue;
    bool has_outputs = false;
    for (const auto& output : node.outputs) has_outputs |= !output.empty();
    if (!has_outputs) continue;

    if (node.domain.empty() && node.op_type == "Constant" && node.outputs.size() == 1) {
      auto value = ConstantNodeValue(node);
      if (!value.ok()) continue;
      std::string output = node.outputs[0];
      editor.Remove(index);
      (*types)[output] = ValueType::TensorFromShape(value->dtype(), value->shape());
      editor.SetConstant(output, std::move(value).value());
      continue;
    }
    if (auto shape = FoldShape(node, *types)) {
      std::string output = node.outputs[0];
      editor.Remove(index);
      (*types)[output] = ValueType::TensorFromShape(shape->dtype(), shape->shape());
      editor.SetConstant(output, std::move(*shape));
      continue;
    }
    bool all_constant = true;
    size_t input_bytes = 0;
    for (const auto& input : node.inputs) {
      if (input.empty()) continue;
      const core::Tensor* constant = editor.Constant(input);
      if (!constant) {
        all_constant = false;
        break;
      }
      input_bytes += constant->byte_size();
    }
    if (!all_constant) continue;
    auto outputs = Evaluate(node, editor, registry);
    if (!outputs.ok()) continue;  // left to fail (or succeed) at run time with real context
    size_t output_bytes = 0;
    for (const auto& tensor : *outputs) output_bytes += tensor.byte_size();
    if (output_bytes > std::max(kMaxFoldedBytes, 2 * input_bytes)) continue;
    std::vector<std::string> names = node.outputs;
    editor.Remove(index);
    for (size_t o = 0; o < names.size(); ++o) {
      if (names[o].empty()) continue;
      (*types)[names[o]] = ValueType::TensorFromShape((*outputs)[o].dtype(), (*outputs)[o].shape());
      editor.SetConstant(names[o], (*outputs)[o]);
    }
  }
  editor.Commit();
  return core::Status::Ok();
}

core::Status EliminateIdentities(GraphEditor& editor) {
  for (size_t n = 0; n < editor.node_count(); ++n) {
    if (!editor.alive(n)) continue;
    const Node& node = editor.node(n);
    if (!node.domain.empty() || node.inputs.empty() || node.outputs.empty()) continue;
    bool identity = node.op_type == "Identity";
    // Dropout in inference mode (no training_mode input) is an identity when
    // its mask output is unused.
    if (node.op_type == "Dropout" && (node.inputs.size() < 3 || node.inputs[2].empty()) &&
        (node.outputs.size() < 2 || node.outputs[1].empty() ||
         (editor.Consumers(node.outputs[1]).empty() && !editor.IsGraphOutput(node.outputs[1])))) {
      identity = true;
    }
    if (!identity) continue;
    const std::string input = node.inputs[0];
    const std::string output = node.outputs[0];
    if (input.empty() || editor.IsGraphOutput(output) || editor.IsReadBySubgraph(output)) continue;
    editor.ReplaceUses(output, input);
    editor.Remove(n);
  }
  editor.Commit();
  return core::Status::Ok();
}

core::Status EliminateDeadNodes(GraphEditor& editor) {
  Graph& graph = editor.graph();
  ASSIGN_OR_RETURN(std::vector<size_t> order, TopologicalOrder(graph));
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node& node = editor.node(*it);
    bool used = false;
    for (const auto& output : node.outputs) {
      if (output.empty()) continue;
      if (editor.IsGraphOutput(output) || editor.IsReadBySubgraph(output)) used = true;
      for (const auto& [consumer, slot] : editor.Consumers(output)) used |= editor.alive(consumer);
    }
    if (!used) editor.Remove(*it);
  }
  editor.Commit();
  return core::Status::Ok();
}

}  // namespace berth::engine

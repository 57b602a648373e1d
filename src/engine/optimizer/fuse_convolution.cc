// Conv [+ Add residual] [+ activation] -> berth.FusedConv, the choice of
// Winograd for dense 3x3 convolutions, and the choice of which
// convolution/pooling outputs stay in oneDNN's channel-blocked layout.
#include <cfloat>
#include <unordered_set>

#include "engine/optimizer/passes.h"

#include "engine/onnx/graph_validation.h"

namespace berth::engine {
namespace {

bool IsOnnxOp(const Node& node, std::string_view op_type) { return node.domain.empty() && node.op_type == op_type; }

// Same static shape: equal where known, unknown in both where not (the
// kernel checks the real shapes and fails loudly if they ever differ).
bool SameStaticShape(const ValueType* a, const ValueType* b) {
  if (!a || !b || !a->is_tensor() || !b->is_tensor() || !a->has_shape || !b->has_shape) return false;
  if (a->dims.size() != b->dims.size()) return false;
  for (size_t i = 0; i < a->dims.size(); ++i) {
    if (a->dims[i].known() != b->dims[i].known()) return false;
    if (a->dims[i].known() && a->dims[i].value != b->dims[i].value) return false;
  }
  return true;
}

const ValueType* TypeOf(const std::unordered_map<std::string, ValueType>& types, const std::string& name) {
  auto it = types.find(name);
  return it == types.end() ? nullptr : &it->second;
}

// A scalar float constant input (Clip's bounds), if `index` is one.
std::optional<float> ScalarConstant(GraphEditor& editor, const Node& node, size_t index) {
  if (!node.HasInput(index)) return std::nullopt;
  const core::Tensor* tensor = editor.Constant(node.inputs[index]);
  if (!tensor || tensor->element_count() != 1 || !core::IsFloatingPoint(tensor->dtype())) return std::nullopt;
  return static_cast<float>(tensor->NumberAt(0));
}

// The fused-activation attributes for `node` if it is an activation oneDNN
// can apply as a post-op.
std::optional<std::vector<Attribute>> ActivationAttributes(GraphEditor& editor, const Node& node) {
  auto make = [](std::string name, float alpha = 0, float beta = 0) {
    std::vector<Attribute> attrs(3);
    attrs[0].name = "activation";
    attrs[0].type = Attribute::Type::kString;
    attrs[0].s = std::move(name);
    attrs[1].name = "activation_alpha";
    attrs[1].type = Attribute::Type::kFloat;
    attrs[1].f = alpha;
    attrs[2].name = "activation_beta";
    attrs[2].type = Attribute::Type::kFloat;
    attrs[2].f = beta;
    return attrs;
  };
  if (!node.domain.empty() || node.outputs.size() != 1) return std::nullopt;
  const std::string& op = node.op_type;
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") return make(op);
  if (op == "LeakyRelu") return make(op, node.GetFloat("alpha", 0.01f));
  if (op == "Elu") return make(op, node.GetFloat("alpha", 1.0f));
  if (op == "Clip") {
    float low = -FLT_MAX;
    float high = FLT_MAX;
    if (node.opset < 11) {
      low = node.GetFloat("min", low);
      high = node.GetFloat("max", high);
    } else {
      if (node.HasInput(1)) {
        auto value = ScalarConstant(editor, node, 1);
        if (!value) return std::nullopt;
        low = *value;
      }
      if (node.HasInput(2)) {
        auto value = ScalarConstant(editor, node, 2);
        if (!value) return std::nullopt;
        high = *value;
      }
    }
    return make(op, low, high);
  }
  return std::nullopt;
}

// The single live consumer of `value`, when fusing into it is safe.
std::optional<size_t> SoleConsumer(GraphEditor& editor, const std::string& value) {
  if (!editor.HasSingleUse(value)) return std::nullopt;
  for (const auto& [node, slot] : editor.Consumers(value)) {
    if (editor.alive(node)) return node;
  }
  return std::nullopt;
}

void SetIntAttribute(Node& node, const std::string& name, int64_t value) {
  for (auto& attr : node.attributes) {
    if (attr.name == name) {
      attr.type = Attribute::Type::kInt;
      attr.i = value;
      return;
    }
  }
  Attribute attr;
  attr.name = name;
  attr.type = Attribute::Type::kInt;
  attr.i = value;
  node.attributes.push_back(std::move(attr));
}

// Every value of a window attribute is `value` (an absent one takes its default).
bool AllEqual(const Node& node, std::string_view name, int64_t value) {
  for (int64_t v : node.GetInts(name)) {
    if (v != value) return false;
  }
  return true;
}

// Whether a Conv with constant weights `w` may run as a Winograd convolution:
// dense, 2-D, 3x3, stride 1, no dilation. oneDNN's F(2x2,3x3) / F(4x4,3x3)
// kernels do 2.25-4x fewer multiplications; measured on AVX-512 with the
// ResNet-50 and VGG layer shapes, 16-1024 channels, batch 1 and 8, they run
// 1.1-2.8x faster than the direct kernel, and differ from it by < 2e-6
// relative (the transforms reorder the float sums). They hold the weights
// transformed, 1.8x (2x2) or 4x (4x4) the size. The kernel asks oneDNN for
// one and keeps the direct kernel when none fits the shape or the machine.
bool WinogradCandidate(const Node& conv, const core::Tensor& w) {
  if (w.rank() != 4 || w.dim(2) != 3 || w.dim(3) != 3 || conv.GetInt("group", 1) != 1) return false;
  if (w.dim(0) < 16 || w.dim(1) < 16) return false;  // a few channels: the transforms cost more than they save
  return AllEqual(conv, "strides", 1) && AllEqual(conv, "dilations", 1);
}

// A FusedConv without residual, explicit padding mode or a stage of its own,
// whose constant float32 weights have `kernel` x `kernel` taps.
bool PlainFusedConv(GraphEditor& editor, const Node& node, int64_t kernel) {
  if (node.domain != kBerthDomain || node.op_type != "FusedConv" || node.HasInput(3)) return false;
  if (node.HasAttribute("depthwise_stride") || node.GetString("auto_pad", "NOTSET") != "NOTSET") return false;
  const core::Tensor* w = editor.Constant(node.inputs[1]);
  return w && w->dtype() == core::DataType::kFloat32 && w->rank() == 4 && w->dim(2) == kernel &&
         w->dim(3) == kernel && AllEqual(node, "dilations", 1);
}

}  // namespace

core::Status FuseConvolutions(GraphEditor& editor, const std::unordered_map<std::string, ValueType>& types) {
  const size_t count = editor.node_count();
  for (size_t n = 0; n < count; ++n) {
    if (!editor.alive(n) || !IsOnnxOp(editor.node(n), "Conv")) continue;
    Node conv = editor.node(n);
    if (conv.inputs.size() < 2 || conv.outputs.size() != 1 || !editor.Constant(conv.inputs[1])) continue;
    const ValueType* out_type = TypeOf(types, conv.outputs[0]);
    if (!out_type || !out_type->is_tensor() || !core::IsFloatingPoint(out_type->dtype)) continue;

    std::vector<size_t> absorbed;
    std::string output = conv.outputs[0];
    std::string residual;
    if (auto consumer = SoleConsumer(editor, output)) {
      const Node& add = editor.node(*consumer);
      if (IsOnnxOp(add, "Add") && add.opset >= 7 && add.inputs.size() == 2 && add.outputs.size() == 1) {
        const std::string& other = add.inputs[0] == output ? add.inputs[1] : add.inputs[0];
        if (other != output && SameStaticShape(out_type, TypeOf(types, other)) &&
            SameStaticShape(out_type, TypeOf(types, add.outputs[0]))) {
          residual = other;
          absorbed.push_back(*consumer);
          output = add.outputs[0];
        }
      }
    }
    std::vector<Attribute> activation;
    if (auto consumer = SoleConsumer(editor, output)) {
      if (auto attrs = ActivationAttributes(editor, editor.node(*consumer))) {
        activation = std::move(*attrs);
        absorbed.push_back(*consumer);
        output = editor.node(*consumer).outputs[0];
      }
    }
    Node fused;
    fused.name = conv.name;
    fused.op_type = "FusedConv";
    fused.domain = std::string(kBerthDomain);
    fused.opset = 1;
    fused.inputs = {conv.inputs[0], conv.inputs[1], conv.HasInput(2) ? conv.inputs[2] : "", residual};
    if (residual.empty()) fused.inputs.pop_back();
    fused.outputs = {output};
    fused.attributes = conv.attributes;
    fused.attributes.insert(fused.attributes.end(), activation.begin(), activation.end());
    if (WinogradCandidate(conv, *editor.Constant(conv.inputs[1]))) SetIntAttribute(fused, "winograd", 1);
    editor.Remove(n);
    for (size_t a : absorbed) editor.Remove(a);
    editor.Add(std::move(fused));
  }
  editor.Commit();
  return core::Status::Ok();
}

core::Status FuseDepthwiseConvolutions(GraphEditor& editor,
                                       const std::unordered_map<std::string, ValueType>& types) {
  const size_t count = editor.node_count();
  for (size_t n = 0; n < count; ++n) {
    if (!editor.alive(n) || !PlainFusedConv(editor, editor.node(n), 1)) continue;
    const Node& pointwise = editor.node(n);
    if (pointwise.GetInt("group", 1) != 1 || !AllEqual(pointwise, "strides", 1) || !AllEqual(pointwise, "pads", 0)) {
      continue;
    }
    const ValueType* x_type = TypeOf(types, pointwise.inputs[0]);
    if (!x_type || !x_type->is_tensor() || x_type->dtype != core::DataType::kFloat32 || !x_type->has_shape ||
        x_type->dims.size() != 4) {
      continue;
    }
    auto consumer = SoleConsumer(editor, pointwise.outputs[0]);
    if (!consumer || editor.IsGraphOutput(pointwise.outputs[0])) continue;
    const Node& depthwise = editor.node(*consumer);
    if (!PlainFusedConv(editor, depthwise, 3) || depthwise.inputs[0] != pointwise.outputs[0]) continue;
    const int64_t channels = editor.Constant(pointwise.inputs[1])->dim(0);
    const core::Tensor* dw_weights = editor.Constant(depthwise.inputs[1]);
    if (depthwise.GetInt("group", 1) != channels || dw_weights->dim(0) != channels || dw_weights->dim(1) != 1) {
      continue;
    }
    const std::vector<int64_t> strides = depthwise.GetInts("strides");
    const int64_t stride = strides.empty() ? 1 : strides[0];
    if ((stride != 1 && stride != 2) || !AllEqual(depthwise, "strides", stride) ||
        depthwise.GetInts("pads") != std::vector<int64_t>{1, 1, 1, 1}) {
      continue;
    }
    if (depthwise.HasInput(2)) {
      const core::Tensor* bias = editor.Constant(depthwise.inputs[2]);
      if (!bias || bias->dtype() != core::DataType::kFloat32 || bias->shape() != core::TensorShape{channels}) continue;
    }

    Node fused = pointwise;
    fused.inputs.resize(3);
    fused.inputs.push_back("");  // no residual
    fused.inputs.push_back(depthwise.inputs[1]);
    fused.inputs.push_back(depthwise.HasInput(2) ? depthwise.inputs[2] : "");
    fused.outputs = depthwise.outputs;
    SetIntAttribute(fused, "depthwise_stride", stride);
    for (const Attribute& attr : depthwise.attributes) {
      if (attr.name.rfind("activation", 0) != 0) continue;
      Attribute renamed = attr;
      renamed.name = "depthwise_" + attr.name;
      fused.attributes.push_back(std::move(renamed));
    }
    editor.Remove(n);
    editor.Remove(*consumer);
    editor.Add(std::move(fused));
  }
  editor.Commit();
  return core::Status::Ok();
}

namespace {

bool IsBlockablePool(const Node& node) {
  if (!node.domain.empty()) return false;
  if (node.op_type == "MaxPool") return node.outputs.size() < 2 || node.outputs[1].empty();
  return node.op_type == "AveragePool" || node.op_type == "GlobalAveragePool" || node.op_type == "GlobalMaxPool";
}

bool IsFloat32Rank4(const ValueType* type) {
  return type && type->is_tensor() && type->dtype == core::DataType::kFloat32 && type->has_shape &&
         type->dims.size() == 4;
}

}  // namespace

core::Status AssignBlockedLayouts(GraphEditor& editor, const std::unordered_map<std::string, ValueType>& types) {
  // Does every reader of `value` understand blocked layouts at that input?
  auto all_consumers_accept = [&](const std::string& value) {
    if (editor.IsGraphOutput(value) || editor.IsReadBySubgraph(value)) return false;
    const auto& consumers = editor.Consumers(value);
    bool any = false;
    for (const auto& [index, slot] : consumers) {
      if (!editor.alive(index)) continue;
      any = true;
      const Node& consumer = editor.node(index);
      bool accepts = (consumer.domain == kBerthDomain && consumer.op_type == "FusedConv" && (slot == 0 || slot == 3)) ||
                     (IsBlockablePool(consumer) && slot == 0);
      if (!accepts) return false;
    }
    return any;
  };
  std::unordered_set<std::string> blocked;
  // Convolutions first (they can turn any input into a blocked output), then
  // pooling in graph order (it keeps the layout of its input).
  for (size_t n = 0; n < editor.node_count(); ++n) {
    Node& node = editor.node(n);
    if (!editor.alive(n) || node.domain != kBerthDomain || node.op_type != "FusedConv") continue;
    if (!IsFloat32Rank4(TypeOf(types, node.inputs[0])) || !editor.Constant(node.inputs[1])) continue;
    if (all_consumers_accept(node.outputs[0])) {
      SetIntAttribute(node, "blocked_output", 1);
      blocked.insert(node.outputs[0]);
    }
  }
  ASSIGN_OR_RETURN(std::vector<size_t> order, TopologicalOrder(editor.graph()));
  for (size_t n : order) {
    Node& node = editor.node(n);
    if (!editor.alive(n) || !IsBlockablePool(node) || !blocked.count(node.inputs[0])) continue;
    if (!IsFloat32Rank4(TypeOf(types, node.inputs[0]))) continue;
    if (all_consumers_accept(node.outputs[0])) {
      SetIntAttribute(node, "blocked_output", 1);
      blocked.insert(node.outputs[0]);
    }
  }
  return core::Status::Ok();
}

}  // namespace berth::engine

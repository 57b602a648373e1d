// MatMul/Gemm and what surrounds them in transformer and MLP graphs ->
// berth.FusedMatMul (see kernels/matmul_fused.cc for its semantics):
//   - Transposes feeding either operand or reading the result become strides;
//   - a multiplication/division by a scalar constant becomes the output scale;
//   - an Add of a constant [N] vector becomes the bias, an Add of anything
//     else that broadcasts to the result (residual, attention mask) the addend;
//   - GELU written out as 0.5*x*(1+erf(x/sqrt(2))), and Relu/Clip/... become
//     the activation.
#include <cfloat>
#include <cmath>

#include "engine/optimizer/passes.h"

namespace berth::engine {
namespace {

bool IsOnnxOp(const Node& node, std::string_view op_type) { return node.domain.empty() && node.op_type == op_type; }

const ValueType* TypeOf(const std::unordered_map<std::string, ValueType>& types, const std::string& name) {
  auto it = types.find(name);
  return it == types.end() ? nullptr : &it->second;
}

std::optional<size_t> SoleConsumer(GraphEditor& editor, const std::string& value) {
  if (!editor.HasSingleUse(value)) return std::nullopt;
  for (const auto& [node, slot] : editor.Consumers(value)) {
    if (editor.alive(node)) return node;
  }
  return std::nullopt;
}

std::vector<size_t> LiveConsumers(GraphEditor& editor, const std::string& value) {
  std::vector<size_t> out;
  for (const auto& [node, slot] : editor.Consumers(value)) {
    if (editor.alive(node)) out.push_back(node);
  }
  return out;
}

// The scalar float value of a constant input, if it is one.
std::optional<float> ScalarConstant(GraphEditor& editor, const std::string& name) {
  const core::Tensor* tensor = editor.Constant(name);
  if (!tensor || tensor->element_count() != 1 || !core::IsFloatingPoint(tensor->dtype())) return std::nullopt;
  return static_cast<float>(tensor->NumberAt(0));
}

bool Near(std::optional<float> value, double target) {
  return value && std::fabs(*value - target) <= 1e-4 * std::fabs(target);
}

// The other input of a binary node whose one input is `value`.
std::string OtherInput(const Node& node, const std::string& value) {
  if (node.inputs.size() != 2) return "";
  if (node.inputs[0] == value) return node.inputs[1];
  if (node.inputs[1] == value) return node.inputs[0];
  return "";
}

std::vector<int64_t> TransposePerm(const Node& node, size_t rank) {
  std::vector<int64_t> perm = node.GetInts("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  return perm;
}

Attribute IntsAttribute(const std::string& name, std::vector<int64_t> values) {
  Attribute attr;
  attr.name = name;
  attr.type = Attribute::Type::kInts;
  attr.ints = std::move(values);
  return attr;
}

Attribute FloatAttribute(const std::string& name, float value) {
  Attribute attr;
  attr.name = name;
  attr.type = Attribute::Type::kFloat;
  attr.f = value;
  return attr;
}

Attribute IntAttribute(const std::string& name, int64_t value) {
  Attribute attr;
  attr.name = name;
  attr.type = Attribute::Type::kInt;
  attr.i = value;
  return attr;
}

Attribute StringAttribute(const std::string& name, std::string value) {
  Attribute attr;
  attr.name = name;
  attr.type = Attribute::Type::kString;
  attr.s = std::move(value);
  return attr;
}

// Can `addend` broadcast (one way) onto `result`? Unknown dims are given the
// benefit of the doubt: the kernel checks the real shapes and reports a clear
// error in the one case fusion cannot express (a result dim of 1 that an Add
// would have broadcast up to the addend's).
bool BroadcastsOnto(const ValueType* addend, const ValueType* result) {
  if (!addend || !result || !addend->is_tensor() || !result->is_tensor() || !addend->has_shape || !result->has_shape) {
    return false;
  }
  if (addend->dims.size() > result->dims.size()) return false;
  const size_t offset = result->dims.size() - addend->dims.size();
  for (size_t i = 0; i < addend->dims.size(); ++i) {
    const Dimension& a = addend->dims[i];
    const Dimension& r = result->dims[offset + i];
    if (a.known() && a.value == 1) continue;
    if (a.known() && r.known() && a.value == r.value) continue;
    if (!a.known() || !r.known()) continue;
    return false;
  }
  return true;
}

// x * 0.5 * (1 + erf(x / sqrt(2))) written out in primitive ops, starting at
// `value`: the nodes to remove and the value holding the result.
struct GeluMatch {
  std::vector<size_t> nodes;
  std::string output;
};

std::optional<GeluMatch> MatchGelu(GraphEditor& editor, const std::string& value) {
  if (editor.IsGraphOutput(value) || editor.IsReadBySubgraph(value)) return std::nullopt;
  std::vector<size_t> uses = LiveConsumers(editor, value);
  if (uses.size() != 2) return std::nullopt;
  for (int order = 0; order < 2; ++order) {
    const size_t scaled_index = uses[order];
    const size_t mul_index = uses[1 - order];
    const Node& scaled = editor.node(scaled_index);
    const std::string scale_operand = OtherInput(scaled, value);
    const bool divides = IsOnnxOp(scaled, "Div") && scaled.inputs[0] == value && Near(ScalarConstant(editor, scale_operand), M_SQRT2);
    const bool multiplies = IsOnnxOp(scaled, "Mul") && Near(ScalarConstant(editor, scale_operand), M_SQRT1_2);
    if (!divides && !multiplies) continue;
    auto erf_index = SoleConsumer(editor, scaled.outputs[0]);
    if (!erf_index || !IsOnnxOp(editor.node(*erf_index), "Erf")) continue;
    const Node& erf = editor.node(*erf_index);
    auto plus_index = SoleConsumer(editor, erf.outputs[0]);
    if (!plus_index || !IsOnnxOp(editor.node(*plus_index), "Add")) continue;
    const Node& plus = editor.node(*plus_index);
    if (!Near(ScalarConstant(editor, OtherInput(plus, erf.outputs[0])), 1.0)) continue;
    const Node& mul = editor.node(mul_index);
    if (!IsOnnxOp(mul, "Mul")) continue;
    const std::string mul_other = OtherInput(mul, value);
    auto last_index = SoleConsumer(editor, mul.outputs[0]);
    if (!last_index || !IsOnnxOp(editor.node(*last_index), "Mul")) continue;
    const Node& last = editor.node(*last_index);
    const std::string last_other = OtherInput(last, mul.outputs[0]);
    bool shape_a = mul_other == plus.outputs[0] && Near(ScalarConstant(editor, last_other), 0.5);  // (x*(1+erf))*0.5
    bool shape_b = Near(ScalarConstant(editor, mul_other), 0.5) && last_other == plus.outputs[0];  // (x*0.5)*(1+erf)
    if (!shape_a && !shape_b) continue;
    if (shape_b && !editor.HasSingleUse(plus.outputs[0])) continue;
    return GeluMatch{{scaled_index, *erf_index, *plus_index, mul_index, *last_index}, last.outputs[0]};
  }
  return std::nullopt;
}

// Activation ops oneDNN applies as a post-op: name, alpha, beta.
std::optional<std::tuple<std::string, float, float>> Activation(GraphEditor& editor, const Node& node) {
  if (!node.domain.empty() || node.outputs.size() != 1) return std::nullopt;
  const std::string& op = node.op_type;
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") return std::make_tuple(op, 0.f, 0.f);
  if (op == "LeakyRelu") return std::make_tuple(op, node.GetFloat("alpha", 0.01f), 0.f);
  if (op == "Gelu" && node.GetString("approximate", "none") == "none") return std::make_tuple("GeluErf", 0.f, 0.f);
  if (op == "Clip") {
    float low = -FLT_MAX, high = FLT_MAX;
    if (node.opset < 11) {
      low = node.GetFloat("min", low);
      high = node.GetFloat("max", high);
    } else {
      if (node.HasInput(1)) {
        auto v = ScalarConstant(editor, node.inputs[1]);
        if (!v) return std::nullopt;
        low = *v;
      }
      if (node.HasInput(2)) {
        auto v = ScalarConstant(editor, node.inputs[2]);
        if (!v) return std::nullopt;
        high = *v;
      }
    }
    return std::make_tuple(op, low, high);
  }
  return std::nullopt;
}

// What a MatMul picks up on its way to becoming a FusedMatMul.
struct Fusion {
  std::string a, b;
  std::vector<int64_t> perm_a, perm_b, perm_y;
  float scale = 1.0f;
  std::string bias;
  std::string addend;
  std::string activation;
  float alpha = 0, beta = 0;
  bool activation_first = false;
  std::vector<size_t> absorbed;
  std::string output;
};

// Absorbs the consumers of fusion->output that the kernel can do itself.
void AbsorbConsumers(GraphEditor& editor, const std::unordered_map<std::string, ValueType>& types, Fusion* fusion) {
  const ValueType* result_type = TypeOf(types, fusion->output);
  int64_t n = -1;
  if (result_type && result_type->has_shape && !result_type->dims.empty() && result_type->dims.back().known()) {
    n = result_type->dims.back().value;
  }
  while (true) {
    if (fusion->activation.empty()) {
      if (auto gelu = MatchGelu(editor, fusion->output)) {
        fusion->activation = "GeluErf";
        fusion->activation_first = !fusion->addend.empty() ? false : fusion->activation_first;
        fusion->absorbed.insert(fusion->absorbed.end(), gelu->nodes.begin(), gelu->nodes.end());
        fusion->output = gelu->output;
        continue;
      }
    }
    auto consumer_index = SoleConsumer(editor, fusion->output);
    if (!consumer_index) return;
    const Node& consumer = editor.node(*consumer_index);
    const std::string other = OtherInput(consumer, fusion->output);
    const bool untouched = fusion->addend.empty() && fusion->activation.empty();
    if ((IsOnnxOp(consumer, "Mul") || (IsOnnxOp(consumer, "Div") && consumer.inputs[0] == fusion->output)) &&
        untouched) {
      auto value = ScalarConstant(editor, other);
      if (!value || *value == 0.0f || !std::isfinite(*value)) return;
      fusion->scale *= consumer.op_type == "Mul" ? *value : 1.0f / *value;
    } else if (IsOnnxOp(consumer, "Add") && consumer.opset >= 7 && !other.empty()) {
      const core::Tensor* constant = editor.Constant(other);
      bool bias_like = constant && constant->dtype() == core::DataType::kFloat32 && n > 0 &&
                       constant->element_count() == n && constant->rank() >= 1 && constant->shape().back() == n;
      if (bias_like && fusion->bias.empty() && untouched) {
        if (fusion->scale != 1.0f) {
          // The kernel computes scale * (AxB + bias): pre-divide the bias.
          auto scaled = core::Tensor::Create(core::DataType::kFloat32, {n});
          if (!scaled.ok()) return;
          for (int64_t i = 0; i < n; ++i) scaled->data<float>()[i] = constant->data<float>()[i] / fusion->scale;
          fusion->bias = editor.AddConstant(other, std::move(scaled).value());
        } else {
          fusion->bias = other;
        }
      } else if (fusion->addend.empty() && BroadcastsOnto(TypeOf(types, other), result_type) &&
                 TypeOf(types, other)->dtype == core::DataType::kFloat32) {
        fusion->addend = other;
        if (!fusion->activation.empty()) fusion->activation_first = true;
      } else {
        return;
      }
    } else if (auto activation = fusion->activation.empty() ? Activation(editor, consumer) : std::nullopt) {
      std::tie(fusion->activation, fusion->alpha, fusion->beta) = *activation;
    } else if (IsOnnxOp(consumer, "Transpose") && result_type && result_type->has_shape) {
      fusion->perm_y = TransposePerm(consumer, result_type->dims.size());
      fusion->absorbed.push_back(*consumer_index);
      fusion->output = consumer.outputs[0];
      return;  // the output layout is settled: nothing after it can fuse
    } else {
      return;
    }
    fusion->absorbed.push_back(*consumer_index);
    fusion->output = consumer.outputs[0];
  }
}

Node MakeFusedNode(const std::string& name, const Fusion& fusion) {
  Node fused;
  fused.name = name;
  fused.op_type = "FusedMatMul";
  fused.domain = std::string(kBerthDomain);
  fused.opset = 1;
  fused.inputs = {fusion.a, fusion.b, fusion.bias, fusion.addend};
  while (!fused.inputs.empty() && fused.inputs.back().empty()) fused.inputs.pop_back();
  fused.outputs = {fusion.output};
  if (!fusion.perm_a.empty()) fused.attributes.push_back(IntsAttribute("perm_a", fusion.perm_a));
  if (!fusion.perm_b.empty()) fused.attributes.push_back(IntsAttribute("perm_b", fusion.perm_b));
  if (!fusion.perm_y.empty()) fused.attributes.push_back(IntsAttribute("perm_y", fusion.perm_y));
  if (fusion.scale != 1.0f) fused.attributes.push_back(FloatAttribute("scale", fusion.scale));
  if (!fusion.activation.empty()) {
    fused.attributes.push_back(StringAttribute("activation", fusion.activation));
    fused.attributes.push_back(FloatAttribute("activation_alpha", fusion.alpha));
    fused.attributes.push_back(FloatAttribute("activation_beta", fusion.beta));
    if (fusion.activation_first) fused.attributes.push_back(IntAttribute("activation_first", 1));
  }
  return fused;
}

bool IsFloat32WithRank(const ValueType* type, size_t min_rank) {
  return type && type->is_tensor() && type->dtype == core::DataType::kFloat32 && type->has_shape &&
         type->dims.size() >= min_rank;
}

// Transpose(Transpose(x, p1), p2) -> Transpose(x, p1[p2[i]]).
void ComposeTransposes(GraphEditor& editor, const std::unordered_map<std::string, ValueType>& types) {
  for (size_t n = 0; n < editor.node_count(); ++n) {
    if (!editor.alive(n) || !IsOnnxOp(editor.node(n), "Transpose")) continue;
    const std::string input = editor.node(n).inputs.empty() ? "" : editor.node(n).inputs[0];
    auto producer = editor.Producer(input);
    if (!producer || !IsOnnxOp(editor.node(*producer), "Transpose") || !editor.HasSingleUse(input)) continue;
    const ValueType* type = TypeOf(types, input);
    if (!type || !type->has_shape) continue;
    const size_t rank = type->dims.size();
    std::vector<int64_t> inner = TransposePerm(editor.node(*producer), rank);
    std::vector<int64_t> outer = TransposePerm(editor.node(n), rank);
    if (inner.size() != rank || outer.size() != rank) continue;
    std::vector<int64_t> composed;
    for (int64_t axis : outer) {
      if (axis < 0 || axis >= static_cast<int64_t>(rank)) return;
      composed.push_back(inner[static_cast<size_t>(axis)]);
    }
    Node& node = editor.node(n);
    node.inputs[0] = editor.node(*producer).inputs[0];
    node.attributes = {IntsAttribute("perm", composed)};
    editor.Remove(*producer);
  }
  editor.Commit();
}

}  // namespace

core::Status FuseMatMuls(GraphEditor& editor, const std::unordered_map<std::string, ValueType>& types) {
  ComposeTransposes(editor, types);
  const size_t count = editor.node_count();
  for (size_t n = 0; n < count; ++n) {
    if (!editor.alive(n)) continue;
    const Node& node = editor.node(n);
    Fusion fusion;
    if (IsOnnxOp(node, "MatMul") && node.inputs.size() == 2 && node.outputs.size() == 1) {
      if (!IsFloat32WithRank(TypeOf(types, node.inputs[0]), 2) || !IsFloat32WithRank(TypeOf(types, node.inputs[1]), 2)) {
        continue;
      }
      fusion.a = node.inputs[0];
      fusion.b = node.inputs[1];
      // Transposes feeding the operands become strided reads.
      for (int operand = 0; operand < 2; ++operand) {
        std::string& name = operand == 0 ? fusion.a : fusion.b;
        auto producer = editor.Producer(name);
        if (!producer || !IsOnnxOp(editor.node(*producer), "Transpose") || !editor.HasSingleUse(name)) continue;
        const ValueType* type = TypeOf(types, name);
        const Node& transpose = editor.node(*producer);
        (operand == 0 ? fusion.perm_a : fusion.perm_b) = TransposePerm(transpose, type->dims.size());
        fusion.absorbed.push_back(*producer);
        name = transpose.inputs[0];
      }
    } else if (IsOnnxOp(node, "Gemm") && node.inputs.size() >= 2 && node.outputs.size() == 1) {
      // Gemm with a constant B and an optional constant [N] C, not transposing A.
      const core::Tensor* b = editor.Constant(node.inputs[1]);
      if (!IsFloat32WithRank(TypeOf(types, node.inputs[0]), 2) || !b || b->dtype() != core::DataType::kFloat32 ||
          b->rank() != 2 || node.GetInt("transA", 0) != 0) {
        continue;
      }
      const float alpha = node.GetFloat("alpha", 1.0f);
      const float beta = node.GetFloat("beta", 1.0f);
      const int64_t columns = node.GetInt("transB", 0) ? b->dim(0) : b->dim(1);
      fusion.a = node.inputs[0];
      fusion.b = node.inputs[1];
      if (node.GetInt("transB", 0)) fusion.perm_b = {1, 0};
      fusion.scale = alpha;
      if (node.HasInput(2) && beta != 0.0f) {
        const core::Tensor* c = editor.Constant(node.inputs[2]);
        if (!c || c->dtype() != core::DataType::kFloat32 || c->element_count() != columns ||
            (c->rank() >= 1 && c->shape().back() != columns) || alpha == 0.0f) {
          continue;
        }
        if (alpha == 1.0f && beta == 1.0f) {
          fusion.bias = node.inputs[2];
        } else {
          auto scaled = core::Tensor::Create(core::DataType::kFloat32, {columns});
          if (!scaled.ok()) continue;
          for (int64_t i = 0; i < columns; ++i) scaled->data<float>()[i] = c->data<float>()[i] * beta / alpha;
          fusion.bias = editor.AddConstant(node.inputs[2], std::move(scaled).value());
        }
      }
    } else {
      continue;
    }
    fusion.output = node.outputs[0];
    const std::string name = node.name;
    AbsorbConsumers(editor, types, &fusion);
    editor.Remove(n);
    for (size_t a : fusion.absorbed) editor.Remove(a);
    editor.Add(MakeFusedNode(name, fusion));
  }
  editor.Commit();
  return core::Status::Ok();
}

}  // namespace berth::engine

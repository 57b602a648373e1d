#include "engine/onnx/graph.h"

#include <fmt/format.h>

namespace berth::engine {

std::string_view NormalizeDomain(std::string_view domain) {
  return domain == "ai.onnx" ? std::string_view("") : domain;
}

ValueType ValueType::Tensor(core::DataType dtype, std::vector<Dimension> dims) {
  ValueType type;
  type.kind = Kind::kTensor;
  type.dtype = dtype;
  type.has_shape = true;
  type.dims = std::move(dims);
  return type;
}

ValueType ValueType::TensorOfRank(core::DataType dtype, int64_t rank) {
  return Tensor(dtype, std::vector<Dimension>(static_cast<size_t>(rank)));
}

ValueType ValueType::TensorUnknownShape(core::DataType dtype) {
  ValueType type;
  type.kind = Kind::kTensor;
  type.dtype = dtype;
  return type;
}

ValueType ValueType::TensorFromShape(core::DataType dtype, const core::TensorShape& shape) {
  std::vector<Dimension> dims;
  dims.reserve(shape.size());
  for (int64_t d : shape) dims.push_back(Dimension{d < 0 ? -1 : d, {}});
  return Tensor(dtype, std::move(dims));
}

ValueType ValueType::Sequence(ValueType element) {
  ValueType type;
  type.kind = Kind::kSequence;
  type.element = std::make_shared<ValueType>(std::move(element));
  return type;
}

ValueType ValueType::Optional(ValueType element) {
  ValueType type;
  type.kind = Kind::kOptional;
  type.element = std::make_shared<ValueType>(std::move(element));
  return type;
}

core::TensorShape ValueType::Shape() const {
  core::TensorShape shape;
  shape.reserve(dims.size());
  for (const auto& d : dims) shape.push_back(d.value);
  return shape;
}

bool ValueType::FullyKnown() const {
  if (!is_tensor() || !has_shape) return false;
  for (const auto& d : dims) {
    if (!d.known()) return false;
  }
  return true;
}

std::string ValueType::ToString() const {
  switch (kind) {
    case Kind::kUnknown: return "?";
    case Kind::kSequence: return "seq(" + (element ? element->ToString() : "?") + ")";
    case Kind::kOptional: return "optional(" + (element ? element->ToString() : "?") + ")";
    case Kind::kTensor: break;
  }
  std::string out(core::DataTypeName(dtype));
  if (!has_shape) return out + "[...]";
  out += '[';
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ',';
    if (dims[i].known()) {
      out += std::to_string(dims[i].value);
    } else {
      out += dims[i].symbol.empty() ? "?" : dims[i].symbol;
    }
  }
  out += ']';
  return out;
}

std::string_view AttributeTypeName(Attribute::Type type) {
  switch (type) {
    case Attribute::Type::kFloat: return "float";
    case Attribute::Type::kInt: return "int";
    case Attribute::Type::kString: return "string";
    case Attribute::Type::kTensor: return "tensor";
    case Attribute::Type::kGraph: return "graph";
    case Attribute::Type::kFloats: return "floats";
    case Attribute::Type::kInts: return "ints";
    case Attribute::Type::kStrings: return "strings";
    case Attribute::Type::kTensors: return "tensors";
    case Attribute::Type::kGraphs: return "graphs";
    case Attribute::Type::kTypeProto: return "type_proto";
    case Attribute::Type::kUndefined: break;
  }
  return "undefined";
}

const Attribute* Node::FindAttribute(std::string_view attr_name) const {
  for (const auto& attr : attributes) {
    if (attr.name == attr_name) return &attr;
  }
  return nullptr;
}

int64_t Node::GetInt(std::string_view attr_name, int64_t fallback) const {
  const Attribute* attr = FindAttribute(attr_name);
  return attr && attr->type == Attribute::Type::kInt ? attr->i : fallback;
}

float Node::GetFloat(std::string_view attr_name, float fallback) const {
  const Attribute* attr = FindAttribute(attr_name);
  if (attr && attr->type == Attribute::Type::kFloat) return attr->f;
  if (attr && attr->type == Attribute::Type::kInt) return static_cast<float>(attr->i);
  return fallback;
}

std::string Node::GetString(std::string_view attr_name, std::string fallback) const {
  const Attribute* attr = FindAttribute(attr_name);
  return attr && attr->type == Attribute::Type::kString ? attr->s : fallback;
}

std::vector<int64_t> Node::GetInts(std::string_view attr_name) const {
  const Attribute* attr = FindAttribute(attr_name);
  if (!attr) return {};
  if (attr->type == Attribute::Type::kInt) return {attr->i};
  return attr->type == Attribute::Type::kInts ? attr->ints : std::vector<int64_t>{};
}

std::vector<float> Node::GetFloats(std::string_view attr_name) const {
  const Attribute* attr = FindAttribute(attr_name);
  if (!attr) return {};
  if (attr->type == Attribute::Type::kFloat) return {attr->f};
  return attr->type == Attribute::Type::kFloats ? attr->floats : std::vector<float>{};
}

std::vector<std::string> Node::GetStrings(std::string_view attr_name) const {
  const Attribute* attr = FindAttribute(attr_name);
  if (!attr) return {};
  if (attr->type == Attribute::Type::kString) return {attr->s};
  return attr->type == Attribute::Type::kStrings ? attr->strings : std::vector<std::string>{};
}

const core::Tensor* Node::GetTensor(std::string_view attr_name) const {
  const Attribute* attr = FindAttribute(attr_name);
  return attr && attr->type == Attribute::Type::kTensor ? &attr->t : nullptr;
}

const Graph* Node::GetGraph(std::string_view attr_name) const {
  const Attribute* attr = FindAttribute(attr_name);
  return attr && attr->type == Attribute::Type::kGraph ? attr->g.get() : nullptr;
}

std::string Node::Describe() const {
  std::string op = domain.empty() ? op_type : domain + "." + op_type;
  if (!name.empty()) return fmt::format("node '{}' ({})", name, op);
  if (!outputs.empty() && !outputs[0].empty()) return fmt::format("node producing '{}' ({})", outputs[0], op);
  return fmt::format("node ({})", op);
}

std::vector<const ValueInfo*> Graph::RequiredInputs() const {
  std::vector<const ValueInfo*> required;
  for (const auto& input : inputs) {
    if (!IsInitializer(input.name)) required.push_back(&input);
  }
  return required;
}

int64_t Model::OpsetFor(std::string_view domain) const {
  auto it = opset_imports.find(std::string(NormalizeDomain(domain)));
  return it == opset_imports.end() ? 0 : it->second;
}

namespace {
int64_t CountParameters(const Graph& graph) {
  int64_t count = 0;
  for (const auto& [name, tensor] : graph.initializers) count += tensor.element_count();
  for (const auto& node : graph.nodes) {
    for (const auto& attr : node.attributes) {
      if (attr.g) count += CountParameters(*attr.g);
      for (const auto& g : attr.graphs) count += CountParameters(*g);
    }
  }
  return count;
}
}  // namespace

int64_t Model::ParameterCount() const { return CountParameters(graph); }

}  // namespace berth::engine

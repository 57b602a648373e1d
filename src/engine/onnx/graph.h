// berth's graph IR: what a model file turns into after loading, independent
// of protobuf. Graphs are plain data; the loader fills them, optimizer passes
// rewrite them, the runtime compiles them into an ExecutionPlan and from then
// on only reads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace berth::engine {

// The ONNX default domain is spelled "" (also accepted as "ai.onnx").
inline constexpr std::string_view kOnnxDomain = "";
inline constexpr std::string_view kOnnxMlDomain = "ai.onnx.ml";
inline constexpr std::string_view kTrainingDomain = "ai.onnx.preview.training";
// berth's own ops, made by optimizer passes (fused kernels).
inline constexpr std::string_view kBerthDomain = "berth";

std::string_view NormalizeDomain(std::string_view domain);

// One dimension of a static shape: a fixed extent, or unknown (value -1)
// possibly with a symbolic name ("batch", "N").
struct Dimension {
  int64_t value = -1;
  std::string symbol;
  bool known() const { return value >= 0; }
};

// What static analysis knows about a value.
struct ValueType {
  enum class Kind { kUnknown, kTensor, kSequence, kOptional };
  Kind kind = Kind::kUnknown;
  core::DataType dtype = core::DataType::kUndefined;  // tensors only
  bool has_shape = false;                             // tensors only; false = rank unknown
  std::vector<Dimension> dims;                        // tensors only
  std::shared_ptr<ValueType> element;                 // sequence / optional: the contained type

  static ValueType Tensor(core::DataType dtype, std::vector<Dimension> dims);
  static ValueType TensorOfRank(core::DataType dtype, int64_t rank);  // all dims unknown
  static ValueType TensorUnknownShape(core::DataType dtype);
  static ValueType TensorFromShape(core::DataType dtype, const core::TensorShape& shape);  // -1 = unknown
  static ValueType Sequence(ValueType element);
  static ValueType Optional(ValueType element);

  bool is_tensor() const { return kind == Kind::kTensor; }
  // Dims as int64 with -1 for unknown.
  core::TensorShape Shape() const;
  bool FullyKnown() const;
  std::string ToString() const;  // "float32[N,3,224,224]", "seq(float32[?])", ...
};

struct ValueInfo {
  std::string name;
  ValueType type;
  std::string doc;
};

class Graph;

struct Attribute {
  enum class Type { kUndefined, kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors, kGraphs, kTypeProto };
  std::string name;
  Type type = Type::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  core::Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<core::Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  ValueType type_proto;  // kTypeProto (e.g. Optional's "type")
};

std::string_view AttributeTypeName(Attribute::Type type);

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // normalised: "" for ai.onnx
  int opset = 0;       // opset version of `domain` imported by the model
  std::vector<std::string> inputs;   // "" marks an absent optional input
  std::vector<std::string> outputs;  // "" marks an unused optional output
  std::vector<Attribute> attributes;

  const Attribute* FindAttribute(std::string_view attr_name) const;
  bool HasAttribute(std::string_view attr_name) const { return FindAttribute(attr_name) != nullptr; }
  // Typed getters: return the fallback when the attribute is absent or of
  // another type (the loader has already checked types against use).
  int64_t GetInt(std::string_view attr_name, int64_t fallback) const;
  float GetFloat(std::string_view attr_name, float fallback) const;
  std::string GetString(std::string_view attr_name, std::string fallback = "") const;
  std::vector<int64_t> GetInts(std::string_view attr_name) const;
  std::vector<float> GetFloats(std::string_view attr_name) const;
  std::vector<std::string> GetStrings(std::string_view attr_name) const;
  const core::Tensor* GetTensor(std::string_view attr_name) const;
  const Graph* GetGraph(std::string_view attr_name) const;

  bool HasInput(size_t index) const { return index < inputs.size() && !inputs[index].empty(); }
  bool HasOutput(size_t index) const { return index < outputs.size() && !outputs[index].empty(); }
  // "node 'conv1' (Conv)" or "node #12 (Conv)" for messages.
  std::string Describe() const;
};

class Graph {
 public:
  std::string name;
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;   // declared graph inputs (may include initializer names)
  std::vector<ValueInfo> outputs;
  std::unordered_map<std::string, core::Tensor> initializers;
  // Static types of intermediate values: from the file's value_info, then
  // completed by shape inference.
  std::unordered_map<std::string, ValueType> value_types;

  bool IsInitializer(const std::string& value_name) const { return initializers.count(value_name) != 0; }
  // Inputs a caller must feed: declared inputs that have no initializer.
  std::vector<const ValueInfo*> RequiredInputs() const;
};

struct Model {
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc;
  std::map<std::string, int64_t> opset_imports;  // normalised domain -> version
  std::vector<std::pair<std::string, std::string>> metadata;
  Graph graph;
  std::filesystem::path path;  // file it came from (empty if from memory)

  int64_t OpsetFor(std::string_view domain) const;  // 0 if not imported
  int64_t ParameterCount() const;  // elements in all initializers (including subgraphs)
};

}  // namespace berth::engine

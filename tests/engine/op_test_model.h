// OpTestModel: builds a one-node ONNX model in memory and runs it through the
// public Session API. The one builder of operator-test models: RunNode
// (single_node_model.h) and the session and repository tests build on it.
//
//   OpTestModel model("LSTM", 14);
//   model.Input("X", x).Initializer("W", w).Input("R", r).Output("Y");
//   model.node().add_attribute() ...;       // or the typed setters below
//   auto outputs = model.Run();             // the named outputs, in order
//
// Inputs carry their values: graph inputs are declared with the value's type
// and shape (see DeclareShapes), initializers are embedded. Absent optional
// inputs/outputs are "".
//
// After the class, helpers the operator tests share: attributes as values,
// tensors from literals, running for one output, comparing tensors.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "core/tensor_compare.h"
#include "engine/onnx/model_loader.h"
#include "engine/session.h"

namespace berth::engine::testing {

// Attributes as values, for node().add_attribute() and RunNode.
inline onnx::AttributeProto NamedAttribute(const std::string& name, onnx::AttributeProto::AttributeType type) {
  onnx::AttributeProto attribute;
  attribute.set_name(name);
  attribute.set_type(type);
  return attribute;
}
inline onnx::AttributeProto Int(const std::string& name, int64_t value) {
  onnx::AttributeProto attribute = NamedAttribute(name, onnx::AttributeProto::INT);
  attribute.set_i(value);
  return attribute;
}
inline onnx::AttributeProto Ints(const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto attribute = NamedAttribute(name, onnx::AttributeProto::INTS);
  for (int64_t v : values) attribute.add_ints(v);
  return attribute;
}
inline onnx::AttributeProto Float(const std::string& name, float value) {
  onnx::AttributeProto attribute = NamedAttribute(name, onnx::AttributeProto::FLOAT);
  attribute.set_f(value);
  return attribute;
}
inline onnx::AttributeProto String(const std::string& name, const std::string& value) {
  onnx::AttributeProto attribute = NamedAttribute(name, onnx::AttributeProto::STRING);
  attribute.set_s(value);
  return attribute;
}

class OpTestModel {
 public:
  // How graph inputs declare their shape: the value's own (the default), one
  // symbolic dim per axis (the shape is known only at run time), or none at
  // all (not even the rank is known). Applies to inputs added afterwards.
  enum class Shapes { kExact, kSymbolic, kUnknown };

  OpTestModel(const std::string& op_type, int opset, const std::string& domain = "") {
    model_.set_ir_version(8);
    auto* import = model_.add_opset_import();
    import->set_domain(domain);
    import->set_version(opset);
    // Nodes outside the default domain may still use default-domain ops.
    if (!domain.empty()) model_.add_opset_import()->set_version(17);
    graph()->set_name("op_test");
    onnx::NodeProto* node = graph()->add_node();
    node->set_op_type(op_type);
    node->set_domain(domain);
    node->set_name("node_under_test");
  }

  onnx::GraphProto* graph() { return model_.mutable_graph(); }
  // The node under test: the graph's first (nodes added through graph() come
  // after it). Looked up rather than held so that copies stay valid.
  onnx::NodeProto& node() { return *graph()->mutable_node(0); }

  OpTestModel& DeclareShapes(Shapes shapes) {
    shapes_ = shapes;
    return *this;
  }

  // A graph input fed with `value` at run time.
  OpTestModel& Input(const std::string& name, const core::Tensor& value) {
    node().add_input(name);
    return GraphInput(name, value);
  }
  // A graph input fed with `value` that the node does not read (for extra
  // nodes added through graph()).
  OpTestModel& GraphInput(const std::string& name, const core::Tensor& value) {
    Declare(graph()->add_input(), name, value);
    feeds_.emplace_back(name, value);
    return *this;
  }
  // Changes the value fed to input `name` (for reruns of one session).
  void SetFeed(const std::string& name, const core::Tensor& value) {
    for (auto& [feed_name, feed_value] : feeds_) {
      if (feed_name == name) feed_value = value;
    }
  }
  // An input embedded as an initializer (known at load time).
  OpTestModel& Initializer(const std::string& name, const core::Tensor& value) {
    node().add_input(name);
    ToProto(value, name, graph()->add_initializer());
    return *this;
  }
  OpTestModel& Absent() {
    node().add_input("");
    return *this;
  }
  // A node output; "" leaves the slot unused. Named outputs become graph
  // outputs (declared without a type so inference decides).
  OpTestModel& Output(const std::string& name) {
    node().add_output(name);
    if (!name.empty()) graph()->add_output()->set_name(name);
    return *this;
  }

  OpTestModel& AddAttribute(onnx::AttributeProto attribute) {
    *node().add_attribute() = std::move(attribute);
    return *this;
  }
  OpTestModel& Int(const std::string& name, int64_t value) { return AddAttribute(testing::Int(name, value)); }
  OpTestModel& Float(const std::string& name, float value) { return AddAttribute(testing::Float(name, value)); }
  OpTestModel& String(const std::string& name, const std::string& value) {
    return AddAttribute(testing::String(name, value));
  }
  OpTestModel& Ints(const std::string& name, const std::vector<int64_t>& values) {
    return AddAttribute(testing::Ints(name, values));
  }
  OpTestModel& Floats(const std::string& name, const std::vector<float>& values) {
    onnx::AttributeProto attribute = NamedAttribute(name, onnx::AttributeProto::FLOATS);
    for (float v : values) attribute.add_floats(v);
    return AddAttribute(std::move(attribute));
  }
  OpTestModel& Strings(const std::string& name, const std::vector<std::string>& values) {
    onnx::AttributeProto attribute = NamedAttribute(name, onnx::AttributeProto::STRINGS);
    for (const auto& v : values) attribute.add_strings(v);
    return AddAttribute(std::move(attribute));
  }

  // The model as ONNX bytes (what a model file holds).
  std::string Serialize() const {
    std::string bytes;
    model_.SerializeToString(&bytes);
    return bytes;
  }
  // Loads the model without making a session (for tests that edit it first).
  core::Result<std::shared_ptr<Model>> LoadModel() const { return LoadModelFromBytes(Serialize(), {}); }
  // Loads the model and makes a session (errors from load/compile come back
  // here).
  core::Result<std::unique_ptr<Session>> Load(const SessionOptions& options = {}) const {
    ASSIGN_OR_RETURN(std::shared_ptr<Model> model, LoadModel());
    return Session::Create(model, options);
  }

  // Runs a session from Load() with the inputs' values; returns the graph
  // outputs in the order they were added.
  core::Result<std::vector<core::Value>> Run(const Session& session) const {
    std::vector<NamedValue> inputs;
    for (const auto& [name, value] : feeds_) inputs.emplace_back(name, core::Value(value));
    return session.Run(inputs);
  }
  // Load(options) then Run(session).
  core::Result<std::vector<core::Value>> Run(const SessionOptions& options = {}) const {
    ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Load(options));
    return Run(*session);
  }

  static void ToProto(const core::Tensor& value, const std::string& name, onnx::TensorProto* proto) {
    proto->set_name(name);
    proto->set_data_type(static_cast<int32_t>(value.dtype()));
    for (int64_t d : value.shape()) proto->add_dims(d);
    if (value.dtype() == core::DataType::kString) {
      for (const auto& s : value.values<std::string>()) proto->add_string_data(s);
    } else {
      proto->set_raw_data(std::string(static_cast<const char*>(value.raw_data()), value.byte_size()));
    }
  }

 private:
  void Declare(onnx::ValueInfoProto* info, const std::string& name, const core::Tensor& value) const {
    info->set_name(name);
    auto* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(static_cast<int32_t>(value.dtype()));
    if (shapes_ == Shapes::kUnknown) return;
    auto* shape = tensor->mutable_shape();
    for (size_t d = 0; d < value.shape().size(); ++d) {
      if (shapes_ == Shapes::kSymbolic) {
        shape->add_dim()->set_dim_param(name + "_" + std::to_string(d));
      } else {
        shape->add_dim()->set_dim_value(value.shape()[d]);
      }
    }
  }

  onnx::ModelProto model_;
  Shapes shapes_ = Shapes::kExact;
  std::vector<std::pair<std::string, core::Tensor>> feeds_;
};

// ---------------------------------------------------------------------------
// Tensors from literal values.

inline core::Tensor Floats(std::vector<float> values, core::TensorShape shape) {
  return core::Tensor::FromVector<float>(values, std::move(shape));
}
inline core::Tensor Int64s(std::vector<int64_t> values, core::TensorShape shape) {
  return core::Tensor::FromVector<int64_t>(values, std::move(shape));
}
// A 1-D int64 tensor.
inline core::Tensor Int64s(std::vector<int64_t> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return core::Tensor::FromVector<int64_t>(values, {n});
}
inline core::Tensor Strings(std::vector<std::string> values, core::TensorShape shape) {
  return core::Tensor::FromVector<std::string>(values, std::move(shape));
}

// ---------------------------------------------------------------------------
// Running and comparing.

// Runs `model` and returns output `index`. A failed run fails the test, and
// it or a missing output gives an undefined tensor, which no comparison
// accepts.
inline core::Tensor RunOne(OpTestModel& model, size_t index = 0) {
  auto outputs = model.Run();
  EXPECT_TRUE(outputs.ok()) << outputs.status().ToString();
  if (!outputs.ok() || outputs->size() <= index || !(*outputs)[index].is_tensor()) return core::Tensor();
  return (*outputs)[index].tensor();
}

// Expects `actual` to equal `expected` within `tolerance`.
inline void ExpectTensor(const core::Tensor& expected, const core::Tensor& actual, core::Tolerance tolerance = {}) {
  core::Status status = core::CompareTensors(expected, actual, tolerance);
  EXPECT_TRUE(status.ok()) << status.message() << " (got " << actual.DebugString() << ")";
}

}  // namespace berth::engine::testing

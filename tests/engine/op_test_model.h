// OpTestModel: builds a one-node ONNX model in memory and runs it through the
// public Session API, for operator tests.
//
//   OpTestModel model("LSTM", 14);
//   model.Input("X", x).Initializer("W", w).Input("R", r).Output("Y");
//   model.node().add_attribute() ...;       // or the typed setters below
//   auto outputs = model.Run();             // the named outputs, in order
//
// Inputs carry their values: graph inputs are declared with the value's type
// and shape, initializers are embedded. Absent optional inputs/outputs are "".
#pragma once

#include <onnx/onnx_pb.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "engine/onnx/model_loader.h"
#include "engine/session.h"

namespace berth::engine::testing {

class OpTestModel {
 public:
  OpTestModel(const std::string& op_type, int opset, const std::string& domain = "") {
    model_.set_ir_version(8);
    auto* import = model_.add_opset_import();
    import->set_domain(domain);
    import->set_version(opset);
    // Nodes outside the default domain may still use default-domain ops.
    if (!domain.empty()) model_.add_opset_import()->set_version(17);
    graph()->set_name("op_test");
    node_ = graph()->add_node();
    node_->set_op_type(op_type);
    node_->set_domain(domain);
    node_->set_name("node_under_test");
  }

  onnx::GraphProto* graph() { return model_.mutable_graph(); }
  onnx::NodeProto& node() { return *node_; }

  // A graph input fed with `value` at run time.
  OpTestModel& Input(const std::string& name, const core::Tensor& value) {
    node_->add_input(name);
    Declare(graph()->add_input(), name, value);
    feeds_.emplace_back(name, value);
    return *this;
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
    node_->add_input(name);
    ToProto(value, name, graph()->add_initializer());
    return *this;
  }
  OpTestModel& Absent() {
    node_->add_input("");
    return *this;
  }
  // A node output; "" leaves the slot unused. Named outputs become graph
  // outputs (declared without a type so inference decides).
  OpTestModel& Output(const std::string& name) {
    node_->add_output(name);
    if (!name.empty()) graph()->add_output()->set_name(name);
    return *this;
  }

  OpTestModel& Int(const std::string& name, int64_t value) {
    auto* attr = Attr(name, onnx::AttributeProto::INT);
    attr->set_i(value);
    return *this;
  }
  OpTestModel& Float(const std::string& name, float value) {
    auto* attr = Attr(name, onnx::AttributeProto::FLOAT);
    attr->set_f(value);
    return *this;
  }
  OpTestModel& String(const std::string& name, const std::string& value) {
    auto* attr = Attr(name, onnx::AttributeProto::STRING);
    attr->set_s(value);
    return *this;
  }
  OpTestModel& Ints(const std::string& name, const std::vector<int64_t>& values) {
    auto* attr = Attr(name, onnx::AttributeProto::INTS);
    for (int64_t v : values) attr->add_ints(v);
    return *this;
  }
  OpTestModel& Floats(const std::string& name, const std::vector<float>& values) {
    auto* attr = Attr(name, onnx::AttributeProto::FLOATS);
    for (float v : values) attr->add_floats(v);
    return *this;
  }
  OpTestModel& Strings(const std::string& name, const std::vector<std::string>& values) {
    auto* attr = Attr(name, onnx::AttributeProto::STRINGS);
    for (const auto& v : values) attr->add_strings(v);
    return *this;
  }

  // Loads the model (errors from load/compile come back here).
  core::Result<std::unique_ptr<Session>> Load() {
    std::string bytes;
    model_.SerializeToString(&bytes);
    auto model = LoadModelFromBytes(bytes, {});
    if (!model.ok()) return model.status();
    return Session::Create(*model);
  }

  // Runs a session from Load() with the inputs' values; returns the graph
  // outputs in the order they were added.
  core::Result<std::vector<core::Value>> Run(const Session& session) const {
    std::vector<NamedValue> inputs;
    for (const auto& [name, value] : feeds_) inputs.emplace_back(name, core::Value(value));
    return session.Run(inputs);
  }
  // Load() then Run(session).
  core::Result<std::vector<core::Value>> Run() {
    auto session = Load();
    if (!session.ok()) return session.status();
    return Run(**session);
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
  onnx::AttributeProto* Attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* attr = node_->add_attribute();
    attr->set_name(name);
    attr->set_type(type);
    return attr;
  }

  static void Declare(onnx::ValueInfoProto* info, const std::string& name, const core::Tensor& value) {
    info->set_name(name);
    auto* tensor = info->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(static_cast<int32_t>(value.dtype()));
    auto* shape = tensor->mutable_shape();
    for (int64_t d : value.shape()) shape->add_dim()->set_dim_value(d);
  }

  onnx::ModelProto model_;
  onnx::NodeProto* node_ = nullptr;
  std::vector<std::pair<std::string, core::Tensor>> feeds_;
};

}  // namespace berth::engine::testing

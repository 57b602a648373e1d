#include "test_models.h"

namespace berth::engine::testing {

namespace {
void SetFloatInfo(onnx::ValueInfoProto* info, const std::string& name) {
  info->set_name(name);
  auto* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  tensor->mutable_shape()->add_dim()->set_dim_value(2);
  tensor->mutable_shape()->add_dim()->set_dim_value(3);
}
}  // namespace

onnx::ModelProto SingleNodeModel(const std::string& op_type, bool binary, int opset) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(opset);
  auto* graph = model.mutable_graph();
  graph->set_name("test");
  auto* node = graph->add_node();
  node->set_op_type(op_type);
  node->add_input("x");
  if (binary) node->add_input("y");
  node->add_output("z");
  SetFloatInfo(graph->add_input(), "x");
  if (binary) SetFloatInfo(graph->add_input(), "y");
  SetFloatInfo(graph->add_output(), "z");
  return model;
}

std::string Serialize(const onnx::ModelProto& model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  return bytes;
}

}  // namespace berth::engine::testing

// One-node ONNX models for kernel tests that list a node's inputs as values:
//
//   RunNode("Conv", {{"x", x}, {"w", w, /*constant=*/true}}, {Ints("pads", {1, 1, 1, 1})});
//
// Inputs marked constant become initializers (known at load, so kernels can
// prepack them), the others graph inputs fed at run time; an empty name is an
// absent optional input. Outputs are y0, y1, ... (OpTestModel in
// op_test_model.h builds the same models input by input.)
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/tensor.h"
#include "engine/onnx/model_loader.h"
#include "engine/session.h"
#include "op_test_model.h"

namespace berth::engine::testing {

struct TestInput {
  std::string name;  // empty: an absent optional input
  core::Tensor value;
  bool constant = false;  // an initializer instead of a graph input
};

// A tensor of `shape` from double values (converted to T, half types via float).
template <typename T>
core::Tensor Make(const core::TensorShape& shape, const std::vector<double>& values) {
  std::vector<T> converted;
  for (double x : values) {
    if constexpr (std::is_same_v<T, core::Float16> || std::is_same_v<T, core::BFloat16>) {
      converted.push_back(T(static_cast<float>(x)));
    } else {
      converted.push_back(static_cast<T>(x));
    }
  }
  return core::Tensor::FromVector<T>(converted, shape);
}

inline onnx::AttributeProto Int(const std::string& name, int64_t value) {
  onnx::AttributeProto attribute;
  attribute.set_name(name);
  attribute.set_type(onnx::AttributeProto::INT);
  attribute.set_i(value);
  return attribute;
}

inline onnx::AttributeProto Ints(const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto attribute;
  attribute.set_name(name);
  attribute.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) attribute.add_ints(v);
  return attribute;
}

inline onnx::AttributeProto Float(const std::string& name, float value) {
  onnx::AttributeProto attribute;
  attribute.set_name(name);
  attribute.set_type(onnx::AttributeProto::FLOAT);
  attribute.set_f(value);
  return attribute;
}

inline onnx::AttributeProto String(const std::string& name, const std::string& value) {
  onnx::AttributeProto attribute;
  attribute.set_name(name);
  attribute.set_type(onnx::AttributeProto::STRING);
  attribute.set_s(value);
  return attribute;
}

// The model; with `dynamic_dims` every graph input dim is symbolic.
inline onnx::ModelProto SingleNode(const std::string& op_type, const std::vector<TestInput>& inputs,
                                   const std::vector<onnx::AttributeProto>& attributes, int outputs = 1, int opset = 17,
                                   bool dynamic_dims = false) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(opset);
  auto* graph = model.mutable_graph();
  graph->set_name("test");
  auto* node = graph->add_node();
  node->set_op_type(op_type);
  node->set_name("node");
  for (const auto& attribute : attributes) *node->add_attribute() = attribute;
  for (const auto& input : inputs) {
    node->add_input(input.name);
    if (input.name.empty()) continue;
    if (input.constant) {
      OpTestModel::ToProto(input.value, input.name, graph->add_initializer());
      continue;
    }
    auto* info = graph->add_input();
    info->set_name(input.name);
    auto* type = info->mutable_type()->mutable_tensor_type();
    type->set_elem_type(static_cast<int>(input.value.dtype()));
    auto* shape = type->mutable_shape();
    for (size_t d = 0; d < input.value.shape().size(); ++d) {
      if (dynamic_dims) {
        shape->add_dim()->set_dim_param(input.name + "_" + std::to_string(d));
      } else {
        shape->add_dim()->set_dim_value(input.value.shape()[d]);
      }
    }
  }
  for (int o = 0; o < outputs; ++o) {
    node->add_output("y" + std::to_string(o));
    graph->add_output()->set_name("y" + std::to_string(o));
  }
  return model;
}

inline core::Result<std::shared_ptr<Model>> LoadSingleNode(const onnx::ModelProto& model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  return LoadModelFromBytes(bytes, {});
}

inline core::Result<std::unique_ptr<Session>> MakeSession(const onnx::ModelProto& model, SessionOptions options = {}) {
  ASSIGN_OR_RETURN(std::shared_ptr<Model> loaded, LoadSingleNode(model));
  return Session::Create(loaded, options);
}

// The values of the inputs that are fed at run time.
inline std::vector<NamedValue> Feeds(const std::vector<TestInput>& inputs) {
  std::vector<NamedValue> feeds;
  for (const auto& input : inputs) {
    if (!input.name.empty() && !input.constant) feeds.emplace_back(input.name, input.value);
  }
  return feeds;
}

// Runs the node once on 2 threads; the outputs in order.
inline core::Result<std::vector<core::Value>> RunNode(const std::string& op_type, const std::vector<TestInput>& inputs,
                                                      const std::vector<onnx::AttributeProto>& attributes = {},
                                                      int opset = 17, int outputs = 1) {
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                   MakeSession(SingleNode(op_type, inputs, attributes, outputs, opset), {.intra_op_threads = 2}));
  return session->Run(Feeds(inputs));
}

// Runs the node once and checks static shape inference against the real
// outputs (every output must have an inferred shape).
inline core::Result<std::vector<core::Tensor>> RunNodeChecked(const std::string& op_type,
                                                              const std::vector<TestInput>& inputs,
                                                              const std::vector<onnx::AttributeProto>& attributes,
                                                              int outputs = 1, int opset = 17) {
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                   MakeSession(SingleNode(op_type, inputs, attributes, outputs, opset)));
  ASSIGN_OR_RETURN(std::vector<core::Value> values, session->Run(Feeds(inputs)));
  std::vector<core::Tensor> tensors;
  for (size_t o = 0; o < values.size(); ++o) {
    const core::Tensor& tensor = values[o].tensor();
    const ValueType& type = session->outputs()[o].type;
    EXPECT_TRUE(type.is_tensor() && type.has_shape) << op_type << " output " << o << " has no inferred shape";
    if (type.has_shape) {
      EXPECT_EQ(type.dims.size(), tensor.shape().size());
      for (size_t d = 0; d < std::min(type.dims.size(), tensor.shape().size()); ++d) {
        if (type.dims[d].known()) {
          EXPECT_EQ(type.dims[d].value, tensor.shape()[d]) << "inferred " << type.ToString();
        }
      }
      EXPECT_EQ(type.dtype, tensor.dtype());
    }
    tensors.push_back(tensor);
  }
  return tensors;
}

}  // namespace berth::engine::testing

// One-node ONNX models for kernel tests that list a node's inputs as values:
//
//   RunNode("Conv", {{"x", x}, {"w", w, /*constant=*/true}}, {Ints("pads", {1, 1, 1, 1})});
//
// Inputs marked constant become initializers (known at load, so kernels can
// prepack them), the others graph inputs fed at run time; an empty name is an
// absent optional input. Outputs are y0, y1, ... The models are OpTestModels
// (op_test_model.h), built from the list.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "core/tensor_compare.h"
#include "engine/kernels/common/kernel_util.h"
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
  for (double x : values) converted.push_back(StoreAs<T>(x));
  return core::Tensor::FromVector<T>(converted, shape);
}

// `count` floats drawn uniformly from [lo, hi) by a generator seeded with `seed`.
inline std::vector<float> RandomFloats(int64_t count, uint32_t seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(count));
  for (auto& v : values) v = dist(rng);
  return values;
}

// The model; with `dynamic_dims` every graph input dim is symbolic.
inline OpTestModel SingleNode(const std::string& op_type, const std::vector<TestInput>& inputs,
                              const std::vector<onnx::AttributeProto>& attributes, int outputs = 1, int opset = 17,
                              bool dynamic_dims = false) {
  OpTestModel model(op_type, opset);
  if (dynamic_dims) model.DeclareShapes(OpTestModel::Shapes::kSymbolic);
  for (const auto& attribute : attributes) model.AddAttribute(attribute);
  for (const auto& input : inputs) {
    if (input.name.empty()) {
      model.Absent();
    } else if (input.constant) {
      model.Initializer(input.name, input.value);
    } else {
      model.Input(input.name, input.value);
    }
  }
  for (int o = 0; o < outputs; ++o) model.Output("y" + std::to_string(o));
  return model;
}

// Runs the node once on 2 threads; the outputs in order.
inline core::Result<std::vector<core::Value>> RunNode(const std::string& op_type, const std::vector<TestInput>& inputs,
                                                      const std::vector<onnx::AttributeProto>& attributes = {},
                                                      int opset = 17, int outputs = 1) {
  return SingleNode(op_type, inputs, attributes, outputs, opset).Run({.intra_op_threads = 2});
}

// Runs the node once and checks static shape inference against the real
// outputs (every output must have an inferred shape).
inline core::Result<std::vector<core::Tensor>> RunNodeChecked(const std::string& op_type,
                                                              const std::vector<TestInput>& inputs,
                                                              const std::vector<onnx::AttributeProto>& attributes,
                                                              int outputs = 1, int opset = 17) {
  const OpTestModel model = SingleNode(op_type, inputs, attributes, outputs, opset);
  ASSIGN_OR_RETURN(std::unique_ptr<Session> session, model.Load());
  ASSIGN_OR_RETURN(std::vector<core::Value> values, model.Run(*session));
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

// Runs `session` (one input, `input`) from four threads, ten rounds each, each
// thread cycling through `inputs` from a different start; returns how many
// runs failed or did not match `expected` (one per input). For kernels that
// cache per input shape.
inline int CountConcurrentMismatches(const Session& session, const std::string& input,
                                     const std::vector<core::Tensor>& inputs,
                                     const std::vector<core::Tensor>& expected) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        const size_t which = (t + round) % inputs.size();
        auto outputs = session.Run({{input, inputs[which]}});
        if (!outputs.ok() || !core::CompareTensors(expected[which], (*outputs)[0].tensor()).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return failures.load();
}

}  // namespace berth::engine::testing

// Builds small ONNX models in memory for engine tests.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

namespace berth::engine::testing {

// A model with one node `op_type` taking float inputs x (and y when
// `binary`) of shape [2,3] and producing z.
onnx::ModelProto SingleNodeModel(const std::string& op_type, bool binary, int opset = 17);
std::string Serialize(const onnx::ModelProto& model);

}  // namespace berth::engine::testing

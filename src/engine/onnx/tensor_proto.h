// Conversion of onnx TensorProto / SequenceProto / OptionalProto into berth
// values. Every size is validated before allocation: negative dims, element
// counts that overflow, raw_data or typed-field lengths that do not match
// dims x dtype, and external data that escapes the model's folder or lies
// beyond the end of its file are errors that name the tensor.
#pragma once

#include <filesystem>
#include <string_view>

#include "core/status.h"
#include "core/value.h"

namespace onnx {
class TensorProto;
}

namespace berth::engine {

// `model_dir` resolves external data locations; empty forbids external data.
core::Result<core::Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::filesystem::path& model_dir);
// The same, and large raw_data moves into the tensor instead of being copied
// (`proto` is left without it).
core::Result<core::Tensor> TensorFromProto(onnx::TensorProto&& proto, const std::filesystem::path& model_dir);

// Parse serialized protos (.pb files of the ONNX test suite).
core::Result<core::Tensor> ParseTensorProto(std::string_view bytes);
core::Result<core::TensorSequence> ParseSequenceProto(std::string_view bytes);
core::Result<core::Value> ParseOptionalProto(std::string_view bytes);

}  // namespace berth::engine

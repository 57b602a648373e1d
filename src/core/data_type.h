// Element types of tensors. Values match onnx.TensorProto.DataType so that
// conversion from model files is a range check, not a table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::core {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,   // recognised in files; no kernel computes on it
  kComplex128 = 15,  // recognised in files; no kernel computes on it
  kBFloat16 = 16,
};

// Size in bytes of one element; 0 for kUndefined and kString (strings are
// held as std::string objects, see Tensor).
size_t DataTypeSize(DataType type);

// Short lower-case name used in messages and the CLI: "float32", "int64", ...
std::string_view DataTypeName(DataType type);

// KServe v2 / Triton wire name: "FP32", "INT64", "BYTES", "BOOL", ...
std::string_view DataTypeWireName(DataType type);
std::optional<DataType> DataTypeFromWireName(std::string_view name);

// Triton config.pbtxt name: "TYPE_FP32", ... (TYPE_STRING for strings).
std::string_view DataTypeConfigName(DataType type);
std::optional<DataType> DataTypeFromConfigName(std::string_view name);

// Accepts an onnx TensorProto.DataType number; nullopt if not one berth knows.
std::optional<DataType> DataTypeFromOnnx(int32_t onnx_type);

bool IsFloatingPoint(DataType type);  // float16/bfloat16/float32/float64
bool IsSignedInteger(DataType type);
bool IsUnsignedInteger(DataType type);
inline bool IsInteger(DataType type) { return IsSignedInteger(type) || IsUnsignedInteger(type); }
inline bool IsNumeric(DataType type) { return IsFloatingPoint(type) || IsInteger(type); }

// Maps a C++ element type to its DataType.
template <typename T> struct DataTypeOf;

}  // namespace berth::core

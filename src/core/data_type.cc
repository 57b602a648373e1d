#include "core/data_type.h"

#include <array>

#include "core/float16.h"

namespace berth::core {
namespace {

struct DataTypeNames {
  DataType type;
  size_t size;
  std::string_view name;
  std::string_view wire;
  std::string_view config;
};

constexpr std::array<DataTypeNames, 17> kNames = {{
    {DataType::kUndefined, 0, "undefined", "", "TYPE_INVALID"},
    {DataType::kFloat32, 4, "float32", "FP32", "TYPE_FP32"},
    {DataType::kUInt8, 1, "uint8", "UINT8", "TYPE_UINT8"},
    {DataType::kInt8, 1, "int8", "INT8", "TYPE_INT8"},
    {DataType::kUInt16, 2, "uint16", "UINT16", "TYPE_UINT16"},
    {DataType::kInt16, 2, "int16", "INT16", "TYPE_INT16"},
    {DataType::kInt32, 4, "int32", "INT32", "TYPE_INT32"},
    {DataType::kInt64, 8, "int64", "INT64", "TYPE_INT64"},
    {DataType::kString, 0, "string", "BYTES", "TYPE_STRING"},
    {DataType::kBool, 1, "bool", "BOOL", "TYPE_BOOL"},
    {DataType::kFloat16, 2, "float16", "FP16", "TYPE_FP16"},
    {DataType::kFloat64, 8, "float64", "FP64", "TYPE_FP64"},
    {DataType::kUInt32, 4, "uint32", "UINT32", "TYPE_UINT32"},
    {DataType::kUInt64, 8, "uint64", "UINT64", "TYPE_UINT64"},
    {DataType::kComplex64, 8, "complex64", "", "TYPE_INVALID"},
    {DataType::kComplex128, 16, "complex128", "", "TYPE_INVALID"},
    {DataType::kBFloat16, 2, "bfloat16", "BF16", "TYPE_BF16"},
}};

const DataTypeNames& Lookup(DataType type) {
  auto index = static_cast<size_t>(type);
  return index < kNames.size() ? kNames[index] : kNames[0];
}

}  // namespace

size_t DataTypeSize(DataType type) { return Lookup(type).size; }
std::string_view DataTypeName(DataType type) { return Lookup(type).name; }
std::string_view DataTypeWireName(DataType type) { return Lookup(type).wire; }
std::string_view DataTypeConfigName(DataType type) { return Lookup(type).config; }

std::optional<DataType> DataTypeFromWireName(std::string_view name) {
  for (const auto& entry : kNames) {
    if (!entry.wire.empty() && entry.wire == name) return entry.type;
  }
  return std::nullopt;
}

std::optional<DataType> DataTypeFromConfigName(std::string_view name) {
  for (const auto& entry : kNames) {
    if (entry.config != "TYPE_INVALID" && entry.config == name) return entry.type;
  }
  if (name == "TYPE_BYTES") return DataType::kString;
  return std::nullopt;
}

std::optional<DataType> DataTypeFromOnnx(int32_t onnx_type) {
  if (onnx_type <= 0 || onnx_type > static_cast<int32_t>(DataType::kBFloat16)) return std::nullopt;
  return static_cast<DataType>(onnx_type);
}

bool IsFloatingPoint(DataType type) {
  return type == DataType::kFloat32 || type == DataType::kFloat64 || type == DataType::kFloat16 ||
         type == DataType::kBFloat16;
}

bool IsSignedInteger(DataType type) {
  return type == DataType::kInt8 || type == DataType::kInt16 || type == DataType::kInt32 ||
         type == DataType::kInt64;
}

bool IsUnsignedInteger(DataType type) {
  return type == DataType::kUInt8 || type == DataType::kUInt16 || type == DataType::kUInt32 ||
         type == DataType::kUInt64;
}

}  // namespace berth::core

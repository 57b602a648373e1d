// GgufFile: a GGUF (v2/v3) model file, mapped read-only and validated.
//
// Layout (little-endian): magic "GGUF", version, tensor count, metadata
// count, the metadata key/value pairs, the tensor infos (name, dims, type,
// offset), padding to the alignment (general.alignment, default 32), then
// the tensor data. Open reads and checks every count, length, type,
// dimension and offset against the file before using it (each has crashed
// a parser before: see the bad-file tests); a file that fails any check is
// an InvalidArgument naming the file, the item and what is wrong. Tensors
// are views into the mapping: nothing is copied at load.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace berth::llm {

enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view GgufValueTypeName(GgufValueType type);

// ggml's tensor types that berth reads (the ids are the file format's).
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

struct GgmlTypeTraits {
  std::string_view name;
  uint64_t block_size;  // elements per block (1 for plain types)
  uint64_t type_size;   // bytes per block
};
// nullopt for ids that are not ggml types, were removed, or berth does not read.
std::optional<GgmlTypeTraits> TraitsOf(uint32_t type);

// One metadata value. Scalars are held decoded; strings and arrays are views
// into the mapping (array elements are decoded on access).
struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  uint64_t unsigned_value = 0;  // kUint*, kBool
  int64_t signed_value = 0;     // kInt*
  double float_value = 0;       // kFloat*
  std::string_view string;      // kString
  // kArray: element type, count, and where the elements are (for string
  // arrays, one view per element).
  GgufValueType element_type = GgufValueType::kUint8;
  uint64_t count = 0;
  const char* elements = nullptr;
  std::vector<std::string_view> strings;

  bool is_integer() const;
  // The value as a signed integer, when it is an integer that fits.
  std::optional<int64_t> AsInt() const;
  // Element `i` of an integer or float array (checked by the caller: i < count).
  int64_t IntAt(uint64_t i) const;
  double FloatAt(uint64_t i) const;
};

struct GgufTensor {
  std::string_view name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the row length (fastest)
  uint64_t offset = 0;        // from the start of the data section
  uint64_t bytes = 0;
  const char* data = nullptr;  // into the mapping
  uint64_t elements() const;
};

struct GgufLimits {
  uint64_t max_key_bytes = 65535;
  uint64_t max_tensor_name_bytes = 64;  // ggml's GGML_MAX_NAME
  uint64_t max_string_bytes = uint64_t{1} << 30;
};

class GgufFile {
 public:
  static core::Result<std::shared_ptr<GgufFile>> Open(const std::string& path, const GgufLimits& limits = {});
  // The same checks on bytes already in memory (`owner` keeps them alive).
  static core::Result<std::shared_ptr<GgufFile>> Parse(std::string_view bytes, std::string name,
                                                       std::shared_ptr<const void> owner,
                                                       const GgufLimits& limits = {});

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  // The whole file as mapped.
  std::string_view bytes() const { return bytes_; }
  const std::string& name() const { return name_; }

  const std::map<std::string_view, GgufValue>& metadata() const { return metadata_; }
  const GgufValue* Find(std::string_view key) const;
  // Typed lookups: NotFound when absent, InvalidArgument naming the key when
  // of another type.
  core::Result<std::string_view> GetString(std::string_view key) const;
  core::Result<int64_t> GetInt(std::string_view key) const;
  core::Result<double> GetFloat(std::string_view key) const;

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  core::Status ParseAll(const GgufLimits& limits);

  std::shared_ptr<const void> owner_;
  std::string_view bytes_;
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::map<std::string_view, GgufValue> metadata_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string_view, size_t> tensor_index_;
};

}  // namespace berth::llm

#include "llm/gguf/gguf_file.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace berth::llm {
namespace {

using core::InvalidArgument;
using core::Status;

constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;

// Bytes one value of a scalar type takes; 0 for strings and arrays.
uint64_t ScalarSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool ValidType(uint32_t type) { return type <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Reads little-endian values from the file, every read checked against its end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  uint64_t position() const { return position_; }
  uint64_t left() const { return bytes_.size() - position_; }
  const char* here() const { return bytes_.data() + position_; }

  template <typename T>
  core::Result<T> Read(std::string_view what) {
    if (left() < sizeof(T)) return InvalidArgument("{} at byte {} is cut off by the end of the file", what, position_);
    T value;
    std::memcpy(&value, here(), sizeof(T));
    position_ += sizeof(T);
    return value;
  }

  core::Result<std::string_view> ReadString(std::string_view what, uint64_t max_bytes) {
    ASSIGN_OR_RETURN(uint64_t length, Read<uint64_t>(what));
    if (length > left()) {
      return InvalidArgument("{} at byte {} claims {} bytes, more than the {} left in the file", what, position_ - 8,
                             length, left());
    }
    if (length > max_bytes)
      return InvalidArgument("{} is {} bytes long, more than the {} allowed", what, length, max_bytes);
    std::string_view text(here(), static_cast<size_t>(length));
    position_ += length;
    return text;
  }

  Status Skip(uint64_t bytes, std::string_view what) {
    if (bytes > left())
      return InvalidArgument("{} needs {} bytes, more than the {} left in the file", what, bytes, left());
    position_ += bytes;
    return Status::Ok();
  }

 private:
  std::string_view bytes_;
  uint64_t position_ = 0;
};

template <typename T>
T Load(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

core::Result<GgufValue> ReadScalar(Reader& reader, GgufValueType type, std::string_view what) {
  GgufValue value;
  value.type = type;
  // Reads a T from the file into `out` (widened).
  auto read = [&](auto tag, auto& out) -> Status {
    ASSIGN_OR_RETURN(auto v, reader.Read<decltype(tag)>(what));
    out = v;
    return Status::Ok();
  };
  switch (type) {
    case GgufValueType::kUint8:
      RETURN_IF_ERROR(read(uint8_t{}, value.unsigned_value));
      break;
    case GgufValueType::kBool:
      RETURN_IF_ERROR(read(uint8_t{}, value.unsigned_value));
      if (value.unsigned_value > 1)
        return InvalidArgument("{} is a bool of value {} (0 or 1)", what, value.unsigned_value);
      break;
    case GgufValueType::kInt8:
      RETURN_IF_ERROR(read(int8_t{}, value.signed_value));
      break;
    case GgufValueType::kUint16:
      RETURN_IF_ERROR(read(uint16_t{}, value.unsigned_value));
      break;
    case GgufValueType::kInt16:
      RETURN_IF_ERROR(read(int16_t{}, value.signed_value));
      break;
    case GgufValueType::kUint32:
      RETURN_IF_ERROR(read(uint32_t{}, value.unsigned_value));
      break;
    case GgufValueType::kInt32:
      RETURN_IF_ERROR(read(int32_t{}, value.signed_value));
      break;
    case GgufValueType::kUint64:
      RETURN_IF_ERROR(read(uint64_t{}, value.unsigned_value));
      break;
    case GgufValueType::kInt64:
      RETURN_IF_ERROR(read(int64_t{}, value.signed_value));
      break;
    case GgufValueType::kFloat32:
      RETURN_IF_ERROR(read(float{}, value.float_value));
      break;
    case GgufValueType::kFloat64:
      RETURN_IF_ERROR(read(double{}, value.float_value));
      break;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return core::Internal("ReadScalar on a {}", GgufValueTypeName(type));
  }
  return value;
}

core::Result<GgufValue> ReadValue(Reader& reader, GgufValueType type, std::string_view what, const GgufLimits& limits) {
  if (type == GgufValueType::kString) {
    GgufValue value;
    value.type = type;
    ASSIGN_OR_RETURN(value.string, reader.ReadString(what, limits.max_string_bytes));
    return value;
  }
  if (type != GgufValueType::kArray) return ReadScalar(reader, type, what);
  GgufValue value;
  value.type = type;
  ASSIGN_OR_RETURN(uint32_t element, reader.Read<uint32_t>(what));
  if (!ValidType(element)) return InvalidArgument("{} is an array of unknown value type {}", what, element);
  value.element_type = static_cast<GgufValueType>(element);
  // Arrays of arrays are not used by any model and have crashed parsers
  // (unbounded recursion): refused.
  if (value.element_type == GgufValueType::kArray) return InvalidArgument("{} is an array of arrays", what);
  ASSIGN_OR_RETURN(value.count, reader.Read<uint64_t>(what));
  value.elements = reader.here();
  if (value.element_type == GgufValueType::kString) {
    // Each string takes at least its 8-byte length.
    if (value.count > reader.left() / 8) {
      return InvalidArgument("{} claims {} strings, more than the file can hold", what, value.count);
    }
    value.strings.reserve(static_cast<size_t>(value.count));
    for (uint64_t i = 0; i < value.count; ++i) {
      ASSIGN_OR_RETURN(std::string_view s, reader.ReadString(what, limits.max_string_bytes));
      value.strings.push_back(s);
    }
    return value;
  }
  const uint64_t size = ScalarSize(value.element_type);
  if (value.count > reader.left() / size) {
    return InvalidArgument("{} claims {} elements of {} bytes, more than the {} bytes left in the file", what,
                           value.count, size, reader.left());
  }
  if (value.element_type == GgufValueType::kBool) {
    for (uint64_t i = 0; i < value.count; ++i) {
      if (static_cast<uint8_t>(value.elements[i]) > 1) return InvalidArgument("{}[{}] is a bool of value > 1", what, i);
    }
  }
  RETURN_IF_ERROR(reader.Skip(value.count * size, what));
  return value;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

std::string_view GgufValueTypeName(GgufValueType type) {
  static constexpr std::string_view kNames[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                                "bool",  "string", "array",  "uint64", "int64",  "float64"};
  const auto index = static_cast<uint32_t>(type);
  return index < std::size(kNames) ? kNames[index] : "unknown";
}

std::optional<GgmlTypeTraits> TraitsOf(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32:
      return GgmlTypeTraits{"F32", 1, 4};
    case GgmlType::kF16:
      return GgmlTypeTraits{"F16", 1, 2};
    case GgmlType::kBF16:
      return GgmlTypeTraits{"BF16", 1, 2};
    case GgmlType::kF64:
      return GgmlTypeTraits{"F64", 1, 8};
    case GgmlType::kI8:
      return GgmlTypeTraits{"I8", 1, 1};
    case GgmlType::kI16:
      return GgmlTypeTraits{"I16", 1, 2};
    case GgmlType::kI32:
      return GgmlTypeTraits{"I32", 1, 4};
    case GgmlType::kI64:
      return GgmlTypeTraits{"I64", 1, 8};
    case GgmlType::kQ4_0:
      return GgmlTypeTraits{"Q4_0", 32, 18};
    case GgmlType::kQ4_1:
      return GgmlTypeTraits{"Q4_1", 32, 20};
    case GgmlType::kQ5_0:
      return GgmlTypeTraits{"Q5_0", 32, 22};
    case GgmlType::kQ5_1:
      return GgmlTypeTraits{"Q5_1", 32, 24};
    case GgmlType::kQ8_0:
      return GgmlTypeTraits{"Q8_0", 32, 34};
    case GgmlType::kQ8_1:
      return GgmlTypeTraits{"Q8_1", 32, 36};
    case GgmlType::kQ2_K:
      return GgmlTypeTraits{"Q2_K", 256, 84};
    case GgmlType::kQ3_K:
      return GgmlTypeTraits{"Q3_K", 256, 110};
    case GgmlType::kQ4_K:
      return GgmlTypeTraits{"Q4_K", 256, 144};
    case GgmlType::kQ5_K:
      return GgmlTypeTraits{"Q5_K", 256, 176};
    case GgmlType::kQ6_K:
      return GgmlTypeTraits{"Q6_K", 256, 210};
    case GgmlType::kQ8_K:
      return GgmlTypeTraits{"Q8_K", 256, 292};
  }
  return std::nullopt;
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (!is_integer()) return std::nullopt;
  if (type == GgufValueType::kUint64 || type == GgufValueType::kUint32 || type == GgufValueType::kUint16 ||
      type == GgufValueType::kUint8) {
    if (unsigned_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(unsigned_value);
  }
  return signed_value;
}

int64_t GgufValue::IntAt(uint64_t i) const {
  const char* p = elements + i * ScalarSize(element_type);
  switch (element_type) {
    case GgufValueType::kUint8:
    case GgufValueType::kBool:
      return Load<uint8_t>(p);
    case GgufValueType::kInt8:
      return Load<int8_t>(p);
    case GgufValueType::kUint16:
      return Load<uint16_t>(p);
    case GgufValueType::kInt16:
      return Load<int16_t>(p);
    case GgufValueType::kUint32:
      return Load<uint32_t>(p);
    case GgufValueType::kInt32:
      return Load<int32_t>(p);
    case GgufValueType::kUint64:
      return static_cast<int64_t>(Load<uint64_t>(p));
    case GgufValueType::kInt64:
      return Load<int64_t>(p);
    case GgufValueType::kFloat32:
      return static_cast<int64_t>(Load<float>(p));
    case GgufValueType::kFloat64:
      return static_cast<int64_t>(Load<double>(p));
    default:
      return 0;
  }
}

double GgufValue::FloatAt(uint64_t i) const {
  const char* p = elements + i * ScalarSize(element_type);
  if (element_type == GgufValueType::kFloat32) return Load<float>(p);
  if (element_type == GgufValueType::kFloat64) return Load<double>(p);
  return static_cast<double>(IntAt(i));
}

uint64_t GgufTensor::elements() const {
  uint64_t n = 1;
  for (int64_t d : dims) n *= static_cast<uint64_t>(d);
  return n;
}

core::Result<std::shared_ptr<GgufFile>> GgufFile::Open(const std::string& path, const GgufLimits& limits) {
  ASSIGN_OR_RETURN(std::shared_ptr<core::MappedFile> mapped, core::MappedFile::Open(path));
  std::string_view bytes = mapped->view();
  return Parse(bytes, path, std::move(mapped), limits);
}

core::Result<std::shared_ptr<GgufFile>> GgufFile::Parse(std::string_view bytes, std::string name,
                                                        std::shared_ptr<const void> owner, const GgufLimits& limits) {
  std::shared_ptr<GgufFile> file(new GgufFile());
  file->owner_ = std::move(owner);
  file->bytes_ = bytes;
  file->name_ = std::move(name);
  Status parsed = file->ParseAll(limits);
  if (!parsed.ok()) return parsed.WithContext(file->name_);
  return file;
}

Status GgufFile::ParseAll(const GgufLimits& limits) {
  Reader reader(bytes_);
  if (bytes_.size() < 4 || std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
    return InvalidArgument("not a GGUF file (no 'GGUF' magic at its start)");
  }
  RETURN_IF_ERROR(reader.Skip(4, "the magic"));
  ASSIGN_OR_RETURN(version_, reader.Read<uint32_t>("the version"));
  if (version_ != 2 && version_ != 3)
    return InvalidArgument("GGUF version {} is not supported (2 and 3 are)", version_);
  ASSIGN_OR_RETURN(uint64_t tensor_count, reader.Read<uint64_t>("the tensor count"));
  ASSIGN_OR_RETURN(uint64_t kv_count, reader.Read<uint64_t>("the metadata count"));
  // A key/value pair takes at least 13 bytes (key length, type, one byte),
  // a tensor info at least 29 (name length, dim count, a dim, type, offset).
  if (kv_count > reader.left() / 13) {
    return InvalidArgument("the metadata count {} is more than the file can hold", kv_count);
  }
  if (tensor_count > reader.left() / 29) {
    return InvalidArgument("the tensor count {} is more than the file can hold", tensor_count);
  }
  for (uint64_t i = 0; i < kv_count; ++i) {
    ASSIGN_OR_RETURN(std::string_view key, reader.ReadString(fmt::format("metadata key {}", i), limits.max_key_bytes));
    if (key.empty()) return InvalidArgument("metadata key {} is empty", i);
    if (metadata_.count(key)) return InvalidArgument("metadata key '{}' appears twice", key);
    ASSIGN_OR_RETURN(uint32_t type, reader.Read<uint32_t>(fmt::format("the type of '{}'", key)));
    if (!ValidType(type)) return InvalidArgument("metadata '{}' has unknown value type {}", key, type);
    ASSIGN_OR_RETURN(GgufValue value,
                     ReadValue(reader, static_cast<GgufValueType>(type), fmt::format("metadata '{}'", key), limits));
    metadata_.emplace(key, std::move(value));
  }
  if (const GgufValue* alignment = Find("general.alignment")) {
    if (alignment->type != GgufValueType::kUint32) {
      return InvalidArgument("general.alignment is a {}, not a uint32", GgufValueTypeName(alignment->type));
    }
    if (!IsPowerOfTwo(alignment->unsigned_value)) {
      return InvalidArgument("general.alignment {} is not a power of two", alignment->unsigned_value);
    }
    alignment_ = alignment->unsigned_value;
  } else {
    alignment_ = kDefaultAlignment;
  }

  tensors_.reserve(static_cast<size_t>(tensor_count));
  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensor tensor;
    ASSIGN_OR_RETURN(tensor.name,
                     reader.ReadString(fmt::format("the name of tensor {}", i), limits.max_tensor_name_bytes));
    if (tensor.name.empty()) return InvalidArgument("tensor {} has an empty name", i);
    if (tensor_index_.count(tensor.name)) return InvalidArgument("tensor '{}' appears twice", tensor.name);
    const std::string what = fmt::format("tensor '{}'", tensor.name);
    ASSIGN_OR_RETURN(uint32_t n_dims, reader.Read<uint32_t>(what));
    if (n_dims == 0 || n_dims > kMaxDims)
      return InvalidArgument("{} has {} dimensions (1 to {})", what, n_dims, kMaxDims);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      ASSIGN_OR_RETURN(uint64_t dim, reader.Read<uint64_t>(what));
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return InvalidArgument("{} has dimension {} of {}", what, d, static_cast<int64_t>(dim));
      }
      if (elements > std::numeric_limits<uint64_t>::max() / dim ||
          elements * dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return InvalidArgument("{}'s dimensions overflow", what);
      }
      elements *= dim;
      tensor.dims.push_back(static_cast<int64_t>(dim));
    }
    ASSIGN_OR_RETURN(uint32_t type, reader.Read<uint32_t>(what));
    std::optional<GgmlTypeTraits> traits = TraitsOf(type);
    if (!traits) return InvalidArgument("{} has tensor type {}, which berth does not read", what, type);
    tensor.type = static_cast<GgmlType>(type);
    if (tensor.dims[0] % static_cast<int64_t>(traits->block_size) != 0) {
      return InvalidArgument("{} of type {} has rows of {} elements, not a multiple of its block of {}", what,
                             traits->name, tensor.dims[0], traits->block_size);
    }
    const uint64_t blocks = elements / traits->block_size;
    if (blocks > std::numeric_limits<uint64_t>::max() / traits->type_size) {
      return InvalidArgument("{}'s size overflows", what);
    }
    tensor.bytes = blocks * traits->type_size;
    ASSIGN_OR_RETURN(tensor.offset, reader.Read<uint64_t>(what));
    if (tensor.offset % alignment_ != 0) {
      return InvalidArgument("{} starts at offset {}, not a multiple of the alignment {}", what, tensor.offset,
                             alignment_);
    }
    tensor_index_.emplace(tensor.name, tensors_.size());
    tensors_.push_back(std::move(tensor));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end = reader.position();
  data_offset_ = (end + alignment_ - 1) / alignment_ * alignment_;
  if (data_offset_ > bytes_.size() && !tensors_.empty()) {
    return InvalidArgument("the data section would start at byte {}, past the end of the {}-byte file", data_offset_,
                           bytes_.size());
  }
  const uint64_t data_size = bytes_.size() > data_offset_ ? bytes_.size() - data_offset_ : 0;
  std::vector<const GgufTensor*> by_offset;
  for (auto& tensor : tensors_) {
    if (tensor.offset > data_size || tensor.bytes > data_size - tensor.offset) {
      return InvalidArgument("tensor '{}' ({} bytes at offset {}) goes past the end of the data section ({} bytes)",
                             tensor.name, tensor.bytes, tensor.offset, data_size);
    }
    tensor.data = bytes_.data() + data_offset_ + tensor.offset;
    by_offset.push_back(&tensor);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensor& previous = *by_offset[i - 1];
    if (previous.offset + previous.bytes > by_offset[i]->offset) {
      return InvalidArgument("tensors '{}' and '{}' overlap", previous.name, by_offset[i]->name);
    }
  }
  return Status::Ok();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

core::Result<std::string_view> GgufFile::GetString(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (!value) return core::NotFound("{}: no metadata '{}'", name_, key);
  if (value->type != GgufValueType::kString) {
    return InvalidArgument("{}: metadata '{}' is a {}, not a string", name_, key, GgufValueTypeName(value->type));
  }
  return value->string;
}

core::Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (!value) return core::NotFound("{}: no metadata '{}'", name_, key);
  std::optional<int64_t> number = value->AsInt();
  if (!number) {
    return InvalidArgument("{}: metadata '{}' is a {}, not an integer that fits", name_, key,
                           GgufValueTypeName(value->type));
  }
  return *number;
}

core::Result<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* value = Find(key);
  if (!value) return core::NotFound("{}: no metadata '{}'", name_, key);
  if (value->type == GgufValueType::kFloat32 || value->type == GgufValueType::kFloat64) return value->float_value;
  if (std::optional<int64_t> number = value->AsInt()) return static_cast<double>(*number);
  return InvalidArgument("{}: metadata '{}' is a {}, not a number", name_, key, GgufValueTypeName(value->type));
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace berth::llm

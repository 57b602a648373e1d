#include "engine/onnx/tensor_proto.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <onnx/onnx_pb.h>  // defines ONNX_API, needed first
#include <onnx/onnx-data.pb.h>

#include "core/regular_file.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

std::string TensorLabel(const onnx::TensorProto& proto) {
  return proto.name().empty() ? std::string("tensor") : "tensor '" + proto.name() + "'";
}

// True if `path` has a ".." component.
bool HasParentReference(const std::filesystem::path& path) {
  for (const auto& part : path) {
    if (part == "..") return true;
  }
  return false;
}

Status ReadExternalData(const onnx::TensorProto& proto, const std::filesystem::path& model_dir, size_t needed,
                        void* destination) {
  const std::string label = TensorLabel(proto);
  if (model_dir.empty()) return core::InvalidArgument("{}: external data is not allowed here", label);
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    auto parse_int = [&](const std::string& text, int64_t* out) -> Status {
      errno = 0;
      char* end = nullptr;
      long long value = std::strtoll(text.c_str(), &end, 10);
      if (errno != 0 || end == text.c_str() || *end != '\0' || value < 0) {
        return core::InvalidArgument("{}: external data {} '{}' is not a non-negative integer", label, entry.key(),
                                     text);
      }
      *out = value;
      return Status::Ok();
    };
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset") {
      RETURN_IF_ERROR(parse_int(entry.value(), &offset));
    } else if (entry.key() == "length") {
      RETURN_IF_ERROR(parse_int(entry.value(), &length));
    }
  }
  if (location.empty()) return core::InvalidArgument("{}: external data has no location", label);
  if (location.find('\0') != std::string::npos) return core::InvalidArgument("{}: external data location has a NUL byte", label);
  std::filesystem::path relative(location);
  if (relative.is_absolute()) {
    return core::InvalidArgument("{}: external data location '{}' is absolute; it must be relative to the model's folder",
                                 label, location);
  }
  if (HasParentReference(relative)) {
    return core::InvalidArgument("{}: external data location '{}' contains '..'", label, location);
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::canonical(model_dir, ec);
  if (ec) return core::InvalidArgument("{}: cannot resolve model folder '{}'", label, model_dir.string());
  std::filesystem::path resolved = std::filesystem::canonical(dir / relative, ec);
  if (ec) return core::NotFound("{}: external data file '{}' not found", label, location);
  auto [dir_end, resolved_it] = std::mismatch(dir.begin(), dir.end(), resolved.begin(), resolved.end());
  if (dir_end != dir.end()) {
    return core::InvalidArgument("{}: external data location '{}' resolves outside the model's folder (to '{}')", label,
                                 location, resolved.string());
  }
  // The resolved path has no links left; a link swapped in since, a second
  // hard link (a name for a file outside the folder) or a FIFO is refused.
  auto file = core::OpenRegularFile(resolved, "external data", {.refuse_links = true, .refuse_hard_links = true});
  if (!file.ok()) return file.status().WithContext(label);
  const int fd = file->get();
  off_t file_size = ::lseek(fd, 0, SEEK_END);
  if (file_size < 0) return core::InvalidArgument("{}: external data '{}' is not seekable", label, location);
  if (length >= 0 && static_cast<uint64_t>(length) != needed) {
    return core::InvalidArgument("{}: external data length {} does not match dims x dtype size {}", label, length,
                                 needed);
  }
  if (offset > file_size || static_cast<uint64_t>(file_size - offset) < needed) {
    return core::OutOfRange("{}: external data offset {} + length {} is beyond the end of '{}' ({} bytes)", label, offset,
                            needed, location, static_cast<int64_t>(file_size));
  }
  size_t done = 0;
  auto* out = static_cast<char*>(destination);
  while (done < needed) {
    ssize_t n = ::pread(fd, out + done, needed - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return core::InvalidArgument("{}: reading external data '{}' failed", label, location);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

template <typename Field>
Status CheckFieldCount(const Field& field, int64_t expected, const onnx::TensorProto& proto, const char* field_name) {
  if (static_cast<int64_t>(field.size()) != expected) {
    return core::InvalidArgument("{}: {} has {} values, dims {} need {}", TensorLabel(proto), field_name, field.size(),
                                 core::ShapeToString(std::vector<int64_t>(proto.dims().begin(), proto.dims().end())),
                                 expected);
  }
  return Status::Ok();
}

// raw_data of at least this size is taken over by the tensor (no copy).
constexpr size_t kAdoptRawDataBytes = size_t{1} << 16;

// `adoptable`: the same proto, mutable, whose raw_data the tensor may take.
Result<Tensor> ConvertTensorProto(const onnx::TensorProto& proto, const std::filesystem::path& model_dir,
                                  onnx::TensorProto* adoptable) {
  const std::string label = TensorLabel(proto);
  if (proto.has_segment()) return core::Unimplemented("{}: segmented tensors are not supported", label);
  auto dtype_opt = core::DataTypeFromOnnx(proto.data_type());
  if (!dtype_opt) return core::InvalidArgument("{}: unknown data type {}", label, proto.data_type());
  DataType dtype = *dtype_opt;
  if (dtype == DataType::kComplex64 || dtype == DataType::kComplex128) {
    return core::Unimplemented("{}: {} tensors are not supported", label, core::DataTypeName(dtype));
  }
  core::TensorShape shape(proto.dims().begin(), proto.dims().end());
  if (shape.size() > 64) return core::InvalidArgument("{}: rank {} is too large", label, shape.size());
  size_t element_size = dtype == DataType::kString ? sizeof(std::string) : core::DataTypeSize(dtype);
  auto count_or = core::CheckedElementCount(shape, element_size);
  if (!count_or.ok()) return count_or.status().WithContext(label);
  int64_t count = *count_or;

  bool external = proto.data_location() == onnx::TensorProto_DataLocation_EXTERNAL;
  if (dtype == DataType::kString) {
    if (external) return core::Unimplemented("{}: external string data is not supported", label);
    RETURN_IF_ERROR(CheckFieldCount(proto.string_data(), count, proto, "string_data"));
    ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(dtype, shape));
    for (int64_t i = 0; i < count; ++i) tensor.data<std::string>()[i] = proto.string_data(static_cast<int>(i));
    return tensor;
  }
  size_t needed = static_cast<size_t>(count) * element_size;
  if (!external && proto.has_raw_data() && proto.raw_data().size() != needed) {
    return core::InvalidArgument("{}: raw_data is {} bytes, but {} {} needs {}", label, proto.raw_data().size(),
                                 core::DataTypeName(dtype), core::ShapeToString(shape), needed);
  }
  if (!external && proto.has_raw_data() && adoptable && needed >= kAdoptRawDataBytes) {
    // Large weights: the tensor takes the parsed bytes over instead of
    // copying them (a copy touches as many fresh pages again, the largest
    // part of loading a big model). Their address is only 16-byte aligned;
    // every reader of a tensor takes unaligned data.
    auto bytes = std::make_shared<std::string>(std::move(*adoptable->mutable_raw_data()));
    void* data = bytes->data();
    return Tensor::Wrap(dtype, std::move(shape), data, std::move(bytes));
  }
  ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(dtype, shape));
  if (external) {
    RETURN_IF_ERROR(ReadExternalData(proto, model_dir, needed, tensor.raw_data()));
    return tensor;
  }
  if (proto.has_raw_data()) {
    if (needed) std::memcpy(tensor.raw_data(), proto.raw_data().data(), needed);
    return tensor;
  }
  switch (dtype) {
    case DataType::kFloat32:
      RETURN_IF_ERROR(CheckFieldCount(proto.float_data(), count, proto, "float_data"));
      if (count) std::memcpy(tensor.raw_data(), proto.float_data().data(), needed);
      break;
    case DataType::kFloat64:
      RETURN_IF_ERROR(CheckFieldCount(proto.double_data(), count, proto, "double_data"));
      if (count) std::memcpy(tensor.raw_data(), proto.double_data().data(), needed);
      break;
    case DataType::kInt64:
      RETURN_IF_ERROR(CheckFieldCount(proto.int64_data(), count, proto, "int64_data"));
      if (count) std::memcpy(tensor.raw_data(), proto.int64_data().data(), needed);
      break;
    case DataType::kUInt32:
    case DataType::kUInt64:
      RETURN_IF_ERROR(CheckFieldCount(proto.uint64_data(), count, proto, "uint64_data"));
      for (int64_t i = 0; i < count; ++i) {
        uint64_t v = proto.uint64_data(static_cast<int>(i));
        if (dtype == DataType::kUInt32) {
          tensor.data<uint32_t>()[i] = static_cast<uint32_t>(v);
        } else {
          tensor.data<uint64_t>()[i] = v;
        }
      }
      break;
    default: {
      // int32_data carries int32 and every narrower type (as values or bits).
      RETURN_IF_ERROR(CheckFieldCount(proto.int32_data(), count, proto, "int32_data"));
      for (int64_t i = 0; i < count; ++i) {
        int32_t v = proto.int32_data(static_cast<int>(i));
        switch (dtype) {
          case DataType::kInt32: tensor.data<int32_t>()[i] = v; break;
          case DataType::kInt16: tensor.data<int16_t>()[i] = static_cast<int16_t>(v); break;
          case DataType::kInt8: tensor.data<int8_t>()[i] = static_cast<int8_t>(v); break;
          case DataType::kUInt16: tensor.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
          case DataType::kUInt8: tensor.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
          case DataType::kBool: tensor.data<bool>()[i] = v != 0; break;
          case DataType::kFloat16: tensor.data<core::Float16>()[i].bits = static_cast<uint16_t>(v); break;
          case DataType::kBFloat16: tensor.data<core::BFloat16>()[i].bits = static_cast<uint16_t>(v); break;
          default: return core::Unimplemented("{}: data type {} is not supported", label, core::DataTypeName(dtype));
        }
      }
    }
  }
  return tensor;
}

}  // namespace

Result<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::filesystem::path& model_dir) {
  return ConvertTensorProto(proto, model_dir, nullptr);
}

Result<Tensor> TensorFromProto(onnx::TensorProto&& proto, const std::filesystem::path& model_dir) {
  return ConvertTensorProto(proto, model_dir, &proto);
}

Result<Tensor> ParseTensorProto(std::string_view bytes) {
  onnx::TensorProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return core::InvalidArgument("not a valid serialized TensorProto");
  }
  return TensorFromProto(proto, {});
}

namespace {
Result<core::TensorSequence> SequenceFromProto(const onnx::SequenceProto& proto) {
  core::TensorSequence sequence;
  if (proto.elem_type() != onnx::SequenceProto_DataType_TENSOR && proto.tensor_values_size() == 0 &&
      proto.elem_type() != onnx::SequenceProto_DataType_UNDEFINED) {
    return core::Unimplemented("sequences of non-tensors are not supported");
  }
  for (const auto& tensor_proto : proto.tensor_values()) {
    ASSIGN_OR_RETURN(Tensor tensor, TensorFromProto(tensor_proto, {}));
    sequence.element_type = tensor.dtype();
    sequence.tensors.push_back(std::move(tensor));
  }
  return sequence;
}
}  // namespace

Result<core::TensorSequence> ParseSequenceProto(std::string_view bytes) {
  onnx::SequenceProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return core::InvalidArgument("not a valid serialized SequenceProto");
  }
  return SequenceFromProto(proto);
}

Result<core::Value> ParseOptionalProto(std::string_view bytes) {
  onnx::OptionalProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return core::InvalidArgument("not a valid serialized OptionalProto");
  }
  if (proto.has_tensor_value()) {
    ASSIGN_OR_RETURN(Tensor tensor, TensorFromProto(proto.tensor_value(), {}));
    return core::Value(std::move(tensor));
  }
  if (proto.has_sequence_value()) {
    ASSIGN_OR_RETURN(core::TensorSequence sequence, SequenceFromProto(proto.sequence_value()));
    return core::Value(std::move(sequence));
  }
  return core::Value();
}

}  // namespace berth::engine

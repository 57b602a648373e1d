#include "core/npy_file.h"

#include <fstream>
#include <sstream>

#include "core/regular_file.h"

namespace berth::core {
namespace {

struct NpyType {
  std::string_view descr;
  DataType dtype;
};

constexpr NpyType kNpyTypes[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<f2", DataType::kFloat16}, {"|i1", DataType::kInt8},
    {"<i2", DataType::kInt16},   {"<i4", DataType::kInt32},   {"<i8", DataType::kInt64},   {"|u1", DataType::kUInt8},
    {"<u2", DataType::kUInt16},  {"<u4", DataType::kUInt32},  {"<u8", DataType::kUInt64},  {"|b1", DataType::kBool},
    {"<i1", DataType::kInt8},    {"<u1", DataType::kUInt8},   {"<b1", DataType::kBool},
};

// Finds the value text after 'key': in the header dict.
Result<std::string_view> DictValue(std::string_view header, std::string_view key, std::string_view what) {
  std::string quoted = "'" + std::string(key) + "'";
  size_t pos = header.find(quoted);
  if (pos == std::string_view::npos) return InvalidArgument("{}: header has no '{}'", what, key);
  pos = header.find(':', pos + quoted.size());
  if (pos == std::string_view::npos) return InvalidArgument("{}: malformed header", what);
  ++pos;
  while (pos < header.size() && header[pos] == ' ') ++pos;
  return header.substr(pos);
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

Result<Tensor> ParseNpy(std::string_view bytes, std::string_view what) {
  if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY") {
    return InvalidArgument("{}: not a .npy file (bad magic)", what);
  }
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len;
  size_t header_start;
  if (major == 1) {
    header_len =
        static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return InvalidArgument("{}: truncated header", what);
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    header_start = 12;
  } else {
    return InvalidArgument("{}: unsupported .npy version {}", what, major);
  }
  if (header_len > bytes.size() - header_start) return InvalidArgument("{}: truncated header", what);
  std::string_view header = bytes.substr(header_start, header_len);
  std::string_view payload = bytes.substr(header_start + header_len);

  ASSIGN_OR_RETURN(std::string_view descr_text, DictValue(header, "descr", what));
  if (descr_text.empty() || descr_text[0] != '\'') return InvalidArgument("{}: descr is not a simple type", what);
  size_t descr_end = descr_text.find('\'', 1);
  if (descr_end == std::string_view::npos) return InvalidArgument("{}: malformed descr", what);
  std::string descr(descr_text.substr(1, descr_end - 1));

  ASSIGN_OR_RETURN(std::string_view fortran_text, DictValue(header, "fortran_order", what));
  if (fortran_text.substr(0, 4) == "True") return InvalidArgument("{}: Fortran-order arrays are not supported", what);

  ASSIGN_OR_RETURN(std::string_view shape_text, DictValue(header, "shape", what));
  if (shape_text.empty() || shape_text[0] != '(') return InvalidArgument("{}: malformed shape", what);
  size_t shape_end = shape_text.find(')');
  if (shape_end == std::string_view::npos) return InvalidArgument("{}: malformed shape", what);
  TensorShape shape;
  std::string_view dims_text = shape_text.substr(1, shape_end - 1);
  size_t i = 0;
  while (i < dims_text.size()) {
    while (i < dims_text.size() && (dims_text[i] == ' ' || dims_text[i] == ',')) ++i;
    if (i >= dims_text.size()) break;
    int64_t dim = 0;
    size_t start = i;
    while (i < dims_text.size() && dims_text[i] >= '0' && dims_text[i] <= '9') {
      if (dim > (int64_t{1} << 50)) return InvalidArgument("{}: dimension too large", what);
      dim = dim * 10 + (dims_text[i] - '0');
      ++i;
    }
    if (i == start) return InvalidArgument("{}: malformed shape '{}'", what, dims_text);
    shape.push_back(dim);
    if (shape.size() > 64) return InvalidArgument("{}: more than 64 dimensions", what);
  }

  if (descr.size() >= 3 && (descr[1] == 'S' || descr[1] == 'U')) {
    int64_t width = 0;
    for (size_t k = 2; k < descr.size(); ++k) {
      if (descr[k] < '0' || descr[k] > '9' || width > (1 << 24))
        return InvalidArgument("{}: bad descr '{}'", what, descr);
      width = width * 10 + (descr[k] - '0');
    }
    bool unicode = descr[1] == 'U';
    int64_t item_bytes = unicode ? width * 4 : width;
    ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape, static_cast<size_t>(std::max<int64_t>(item_bytes, 1))));
    if (static_cast<int64_t>(payload.size()) < count * item_bytes) {
      return InvalidArgument("{}: data is {} bytes, shape {} needs {}", what, payload.size(), ShapeToString(shape),
                             count * item_bytes);
    }
    ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(DataType::kString, shape));
    auto* out = tensor.data<std::string>();
    for (int64_t e = 0; e < count; ++e) {
      const char* item = payload.data() + e * item_bytes;
      std::string text;
      if (unicode) {
        for (int64_t c = 0; c < width; ++c) {
          uint32_t cp = 0;
          std::memcpy(&cp, item + c * 4, 4);
          if (cp == 0) break;
          AppendUtf8(text, cp);
        }
      } else {
        size_t len = 0;
        while (len < static_cast<size_t>(width) && item[len] != '\0') ++len;
        text.assign(item, len);
      }
      out[e] = std::move(text);
    }
    return tensor;
  }

  DataType dtype = DataType::kUndefined;
  for (const auto& entry : kNpyTypes) {
    if (entry.descr == descr) dtype = entry.dtype;
  }
  if (dtype == DataType::kUndefined) return InvalidArgument("{}: unsupported dtype '{}'", what, descr);
  size_t element_size = DataTypeSize(dtype);
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape, element_size));
  size_t needed = static_cast<size_t>(count) * element_size;
  if (payload.size() < needed) {
    return InvalidArgument("{}: data is {} bytes, {} {} needs {}", what, payload.size(), DataTypeName(dtype),
                           ShapeToString(shape), needed);
  }
  ASSIGN_OR_RETURN(Tensor tensor, Tensor::Create(dtype, shape));
  if (needed) std::memcpy(tensor.raw_data(), payload.data(), needed);
  return tensor;
}

Result<Tensor> ReadNpyFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadRegularFile(path, ".npy file", size_t{1} << 40));
  return ParseNpy(bytes, path);
}

Result<std::string> SerializeNpy(const Tensor& tensor) {
  std::string descr;
  std::string payload;
  if (tensor.dtype() == DataType::kString) {
    size_t width = 1;
    for (const auto& s : tensor.values<std::string>()) width = std::max(width, s.size());
    descr = "|S" + std::to_string(width);
    payload.assign(static_cast<size_t>(tensor.element_count()) * width, '\0');
    for (int64_t e = 0; e < tensor.element_count(); ++e) {
      const std::string& s = tensor.data<std::string>()[e];
      std::memcpy(payload.data() + e * width, s.data(), s.size());
    }
  } else if (tensor.dtype() == DataType::kBFloat16) {
    descr = "<f4";
    payload.resize(static_cast<size_t>(tensor.element_count()) * 4);
    auto* out = reinterpret_cast<float*>(payload.data());
    for (int64_t e = 0; e < tensor.element_count(); ++e) out[e] = tensor.data<BFloat16>()[e];
  } else {
    for (const auto& entry : kNpyTypes) {
      if (entry.dtype == tensor.dtype()) {
        descr = std::string(entry.descr);
        break;
      }
    }
    if (descr.empty()) return Unimplemented("cannot write {} tensors as .npy", DataTypeName(tensor.dtype()));
    payload.assign(static_cast<const char*>(tensor.raw_data()), tensor.byte_size());
  }
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i) {
    shape += std::to_string(tensor.shape()[i]);
    shape += tensor.shape().size() == 1 ? "," : (i + 1 < tensor.shape().size() ? ", " : "");
  }
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out += payload;
  return out;
}

Status WriteNpyFile(const std::string& path, const Tensor& tensor) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeNpy(tensor));
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return NotFound("cannot write '{}'", path);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file) return Internal("write to '{}' failed", path);
  return Status::Ok();
}

}  // namespace berth::core

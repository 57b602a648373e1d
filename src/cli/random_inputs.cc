#include "cli/random_inputs.h"

#include <random>

namespace berth::cli {

core::Result<core::Tensor> RandomTensor(const engine::ValueInfo& input, int64_t batch,
                                        const std::map<std::string, core::TensorShape>& shape_overrides,
                                        uint64_t seed) {
  const engine::ValueType& type = input.type;
  if (!type.is_tensor()) return core::Unimplemented("input '{}' is not a tensor; give it with --input", input.name);
  core::TensorShape shape;
  auto it = shape_overrides.find(input.name);
  if (it != shape_overrides.end()) {
    shape = it->second;
  } else if (type.has_shape) {
    for (size_t d = 0; d < type.dims.size(); ++d) {
      shape.push_back(type.dims[d].known() ? type.dims[d].value : (d == 0 ? batch : 1));
    }
  } else {
    return core::InvalidArgument("input '{}' has no declared shape; give it with --shape or --input", input.name);
  }
  ASSIGN_OR_RETURN(core::Tensor tensor, core::Tensor::Create(type.dtype, shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> ints(0, 999);
  int64_t n = tensor.element_count();
  bool ok = core::VisitAnyType(type.dtype, [&]<typename T>() -> bool {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else {
      T* data = tensor.data<T>();
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, std::string>) {
          data[i] = "berth";
        } else if constexpr (std::is_same_v<T, bool>) {
          data[i] = (rng() & 1) != 0;
        } else if constexpr (std::is_integral_v<T>) {
          data[i] = static_cast<T>(ints(rng) % (std::is_same_v<T, int8_t> ? 128 : 1000));
        } else {
          data[i] = static_cast<T>(static_cast<float>(unit(rng)));
        }
      }
      return true;
    }
  });
  if (!ok) return core::Unimplemented("cannot make random {} input '{}'", core::DataTypeName(type.dtype), input.name);
  return tensor;
}

core::Result<std::pair<std::string, core::TensorShape>> ParseShapeOverride(const std::string& text) {
  size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0) return core::InvalidArgument("--shape '{}' is not NAME=D0,D1,...", text);
  core::TensorShape shape;
  std::string dims = text.substr(eq + 1);
  size_t pos = 0;
  while (pos <= dims.size() && !dims.empty()) {
    size_t comma = dims.find(',', pos);
    std::string part = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    long long value = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || value < 0) return core::InvalidArgument("--shape '{}': bad dim '{}'", text, part);
    shape.push_back(value);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return std::make_pair(text.substr(0, eq), shape);
}

std::string SafeFileName(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) c = '_';
  }
  return out;
}

}  // namespace berth::cli

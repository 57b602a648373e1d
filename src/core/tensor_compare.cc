#include "core/tensor_compare.h"

#include <cmath>

namespace berth::core {

Status CompareTensors(const Tensor& expected, const Tensor& actual, Tolerance tolerance) {
  if (expected.dtype() != actual.dtype()) {
    return InvalidArgument("dtype differs: expected {}, got {}", DataTypeName(expected.dtype()),
                           DataTypeName(actual.dtype()));
  }
  if (expected.shape() != actual.shape()) {
    return InvalidArgument("shape differs: expected {}, got {}", ShapeToString(expected.shape()),
                           ShapeToString(actual.shape()));
  }
  int64_t n = expected.element_count();
  int64_t mismatches = 0;
  int64_t first = -1;
  std::string first_text;
  auto record = [&](int64_t i, const std::string& e, const std::string& a) {
    if (mismatches++ == 0) {
      first = i;
      first_text = "expected " + e + ", got " + a;
    }
  };
  if (expected.dtype() == DataType::kString) {
    for (int64_t i = 0; i < n; ++i) {
      if (expected.data<std::string>()[i] != actual.data<std::string>()[i]) {
        record(i, "'" + expected.data<std::string>()[i] + "'", "'" + actual.data<std::string>()[i] + "'");
      }
    }
  } else if (IsFloatingPoint(expected.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      double e = expected.NumberAt(i);
      double a = actual.NumberAt(i);
      bool ok;
      if (std::isnan(e) || std::isnan(a)) {
        ok = std::isnan(e) && std::isnan(a);
      } else if (std::isinf(e) || std::isinf(a)) {
        ok = e == a;
      } else {
        ok = std::fabs(a - e) <= tolerance.atol + tolerance.rtol * std::fabs(e);
      }
      if (!ok) record(i, fmt::format("{:.9g}", e), fmt::format("{:.9g}", a));
    }
  } else {
    size_t size = expected.element_size();
    const auto* e = static_cast<const unsigned char*>(expected.raw_data());
    const auto* a = static_cast<const unsigned char*>(actual.raw_data());
    for (int64_t i = 0; i < n; ++i) {
      bool same = expected.dtype() == DataType::kBool ? ((e[i] != 0) == (a[i] != 0))
                                                      : std::memcmp(e + i * size, a + i * size, size) == 0;
      if (!same) {
        if (IsUnsignedInteger(expected.dtype())) {
          record(i, std::to_string(static_cast<uint64_t>(expected.NumberAt(i))),
                 std::to_string(static_cast<uint64_t>(actual.NumberAt(i))));
        } else {
          record(i, std::to_string(expected.IntegerAt(i)), std::to_string(actual.IntegerAt(i)));
        }
      }
    }
  }
  if (mismatches == 0) return Status::Ok();
  return InvalidArgument("{} of {} elements differ; first at index {}: {}", mismatches, n, first, first_text);
}

Status CompareValues(const Value& expected, const Value& actual, Tolerance tolerance) {
  if (expected.kind() != actual.kind()) {
    auto name = [](Value::Kind k) {
      return k == Value::Kind::kTensor ? "tensor" : k == Value::Kind::kSequence ? "sequence" : "none";
    };
    return InvalidArgument("expected a {}, got a {}", name(expected.kind()), name(actual.kind()));
  }
  if (expected.is_tensor()) return CompareTensors(expected.tensor(), actual.tensor(), tolerance);
  if (expected.is_sequence()) {
    const auto& e = expected.sequence().tensors;
    const auto& a = actual.sequence().tensors;
    if (e.size() != a.size()) return InvalidArgument("sequence length differs: expected {}, got {}", e.size(), a.size());
    for (size_t i = 0; i < e.size(); ++i) {
      Status status = CompareTensors(e[i], a[i], tolerance);
      if (!status.ok()) return status.WithContext(fmt::format("sequence element {}", i));
    }
  }
  return Status::Ok();
}

}  // namespace berth::core

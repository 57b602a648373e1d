// Type conversion: Cast, CastLike; linear quantization: QuantizeLinear,
// DequantizeLinear, DynamicQuantizeLinear.
//
// Cast rules (ONNX, numpy): float -> integer truncates toward zero (NaN gives
// 0 and out-of-range values saturate, where the spec leaves it undefined);
// narrowing float conversions round to nearest even, directly from the source
// type (double -> float16 rounds once, not via float); integer -> integer
// wraps; x -> bool is x != 0. Strings: numbers print as numpy prints them
// (shortest digits that read back to the same value; "NaN", "INF", "-INF")
// and parse back with the same spellings; bools print "True" / "False".
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <mutex>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/elementwise/elementwise.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// ---------------------------------------------------------------------------
// Numbers to and from half types without double rounding.

// Rounds `value` to the nearest (ties to even) number with `kMantissaBits`
// explicit mantissa bits and minimum normal exponent `kMinExponent` (below
// it, subnormal spacing). The result is exact in that format and in float.
template <int kMantissaBits, int kMinExponent>
double RoundToNarrowFormat(double value) {
  if (!(value == value) || value == 0 || std::isinf(value)) return value;
  int exponent = 0;
  std::frexp(value, &exponent);  // |value| = f * 2^exponent, f in [0.5, 1)
  const int quantum = std::max(exponent - 1, kMinExponent) - kMantissaBits;
  return std::ldexp(std::nearbyint(std::ldexp(value, -quantum)), quantum);
}

inline core::Float16 DoubleToFloat16(double value) {
  const double rounded = RoundToNarrowFormat<10, -14>(value);
  if (std::fabs(rounded) > 65504.0) return core::Float16(std::copysign(INFINITY, value));
  return core::Float16(static_cast<float>(rounded));
}

inline core::BFloat16 DoubleToBFloat16(double value) {
  const double rounded = RoundToNarrowFormat<7, -126>(value);
  if (std::fabs(rounded) > 3.3895313892515355e38) return core::BFloat16(std::copysign(INFINITY, value));
  return core::BFloat16(static_cast<float>(rounded));
}

// One element of a numeric (or bool) cast.
template <typename To, typename From>
inline To ConvertNumber(From value) {
  if constexpr (std::is_same_v<To, From>) {
    return value;
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (kIsHalf<From>)
      return static_cast<float>(value) != 0.0f;  // NaN counts as true
    else
      return value != From(0);
  } else if constexpr (kIsHalf<To>) {
    if constexpr (std::is_same_v<From, float> || kIsHalf<From> || std::is_same_v<From, bool>) {
      return To(static_cast<float>(value));
    } else if constexpr (std::is_same_v<To, core::Float16>) {
      return DoubleToFloat16(static_cast<double>(value));
    } else {
      return DoubleToBFloat16(static_cast<double>(value));
    }
  } else if constexpr (kIsHalf<From>) {
    return ConvertNumber<To>(static_cast<float>(value));
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    return SaturatingCast<To>(value);
  } else {
    return static_cast<To>(value);
  }
}

// ---------------------------------------------------------------------------
// Strings.

// numpy's str(): positional for 1e-4 <= |x| < 1e16 (with ".0" on whole
// numbers), scientific otherwise, with the fewest digits that read back to
// the same value of T.
template <typename T>
std::string FormatFloat(T value) {
  const double x = static_cast<double>(LoadValue(value));  // exact for every float type
  if (x != x) return "NaN";
  if (std::isinf(x)) return x > 0 ? "INF" : "-INF";
  char buffer[64];
  std::to_chars_result written;
  if constexpr (kIsHalf<T>) {
    // Shortest precision that round-trips through T.
    for (int precision = 0; precision < 9; ++precision) {
      written = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<float>(x), std::chars_format::scientific,
                              precision);
      float back = 0;
      std::from_chars(buffer, written.ptr, back);
      if (T(back).bits == value.bits) break;
    }
  } else {
    written = std::to_chars(buffer, buffer + sizeof(buffer), static_cast<T>(x), std::chars_format::scientific);
  }
  std::string scientific(buffer, written.ptr);
  const double magnitude = std::fabs(x);
  if (magnitude != 0 && (magnitude < 1e-4 || magnitude >= 1e16)) return scientific;
  // "-d.ddde+XX" -> sign, digits, exponent; then place the point.
  const size_t e = scientific.find('e');
  std::string mantissa = scientific.substr(0, e);
  const int exponent = std::atoi(scientific.c_str() + e + 1);
  const bool negative = mantissa[0] == '-';
  std::string digits;
  for (char c : mantissa) {
    if (c >= '0' && c <= '9') digits += c;
  }
  std::string out = negative ? "-" : "";
  const int count = static_cast<int>(digits.size());
  if (magnitude == 0) {
    out += "0.0";
  } else if (exponent >= count - 1) {
    out += digits + std::string(exponent - (count - 1), '0') + ".0";
  } else if (exponent >= 0) {
    out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
  } else {
    out += "0." + std::string(-exponent - 1, '0') + digits;
  }
  return out;
}

template <typename T>
std::string FormatNumber(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "True" : "False";
  } else if constexpr (std::is_integral_v<T>) {
    char buffer[32];
    auto written = std::to_chars(buffer, buffer + sizeof(buffer), value);
    return std::string(buffer, written.ptr);
  } else {
    return FormatFloat(value);
  }
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Parses a whole string as F (a float type); accepts a leading '+', and
// "nan" / "inf" / "infinity" in any case.
template <typename F>
bool ParseFloat(std::string_view text, F* out) {
  text = Trim(text);
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  // Out-of-range magnitudes parse to +-inf or 0, as strtod gives them.
  if (error == std::errc::result_out_of_range) {
    double value = 0;
    if (std::sscanf(std::string(text).c_str(), "%lf", &value) != 1) return false;
    *out = static_cast<F>(value);
    return true;
  }
  return error == std::errc() && end == text.data() + text.size();
}

template <typename To>
bool ParseNumber(const std::string& input, To* out) {
  std::string_view text = Trim(input);
  if constexpr (std::is_same_v<To, bool>) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "true" || lower == "false") {
      *out = lower == "true";
      return true;
    }
    double value = 0;
    if (!ParseFloat(text, &value)) return false;
    *out = value != 0;
    return true;
  } else if constexpr (std::is_integral_v<To>) {
    if (text.size() > 1 && text[0] == '+' && text[1] != '-') text.remove_prefix(1);
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
    if (error == std::errc() && end == text.data() + text.size()) return true;
    // "2.0", "1e3": read as a number and truncate like a float cast.
    double value = 0;
    if (!ParseFloat(text, &value)) return false;
    *out = SaturatingCast<To>(value);
    return true;
  } else if constexpr (std::is_same_v<To, float> || std::is_same_v<To, double>) {
    return ParseFloat(text, out);
  } else {
    double value = 0;
    if (!ParseFloat(text, &value)) return false;
    *out = ConvertNumber<To>(value);
    return true;
  }
}

// ---------------------------------------------------------------------------
// Cast.

// Converts every element of `input` into `output` (same element count).
Status CastTensor(const Tensor& input, Tensor& output) {
  const int64_t count = input.element_count();
  Status status;
  bool supported = VisitTypes<kAllTypes>(input.dtype(), [&]<typename From>() {
    const From* in = input.data<From>();
    bool to_supported = VisitTypes<kAllTypes>(output.dtype(), [&]<typename To>() {
      To* out = output.data<To>();
      if constexpr (std::is_same_v<From, To>) {
        core::CopyElements(input.dtype(), in, out, count);
      } else if constexpr (std::is_same_v<To, std::string>) {
        core::ParallelFor(count, 1024, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) out[i] = FormatNumber(in[i]);
        });
      } else if constexpr (std::is_same_v<From, std::string>) {
        // Sequential: the first unparsable element is reported.
        for (int64_t i = 0; i < count; ++i) {
          if (!ParseNumber(in[i], &out[i])) {
            status = core::InvalidArgument("element {} ('{}') is not a {} number", i, in[i].substr(0, 64),
                                           core::DataTypeName(output.dtype()));
            return;
          }
        }
      } else {
        core::ParallelFor(count, kElementGrain, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) out[i] = ConvertNumber<To>(in[i]);
        });
      }
    });
    if (!to_supported) status = UnsupportedType(output.dtype(), "target");
  });
  if (!supported) return UnsupportedType(input.dtype());
  return status;
}

class CastKernel final : public Kernel {
 public:
  // `to` is kUndefined for CastLike (the type of input 1).
  explicit CastKernel(DataType to) : to_(to) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    DataType to = to_;
    if (to == DataType::kUndefined) {
      ASSIGN_OR_RETURN(const Tensor* like, RequireTensor(context, 1, "target_type"));
      to = like->dtype();
    }
    if (to == input->dtype()) {
      context.SetOutput(0, *input);  // tensors are immutable once produced: share, not copy
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, to, input->shape()));
    return CastTensor(*input, *out);
  }

 private:
  DataType to_;
};

// Cast's `to`: a TensorProto.DataType number, or (opset 1) its name.
Result<DataType> CastTarget(const Node& node) {
  const Attribute* attr = node.FindAttribute("to");
  if (!attr) return core::InvalidArgument("attribute 'to' is missing");
  if (attr->type == Attribute::Type::kString) {
    static const std::pair<std::string_view, DataType> kNames[] = {
        {"FLOAT", DataType::kFloat32},   {"UINT8", DataType::kUInt8},      {"INT8", DataType::kInt8},
        {"UINT16", DataType::kUInt16},   {"INT16", DataType::kInt16},      {"INT32", DataType::kInt32},
        {"INT64", DataType::kInt64},     {"STRING", DataType::kString},    {"BOOL", DataType::kBool},
        {"FLOAT16", DataType::kFloat16}, {"DOUBLE", DataType::kFloat64},   {"UINT32", DataType::kUInt32},
        {"UINT64", DataType::kUInt64},   {"BFLOAT16", DataType::kBFloat16}};
    for (const auto& [name, type] : kNames) {
      if (attr->s == name) return type;
    }
    return core::Unimplemented("cast to type '{}' is not supported", attr->s);
  }
  std::optional<DataType> type = core::DataTypeFromOnnx(static_cast<int32_t>(attr->i));
  if (!type || *type == DataType::kUndefined || *type == DataType::kComplex64 || *type == DataType::kComplex128) {
    return core::Unimplemented("cast to ONNX type {} is not supported", attr->i);
  }
  return *type;
}

Status InferCast(InferenceContext& context) {
  ASSIGN_OR_RETURN(DataType to, CastTarget(context.node()));
  return InferSameShape(context, to);
}

Status InferCastLike(InferenceContext& context) { return InferSameShape(context, InputDtype(context, 1)); }

// ---------------------------------------------------------------------------
// Quantization parameters: one scale (and zero point) for the whole tensor,
// one per index along `axis`, or (opset 21, block_size > 0) one per block of
// block_size indices along `axis`, the scale then having x's rank.

struct QuantizationLayout {
  int64_t inner = 1;     // elements after `axis`
  int64_t channels = 1;  // x's extent along `axis`
  int64_t block = 0;     // block size; 0 = per tensor / per axis
  int64_t scale_channels = 1;
  bool per_tensor = true;

  // Index of the scale for element `i` of x.
  int64_t ScaleIndex(int64_t i) const {
    if (per_tensor) return 0;
    const int64_t row = i / inner;
    const int64_t channel = row % channels;
    if (block == 0) return channel;
    const int64_t outer = row / channels;
    return (outer * scale_channels + channel / block) * inner + i % inner;
  }
};

// Calls run(first, stop, s) in parallel for runs [first, stop) of x's `count`
// elements that share scale (and zero point) s, so the parameters are read
// once a run: a row of `inner` elements per axis, the whole tensor per
// tensor. With blocks the scale varies along a row and runs are one element.
template <typename Run>
void ForEachScaleRun(const QuantizationLayout& layout, int64_t count, Run&& run) {
  const int64_t run_length = layout.per_tensor ? count : layout.inner;
  core::ParallelFor(count, kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end;) {
      const int64_t stop = std::min(end, (i / run_length + 1) * run_length);
      if (layout.block != 0) {
        for (; i < stop; ++i) run(i, i + 1, layout.ScaleIndex(i));
      } else {
        run(i, stop, layout.ScaleIndex(i));
        i = stop;
      }
    }
  });
}

Result<QuantizationLayout> ResolveQuantization(const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                                               int64_t axis, int64_t block_size) {
  // A scalar and a one-element vector are interchangeable for per-tensor parameters.
  const bool both_single = zero_point && zero_point->element_count() == 1 && scale.element_count() == 1 &&
                           zero_point->rank() <= 1 && scale.rank() <= 1;
  if (zero_point && !both_single && zero_point->shape() != scale.shape()) {
    return core::InvalidArgument("zero point shape {} differs from scale shape {}",
                                 core::ShapeToString(zero_point->shape()), core::ShapeToString(scale.shape()));
  }
  QuantizationLayout layout;
  if (block_size < 0) return core::InvalidArgument("block_size must not be negative, got {}", block_size);
  if (block_size == 0 && scale.element_count() == 1 && scale.rank() <= 1) return layout;
  ASSIGN_OR_RETURN(int64_t a, core::NormalizeAxis(axis, x.rank()));
  layout.per_tensor = false;
  layout.channels = x.dim(a);
  for (int64_t d = a + 1; d < x.rank(); ++d) layout.inner *= x.dim(d);
  if (block_size == 0) {
    if (scale.rank() != 1 || scale.dim(0) != layout.channels) {
      return core::InvalidArgument("per-axis scale must have shape [{}] (x {} along axis {}), got {}", layout.channels,
                                   core::ShapeToString(x.shape()), a, core::ShapeToString(scale.shape()));
    }
    return layout;
  }
  layout.block = block_size;
  layout.scale_channels = (layout.channels + block_size - 1) / block_size;
  core::TensorShape expected = x.shape();
  expected[a] = layout.scale_channels;
  if (scale.shape() != expected) {
    return core::InvalidArgument("blocked scale must have shape {} for x {} with block_size {} on axis {}, got {}",
                                 core::ShapeToString(expected), core::ShapeToString(x.shape()), block_size, a,
                                 core::ShapeToString(scale.shape()));
  }
  return layout;
}

template <typename Fn>
bool VisitQuantizedType(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kUInt8:
      fn.template operator()<uint8_t>();
      return true;
    case DataType::kInt8:
      fn.template operator()<int8_t>();
      return true;
    case DataType::kUInt16:
      fn.template operator()<uint16_t>();
      return true;
    case DataType::kInt16:
      fn.template operator()<int16_t>();
      return true;
    default:
      return false;
  }
}

// y = saturate(round_half_even(x / scale) + zero_point); NaN gives the zero point.
template <typename Q>
inline Q QuantizeValue(float x, float scale, float zero_point) {
  constexpr float kLow = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float kHigh = static_cast<float>(std::numeric_limits<Q>::max());
  float v = std::nearbyint(x / scale) + zero_point;
  v = v < kLow ? kLow : v;
  v = v > kHigh ? kHigh : v;
  return v == v ? static_cast<Q>(v) : static_cast<Q>(zero_point);
}

class QuantizeLinearKernel final : public Kernel {
 public:
  // `output_type`: the output_dtype attribute (opset 21), or uint8 when
  // `output_type_given` is false; a zero point's type takes precedence.
  QuantizeLinearKernel(int64_t axis, int64_t block_size, DataType output_type, bool output_type_given)
      : axis_(axis), block_size_(block_size), output_type_(output_type), output_type_given_(output_type_given) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "x"));
    ASSIGN_OR_RETURN(const Tensor* scale, RequireTensor(context, 1, "y_scale"));
    const Tensor* zero_point = context.input_tensor(2);
    const DataType y_type = zero_point ? zero_point->dtype() : output_type_;
    if (zero_point && output_type_given_ && output_type_ != zero_point->dtype()) {
      return core::InvalidArgument("output_dtype {} differs from the zero point's type {}",
                                   core::DataTypeName(output_type_), core::DataTypeName(zero_point->dtype()));
    }
    ASSIGN_OR_RETURN(QuantizationLayout layout, ResolveQuantization(*x, *scale, zero_point, axis_, block_size_));
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, y_type, x->shape()));
    bool x_supported = false;
    bool scale_supported = false;
    bool y_supported = VisitQuantizedType(y_type, [&]<typename Q>() {
      auto run = [&]<typename X>() {
        x_supported = true;
        scale_supported = VisitTypes<kFloatTypes>(
            scale->dtype(), [&]<typename S>() { Quantize<X, S, Q>(*x, *scale, zero_point, layout, *y); });
      };
      if (x->dtype() == DataType::kInt32) {
        run.template operator()<int32_t>();
      } else {
        VisitTypes<kFloatTypes>(x->dtype(), run);
      }
    });
    if (!y_supported) return UnsupportedType(y_type, "quantized");
    if (!x_supported) return UnsupportedType(x->dtype());
    if (!scale_supported) return UnsupportedType(scale->dtype(), "scale");
    return Status::Ok();
  }

 private:
  template <typename X, typename S, typename Q>
  static void Quantize(const Tensor& x, const Tensor& scale, const Tensor* zero_point, const QuantizationLayout& layout,
                       Tensor& y) {
    const X* in = x.data<X>();
    const S* scales = scale.data<S>();
    const Q* zeros = zero_point ? zero_point->data<Q>() : nullptr;
    Q* out = y.data<Q>();
    ForEachScaleRun(layout, x.element_count(), [&](int64_t first, int64_t stop, int64_t s) {
      const float sv = static_cast<float>(LoadValue(scales[s]));
      const float zv = zeros ? static_cast<float>(zeros[s]) : 0.0f;
      for (int64_t i = first; i < stop; ++i) out[i] = QuantizeValue<Q>(static_cast<float>(LoadValue(in[i])), sv, zv);
    });
  }

  int64_t axis_;
  int64_t block_size_;
  DataType output_type_;
  bool output_type_given_;
};

Result<std::unique_ptr<Kernel>> MakeQuantizeLinear(KernelBuildContext& build) {
  const Node& node = build.node();
  DataType output_type = DataType::kUInt8;
  bool has_output_type = false;
  if (build.opset() >= 21 && node.GetInt("output_dtype", 0) != 0) {
    std::optional<DataType> type = core::DataTypeFromOnnx(static_cast<int32_t>(node.GetInt("output_dtype", 0)));
    if (!type || !VisitQuantizedType(*type, []<typename Q>() {})) {
      return core::Unimplemented("output_dtype {} is not supported", node.GetInt("output_dtype", 0));
    }
    output_type = *type;
    has_output_type = true;
  }
  if (node.GetInt("saturate", 1) != 1) {
    // saturate=0 only applies to float8 outputs, which berth does not have.
    return core::Unimplemented("saturate=0 (float8 outputs) is not supported");
  }
  return std::unique_ptr<Kernel>(std::make_unique<QuantizeLinearKernel>(
      node.GetInt("axis", 1), build.opset() >= 21 ? node.GetInt("block_size", 0) : 0, output_type, has_output_type));
}

Status InferQuantizeLinear(InferenceContext& context) {
  DataType dtype = DataType::kUInt8;
  if (context.has_input(2)) {
    dtype = InputDtype(context, 2);
  } else if (context.opset() >= 21 && context.node().GetInt("output_dtype", 0) != 0) {
    dtype = core::DataTypeFromOnnx(static_cast<int32_t>(context.node().GetInt("output_dtype", 0)))
                .value_or(DataType::kUndefined);
  }
  return InferSameShape(context, dtype);
}

// y = (x - zero_point) * scale, of the scale's type.
class DequantizeLinearKernel final : public Kernel {
 public:
  DequantizeLinearKernel(int64_t axis, int64_t block_size) : axis_(axis), block_size_(block_size) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "x"));
    ASSIGN_OR_RETURN(const Tensor* scale, RequireTensor(context, 1, "x_scale"));
    const Tensor* zero_point = context.input_tensor(2);
    if (zero_point && zero_point->dtype() != x->dtype()) {
      return core::InvalidArgument("zero point has type {}, x {}", core::DataTypeName(zero_point->dtype()),
                                   core::DataTypeName(x->dtype()));
    }
    ASSIGN_OR_RETURN(QuantizationLayout layout, ResolveQuantization(*x, *scale, zero_point, axis_, block_size_));
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, scale->dtype(), x->shape()));
    bool scale_supported = false;
    auto run = [&]<typename Q>() {
      scale_supported = VisitTypes<kFloatTypes>(
          scale->dtype(), [&]<typename S>() { Dequantize<Q, S>(*x, *scale, zero_point, layout, *y); });
    };
    bool x_supported = x->dtype() == DataType::kInt32 ? (run.template operator()<int32_t>(), true)
                                                      : VisitQuantizedType(x->dtype(), run);
    if (!x_supported) return UnsupportedType(x->dtype());
    if (!scale_supported) return UnsupportedType(scale->dtype(), "scale");
    return Status::Ok();
  }

 private:
  template <typename Q, typename S>
  static void Dequantize(const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                         const QuantizationLayout& layout, Tensor& y) {
    const Q* in = x.data<Q>();
    const S* scales = scale.data<S>();
    const Q* zeros = zero_point ? zero_point->data<Q>() : nullptr;
    S* out = y.data<S>();
    auto value = [](Q q, Q zero, float s) {
      return StoreAs<S>(static_cast<float>(static_cast<int64_t>(q) - static_cast<int64_t>(zero)) * s);
    };
    ForEachScaleRun(layout, x.element_count(), [&](int64_t first, int64_t stop, int64_t s) {
      const float sv = static_cast<float>(LoadValue(scales[s]));
      const Q zv = zeros ? zeros[s] : Q(0);
      for (int64_t i = first; i < stop; ++i) out[i] = value(in[i], zv, sv);
    });
  }

  int64_t axis_;
  int64_t block_size_;
};

Status InferDequantizeLinear(InferenceContext& context) {
  // Before opset 19 the output is float32; from 19 it has the scale's type.
  const DataType dtype = context.opset() < 19 ? DataType::kFloat32 : InputDtype(context, 1);
  return InferSameShape(context, dtype);
}

// ---------------------------------------------------------------------------
// DynamicQuantizeLinear: uint8 quantization with scale and zero point chosen
// from the data's range (extended to include 0).

class DynamicQuantizeLinearKernel final : public Kernel {
 public:
  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "x"));
    if (x->dtype() != DataType::kFloat32) return UnsupportedType(x->dtype());
    const float* in = x->data<float>();
    const int64_t count = x->element_count();
    float low = 0.0f;
    float high = 0.0f;
    std::mutex merge;
    core::ParallelFor(count, kElementGrain, [&](int64_t begin, int64_t end) {
      float chunk_low = 0.0f;
      float chunk_high = 0.0f;
      for (int64_t i = begin; i < end; ++i) {
        chunk_low = in[i] < chunk_low ? in[i] : chunk_low;
        chunk_high = in[i] > chunk_high ? in[i] : chunk_high;
      }
      std::lock_guard lock(merge);
      low = std::min(low, chunk_low);
      high = std::max(high, chunk_high);
    });
    if (std::isinf(low) || std::isinf(high)) {
      return core::InvalidArgument("x holds an infinity; no finite quantization scale exists");
    }
    const float scale = (high - low) / 255.0f;
    // All zeros: any scale works; 0 with zero point 0 maps everything to 0.
    const float zero_point = scale == 0.0f ? 0.0f : std::clamp(std::nearbyint(0.0f - low / scale), 0.0f, 255.0f);
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, DataType::kUInt8, x->shape()));
    uint8_t* out = y->data<uint8_t>();
    if (scale == 0.0f) {
      std::fill(out, out + count, uint8_t{0});
    } else {
      UnaryMap(in, out, count, [scale, zero_point](float v) { return QuantizeValue<uint8_t>(v, scale, zero_point); });
    }
    if (context.output_wanted(1)) {
      ASSIGN_OR_RETURN(Tensor * scale_out, context.AllocateOutput(1, DataType::kFloat32, {}));
      scale_out->data<float>()[0] = scale;
    }
    if (context.output_wanted(2)) {
      ASSIGN_OR_RETURN(Tensor * zero_out, context.AllocateOutput(2, DataType::kUInt8, {}));
      zero_out->data<uint8_t>()[0] = static_cast<uint8_t>(zero_point);
    }
    return Status::Ok();
  }
};

Status InferDynamicQuantizeLinear(InferenceContext& context) {
  RETURN_IF_ERROR(InferSameShape(context, DataType::kUInt8));
  if (context.output_count() > 1) context.set_output_type(1, ValueType::TensorFromShape(DataType::kFloat32, {}));
  if (context.output_count() > 2) context.set_output_type(2, ValueType::TensorFromShape(DataType::kUInt8, {}));
  return Status::Ok();
}

}  // namespace

void RegisterCastQuantizeKernels(OpRegistry& registry) {
  // 19 and 21 add float8 / 4-bit types (and saturate for float8), which berth
  // has no tensors for; the same kernel serves them.
  registry.Register("", "Cast", {1, 6, 9, 13, 19, 21}, InferCast,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      ASSIGN_OR_RETURN(DataType to, CastTarget(build.node()));
                      return std::unique_ptr<Kernel>(std::make_unique<CastKernel>(to));
                    });
  registry.Register("", "CastLike", {15, 19, 21}, InferCastLike,
                    [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
                      return std::unique_ptr<Kernel>(std::make_unique<CastKernel>(DataType::kUndefined));
                    });
  registry.Register("", "QuantizeLinear", {10, 13, 19, 21}, InferQuantizeLinear, MakeQuantizeLinear);
  registry.Register("", "DequantizeLinear", {10, 13, 19, 21}, InferDequantizeLinear,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      const Node& node = build.node();
                      return std::unique_ptr<Kernel>(std::make_unique<DequantizeLinearKernel>(
                          node.GetInt("axis", 1), build.opset() >= 21 ? node.GetInt("block_size", 0) : 0));
                    });
  registry.Register("", "DynamicQuantizeLinear", {11}, InferDynamicQuantizeLinear,
                    [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
                      return std::unique_ptr<Kernel>(std::make_unique<DynamicQuantizeLinearKernel>());
                    });
}

}  // namespace berth::engine

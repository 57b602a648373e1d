// Building blocks for element-wise kernels: type sets and dispatch, a unary
// map, and broadcasting binary / ternary maps over any element type. The
// contiguous cases stay plain loops the compiler vectorises; broadcasting
// first merges adjacent axes that broadcast alike, so that [B,S,H] + [H]
// runs as [B*S,H] + [1,H] (long rows, little per-row bookkeeping).
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/cpu_features.h"
#include "engine/kernels/common/kernel_util.h"

namespace berth::engine {

// ---------------------------------------------------------------------------
// Element types (kIsHalf, ComputeType and StoreAs are in kernel_util.h).

// Sets of element types an op accepts (a bit per kind).
enum TypeSet : unsigned {
  kFloatTypes = 1u,     // float16, bfloat16, float32, float64
  kSignedTypes = 2u,    // int8 .. int64
  kUnsignedTypes = 4u,  // uint8 .. uint64
  kBoolType = 8u,
  kStringType = 16u,
  kIntegerTypes = kSignedTypes | kUnsignedTypes,
  kNumericTypes = kFloatTypes | kIntegerTypes,
  kSignedNumericTypes = kFloatTypes | kSignedTypes,
  kAllTypes = kNumericTypes | kBoolType | kStringType,
};

template <typename T>
constexpr unsigned TypeSetOf() {
  if constexpr (std::is_same_v<T, bool>)
    return kBoolType;
  else if constexpr (std::is_same_v<T, std::string>)
    return kStringType;
  else if constexpr (kIsHalf<T> || std::is_floating_point_v<T>)
    return kFloatTypes;
  else if constexpr (std::is_signed_v<T>)
    return kSignedTypes;
  else
    return kUnsignedTypes;
}

// Calls fn.template operator()<T>() with the C++ type of `dtype` when that
// type is in `kTypes`; returns false (without calling) otherwise. Templates
// are only instantiated for the types in the set.
template <unsigned kTypes, typename Fn>
bool VisitTypes(core::DataType dtype, Fn&& fn) {
  return core::VisitAnyType(dtype, [&]<typename T>() -> bool {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else if constexpr ((TypeSetOf<T>() & kTypes) == 0) {
      return false;
    } else {
      fn.template operator()<T>();
      return true;
    }
  });
}

inline core::Status UnsupportedType(core::DataType dtype, std::string_view what = "input") {
  return core::Unimplemented("{} type {} is not supported", what, core::DataTypeName(dtype));
}

// An element as arithmetic sees it: half types as float, others by reference
// (no copy for strings).
template <typename T>
inline decltype(auto) LoadValue(const T& value) {
  if constexpr (kIsHalf<T>) {
    return static_cast<float>(value);
  } else {
    return (value);
  }
}

// Float to integer conversion that is defined for every input: NaN gives 0
// and values beyond the target's range saturate (a plain cast is undefined
// behaviour there).
template <typename To, typename From>
inline To SaturatingCast(From value) {
  static_assert(std::is_integral_v<To> && std::is_floating_point_v<From>);
  // 2^(bits-1) for signed, 2^bits for unsigned: exact in every float type.
  constexpr From kUpper = From(2) * static_cast<From>(std::numeric_limits<To>::max() / 2 + 1);
  constexpr From kLower = static_cast<From>(std::numeric_limits<To>::min());
  if (!(value == value)) return To(0);
  if (value >= kUpper) return std::numeric_limits<To>::max();
  if (value <= kLower) return std::numeric_limits<To>::min();
  return static_cast<To>(value);
}

// ---------------------------------------------------------------------------
// Maps.

inline constexpr int64_t kElementGrain = 32768;

// out[i] = op(in[i]) for every element, in parallel (op sees half types as
// float). `in` and `out` may be the same buffer.
template <typename In, typename Out, typename Op>
void UnaryMap(const In* in, Out* out, int64_t count, Op op) {
  core::ParallelFor(count, kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = StoreAs<Out>(op(LoadValue(in[i])));
  });
}

// The broadcast of K input shapes onto an output shape, with axes of size 1
// dropped and runs of axes that every input treats alike (all present or all
// broadcast) merged into one.
template <size_t K>
struct BroadcastLayout {
  core::TensorShape out;                        // collapsed output dims
  std::array<std::vector<int64_t>, K> strides;  // per input and collapsed axis; 0 = broadcast
};

// Every input shape must broadcast to `out` (already checked by the caller).
template <size_t K>
BroadcastLayout<K> CollapseBroadcast(const core::TensorShape& out, const std::array<const core::TensorShape*, K>& in) {
  const size_t rank = out.size();
  BroadcastLayout<K> layout;
  std::array<std::vector<int64_t>, K> dims;  // collapsed extent of each input
  unsigned previous = ~0u;
  for (size_t axis = 0; axis < rank; ++axis) {
    if (out[axis] == 1) continue;
    unsigned present = 0;  // bit k: input k spans this axis
    for (size_t k = 0; k < K; ++k) {
      const core::TensorShape& shape = *in[k];
      size_t offset = rank - shape.size();
      if (axis >= offset && shape[axis - offset] != 1) present |= 1u << k;
    }
    if (present == previous) {
      layout.out.back() *= out[axis];
      for (size_t k = 0; k < K; ++k) {
        if (present & (1u << k)) dims[k].back() *= out[axis];
      }
    } else {
      layout.out.push_back(out[axis]);
      for (size_t k = 0; k < K; ++k) dims[k].push_back(present & (1u << k) ? out[axis] : 1);
      previous = present;
    }
  }
  for (size_t k = 0; k < K; ++k) {
    layout.strides[k].assign(dims[k].size(), 0);
    int64_t stride = 1;
    for (size_t axis = dims[k].size(); axis-- > 0;) {
      if (dims[k][axis] != 1) {
        layout.strides[k][axis] = stride;
        stride *= dims[k][axis];
      }
    }
  }
  return layout;
}

// Calls fn(out_offset, count, offsets, steps) for each run along the last
// collapsed axis, in parallel over runs; offsets[k] is input k's first
// element and steps[k] is 1 when input k advances along the run, 0 when it
// is broadcast. A layout of rank 0 is a single element.
template <size_t K, typename Fn>
void ForEachBroadcastRun(const BroadcastLayout<K>& layout, Fn&& fn) {
  const size_t rank = layout.out.size();
  if (rank == 0) {
    fn(int64_t{0}, int64_t{1}, std::array<int64_t, K>{}, std::array<int64_t, K>{});
    return;
  }
  const int64_t inner = layout.out[rank - 1];
  int64_t rows = 1;
  for (size_t axis = 0; axis + 1 < rank; ++axis) rows *= layout.out[axis];
  std::array<int64_t, K> steps;
  for (size_t k = 0; k < K; ++k) steps[k] = layout.strides[k][rank - 1] != 0 ? 1 : 0;
  core::ParallelFor(rows, std::max<int64_t>(1, kElementGrain / inner), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> index(rank, 0);
    int64_t rest = begin;
    for (size_t axis = rank - 1; axis-- > 0;) {
      index[axis] = rest % layout.out[axis];
      rest /= layout.out[axis];
    }
    for (int64_t row = begin; row < end; ++row) {
      std::array<int64_t, K> offsets{};
      for (size_t axis = 0; axis + 1 < rank; ++axis) {
        for (size_t k = 0; k < K; ++k) offsets[k] += index[axis] * layout.strides[k][axis];
      }
      fn(row * inner, inner, offsets, steps);
      for (size_t axis = rank - 1; axis-- > 0;) {
        if (++index[axis] < layout.out[axis]) break;
        index[axis] = 0;
      }
    }
  });
}

// out = op(a, b) over `out_shape`, which a_shape and b_shape broadcast to.
// `op` takes and returns compute values; element types are converted with
// ComputeType / StoreAs. `out` may alias `a` or `b` when that input has the
// output's shape.
template <typename A, typename B, typename Out, typename Op>
void BinaryMap(const A* pa, const core::TensorShape& a_shape, const B* pb, const core::TensorShape& b_shape, Out* po,
               const core::TensorShape& out_shape, Op op) {
  using CA = ComputeType<A>;
  using CB = ComputeType<B>;
  auto run = [&](Out* o, const A* x, int64_t x_step, const B* y, int64_t y_step, int64_t n) {
    // Four loops so that the common ones are plain streams the compiler vectorises.
    if (x_step && y_step) {
      for (int64_t i = 0; i < n; ++i) o[i] = StoreAs<Out>(op(LoadValue(x[i]), LoadValue(y[i])));
    } else if (x_step) {
      const CB yv = LoadValue(y[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = StoreAs<Out>(op(LoadValue(x[i]), yv));
    } else if (y_step) {
      const CA xv = LoadValue(x[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = StoreAs<Out>(op(xv, LoadValue(y[i])));
    } else {
      const Out v = StoreAs<Out>(op(LoadValue(x[0]), LoadValue(y[0])));
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    }
  };
  const int64_t count = core::ElementCount(out_shape);
  if (count == 0) return;
  BroadcastLayout<2> layout = CollapseBroadcast<2>(out_shape, {&a_shape, &b_shape});
  if (layout.out.size() <= 1) {
    // Same shape, or one side a single element: split the flat range.
    const int64_t a_step = layout.out.empty() ? 0 : (layout.strides[0][0] != 0);
    const int64_t b_step = layout.out.empty() ? 0 : (layout.strides[1][0] != 0);
    core::ParallelFor(count, kElementGrain, [&](int64_t begin, int64_t end) {
      run(po + begin, pa + begin * a_step, a_step, pb + begin * b_step, b_step, end - begin);
    });
    return;
  }
  ForEachBroadcastRun<2>(layout, [&](int64_t out_offset, int64_t n, const std::array<int64_t, 2>& offsets,
                                     const std::array<int64_t, 2>& steps) {
    run(po + out_offset, pa + offsets[0], steps[0], pb + offsets[1], steps[1], n);
  });
}

// Tensor form: `out` already has the broadcast shape.
template <typename A, typename B, typename Out, typename Op>
void BinaryMap(const core::Tensor& a, const core::Tensor& b, core::Tensor& out, Op op) {
  BinaryMap<A, B, Out>(a.data<A>(), a.shape(), b.data<B>(), b.shape(), out.data<Out>(), out.shape(), op);
}

// out[i] = op(a[i], b[i], c[i]) with broadcasting onto `out`'s shape; the
// element values are passed as stored (no compute-type conversion).
template <typename A, typename B, typename C, typename Out, typename Op>
void TernaryMap(const core::Tensor& a, const core::Tensor& b, const core::Tensor& c, core::Tensor& out, Op op) {
  if (out.element_count() == 0) return;
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  const C* pc = c.data<C>();
  Out* po = out.data<Out>();
  BroadcastLayout<3> layout = CollapseBroadcast<3>(out.shape(), {&a.shape(), &b.shape(), &c.shape()});
  ForEachBroadcastRun<3>(layout, [&](int64_t out_offset, int64_t n, const std::array<int64_t, 3>& offsets,
                                     const std::array<int64_t, 3>& steps) {
    const A* x = pa + offsets[0];
    const B* y = pb + offsets[1];
    const C* z = pc + offsets[2];
    Out* o = po + out_offset;
    if (steps[0] && steps[1] && steps[2]) {
      for (int64_t i = 0; i < n; ++i) o[i] = op(x[i], y[i], z[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) o[i] = op(x[i * steps[0]], y[i * steps[1]], z[i * steps[2]]);
    }
  });
}

// ---------------------------------------------------------------------------
// Float math that vectorises: only + - * /, compares, selects and bit casts
// (no calls). Used on the float32 paths of hot activations; accurate to about
// 2.5 ulp over the whole range (results below FLT_MIN flush to 0); NaN
// propagates.

// MapFloat32(in, out, n, op): out[i] = op(in[i]), with the loop compiled for
// baseline x86-64 (4 lanes) and for x86-64-v3 (AVX2: 8 lanes) and picked at
// run time by core::OwnKernelsUseX86_64V3 (the CPU, lowered by
// BERTH_MAX_CPU_ISA). `op` must inline. The x86-64-v3 version fuses
// multiply-adds (about a quarter faster on erf), so the two may differ in the
// last bits; a unit test holds both to the accuracy bounds.
enum class FloatLoopIsa { kBaseline, kX86_64V3 };

template <typename Op>
void MapFloat32Baseline(const float* in, float* out, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = op(in[i]);
}

#if defined(__x86_64__) && defined(__GNUC__)
template <typename Op>
__attribute__((target("arch=x86-64-v3"))) void MapFloat32X86_64V3(const float* in, float* out, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) out[i] = op(in[i]);
}
#endif

template <typename Op>
void MapFloat32(const float* in, float* out, int64_t n, Op op, FloatLoopIsa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (isa == FloatLoopIsa::kX86_64V3) return MapFloat32X86_64V3(in, out, n, op);
#endif
  MapFloat32Baseline(in, out, n, op);
}

template <typename Op>
void MapFloat32(const float* in, float* out, int64_t n, Op op) {
  MapFloat32(in, out, n, op, core::OwnKernelsUseX86_64V3() ? FloatLoopIsa::kX86_64V3 : FloatLoopIsa::kBaseline);
}

// condition ? a : b as bit operations. A plain ?: lets the compiler move
// the loads or arithmetic behind `a` and `b` under a branch, which it then
// cannot vectorise (it may not speculate them with trapping math).
template <typename T>
inline T BitSelect(bool condition, T a, T b) {
  static_assert(std::is_trivially_copyable_v<T> &&
                (sizeof(T) == 1 || sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8));
  using Bits = std::conditional_t<
      sizeof(T) == 1, uint8_t,
      std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
  const Bits mask = static_cast<Bits>(Bits(0) - static_cast<Bits>(condition));
  return std::bit_cast<T>(static_cast<Bits>((std::bit_cast<Bits>(a) & mask) | (std::bit_cast<Bits>(b) & ~mask)));
}

inline float VectorSelect(bool condition, float a, float b) { return BitSelect(condition, a, b); }

inline float VectorExp(float x) {
  // exp(x) = 2^n exp(r) with x = n ln2 + r, |r| <= ln2/2, and exp(r) by its
  // Taylor series to degree 7 (truncation error below 1e-8 relative).
  float clamped = VectorSelect(x < -88.0f, -88.0f, x);
  clamped = VectorSelect(clamped > 88.75f, 88.75f, clamped);
  // Round to nearest integer: adding 1.5 * 2^23 leaves no fraction bits.
  const float n = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  // ln2 split in two: n * 0.693145751953125 is exact for |n| < 2^12.
  float r = clamped - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n as two factors so that n = 128 (results just below FLT_MAX) works.
  const int32_t k = static_cast<int32_t>(n);
  const int32_t k1 = k >> 1;
  const int32_t b1 = (k1 + 127) << 23;
  const int32_t b2 = (k - k1 + 127) << 23;
  float result = p * std::bit_cast<float>(b1) * std::bit_cast<float>(b2);
  result = VectorSelect(x > 88.7228394f, INFINITY, result);
  result = VectorSelect(x < -87.3365479f, 0.0f, result);  // below FLT_MIN
  return VectorSelect(x != x, x, result);
}

// tanh: an odd polynomial near 0 (where 1 - 2/(e^2x + 1) loses digits),
// that formula elsewhere.
inline float VectorTanh(float x) {
  const float ax = VectorSelect(x < 0.0f, -x, x);
  const float z = x * x;
  // tanh(x) = x - x^3 p(x^2), p a least-squares fit on |x| < 0.625.
  float p = -0.0022991274f;
  p = p * z + 0.0083502075f;
  p = p * z + -0.021771073f;
  p = p * z + 0.053959563f;
  p = p * z + -0.13333306f;
  p = p * z + 0.33333334f;
  const float small = x - p * z * x;
  const float e = VectorExp(2.0f * VectorSelect(ax > 10.0f, 10.0f, ax));
  const float magnitude = 1.0f - 2.0f / (e + 1.0f);
  const float large = VectorSelect(x < 0.0f, -magnitude, magnitude);
  const float result = VectorSelect(ax < 0.625f, small, large);
  return VectorSelect(x != x, x, result);
}

inline float VectorSigmoid(float x) { return 1.0f / (1.0f + VectorExp(-x)); }

// erf: x q(x^2) for |x| < 1; 1 - exp(g(x) - x^2) for 1 <= |x| < 4, g being
// log(erfc(x)) + x^2 (smooth); 1 beyond (erf(4) rounds to 1 in float). q and
// g are least-squares fits.
inline float VectorErf(float x) {
  const float ax = VectorSelect(x < 0.0f, -x, x);
  const float z = x * x;
  float q = 7.889112e-05f;
  q = q * z + -0.00080208387f;
  q = q * z + 0.0051895352f;
  q = q * z + -0.026854444f;
  q = q * z + 0.112836f;
  q = q * z + -0.37612626f;
  q = q * z + 1.1283791f;
  const float small = x * q;
  const float bounded = VectorSelect(ax > 4.0f, 4.0f, ax);
  const float t = (bounded - 2.5f) * (1.0f / 1.5f);
  float g = 4.10017e-05f;
  g = g * t + -0.00022727222f;
  g = g * t + 0.0008822598f;
  g = g * t + -0.0031906895f;
  g = g * t + 0.010960725f;
  g = g * t + -0.036647394f;
  g = g * t + 0.12623937f;
  g = g * t + -0.529021f;
  g = g * t + -1.5568153f;
  const float magnitude = 1.0f - VectorExp(g - bounded * bounded);
  const float large = VectorSelect(x < 0.0f, -magnitude, magnitude);
  const float result = VectorSelect(ax < 1.0f, small, large);
  return VectorSelect(x != x, x, result);
}

// GELU, exact (erf) and approximate (tanh) forms.
inline float VectorGeluErf(float x) { return 0.5f * x * (1.0f + VectorErf(x * 0.70710678118654752f)); }
inline float VectorGeluTanh(float x) {
  return 0.5f * x * (1.0f + VectorTanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}

// ---------------------------------------------------------------------------
// Kernels shared by the element-wise families.

// Broadcasting of Add, Mul, And, ... before opset 7: with attribute
// broadcast=1, B's shape is a contiguous run of A's dims starting at `axis`
// (default: B aligned right), and the output has A's shape.
struct LegacyBroadcast {
  bool enabled = false;
  bool has_axis = false;
  int64_t axis = 0;

  static LegacyBroadcast FromNode(const Node& node, int since_numpy_broadcast = 7) {
    LegacyBroadcast legacy;
    if (node.opset >= since_numpy_broadcast) return legacy;
    legacy.enabled = node.GetInt("broadcast", 0) != 0;
    legacy.has_axis = node.HasAttribute("axis");
    legacy.axis = node.GetInt("axis", 0);
    return legacy;
  }

  // B's shape padded with 1s to A's rank.
  core::Result<core::TensorShape> Align(const core::TensorShape& a, const core::TensorShape& b) const {
    const int64_t rank = static_cast<int64_t>(a.size());
    const int64_t b_rank = static_cast<int64_t>(b.size());
    int64_t start = rank - b_rank;
    if (has_axis) start = axis < 0 ? axis + rank : axis;
    if (b_rank > rank || start < 0 || start + b_rank > rank) {
      return core::InvalidArgument("B {} cannot be broadcast onto A {} at axis {}", core::ShapeToString(b),
                                   core::ShapeToString(a), has_axis ? axis : start);
    }
    core::TensorShape aligned(a.size(), 1);
    for (int64_t i = 0; i < b_rank; ++i) {
      if (b[i] != 1 && b[i] != a[start + i]) {
        return core::InvalidArgument("B {} does not match A {} at axis {}", core::ShapeToString(b),
                                     core::ShapeToString(a), start);
      }
      aligned[start + i] = b[i];
    }
    return aligned;
  }
};

// Inference for binary ops: the broadcast shape (A's shape under legacy
// broadcasting), of A's type or `dtype`.
inline core::Status InferBinary(InferenceContext& context, core::DataType dtype = core::DataType::kUndefined) {
  if (LegacyBroadcast::FromNode(context.node()).enabled) {
    ValueType type = context.input_type(0);
    if (dtype != core::DataType::kUndefined && type.is_tensor()) type.dtype = dtype;
    if (!type.is_tensor()) type = ValueType::TensorUnknownShape(dtype);
    context.set_output_type(0, type);
    return core::Status::Ok();
  }
  return InferBroadcast(context, dtype);
}

// out = op(x) of x's type, for element types in kTypes. `Op` has
// `template <typename C> C operator()(C x) const` (C the compute type) and
// may add `void RunFloat32(const float*, float*, int64_t) const`, a faster
// loop for float32.
template <unsigned kTypes, typename Op>
class UnaryKernel final : public Kernel {
 public:
  explicit UnaryKernel(Op op) : op_(std::move(op)) {}

  core::Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const core::Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(core::Tensor * out, context.AllocateOutput(0, x->dtype(), x->shape()));
    const Op& op = op_;
    bool supported = VisitTypes<kTypes>(x->dtype(), [&]<typename T>() {
      const T* in = x->data<T>();
      T* result = out->data<T>();
      if constexpr (std::is_same_v<T, float> && requires { op.RunFloat32(in, result, int64_t{0}); }) {
        core::ParallelFor(x->element_count(), kElementGrain,
                          [&](int64_t begin, int64_t end) { op.RunFloat32(in + begin, result + begin, end - begin); });
      } else {
        UnaryMap(in, result, x->element_count(), [&op](const auto& v) { return op(v); });
      }
    });
    if (!supported) return UnsupportedType(x->dtype());
    return core::Status::Ok();
  }

 private:
  Op op_;
};

template <unsigned kTypes, typename Op>
std::unique_ptr<Kernel> MakeUnaryKernel(Op op = {}) {
  return std::make_unique<UnaryKernel<kTypes, Op>>(std::move(op));
}

// out = op(a, b) with broadcasting; both inputs of one type in kTypes; the
// output has that type, or bool when kBoolOutput. `Op` has
// `template <typename C> auto operator()(const C& a, const C& b) const`.
template <unsigned kTypes, typename Op, bool kBoolOutput = false>
class BinaryKernel final : public Kernel {
 public:
  BinaryKernel(Op op, LegacyBroadcast legacy) : op_(std::move(op)), legacy_(legacy) {}

  core::Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const core::Tensor* a, RequireTensor(context, 0, "A"));
    ASSIGN_OR_RETURN(const core::Tensor* b, RequireTensor(context, 1, "B"));
    if (a->dtype() != b->dtype()) {
      return core::InvalidArgument("inputs A and B have different types {} and {}", core::DataTypeName(a->dtype()),
                                   core::DataTypeName(b->dtype()));
    }
    core::TensorShape b_shape = b->shape();
    if (legacy_.enabled) {
      ASSIGN_OR_RETURN(b_shape, legacy_.Align(a->shape(), b->shape()));
    }
    ASSIGN_OR_RETURN(core::TensorShape shape, core::BroadcastShapes(a->shape(), b_shape));
    const core::DataType out_type = kBoolOutput ? core::DataType::kBool : a->dtype();
    ASSIGN_OR_RETURN(core::Tensor * out, context.AllocateOutput(0, out_type, shape));
    bool supported = VisitTypes<kTypes>(a->dtype(), [&]<typename T>() {
      using Out = std::conditional_t<kBoolOutput, bool, T>;
      BinaryMap<T, T, Out>(a->data<T>(), a->shape(), b->data<T>(), b_shape, out->data<Out>(), shape, op_);
    });
    if (!supported) return UnsupportedType(a->dtype());
    return core::Status::Ok();
  }

 private:
  Op op_;
  LegacyBroadcast legacy_;
};

template <unsigned kTypes, typename Op, bool kBoolOutput = false>
KernelFactory BinaryKernelFactory(Op op = {}) {
  return [op](KernelBuildContext& build) -> core::Result<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(
        std::make_unique<BinaryKernel<kTypes, Op, kBoolOutput>>(op, LegacyBroadcast::FromNode(build.node())));
  };
}

}  // namespace berth::engine

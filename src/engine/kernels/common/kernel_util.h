// Helpers shared by operator implementations: element type predicates and
// compute types, input access with clear errors, common inference rules,
// broadcasting iteration.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "engine/ops/kernel.h"

namespace berth::engine {

// ---------------------------------------------------------------------------
// Element types. Half types (float16, bfloat16) are stored narrow and
// computed in float, so kernels ask the same questions of every type.

template <typename T>
inline constexpr bool kIsHalf = std::is_same_v<T, core::Float16> || std::is_same_v<T, core::BFloat16>;

// The type arithmetic on T runs in: float for half types, T itself otherwise.
template <typename T>
using ComputeType = std::conditional_t<kIsHalf<T>, float, T>;

// For kernels that compute only in float or double: double for double, float
// for every other type.
template <typename T>
using FloatOrDouble = std::conditional_t<std::is_same_v<T, double>, double, float>;

// An element of type T as C, half types by way of float.
template <typename C, typename T>
inline C LoadAs(T value) {
  if constexpr (kIsHalf<T>) {
    return static_cast<C>(static_cast<float>(value));
  } else {
    return static_cast<C>(value);
  }
}

// Converts a computed value to the storage type (half types round to nearest even).
template <typename Out, typename C>
inline Out StoreAs(C value) {
  if constexpr (kIsHalf<Out>) {
    return Out(static_cast<float>(value));
  } else {
    return static_cast<Out>(value);
  }
}

inline bool IsHalf(core::DataType dtype) {
  return dtype == core::DataType::kFloat16 || dtype == core::DataType::kBFloat16;
}
// The types that run through float32 (oneDNN's float kernels): float32 itself
// and the half types, converted on the way in and out.
inline bool IsFloat32OrHalf(core::DataType dtype) { return dtype == core::DataType::kFloat32 || IsHalf(dtype); }
inline bool Is8BitInteger(core::DataType dtype) {
  return dtype == core::DataType::kInt8 || dtype == core::DataType::kUInt8;
}

// ---------------------------------------------------------------------------

// Input `index` as a tensor; error "input N (what) is missing / not a tensor".
core::Result<const core::Tensor*> RequireTensor(const KernelContext& context, int index, std::string_view what);

// Reads an integer tensor (any int type) as a vector; used for shapes/axes.
std::vector<int64_t> ReadInt64s(const core::Tensor& tensor);

// Output type = input type (element-wise unary ops).
core::Status InferSameAsInput(InferenceContext& context);
// Output 0: input 0's shape (unknown when input 0 is not a tensor) with
// element type `dtype` (Cast, QuantizeLinear, RandomUniformLike, ...).
core::Status InferSameShape(InferenceContext& context, core::DataType dtype);
// Input 0's shape when statically known. When it is not, output 0 becomes a
// tensor of `dtype` with unknown shape and the result is nullopt: a rule that
// needs the input's shape can say nothing more.
std::optional<core::TensorShape> InputShapeOrUnknownOutput(InferenceContext& context, core::DataType dtype);
// Output 0: broadcast of all inputs' shapes; dtype of input 0 or `dtype`.
core::Status InferBroadcast(InferenceContext& context, core::DataType dtype = core::DataType::kUndefined);
// Sets output `index` to a tensor of `dtype` with unknown shape.
void SetUnknownShape(InferenceContext& context, int index, core::DataType dtype);
// Dtype of input `index` (kUndefined when unknown).
core::DataType InputDtype(const InferenceContext& context, int index);

// Iterates the broadcast of shapes a and b onto `out_shape`, calling
// fn(out_begin, count, a_offset, a_step, b_offset, b_step) for runs along the
// last axis (steps are 0 or 1). Works for any rank; parallel over rows.
template <typename Fn>
void ForEachBroadcastRow(const core::TensorShape& out_shape, const core::TensorShape& a_shape,
                         const core::TensorShape& b_shape, Fn&& fn);

// Strides of `shape` aligned right to `rank`, with 0 for broadcast dims.
std::vector<int64_t> BroadcastStrides(const core::TensorShape& shape, size_t rank);

// Converts a value between element types following ONNX Cast rules
// (float -> int truncates toward zero; to bool: x != 0).
template <typename To, typename From>
inline To ConvertElement(From value) {
  if constexpr (std::is_same_v<To, bool>) {
    if constexpr (std::is_arithmetic_v<From>) {
      return value != From(0);
    } else {
      return static_cast<float>(value) != 0.0f;
    }
  } else if constexpr (kIsHalf<To>) {
    if constexpr (std::is_same_v<From, double>) {
      return To(static_cast<float>(value));
    } else {
      return To(static_cast<float>(value));
    }
  } else if constexpr (kIsHalf<From>) {
    return static_cast<To>(static_cast<float>(value));
  } else {
    return static_cast<To>(value);
  }
}

// ----------------------------------------------------------------------------

template <typename Fn>
void ForEachBroadcastRow(const core::TensorShape& out_shape, const core::TensorShape& a_shape,
                         const core::TensorShape& b_shape, Fn&& fn) {
  const size_t rank = out_shape.size();
  if (rank == 0) {
    fn(int64_t{0}, int64_t{1}, int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0});
    return;
  }
  std::vector<int64_t> a_strides = BroadcastStrides(a_shape, rank);
  std::vector<int64_t> b_strides = BroadcastStrides(b_shape, rank);
  const int64_t inner = out_shape[rank - 1];
  const int64_t rows = inner == 0 ? 0 : core::ElementCount(out_shape) / inner;
  const int64_t a_step = a_strides[rank - 1] ? 1 : 0;
  const int64_t b_step = b_strides[rank - 1] ? 1 : 0;
  core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> index(rank, 0);
    // Decompose `begin` into a multi-index over all axes but the last.
    int64_t rest = begin;
    for (size_t axis = rank - 1; axis-- > 0;) {
      index[axis] = rest % out_shape[axis];
      rest /= out_shape[axis];
    }
    for (int64_t row = begin; row < end; ++row) {
      int64_t a_offset = 0;
      int64_t b_offset = 0;
      for (size_t axis = 0; axis + 1 < rank; ++axis) {
        a_offset += index[axis] * a_strides[axis];
        b_offset += index[axis] * b_strides[axis];
      }
      fn(row * inner, inner, a_offset, a_step, b_offset, b_step);
      for (size_t axis = rank - 1; axis-- > 0;) {
        if (++index[axis] < out_shape[axis]) break;
        index[axis] = 0;
      }
    }
  });
}

}  // namespace berth::engine

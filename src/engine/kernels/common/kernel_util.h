// Helpers shared by operator implementations: input access with clear
// errors, common inference rules, broadcasting iteration.
#pragma once

#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "engine/ops/kernel.h"

namespace berth::engine {

// Input `index` as a tensor; error "input N (what) is missing / not a tensor".
core::Result<const core::Tensor*> RequireTensor(const KernelContext& context, int index, std::string_view what);

// Reads an integer tensor (any int type) as a vector; used for shapes/axes.
std::vector<int64_t> ReadInt64s(const core::Tensor& tensor);

// Output type = input type (element-wise unary ops).
core::Status InferSameAsInput(InferenceContext& context);
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
  } else if constexpr (std::is_same_v<To, core::Float16> || std::is_same_v<To, core::BFloat16>) {
    if constexpr (std::is_same_v<From, double>) {
      return To(static_cast<float>(value));
    } else {
      return To(static_cast<float>(value));
    }
  } else if constexpr (std::is_same_v<From, core::Float16> || std::is_same_v<From, core::BFloat16>) {
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

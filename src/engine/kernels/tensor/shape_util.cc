#include "engine/kernels/tensor/shape_util.h"

#include <algorithm>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace berth::engine {
namespace {

using core::Result;
using core::Status;

// Drops unit axes and merges neighbours that are contiguous with each other,
// so a copy sees the longest possible inner runs.
std::vector<StridedAxis> SimplifyAxes(const std::vector<StridedAxis>& axes) {
  std::vector<StridedAxis> out;
  for (const StridedAxis& axis : axes) {
    if (axis.size == 1) continue;
    if (!out.empty() && out.back().stride == axis.stride * axis.size) {
      out.back() = {out.back().size * axis.size, axis.stride};
    } else {
      out.push_back(axis);
    }
  }
  return out;
}

// Rows of the innermost axis, one after another.
template <typename T>
void CopyRows(const T* src, T* dst, const std::vector<StridedAxis>& axes) {
  const size_t rank = axes.size();
  const StridedAxis inner = axes.back();
  int64_t rows = 1;
  for (size_t a = 0; a + 1 < rank; ++a) rows *= axes[a].size;
  const int64_t grain = std::max<int64_t>(1, 16384 / inner.size);
  core::ParallelFor(rows, grain, [&](int64_t begin, int64_t end) {
    // Multi-index and source offset of row `begin` over the outer axes.
    std::vector<int64_t> index(rank, 0);
    int64_t offset = 0;
    int64_t rest = begin;
    for (size_t a = rank - 1; a-- > 0;) {
      index[a] = rest % axes[a].size;
      rest /= axes[a].size;
      offset += index[a] * axes[a].stride;
    }
    for (int64_t row = begin; row < end; ++row) {
      T* out = dst + row * inner.size;
      const T* in = src + offset;
      if (inner.stride == 1) {
        std::copy_n(in, inner.size, out);
      } else if (inner.stride == 0) {
        std::fill_n(out, inner.size, *in);
      } else {
        for (int64_t i = 0; i < inner.size; ++i) out[i] = in[i * inner.stride];
      }
      for (size_t a = rank - 1; a-- > 0;) {
        if (++index[a] < axes[a].size) {
          offset += axes[a].stride;
          break;
        }
        offset -= (axes[a].size - 1) * axes[a].stride;
        index[a] = 0;
      }
    }
  });
}

#if defined(__SSE2__)
// out[r * out_stride + c] = in[c * in_stride + r] for a 4x4 block of 4-byte
// elements, in registers.
inline void Transpose4x4(const void* in, int64_t in_stride, void* out, int64_t out_stride) {
  const auto* src = static_cast<const uint32_t*>(in);
  auto* dst = static_cast<uint32_t*>(out);
  __m128 v0 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
  __m128 v1 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + in_stride)));
  __m128 v2 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * in_stride)));
  __m128 v3 = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 3 * in_stride)));
  _MM_TRANSPOSE4_PS(v0, v1, v2, v3);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_castps_si128(v0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + out_stride), _mm_castps_si128(v1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * out_stride), _mm_castps_si128(v2));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 3 * out_stride), _mm_castps_si128(v3));
}
#endif

// Copies a block of `rows` (<= kTile) source-contiguous rows and columns
// [col_begin, col_end) of a transposed view, in kTile x kTile tiles:
// out[r * row_dst_stride + c] = in[c * col_stride + r].
template <typename T, int64_t kTile>
void CopyTile(const T* in, T* out, int64_t rows, int64_t col_begin, int64_t col_end, int64_t col_stride,
              int64_t row_dst_stride) {
  for (; col_begin < col_end; col_begin += kTile) {
    const int64_t cols = std::min(kTile, col_end - col_begin);
    if (rows == kTile && cols == kTile) {
#if defined(__SSE2__)
      if constexpr (sizeof(T) == 4 && std::is_trivially_copyable_v<T>) {
        for (int64_t r = 0; r < kTile; r += 4) {
          for (int64_t c = col_begin; c < col_begin + kTile; c += 4) {
            Transpose4x4(in + c * col_stride + r, col_stride, out + r * row_dst_stride + c, row_dst_stride);
          }
        }
        continue;
      }
#endif
      if constexpr (std::is_trivially_copyable_v<T>) {
        T buffer[kTile][kTile];
        for (int64_t c = 0; c < kTile; ++c) {
          const T* column = in + (col_begin + c) * col_stride;
          for (int64_t r = 0; r < kTile; ++r) buffer[r][c] = column[r];
        }
        for (int64_t r = 0; r < kTile; ++r) {
          T* row = out + r * row_dst_stride + col_begin;
          for (int64_t c = 0; c < kTile; ++c) row[c] = buffer[r][c];
        }
        continue;
      }
    }
    for (int64_t c = col_begin; c < col_begin + cols; ++c) {
      const T* column = in + c * col_stride;
      for (int64_t r = 0; r < rows; ++r) out[r * row_dst_stride + c] = column[r];
    }
  }
}

// A view whose source-contiguous axis `plane` is not the innermost (a
// transpose). Work goes in units of (outer index, span of rows); inside a
// unit, columns are taken a cache line at a time and the span's rows tile by
// tile, so the source and destination pages in use stay few.
template <typename T>
void CopyTransposedTiles(const T* src, T* dst, const std::vector<StridedAxis>& axes, size_t plane) {
  constexpr int64_t kTile = sizeof(T) == 1 ? 16 : 8;
  constexpr int64_t kColumnBlock = std::max<int64_t>(kTile, 64 / static_cast<int64_t>(sizeof(T)));
  const size_t rank = axes.size();
  std::vector<int64_t> dst_strides(rank, 1);
  for (size_t a = rank - 1; a-- > 0;) dst_strides[a] = dst_strides[a + 1] * axes[a + 1].size;
  // Every axis but `plane` and the innermost is an outer loop.
  std::vector<size_t> outer_axes;
  int64_t outer_count = 1;
  for (size_t a = 0; a + 1 < rank; ++a) {
    if (a == plane) continue;
    outer_axes.push_back(a);
    outer_count *= axes[a].size;
  }
  const int64_t rows = axes[plane].size;
  const int64_t cols = axes[rank - 1].size;
  const int64_t col_stride = axes[rank - 1].stride;
  const int64_t row_dst_stride = dst_strides[plane];
  // About 16K elements per unit, in whole tiles.
  const int64_t span = std::clamp<int64_t>(16384 / cols / kTile, 1, 32) * kTile;
  const int64_t row_blocks = (rows + span - 1) / span;
  const int64_t grain = std::max<int64_t>(1, 16384 / (std::min(span, rows) * cols));
  core::ParallelFor(outer_count * row_blocks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t unit = begin; unit < end; ++unit) {
      int64_t outer = unit / row_blocks;
      const int64_t span_begin = (unit % row_blocks) * span;
      const int64_t span_end = std::min(rows, span_begin + span);
      int64_t src_offset = 0;
      int64_t dst_offset = 0;
      for (size_t k = outer_axes.size(); k-- > 0;) {
        const size_t a = outer_axes[k];
        const int64_t i = outer % axes[a].size;
        outer /= axes[a].size;
        src_offset += i * axes[a].stride;
        dst_offset += i * dst_strides[a];
      }
      if (cols < kTile) {
        // Too narrow for tiles: one plain pass over the span.
        CopyTile<T, kTile>(src + src_offset + span_begin, dst + dst_offset + span_begin * row_dst_stride,
                           span_end - span_begin, 0, cols, col_stride, row_dst_stride);
        continue;
      }
      for (int64_t col_begin = 0; col_begin < cols; col_begin += kColumnBlock) {
        const int64_t col_end = std::min(cols, col_begin + kColumnBlock);
        for (int64_t row_begin = span_begin; row_begin < span_end; row_begin += kTile) {
          CopyTile<T, kTile>(src + src_offset + row_begin, dst + dst_offset + row_begin * row_dst_stride,
                             std::min(kTile, span_end - row_begin), col_begin, col_end, col_stride, row_dst_stride);
        }
      }
    }
  });
}

template <typename T>
void CopyStridedTyped(const T* src, T* dst, const std::vector<StridedAxis>& view) {
  for (const StridedAxis& axis : view) {
    if (axis.size == 0) return;
  }
  std::vector<StridedAxis> axes = SimplifyAxes(view);
  if (axes.empty()) {
    dst[0] = src[0];
    return;
  }
  const int64_t inner_stride = axes.back().stride;
  if (inner_stride != 1 && inner_stride != 0 && axes.size() >= 2) {
    // The source-contiguous axis, if any, becomes one side of the tiles.
    for (size_t a = axes.size() - 1; a-- > 0;) {
      if (axes[a].stride == 1) {
        CopyTransposedTiles(src, dst, axes, a);
        return;
      }
    }
  }
  CopyRows(src, dst, axes);
}

}  // namespace

Result<std::vector<int64_t>> ReadShapeInput(const core::Tensor& tensor, std::string_view what) {
  if (tensor.dtype() != core::DataType::kInt64 && tensor.dtype() != core::DataType::kInt32) {
    return core::InvalidArgument("{} must be int64 (or int32), got {}", what, core::DataTypeName(tensor.dtype()));
  }
  if (tensor.rank() > 1) {
    return core::InvalidArgument("{} must be a 1-D tensor, got shape {}", what, core::ShapeToString(tensor.shape()));
  }
  return tensor.ToInt64Vector();
}

Result<int64_t> ReadScalarInput(const core::Tensor& tensor, std::string_view what) {
  if (!core::IsInteger(tensor.dtype())) {
    return core::InvalidArgument("{} must be an integer, got {}", what, core::DataTypeName(tensor.dtype()));
  }
  if (tensor.element_count() != 1) {
    return core::InvalidArgument("{} must hold one value, got shape {}", what, core::ShapeToString(tensor.shape()));
  }
  if (tensor.dtype() == core::DataType::kUInt64 && tensor.data<uint64_t>()[0] > uint64_t{INT64_MAX}) {
    return core::InvalidArgument("{} value {} is too large", what, tensor.data<uint64_t>()[0]);
  }
  return tensor.IntegerAt(0);
}

Result<std::vector<int64_t>> NormalizeAxisList(std::span<const int64_t> axes, int64_t rank, std::string_view what) {
  std::vector<int64_t> out;
  out.reserve(axes.size());
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank) {
      return core::InvalidArgument("{}: axis {} is out of range for rank {}", what, axis, rank);
    }
    const int64_t normalized = axis < 0 ? axis + rank : axis;
    if (std::find(out.begin(), out.end(), normalized) != out.end()) {
      return core::InvalidArgument("{}: axis {} is repeated", what, axis);
    }
    out.push_back(normalized);
  }
  return out;
}

Status CheckIndexRange(const core::Tensor& indices, int64_t dim, std::string_view what) {
  Status status;
  RETURN_IF_ERROR(ForIndexType(indices.dtype(), what, [&]<typename I>() {
    const I* data = indices.data<I>();
    const int64_t count = indices.element_count();
    for (int64_t i = 0; i < count; ++i) {
      const int64_t index = static_cast<int64_t>(data[i]);
      if (index < -dim || index >= dim) {
        status =
            core::InvalidArgument("{}: index {} (element {}) is out of range for dimension {}", what, index, i, dim);
        return;
      }
    }
  }));
  return status;
}

std::optional<std::vector<int64_t>> ConstantInt64s(const InferenceContext& context, int index) {
  const core::Tensor* tensor = context.input_value(index);
  if (!tensor || !core::IsInteger(tensor->dtype())) return std::nullopt;
  return tensor->ToInt64Vector();
}

std::optional<std::vector<Dimension>> InputDims(const InferenceContext& context, int index) {
  const ValueType& type = context.input_type(index);
  if (!type.is_tensor() || !type.has_shape) return std::nullopt;
  return type.dims;
}

Status CopyStridedView(core::DataType dtype, const void* src, void* dst, const std::vector<StridedAxis>& axes) {
  return ForStorageType(
      dtype, [&]<typename T>() { CopyStridedTyped(static_cast<const T*>(src), static_cast<T*>(dst), axes); });
}

Result<ScatterReduction> ParseScatterReduction(const Node& node, int opset) {
  const std::string reduction = node.GetString("reduction", "none");
  if (reduction == "none") return ScatterReduction::kNone;
  if (opset >= 16 && reduction == "add") return ScatterReduction::kAdd;
  if (opset >= 16 && reduction == "mul") return ScatterReduction::kMul;
  if (opset >= 18 && reduction == "max") return ScatterReduction::kMax;
  if (opset >= 18 && reduction == "min") return ScatterReduction::kMin;
  return core::InvalidArgument("reduction '{}' is not supported at opset {}", reduction, opset);
}

std::vector<Dimension> ShapeToDims(const core::TensorShape& shape) {
  std::vector<Dimension> dims;
  dims.reserve(shape.size());
  for (int64_t d : shape) dims.push_back(KnownDim(d));
  return dims;
}

core::TensorShape DimsToShape(const std::vector<Dimension>& dims) {
  core::TensorShape shape;
  shape.reserve(dims.size());
  for (const Dimension& d : dims) shape.push_back(d.known() ? d.value : -1);
  return shape;
}

std::vector<StridedAxis> ContiguousAxes(const core::TensorShape& shape) {
  std::vector<StridedAxis> axes(shape.size());
  int64_t stride = 1;
  for (size_t a = shape.size(); a-- > 0;) {
    axes[a] = {shape[a], stride};
    stride *= shape[a];
  }
  return axes;
}

}  // namespace berth::engine

// Portable pooling: every pooling variant ONNX defines, for the cases oneDNN
// does not take (indices, Lp, float16/double, averages whose ONNX divisor
// oneDNN cannot express, more than 3 spatial axes).
//
// Per spatial axis and output position the range of kernel taps that land
// inside the input is worked out once, so the inner loops never test bounds
// per element.
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "engine/kernels/convolution/conv_common.h"
#include "engine/kernels/pooling/pool_common.h"

namespace berth::engine::pool {

using conv::Window;
using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

Result<Window> ResolvePoolWindow(const PoolAttributes& attributes, const core::TensorShape& x) {
  if (x.size() < (attributes.global ? 2u : 3u)) {
    return core::InvalidArgument("input X {} must have rank {} or more (N, C, spatial...)", core::ShapeToString(x),
                                 attributes.global ? 2 : 3);
  }
  std::span<const int64_t> spatial = std::span<const int64_t>(x).subspan(2);
  if (attributes.global) {
    for (int64_t d : spatial) {
      if (d == 0)
        return core::InvalidArgument("global pooling over an empty spatial extent {}", core::ShapeToString(x));
    }
    return conv::ResolveWindow(conv::WindowAttributes{}, spatial, spatial);
  }
  if (attributes.window.kernel_shape.size() != spatial.size()) {
    return core::InvalidArgument("kernel_shape {} does not match the {} spatial axes of X {}",
                                 core::ShapeToString(attributes.window.kernel_shape), spatial.size(),
                                 core::ShapeToString(x));
  }
  return conv::ResolveWindow(attributes.window, spatial, attributes.window.kernel_shape);
}

core::TensorShape PoolOutputShape(const core::TensorShape& x, const Window& window) {
  core::TensorShape shape = {x[0], x[1]};
  shape.insert(shape.end(), window.output.begin(), window.output.end());
  return shape;
}

namespace {

// One output position along one axis: the first input coordinate, the taps
// that land in the input [begin, end), and how many land in input + explicit
// pads (the count_include_pad divisor). Computed on the fly rather than
// tabulated, so memory stays bounded by the output whatever the attributes.
struct AxisSpan {
  int64_t start;
  int64_t begin;
  int64_t end;
  int64_t padded;
};

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }  // a >= 0, b > 0

inline AxisSpan SpanAt(const Window& window, size_t axis, int64_t o) {
  const int64_t in = window.input[axis];
  const int64_t dilation = window.dilations[axis];
  const int64_t kernel = window.kernel[axis];
  const int64_t start = o * window.strides[axis] - window.pad_begin[axis];
  const int64_t padded_end = in + window.pad_end[axis];
  AxisSpan span{start, 0, 0, 0};
  if (dilation == 1) {
    span.begin = start >= 0 ? 0 : -start;
    span.end = std::min(kernel, in - start);
    span.padded = std::min(kernel, padded_end - start);
  } else {
    span.begin = start >= 0 ? 0 : CeilDiv(-start, dilation);
    span.end = in - start <= 0 ? 0 : std::min(kernel, CeilDiv(in - start, dilation));
    span.padded = padded_end - start <= 0 ? 0 : std::min(kernel, CeilDiv(padded_end - start, dilation));
  }
  span.end = std::max<int64_t>(span.end, 0);
  span.padded = std::max<int64_t>(span.padded, 0);
  span.begin = std::min(span.begin, span.end);
  return span;
}

template <typename T, PoolKind kKind>
void PoolTyped(const PoolAttributes& attributes, const Window& window, const Tensor& x, Tensor& y, Tensor* indices) {
  using C = ComputeType<T>;
  const size_t rank = window.rank;
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t in_size = conv::SpatialSize(window.input);
  const int64_t out_size = conv::SpatialSize(window.output);
  const int64_t kernel_size = conv::SpatialSize(window.kernel);
  // Strides for the row-major offset and for column-major indices.
  std::vector<int64_t> row_strides = core::RowMajorStrides(window.input);
  std::vector<int64_t> col_strides(rank, 1);
  for (size_t a = 1; a < rank; ++a) col_strides[a] = col_strides[a - 1] * window.input[a - 1];
  const std::vector<int64_t>& index_strides = attributes.storage_order == 1 ? col_strides : row_strides;
  const T* xp = x.data<T>();
  T* yp = y.data<T>();
  int64_t* ip = indices ? indices->data<int64_t>() : nullptr;
  const C p = static_cast<C>(attributes.p);

  core::ParallelFor(
      planes * out_size, std::max<int64_t>(1, 8192 / std::max<int64_t>(kernel_size, 1)),
      [&](int64_t begin, int64_t end) {
        std::vector<int64_t> out_index(rank), tap(rank), lo(rank), hi(rank), first(rank);
        int64_t rest = begin % out_size;
        for (size_t a = rank; a-- > 0;) {
          out_index[a] = rest % window.output[a];
          rest /= window.output[a];
        }
        for (int64_t e = begin; e < end; ++e) {
          const int64_t plane = e / out_size;
          const T* src = xp + plane * in_size;
          bool empty = false;
          int64_t padded_count = 1;
          int64_t valid_count = 1;
          for (size_t a = 0; a < rank; ++a) {
            const AxisSpan span = SpanAt(window, a, out_index[a]);
            lo[a] = span.begin;
            hi[a] = span.end;
            first[a] = span.start;
            if (lo[a] >= hi[a]) empty = true;
            padded_count *= span.padded;
            valid_count *= hi[a] - lo[a];
          }
          // Visits every tap inside the input: fn(row-major offset, index offset).
          auto for_each_tap = [&](auto&& fn) {
            if (empty) return;
            std::copy(lo.begin(), lo.end(), tap.begin());
            while (true) {
              int64_t offset = 0, index_offset = 0;
              for (size_t a = 0; a < rank; ++a) {
                const int64_t i = first[a] + tap[a] * window.dilations[a];
                offset += i * row_strides[a];
                index_offset += i * index_strides[a];
              }
              fn(offset, index_offset);
              size_t a = rank;
              while (a-- > 0) {
                if (++tap[a] < hi[a]) break;
                tap[a] = lo[a];
              }
              if (a == static_cast<size_t>(-1)) return;
            }
          };
          if constexpr (kKind == PoolKind::kMax) {
            C best = std::numeric_limits<C>::lowest();
            int64_t best_index = -1;
            for_each_tap([&](int64_t offset, int64_t index_offset) {
              const C v = static_cast<C>(src[offset]);
              if (best_index < 0 || v > best) {
                best = v;
                best_index = index_offset;
              }
            });
            yp[e] = static_cast<T>(best);
            if (ip) ip[e] = best_index < 0 ? -1 : plane * in_size + best_index;
          } else if constexpr (kKind == PoolKind::kAverage) {
            C sum = 0;
            for_each_tap([&](int64_t offset, int64_t) { sum += static_cast<C>(src[offset]); });
            const int64_t count = attributes.count_include_pad ? padded_count : valid_count;
            yp[e] = static_cast<T>(sum / static_cast<C>(count));
          } else {
            C sum = 0;
            if (attributes.p == 1) {
              for_each_tap([&](int64_t offset, int64_t) { sum += std::abs(static_cast<C>(src[offset])); });
            } else if (attributes.p == 2) {
              for_each_tap([&](int64_t offset, int64_t) {
                const C v = static_cast<C>(src[offset]);
                sum += v * v;
              });
              sum = std::sqrt(sum);
            } else {
              for_each_tap([&](int64_t offset, int64_t) { sum += std::pow(std::abs(static_cast<C>(src[offset])), p); });
              sum = std::pow(sum, C(1) / p);
            }
            yp[e] = static_cast<T>(sum);
          }
          // Next output position (wrapping to the next plane).
          conv::NextIndex(out_index, window.output);
        }
      });
}

}  // namespace

Status PortablePool(const PoolAttributes& attributes, const Window& window, const Tensor& x, Tensor& y,
                    Tensor* indices) {
  const DataType dtype = x.dtype();
  if (attributes.kind == PoolKind::kMax) {
    auto run = [&]<typename T>() {
      PoolTyped<T, PoolKind::kMax>(attributes, window, x, y, indices);
      return Status::Ok();
    };
    switch (dtype) {
      case DataType::kFloat32:
        return run.template operator()<float>();
      case DataType::kFloat64:
        return run.template operator()<double>();
      case DataType::kFloat16:
        return run.template operator()<core::Float16>();
      case DataType::kBFloat16:
        return run.template operator()<core::BFloat16>();
      case DataType::kInt8:
        return run.template operator()<int8_t>();
      case DataType::kUInt8:
        return run.template operator()<uint8_t>();
      default:
        return core::Unimplemented("MaxPool on {} is not supported (float types, int8 and uint8 are)",
                                   core::DataTypeName(dtype));
    }
  }
  return core::VisitFloatType(dtype, [&]<typename T>() -> Status {
    if constexpr (std::is_void_v<T>) {
      return core::Unimplemented("{} on {} is not supported (float types are)",
                                 attributes.kind == PoolKind::kAverage ? "AveragePool" : "LpPool",
                                 core::DataTypeName(dtype));
    } else {
      if (attributes.kind == PoolKind::kAverage) {
        PoolTyped<T, PoolKind::kAverage>(attributes, window, x, y, nullptr);
      } else {
        PoolTyped<T, PoolKind::kLp>(attributes, window, x, y, nullptr);
      }
      return Status::Ok();
    }
  });
}

}  // namespace berth::engine::pool

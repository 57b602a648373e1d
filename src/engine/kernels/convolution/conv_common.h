// Pieces shared by the convolution family's files (convolution.cc,
// conv_transpose.cc, conv_integer.cc): the resolved problem shape, the
// portable im2col convolution used for types and ranks oneDNN does not cover
// (double, integer, more than 3 spatial axes), a direct transposed
// convolution, half <-> float conversion, and the factories each file
// provides to RegisterConvolutionKernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/convolution/conv_geometry.h"

namespace berth::engine::conv {

// One convolution problem: N x C input, M output channels in `group` groups,
// and the spatial window. For ConvTranspose, C is the input channels of X and
// M the output channels of Y as well.
struct ConvShape {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
  Window window;

  int64_t InputSize() const { return SpatialSize(window.input); }
  int64_t OutputSize() const { return SpatialSize(window.output); }
  int64_t KernelSize() const { return SpatialSize(window.kernel); }
  core::TensorShape OutputShape() const {
    core::TensorShape shape = {batch, out_channels};
    shape.insert(shape.end(), window.output.begin(), window.output.end());
    return shape;
  }
};

// Checks X [N, C, spatial...] and W [M, C/group, kernel...] (or, for a
// transposed convolution, W [C, M/group, kernel...]) against each other and
// the attributes, and resolves the window. The output is checked against the
// tensor size limit.
core::Result<ConvShape> ResolveConvShape(const WindowAttributes& attributes, int64_t group, const core::TensorShape& x,
                                         const core::TensorShape& w);
core::Result<ConvShape> ResolveConvTransposeShape(const TransposeAttributes& attributes, int64_t group,
                                                  const core::TensorShape& x, const core::TensorShape& w);

// Reads and checks the `group` attribute.
core::Result<int64_t> ParseGroup(const Node& node);

// Conv and ConvTranspose run float16, bfloat16, float32 and float64;
// Unimplemented, naming `op`, for any other type.
core::Status CheckFloatConvType(std::string_view op, core::DataType dtype);

// Constant weights W (input 1) of float16, bfloat16 or float32, and a
// constant bias B (input 2) of the same type, as float32 for prepacking:
// shared when already float32, converted at load otherwise. Each is empty
// when the input is not constant or of another type.
struct ConstantFloatOperands {
  std::optional<core::Tensor> weights;
  std::optional<core::Tensor> bias;
};
core::Result<ConstantFloatOperands> ConstantFloatWeightsAndBias(KernelBuildContext& context);

// Static inference for Conv-like ops: Y [N, M, spatial...] of `dtype` from X
// at `x_index` and W at `w_index` (unknown dims -1; nullopt when X's shape is
// unknown), and that shape set as output 0's type.
core::Result<std::optional<core::TensorShape>> InferConvOutputShape(InferenceContext& context, int x_index,
                                                                    int w_index);
core::Status InferConvLike(InferenceContext& context, int x_index, int w_index, core::DataType dtype);

// ---------------------------------------------------------------------------
// Portable kernels.

// Steps `index` through the multi-index space `dims` in row-major order;
// returns false after the last one.
inline bool NextIndex(std::vector<int64_t>& index, const std::vector<int64_t>& dims) {
  for (size_t a = index.size(); a-- > 0;) {
    if (++index[a] < dims[a]) return true;
    index[a] = 0;
  }
  return false;
}

// Calls fn(k, offset) for every kernel tap k (row-major over window.kernel) of
// the window placed at `position`. The tap lands, per axis, at
//   position * stride - pad_begin + tap * dilation
// in a space of `extents` whose row-major strides are `extent_strides`;
// `offset` is where, or -1 when the tap falls in the padding. A convolution
// walks from an output position into the input, a transposed convolution
// from an input position into the output: one rule serves both. `tap` is
// scratch space with window.rank entries, owned by the caller so the hot
// loops allocate nothing.
template <typename Fn>
inline void ForEachTap(const Window& window, const std::vector<int64_t>& position, const std::vector<int64_t>& extents,
                       const std::vector<int64_t>& extent_strides, std::vector<int64_t>& tap, Fn&& fn) {
  const size_t rank = window.rank;
  std::fill(tap.begin(), tap.end(), 0);
  int64_t k = 0;
  do {
    int64_t offset = 0;
    for (size_t a = 0; a < rank; ++a) {
      const int64_t i = position[a] * window.strides[a] - window.pad_begin[a] + tap[a] * window.dilations[a];
      if (i < 0 || i >= extents[a]) {
        offset = -1;
        break;
      }
      offset += i * extent_strides[a];
    }
    fn(k, offset);
    ++k;
  } while (NextIndex(tap, window.kernel));
}

// out[n, m, p] = sum over the group's channels c and kernel taps k of
//   weights[m, c, k] * load(x index of tap k of window p in channel c),
// with taps in the padding contributing nothing. Works in blocks of output
// positions: the block's im2col matrix (Col) times the group's weights, with
// the innermost loop running over positions so it vectorises. `weights` is
// [M, C/group * K] in the element type of the column buffer; `out` is
// [N, M, P] of the accumulator type. Parallel over (batch, group, block).
template <typename Col, typename Acc, typename Load>
void Im2ColConvolution(const ConvShape& shape, Load&& load, const Col* weights, Acc* out) {
  const Window& window = shape.window;
  const size_t rank = window.rank;
  const int64_t in_per_group = shape.in_channels / shape.group;
  const int64_t out_per_group = shape.out_channels / shape.group;
  const int64_t kernel_size = shape.KernelSize();
  const int64_t input_size = shape.InputSize();
  const int64_t output_size = shape.OutputSize();
  const int64_t rows = in_per_group * kernel_size;
  if (rows == 0) {  // no input channels: every sum is empty
    std::fill(out, out + shape.batch * shape.out_channels * output_size, Acc(0));
    return;
  }
  // Block of output positions so the column buffer stays around L2 size
  // (and never much larger than the weights themselves).
  const int64_t block =
      std::clamp<int64_t>(static_cast<int64_t>((256 << 10) / sizeof(Col)) / std::max<int64_t>(rows, 1), 1, 1024);
  const int64_t blocks = (output_size + block - 1) / block;
  const int64_t tasks = shape.batch * shape.group * blocks;
  std::vector<int64_t> input_strides = core::RowMajorStrides(window.input);
  core::ParallelFor(tasks, 1, [&](int64_t begin, int64_t end) {
    std::vector<Col> column(static_cast<size_t>(rows * block));
    std::vector<Acc> accumulator(static_cast<size_t>(block));
    std::vector<int64_t> out_index(rank), tap(rank);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task % blocks;
      const int64_t g = (task / blocks) % shape.group;
      const int64_t n = task / blocks / shape.group;
      const int64_t p0 = b * block;
      const int64_t count = std::min(block, output_size - p0);
      const int64_t x_group = (n * shape.in_channels + g * in_per_group) * input_size;
      // Fill the column matrix: row (c, k), column p.
      int64_t rest = p0;
      for (size_t a = rank; a-- > 0;) {
        out_index[a] = rest % window.output[a];
        rest /= window.output[a];
      }
      for (int64_t j = 0; j < count; ++j) {
        ForEachTap(window, out_index, window.input, input_strides, tap, [&](int64_t k, int64_t offset) {
          Col* row = column.data() + k * block + j;
          if (offset >= 0) {
            for (int64_t c = 0; c < in_per_group; ++c)
              row[c * kernel_size * block] = load(x_group + c * input_size + offset);
          } else {
            for (int64_t c = 0; c < in_per_group; ++c) row[c * kernel_size * block] = Col(0);
          }
        });
        NextIndex(out_index, window.output);
      }
      // Multiply by the group's weights.
      for (int64_t m = 0; m < out_per_group; ++m) {
        const int64_t channel = g * out_per_group + m;
        const Col* w = weights + channel * rows;
        Acc* acc = accumulator.data();
        std::fill(acc, acc + count, Acc(0));
        for (int64_t r = 0; r < rows; ++r) {
          const Acc wv = static_cast<Acc>(w[r]);
          // Zero weights are skipped only for integers (0 * inf must stay NaN).
          if constexpr (std::is_integral_v<Acc>) {
            if (wv == 0) continue;
          }
          const Col* col = column.data() + r * block;
          for (int64_t j = 0; j < count; ++j) acc[j] += wv * static_cast<Acc>(col[j]);
        }
        std::copy(acc, acc + count, out + (n * shape.out_channels + channel) * output_size + p0);
      }
    }
  });
}

// Transposed convolution, scattering each input element through the kernel:
//   y[n, m, o] = bias[m] + sum x[n, c, q] * w[c, m', k]  where o = q*s - pad_begin + k*d
// (pads may be negative). Parallel over output planes, so no two threads
// write the same element. For types oneDNN does not cover.
template <typename T>
void ReferenceConvTranspose(const ConvShape& shape, const T* x, const T* w, const T* bias, T* y) {
  const Window& window = shape.window;
  const size_t rank = window.rank;
  const int64_t in_per_group = shape.in_channels / shape.group;
  const int64_t out_per_group = shape.out_channels / shape.group;
  const int64_t kernel_size = shape.KernelSize();
  const int64_t input_size = shape.InputSize();
  const int64_t output_size = shape.OutputSize();
  std::vector<int64_t> output_strides = core::RowMajorStrides(window.output);
  core::ParallelFor(shape.batch * shape.out_channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> q_index(rank), tap(rank);
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t n = plane / shape.out_channels;
      const int64_t m = plane % shape.out_channels;
      const int64_t g = m / out_per_group;
      const int64_t o = m % out_per_group;
      T* yp = y + plane * output_size;
      std::fill(yp, yp + output_size, bias ? bias[m] : T(0));
      for (int64_t i = 0; i < in_per_group; ++i) {
        const int64_t c = g * in_per_group + i;
        const T* xp = x + (n * shape.in_channels + c) * input_size;
        const T* wp = w + (c * out_per_group + o) * kernel_size;
        std::fill(q_index.begin(), q_index.end(), 0);
        for (int64_t q = 0; q < input_size; ++q, NextIndex(q_index, window.input)) {
          const T xv = xp[q];
          ForEachTap(window, q_index, window.output, output_strides, tap, [&](int64_t k, int64_t offset) {
            if (offset >= 0) yp[offset] += xv * wp[k];
          });
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------
// Half types compute in float.

// A float32 copy of a float16 / bfloat16 / float32 tensor.
core::Result<core::Tensor> ToFloat32(const core::Tensor& tensor, core::Allocator& allocator);
// Writes float32 `values` into `out` (float16 / bfloat16 / float32), same count.
void FromFloat32(const float* values, core::Tensor& out);

// ---------------------------------------------------------------------------
// Factories and inference provided by the family's other files.

core::Result<std::unique_ptr<Kernel>> CreateConvTransposeKernel(KernelBuildContext& context);
core::Status InferConvTranspose(InferenceContext& context);
core::Result<std::unique_ptr<Kernel>> CreateConvIntegerKernel(KernelBuildContext& context);
core::Status InferConvInteger(InferenceContext& context);
core::Result<std::unique_ptr<Kernel>> CreateQLinearConvKernel(KernelBuildContext& context);
core::Status InferQLinearConv(InferenceContext& context);

}  // namespace berth::engine::conv

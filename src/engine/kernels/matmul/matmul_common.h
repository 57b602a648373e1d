// Shared by the matrix-product kernels (MatMul, Gemm, MatMulInteger,
// QLinearMatMul, Einsum): numpy matmul shape rules, a plain batched matrix
// product for every element type, and float32 products on oneDNN with
// per-shape primitives and constant weights prepacked into the layout the
// primitive prefers.
#pragma once

#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <type_traits>
#include <vector>

#include "engine/kernels/common/dnnl_shape_cache.h"
#include "engine/kernels/common/dnnl_util.h"
#include "engine/kernels/common/fused_activation.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/common/packed_weights.h"

namespace berth::engine {

// numpy matmul: a 1-D A is read as [1,K] and a 1-D B as [K,1], and the added
// dim is dropped from the output; batch dims broadcast.
struct MatMulShapes {
  core::TensorShape a_batch;  // A's batch dims, left-padded with 1 to batch.size()
  core::TensorShape b_batch;  // B's, likewise
  core::TensorShape batch;    // broadcast batch dims
  int64_t m = 1;
  int64_t k = 1;
  int64_t n = 1;
  core::TensorShape output;
  int64_t batch_count() const { return core::ElementCount(batch); }
};

// Error when a rank is 0, inner dims differ or batch dims do not broadcast.
core::Result<MatMulShapes> ComputeMatMulShapes(const core::TensorShape& a, const core::TensorShape& b);

// Static rule for inputs a_index and b_index of a matmul-like op: output
// `dtype` with the numpy matmul shape (unknown dims stay unknown).
core::Status InferMatMulLike(InferenceContext& context, int a_index, int b_index, core::DataType dtype);

// ---------------------------------------------------------------------------
// Plain matrix products for every numeric type.

// What a product of T accumulates in: float for half types, the type itself
// for float/double, and wrapping unsigned arithmetic for integers (ONNX
// integer matmul wraps like numpy; signed overflow would be undefined).
template <typename T>
using MatMulAccumulator =
    std::conditional_t<std::is_integral_v<T>, std::conditional_t<(sizeof(T) <= 4), uint32_t, uint64_t>, ComputeType<T>>;

// acc[0..N) = row(A) x B, where the row of A has K elements `a_step` apart and
// B(k, n) is at b[k * b_row_stride + n * b_col_stride].
template <typename T, typename Acc>
inline void RowTimesMatrix(const T* a, int64_t a_step, const T* b, int64_t b_row_stride, int64_t b_col_stride,
                           int64_t k_count, int64_t n_count, Acc* acc) {
  for (int64_t n = 0; n < n_count; ++n) acc[n] = Acc(0);
  for (int64_t k = 0; k < k_count; ++k) {
    const Acc av = static_cast<Acc>(a[k * a_step]);
    const T* bk = b + k * b_row_stride;
    if (b_col_stride == 1) {
      for (int64_t n = 0; n < n_count; ++n) acc[n] += av * static_cast<Acc>(bk[n]);
    } else {
      for (int64_t n = 0; n < n_count; ++n) acc[n] += av * static_cast<Acc>(bk[n * b_col_stride]);
    }
  }
}

// Rows per parallel chunk so that a chunk holds a useful amount of work.
inline int64_t MatMulRowGrain(int64_t k_count, int64_t n_count) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, k_count * n_count));
}

// out[M,N] (rows contiguous) = A x B with A(m,k) = a[m*a_rs + k*a_cs] and
// B(k,n) = b[k*b_rs + n*b_cs]. Parallel over rows.
template <typename T>
void StridedMatMul(const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs, int64_t b_cs, T* out,
                   int64_t m_count, int64_t k_count, int64_t n_count) {
  using Acc = MatMulAccumulator<T>;
  core::ParallelFor(m_count, MatMulRowGrain(k_count, n_count), [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(static_cast<size_t>(n_count));
    for (int64_t m = begin; m < end; ++m) {
      RowTimesMatrix(a + m * a_rs, a_cs, b, b_rs, b_cs, k_count, n_count, acc.data());
      T* row = out + m * n_count;
      for (int64_t n = 0; n < n_count; ++n) row[n] = StoreAs<T>(acc[n]);
    }
  });
}

// Offsets (in elements) of each batch's matrix in A and B, for the broadcast
// batch of `shapes` (A's matrices are M*K apart, B's K*N).
void MatMulBatchOffsets(const MatMulShapes& shapes, std::vector<int64_t>* a_offsets, std::vector<int64_t>* b_offsets);

// The numpy matmul of contiguous a and b into contiguous out (output shape of
// `shapes`). Parallel over all output rows of all batches.
template <typename T>
void ReferenceMatMul(const MatMulShapes& shapes, const T* a, const T* b, T* out) {
  using Acc = MatMulAccumulator<T>;
  std::vector<int64_t> a_offsets, b_offsets;
  MatMulBatchOffsets(shapes, &a_offsets, &b_offsets);
  const int64_t m_count = shapes.m, k_count = shapes.k, n_count = shapes.n;
  const int64_t rows = static_cast<int64_t>(a_offsets.size()) * m_count;
  core::ParallelFor(rows, MatMulRowGrain(k_count, n_count), [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(static_cast<size_t>(n_count));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t batch = r / m_count;
      const int64_t m = r % m_count;
      RowTimesMatrix(a + a_offsets[batch] + m * k_count, 1, b + b_offsets[batch], n_count, 1, k_count, n_count,
                     acc.data());
      T* row = out + r * n_count;
      for (int64_t n = 0; n < n_count; ++n) row[n] = StoreAs<T>(acc[n]);
    }
  });
}

// ---------------------------------------------------------------------------
// float32 on oneDNN.

// dst = output_scale * (src x weights + bias), then the post-ops: `addend`
// (broadcast to dst) is added and `activation` applied, in that order unless
// `activation_first`. bias and addend are zero descs when absent.
struct DnnlMatMulProblem {
  dnnl::memory::desc src;
  dnnl::memory::desc weights;
  dnnl::memory::desc bias;
  dnnl::memory::desc dst;
  float output_scale = 1.0f;
  dnnl::memory::desc addend;
  FusedActivation activation;
  bool activation_first = false;
};

struct DnnlMatMulPlan {
  dnnl::matmul primitive;
  dnnl::memory::desc src, weights, bias, dst, scratchpad, addend;
  int addend_post_op = 0;       // index of the binary post-op in the chain
  dnnl::memory packed_weights;  // set when built with PackedWeights
  dnnl_util::PrimitiveArguments arguments;
};

// Builds the primitive; with `packed`, the weights are the constant ones
// (problem.weights must equal packed->plain()) and are prepared for it.
core::Result<std::shared_ptr<const DnnlMatMulPlan>> BuildDnnlMatMulPlan(const DnnlMatMulProblem& problem,
                                                                        PackedWeights* packed);
// `weights` is ignored when the plan holds packed weights; `bias` when it has
// none. The memory objects and argument map are kept per thread and plan, so a
// steady-state call allocates nothing but a scratchpad (from `allocator`).
core::Status RunDnnlMatMulPlan(const DnnlMatMulPlan& plan, const float* src, const float* weights, const float* bias,
                               float* dst, core::Allocator& allocator, const float* addend = nullptr);

// Input B of a matmul-like kernel. With B prepacked at load, the packed
// operand: its dtype and shape, no data (the data lives in the packed
// layouts); otherwise input 1 as fed.
inline core::Result<const core::Tensor*> MatMulInputB(const KernelContext& context, const PackedWeights* packed_b) {
  if (packed_b) return &packed_b->operand();
  return RequireTensor(context, 1, "B");
}

// Row-major float32 desc for dims (by strides, so any rank oneDNN takes works).
dnnl::memory::desc RowMajorF32Desc(const dnnl::memory::dims& dims);

// The oneDNN problem for a numpy matmul of contiguous float32 operands. When
// B has no batch dims, A's batch is folded into its rows (one 2-D product).
// Unimplemented when the rank is beyond what oneDNN takes.
core::Result<DnnlMatMulProblem> MakeDnnlMatMulProblem(const MatMulShapes& shapes);

// A float32 numpy matmul of contiguous operands, with primitives cached in
// `plans` by shape; falls back to the plain product when oneDNN cannot.
core::Status FloatMatMul(const MatMulShapes& shapes, const float* a, const float* b, float* out,
                         const DnnlShapeCache<DnnlMatMulPlan>& plans, core::Allocator& allocator);

}  // namespace berth::engine

// MatMulInteger and QLinearMatMul: numpy matmul of 8-bit integers with zero
// points, accumulated exactly in 32 bits; QLinearMatMul then requantizes.
#include <cmath>
#include <limits>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/matmul/matmul_common.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

template <typename Fn>
bool VisitInt8Type(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kInt8) return fn.template operator()<int8_t>();
  if (dtype == DataType::kUInt8) return fn.template operator()<uint8_t>();
  return false;
}

// A quantization parameter (zero point or scale) of one operand: one value
// for the tensor, one per row of A / column of B (`extent` values), or one per
// batch and row/column (the N-D form [..., M, 1] / [..., 1, N]).
class QuantParam {
 public:
  static Result<QuantParam> Read(const Tensor* tensor, int64_t extent, int64_t batches, double fallback,
                                 std::string_view what) {
    QuantParam p;
    p.extent_ = extent;
    if (!tensor || tensor->element_count() == 0) {
      p.values_.push_back(fallback);
      return p;
    }
    const int64_t count = tensor->element_count();
    if (count != 1 && count != extent && count != batches * extent) {
      return core::InvalidArgument("{} has {} values; expected 1, {} or {}", what, count, extent, batches * extent);
    }
    p.values_.resize(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) p.values_[i] = tensor->NumberAt(i);
    return p;
  }
  double At(int64_t batch, int64_t i) const {
    if (values_.size() == 1) return values_[0];
    if (static_cast<int64_t>(values_.size()) == extent_) return values_[i];
    return values_[batch * extent_ + i];
  }
  bool scalar() const { return values_.size() == 1; }

 private:
  std::vector<double> values_;
  int64_t extent_ = 1;
};

// Index of A's (or B's) own batch matrix for each broadcast batch.
std::vector<int64_t> OwnBatchIndex(const std::vector<int64_t>& offsets, int64_t matrix_size) {
  std::vector<int64_t> index(offsets.size());
  for (size_t i = 0; i < offsets.size(); ++i) index[i] = matrix_size ? offsets[i] / matrix_size : 0;
  return index;
}

// out = (A - a_zero) x (B - b_zero) in int32 (wrapping, like the reference
// implementations, if the sum overflows).
template <typename TA, typename TB>
void IntegerMatMul(const MatMulShapes& s, const TA* a, const TB* b, const QuantParam& a_zero, const QuantParam& b_zero,
                   int32_t* out) {
  std::vector<int64_t> a_offsets, b_offsets;
  MatMulBatchOffsets(s, &a_offsets, &b_offsets);
  const std::vector<int64_t> a_batch = OwnBatchIndex(a_offsets, s.m * s.k);
  const int64_t b_batches = core::ElementCount(s.b_batch);
  // B minus its zero points, once: the inner loop is then a plain int product.
  std::vector<int32_t> b_shifted(static_cast<size_t>(b_batches * s.k * s.n));
  core::ParallelFor(b_batches * s.k, std::max<int64_t>(1, 16384 / std::max<int64_t>(s.n, 1)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t row = begin; row < end; ++row) {
                        const int64_t batch = row / s.k;
                        for (int64_t n = 0; n < s.n; ++n) {
                          b_shifted[row * s.n + n] =
                              static_cast<int32_t>(b[row * s.n + n]) - static_cast<int32_t>(b_zero.At(batch, n));
                        }
                      }
                    });
  const int64_t rows = static_cast<int64_t>(a_offsets.size()) * s.m;
  core::ParallelFor(rows, MatMulRowGrain(s.k, s.n), [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> acc(static_cast<size_t>(s.n));
    std::vector<int32_t> a_row(static_cast<size_t>(s.k));
    for (int64_t r = begin; r < end; ++r) {
      const int64_t batch = r / s.m;
      const int64_t m = r % s.m;
      const int32_t zero = static_cast<int32_t>(a_zero.At(a_batch[batch], m));
      const TA* src = a + a_offsets[batch] + m * s.k;
      for (int64_t k = 0; k < s.k; ++k) a_row[k] = static_cast<int32_t>(src[k]) - zero;
      RowTimesMatrix<int32_t, uint32_t>(a_row.data(), 1, b_shifted.data() + b_offsets[batch], s.n, 1, s.k, s.n,
                                        acc.data());
      for (int64_t n = 0; n < s.n; ++n) out[r * s.n + n] = static_cast<int32_t>(acc[n]);
    }
  });
}

struct IntegerOperands {
  const Tensor* a = nullptr;
  const Tensor* b = nullptr;
  MatMulShapes shapes;
  int64_t a_batches = 1;  // A's own batch matrices
  int64_t b_batches = 1;
};

Result<IntegerOperands> ReadOperands(KernelContext& context, int a_index, int b_index) {
  IntegerOperands ops;
  ASSIGN_OR_RETURN(ops.a, RequireTensor(context, a_index, "A"));
  ASSIGN_OR_RETURN(ops.b, RequireTensor(context, b_index, "B"));
  for (const Tensor* t : {ops.a, ops.b}) {
    if (!Is8BitInteger(t->dtype())) {
      return core::Unimplemented("quantized matmul takes int8 or uint8 operands, got {}",
                                 core::DataTypeName(t->dtype()));
    }
  }
  ASSIGN_OR_RETURN(ops.shapes, ComputeMatMulShapes(ops.a->shape(), ops.b->shape()));
  ops.a_batches = core::ElementCount(ops.shapes.a_batch);
  ops.b_batches = core::ElementCount(ops.shapes.b_batch);
  return ops;
}

Status RunIntegerMatMul(const IntegerOperands& ops, const QuantParam& a_zero, const QuantParam& b_zero, int32_t* out) {
  bool ok = VisitInt8Type(ops.a->dtype(), [&]<typename TA>() {
    return VisitInt8Type(ops.b->dtype(), [&]<typename TB>() {
      IntegerMatMul<TA, TB>(ops.shapes, ops.a->data<TA>(), ops.b->data<TB>(), a_zero, b_zero, out);
      return true;
    });
  });
  return ok ? Status::Ok() : core::Internal("quantized matmul: unexpected operand types");
}

Status ComputeMatMulInteger(KernelContext& context) {
  ASSIGN_OR_RETURN(IntegerOperands ops, ReadOperands(context, 0, 1));
  const MatMulShapes& s = ops.shapes;
  ASSIGN_OR_RETURN(QuantParam a_zero, QuantParam::Read(context.input_tensor(2), s.m, ops.a_batches, 0, "a_zero_point"));
  ASSIGN_OR_RETURN(QuantParam b_zero, QuantParam::Read(context.input_tensor(3), s.n, ops.b_batches, 0, "b_zero_point"));
  ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kInt32, s.output));
  if (out->element_count() == 0) return Status::Ok();
  return RunIntegerMatMul(ops, a_zero, b_zero, out->data<int32_t>());
}

template <typename Q>
void Requantize(const MatMulShapes& s, const int32_t* acc, const std::vector<int64_t>& a_batch,
                const QuantParam& a_scale, const QuantParam& b_scale, const QuantParam& y_scale,
                const QuantParam& y_zero, Q* out) {
  const int64_t rows = static_cast<int64_t>(a_batch.size()) * s.m;
  const std::vector<int64_t> b_batch = [&] {
    std::vector<int64_t> a_offsets, b_offsets;
    MatMulBatchOffsets(s, &a_offsets, &b_offsets);
    return OwnBatchIndex(b_offsets, s.k * s.n);
  }();
  core::ParallelFor(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(s.n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t batch = r / s.m;
      const int64_t m = r % s.m;
      const double row_scale = a_scale.At(a_batch[batch], m) / y_scale.At(a_batch[batch], m);
      const double zero = y_zero.At(a_batch[batch], m);
      for (int64_t n = 0; n < s.n; ++n) {
        // Round half to even (the default rounding mode), then saturate.
        double v = std::nearbyint(static_cast<double>(acc[r * s.n + n]) * row_scale * b_scale.At(b_batch[batch], n));
        v += zero;
        v = std::min<double>(std::max<double>(v, std::numeric_limits<Q>::lowest()), std::numeric_limits<Q>::max());
        out[r * s.n + n] = static_cast<Q>(v);
      }
    }
  });
}

Status ComputeQLinearMatMul(KernelContext& context) {
  ASSIGN_OR_RETURN(IntegerOperands ops, ReadOperands(context, 0, 3));
  const MatMulShapes& s = ops.shapes;
  ASSIGN_OR_RETURN(const Tensor* a_scale_t, RequireTensor(context, 1, "a_scale"));
  ASSIGN_OR_RETURN(const Tensor* b_scale_t, RequireTensor(context, 4, "b_scale"));
  ASSIGN_OR_RETURN(const Tensor* y_scale_t, RequireTensor(context, 6, "y_scale"));
  ASSIGN_OR_RETURN(const Tensor* y_zero_t, RequireTensor(context, 7, "y_zero_point"));
  ASSIGN_OR_RETURN(QuantParam a_scale, QuantParam::Read(a_scale_t, s.m, ops.a_batches, 1, "a_scale"));
  ASSIGN_OR_RETURN(QuantParam b_scale, QuantParam::Read(b_scale_t, s.n, ops.b_batches, 1, "b_scale"));
  ASSIGN_OR_RETURN(QuantParam y_scale, QuantParam::Read(y_scale_t, s.m, ops.a_batches, 1, "y_scale"));
  ASSIGN_OR_RETURN(QuantParam a_zero, QuantParam::Read(context.input_tensor(2), s.m, ops.a_batches, 0, "a_zero_point"));
  ASSIGN_OR_RETURN(QuantParam b_zero, QuantParam::Read(context.input_tensor(5), s.n, ops.b_batches, 0, "b_zero_point"));
  ASSIGN_OR_RETURN(QuantParam y_zero, QuantParam::Read(y_zero_t, s.m, ops.a_batches, 0, "y_zero_point"));
  const DataType out_type = y_zero_t->dtype();
  if (!Is8BitInteger(out_type)) {
    return core::Unimplemented("QLinearMatMul output type {} is not supported", core::DataTypeName(out_type));
  }
  ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, out_type, s.output));
  if (out->element_count() == 0) return Status::Ok();
  ASSIGN_OR_RETURN(Tensor acc, Tensor::Create(DataType::kInt32, s.output, context.allocator()));
  RETURN_IF_ERROR(RunIntegerMatMul(ops, a_zero, b_zero, acc.data<int32_t>()));
  std::vector<int64_t> a_offsets, b_offsets;
  MatMulBatchOffsets(s, &a_offsets, &b_offsets);
  const std::vector<int64_t> a_batch = OwnBatchIndex(a_offsets, s.m * s.k);
  VisitInt8Type(out_type, [&]<typename Q>() {
    Requantize<Q>(s, acc.data<int32_t>(), a_batch, a_scale, b_scale, y_scale, y_zero, out->data<Q>());
    return true;
  });
  return Status::Ok();
}

}  // namespace

void RegisterMatMulIntegerKernels(OpRegistry& registry) {
  registry.Register(
      "", "MatMulInteger", {10},
      [](InferenceContext& context) { return InferMatMulLike(context, 0, 1, DataType::kInt32); },
      [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> { return MakeFunctionKernel(ComputeMatMulInteger); });
  registry.Register(
      "", "QLinearMatMul", {10},
      [](InferenceContext& context) { return InferMatMulLike(context, 0, 3, InputDtype(context, 7)); },
      [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> { return MakeFunctionKernel(ComputeQLinearMatMul); });
}

}  // namespace berth::engine

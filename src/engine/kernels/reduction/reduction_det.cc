// Det: determinant of each square matrix in the last two axes, by LU
// decomposition with partial pivoting (in double for every float type).
#include <cmath>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

template <typename T>
double ToDouble(T value) {
  if constexpr (std::is_same_v<T, double>) {
    return value;
  } else {
    return static_cast<float>(value);
  }
}

// Destroys `a` (n x n, row-major).
double Determinant(double* a, int64_t n) {
  double det = 1.0;
  for (int64_t col = 0; col < n; ++col) {
    int64_t pivot = col;
    double best = std::fabs(a[col * n + col]);
    for (int64_t row = col + 1; row < n; ++row) {
      double magnitude = std::fabs(a[row * n + col]);
      if (magnitude > best) {
        best = magnitude;
        pivot = row;
      }
    }
    if (best == 0.0) return 0.0;
    if (pivot != col) {
      for (int64_t k = 0; k < n; ++k) std::swap(a[col * n + k], a[pivot * n + k]);
      det = -det;
    }
    const double diagonal = a[col * n + col];
    det *= diagonal;
    for (int64_t row = col + 1; row < n; ++row) {
      const double factor = a[row * n + col] / diagonal;
      if (factor == 0.0) continue;
      for (int64_t k = col + 1; k < n; ++k) a[row * n + k] -= factor * a[col * n + k];
    }
  }
  return det;
}

Status InferDet(InferenceContext& context) {
  const core::DataType dtype = InputDtype(context, 0);
  std::optional<TensorShape> input_shape = InputShapeOrUnknownOutput(context, dtype);
  if (!input_shape) return Status::Ok();
  TensorShape& shape = *input_shape;
  if (shape.size() < 2) return core::InvalidArgument("Det needs rank >= 2, got {}", shape.size());
  shape.resize(shape.size() - 2);
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return Status::Ok();
}

Status ComputeDet(KernelContext& context) {
  ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
  if (x->rank() < 2)
    return core::InvalidArgument("X must have rank >= 2, got shape {}", core::ShapeToString(x->shape()));
  const int64_t n = x->dim(x->rank() - 1);
  if (x->dim(x->rank() - 2) != n) {
    return core::InvalidArgument("X must hold square matrices, got shape {}", core::ShapeToString(x->shape()));
  }
  TensorShape out_shape(x->shape().begin(), x->shape().end() - 2);
  ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), out_shape));
  const int64_t batch = y->element_count();
  bool supported = core::VisitFloatType(x->dtype(), [&]<typename T>() -> bool {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else {
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      const int64_t size = n * n;
      core::ParallelFor(batch, std::max<int64_t>(1, 4096 / std::max<int64_t>(size * n, 1)),
                        [&](int64_t begin, int64_t end) {
                          std::vector<double> matrix(static_cast<size_t>(size));
                          for (int64_t b = begin; b < end; ++b) {
                            for (int64_t i = 0; i < size; ++i) matrix[i] = ToDouble(src[b * size + i]);
                            const double det = Determinant(matrix.data(), n);
                            if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
                              dst[b] = static_cast<T>(det);
                            } else {
                              dst[b] = T(static_cast<float>(det));
                            }
                          }
                        });
      return true;
    }
  });
  if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
  return Status::Ok();
}

}  // namespace

void RegisterDeterminantKernels(OpRegistry& registry) {
  registry.Register("", "Det", {11}, InferDet, [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
    return MakeFunctionKernel(ComputeDet);
  });
}

}  // namespace berth::engine

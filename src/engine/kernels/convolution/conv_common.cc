#include "engine/kernels/convolution/conv_common.h"

namespace berth::engine::conv {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

namespace {

Status CheckRanks(const TensorShape& x, const TensorShape& w) {
  if (x.size() < 3) {
    return core::InvalidArgument("input X {} must have rank 3 or more (N, C, spatial...)", core::ShapeToString(x));
  }
  if (w.size() != x.size()) {
    return core::InvalidArgument("weights W {} must have the rank of X {}", core::ShapeToString(w),
                                 core::ShapeToString(x));
  }
  return Status::Ok();
}

Result<ConvShape> FinishShape(ConvShape shape, size_t element_size) {
  // The output must be allocatable (this also bounds every loop below).
  RETURN_IF_ERROR(core::CheckedElementCount(shape.OutputShape(), std::max<size_t>(element_size, 1)).status());
  return shape;
}

}  // namespace

Result<int64_t> ParseGroup(const Node& node) {
  int64_t group = node.GetInt("group", 1);
  if (group < 1) return core::InvalidArgument("group {} must be at least 1", group);
  return group;
}

Status CheckFloatConvType(std::string_view op, DataType dtype) {
  if (!IsFloat32OrHalf(dtype) && dtype != DataType::kFloat64) {
    return core::Unimplemented("{} on {} is not supported (float16, bfloat16, float32, float64 are)", op,
                               core::DataTypeName(dtype));
  }
  return Status::Ok();
}

Result<ConstantFloatOperands> ConstantFloatWeightsAndBias(KernelBuildContext& context) {
  ConstantFloatOperands operands;
  const Tensor* w = context.constant_input(1);
  const Tensor* b = context.constant_input(2);
  if (!w || !IsFloat32OrHalf(w->dtype())) return operands;
  if (w->dtype() == DataType::kFloat32) {
    operands.weights = *w;
  } else {
    ASSIGN_OR_RETURN(operands.weights, ToFloat32(*w, core::HeapAllocator()));
  }
  if (b && b->dtype() == w->dtype()) {
    if (b->dtype() == DataType::kFloat32) {
      operands.bias = *b;
    } else {
      ASSIGN_OR_RETURN(operands.bias, ToFloat32(*b, core::HeapAllocator()));
    }
  }
  return operands;
}

Result<ConvShape> ResolveConvShape(const WindowAttributes& attributes, int64_t group, const TensorShape& x,
                                   const TensorShape& w) {
  RETURN_IF_ERROR(CheckRanks(x, w));
  ConvShape shape;
  shape.batch = x[0];
  shape.in_channels = x[1];
  shape.out_channels = w[0];
  shape.group = group;
  if (shape.out_channels % group != 0) {
    return core::InvalidArgument("W {} has {} output channels, not a multiple of group {}", core::ShapeToString(w),
                                 shape.out_channels, group);
  }
  if (w[1] * group != shape.in_channels) {
    return core::InvalidArgument("X {} has {} channels but W {} with group {} expects {}", core::ShapeToString(x),
                                 shape.in_channels, core::ShapeToString(w), group, w[1] * group);
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ConvKernelShape(attributes, w));
  ASSIGN_OR_RETURN(shape.window, ResolveWindow(attributes, std::span<const int64_t>(x).subspan(2), kernel));
  return FinishShape(std::move(shape), sizeof(double));
}

Result<ConvShape> ResolveConvTransposeShape(const TransposeAttributes& attributes, int64_t group, const TensorShape& x,
                                            const TensorShape& w) {
  RETURN_IF_ERROR(CheckRanks(x, w));
  ConvShape shape;
  shape.batch = x[0];
  shape.in_channels = x[1];
  shape.out_channels = w[1] * group;
  shape.group = group;
  if (w[0] != shape.in_channels) {
    return core::InvalidArgument("X {} has {} channels but W {} is for {} input channels", core::ShapeToString(x),
                                 shape.in_channels, core::ShapeToString(w), w[0]);
  }
  if (shape.in_channels % group != 0) {
    return core::InvalidArgument("X has {} channels, not a multiple of group {}", shape.in_channels, group);
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ConvKernelShape(attributes.window, w));
  ASSIGN_OR_RETURN(shape.window, ResolveTransposeWindow(attributes, std::span<const int64_t>(x).subspan(2), kernel));
  return FinishShape(std::move(shape), sizeof(double));
}

Result<std::optional<TensorShape>> InferConvOutputShape(InferenceContext& context, int x_index, int w_index) {
  const ValueType& x = context.input_type(x_index);
  if (!x.is_tensor() || !x.has_shape) return std::optional<TensorShape>();
  TensorShape x_shape = x.Shape();
  if (x_shape.size() < 3) {
    return core::InvalidArgument("input X {} must have rank 3 or more", core::ShapeToString(x_shape));
  }
  ASSIGN_OR_RETURN(WindowAttributes attributes, ParseWindowAttributes(context.node()));
  const ValueType& w = context.input_type(w_index);
  TensorShape w_shape(x_shape.size(), -1);
  if (w.is_tensor() && w.has_shape) {
    w_shape = w.Shape();
    if (w_shape.size() != x_shape.size()) {
      return core::InvalidArgument("weights {} must have the rank of X {}", core::ShapeToString(w_shape),
                                   core::ShapeToString(x_shape));
    }
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ConvKernelShape(attributes, w_shape));
  ASSIGN_OR_RETURN(Window window, ResolveWindow(attributes, std::span<const int64_t>(x_shape).subspan(2), kernel));
  TensorShape out = {x_shape[0], w_shape[0]};
  out.insert(out.end(), window.output.begin(), window.output.end());
  return std::optional<TensorShape>(std::move(out));
}

Status InferConvLike(InferenceContext& context, int x_index, int w_index, DataType dtype) {
  ASSIGN_OR_RETURN(std::optional<TensorShape> out, InferConvOutputShape(context, x_index, w_index));
  if (!out) {
    SetUnknownShape(context, 0, dtype);
  } else {
    context.set_output_type(0, ValueType::TensorFromShape(dtype, *out));
  }
  return Status::Ok();
}

Result<Tensor> ToFloat32(const Tensor& tensor, core::Allocator& allocator) {
  ASSIGN_OR_RETURN(Tensor out, Tensor::Create(DataType::kFloat32, tensor.shape(), allocator));
  float* dst = out.data<float>();
  core::VisitFloatType(tensor.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T> && !std::is_same_v<T, double>) {
      const T* src = tensor.data<T>();
      core::ParallelFor(tensor.element_count(), 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<float>(src[i]);
      });
    }
  });
  return out;
}

void FromFloat32(const float* values, Tensor& out) {
  core::VisitFloatType(out.dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T> && !std::is_same_v<T, double>) {
      T* dst = out.data<T>();
      core::ParallelFor(out.element_count(), 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) dst[i] = T(values[i]);
      });
    }
  });
}

}  // namespace berth::engine::conv

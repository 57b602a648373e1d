// ConvInteger and QLinearConv: 8-bit convolutions with int32 accumulation.
//
// Own code rather than oneDNN: ONNX allows uint8 weights and per-channel
// weight zero points, which oneDNN's int8 convolution does not take. Both ops
// subtract the zero points up front (x - x_zero, w - w_zero fit in int16)
// and run the portable im2col convolution; padding contributes nothing,
// i.e. the input is padded with its zero point. Constant weights (with a
// constant or absent weight zero point) are prepared at load.
#include <cmath>
#include <limits>
#include <optional>

#include "engine/kernels/convolution/conv_common.h"
#include "engine/ops/op_registry.h"

namespace berth::engine::conv {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// A zero point or scale that applies to the whole tensor: one element.
Result<const Tensor*> RequireScalar(const Tensor* tensor, DataType dtype, const char* what) {
  if (!tensor) return nullptr;
  if (tensor->dtype() != dtype) {
    return core::InvalidArgument("{} has type {}; expected {}", what, core::DataTypeName(tensor->dtype()),
                                 core::DataTypeName(dtype));
  }
  if (tensor->element_count() != 1 || tensor->rank() > 1) {
    return core::InvalidArgument("{} {} must be a scalar (per-tensor)", what, core::ShapeToString(tensor->shape()));
  }
  return tensor;
}

// A weight zero point or scale: one element, or one per output channel.
Status CheckPerChannel(const Tensor& tensor, int64_t channels, const char* what) {
  if (tensor.rank() > 1 || (tensor.element_count() != 1 && tensor.element_count() != channels)) {
    return core::InvalidArgument("{} {} must be a scalar or 1-D with {} values (one per output channel)", what,
                                 core::ShapeToString(tensor.shape()), channels);
  }
  return Status::Ok();
}

int32_t IntegerAt(const Tensor* tensor, int64_t index) {
  if (!tensor) return 0;
  return static_cast<int32_t>(tensor->IntegerAt(tensor->element_count() == 1 ? 0 : index));
}

// Weights minus their zero point, as int16 [M, C/group * K].
Result<std::vector<int16_t>> PrepareWeights(const Tensor& w, const Tensor* w_zero) {
  const int64_t channels = w.dim(0);
  if (w_zero) {
    if (w_zero->dtype() != w.dtype()) {
      return core::InvalidArgument("w_zero_point has type {}; expected {} like w", core::DataTypeName(w_zero->dtype()),
                                   core::DataTypeName(w.dtype()));
    }
    RETURN_IF_ERROR(CheckPerChannel(*w_zero, channels, "w_zero_point"));
  }
  const int64_t per_channel = channels == 0 ? 0 : w.element_count() / channels;
  std::vector<int16_t> prepared(static_cast<size_t>(w.element_count()));
  for (int64_t m = 0; m < channels; ++m) {
    const int32_t zero = IntegerAt(w_zero, m);
    for (int64_t r = 0; r < per_channel; ++r) {
      const int64_t i = m * per_channel + r;
      const int32_t value = w.dtype() == DataType::kUInt8 ? w.data<uint8_t>()[i] : w.data<int8_t>()[i];
      prepared[static_cast<size_t>(i)] = static_cast<int16_t>(value - zero);
    }
  }
  return prepared;
}

// acc [N, M, P] = conv(x - x_zero, weights).
void IntegerConvolution(const ConvShape& shape, const Tensor& x, int32_t x_zero, const int16_t* weights, int32_t* acc) {
  if (x.dtype() == DataType::kUInt8) {
    const uint8_t* xp = x.data<uint8_t>();
    Im2ColConvolution<int16_t, int32_t>(
        shape, [xp, x_zero](int64_t i) { return static_cast<int16_t>(static_cast<int32_t>(xp[i]) - x_zero); }, weights,
        acc);
  } else {
    const int8_t* xp = x.data<int8_t>();
    Im2ColConvolution<int16_t, int32_t>(
        shape, [xp, x_zero](int64_t i) { return static_cast<int16_t>(static_cast<int32_t>(xp[i]) - x_zero); }, weights,
        acc);
  }
}

// What both ops share: attributes, prepared constant weights, and the checks
// and integer convolution of one run.
class IntegerConvBase : public Kernel {
 protected:
  IntegerConvBase(WindowAttributes attributes, int64_t group, std::optional<std::vector<int16_t>> weights)
      : attributes_(std::move(attributes)), group_(group), constant_weights_(std::move(weights)) {}

  struct Prepared {
    ConvShape shape;
    std::vector<int16_t> weights_storage;  // only when not prepared at load
    const int16_t* weights = nullptr;
  };

  Result<Prepared> Prepare(const Tensor& x, const Tensor* x_zero, const Tensor& w, const Tensor* w_zero) const {
    if (!Is8BitInteger(x.dtype()) || !Is8BitInteger(w.dtype())) {
      return core::InvalidArgument("x and w must be uint8 or int8; got {} and {}", core::DataTypeName(x.dtype()),
                                   core::DataTypeName(w.dtype()));
    }
    Prepared prepared;
    ASSIGN_OR_RETURN(prepared.shape, ResolveConvShape(attributes_, group_, x.shape(), w.shape()));
    if (constant_weights_) {
      prepared.weights = constant_weights_->data();
    } else {
      ASSIGN_OR_RETURN(prepared.weights_storage, PrepareWeights(w, w_zero));
      prepared.weights = prepared.weights_storage.data();
    }
    return prepared;
  }

  WindowAttributes attributes_;
  int64_t group_;
  std::optional<std::vector<int16_t>> constant_weights_;
};

class ConvIntegerKernel final : public IntegerConvBase {
 public:
  ConvIntegerKernel(WindowAttributes attributes, int64_t group, std::optional<std::vector<int16_t>> weights)
      : IntegerConvBase(std::move(attributes), group, std::move(weights)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "x"));
    ASSIGN_OR_RETURN(const Tensor* w, RequireTensor(context, 1, "w"));
    ASSIGN_OR_RETURN(const Tensor* x_zero, RequireScalar(context.input_tensor(2), x->dtype(), "x_zero_point"));
    const Tensor* w_zero = context.input_tensor(3);
    ASSIGN_OR_RETURN(Prepared prepared, Prepare(*x, x_zero, *w, w_zero));
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, DataType::kInt32, prepared.shape.OutputShape()));
    if (y->element_count() == 0) return Status::Ok();
    IntegerConvolution(prepared.shape, *x, IntegerAt(x_zero, 0), prepared.weights, y->data<int32_t>());
    return Status::Ok();
  }
};

class QLinearConvKernel final : public IntegerConvBase {
 public:
  QLinearConvKernel(WindowAttributes attributes, int64_t group, std::optional<std::vector<int16_t>> weights)
      : IntegerConvBase(std::move(attributes), group, std::move(weights)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "x"));
    ASSIGN_OR_RETURN(const Tensor* x_scale_input, RequireTensor(context, 1, "x_scale"));
    ASSIGN_OR_RETURN(const Tensor* x_zero_input, RequireTensor(context, 2, "x_zero_point"));
    ASSIGN_OR_RETURN(const Tensor* w, RequireTensor(context, 3, "w"));
    ASSIGN_OR_RETURN(const Tensor* w_scale, RequireTensor(context, 4, "w_scale"));
    ASSIGN_OR_RETURN(const Tensor* w_zero, RequireTensor(context, 5, "w_zero_point"));
    ASSIGN_OR_RETURN(const Tensor* y_scale_input, RequireTensor(context, 6, "y_scale"));
    ASSIGN_OR_RETURN(const Tensor* y_zero_input, RequireTensor(context, 7, "y_zero_point"));
    const Tensor* bias = context.input_tensor(8);

    ASSIGN_OR_RETURN(const Tensor* x_scale, RequireScalar(x_scale_input, DataType::kFloat32, "x_scale"));
    ASSIGN_OR_RETURN(const Tensor* x_zero, RequireScalar(x_zero_input, x->dtype(), "x_zero_point"));
    ASSIGN_OR_RETURN(const Tensor* y_scale, RequireScalar(y_scale_input, DataType::kFloat32, "y_scale"));
    const DataType y_type = y_zero_input->dtype();
    if (!Is8BitInteger(y_type)) {
      return core::InvalidArgument("y_zero_point has type {}; expected uint8 or int8", core::DataTypeName(y_type));
    }
    ASSIGN_OR_RETURN(const Tensor* y_zero, RequireScalar(y_zero_input, y_type, "y_zero_point"));
    ASSIGN_OR_RETURN(Prepared prepared, Prepare(*x, x_zero, *w, w_zero));
    const ConvShape& shape = prepared.shape;
    if (w_scale->dtype() != DataType::kFloat32) {
      return core::InvalidArgument("w_scale has type {}; expected float32", core::DataTypeName(w_scale->dtype()));
    }
    RETURN_IF_ERROR(CheckPerChannel(*w_scale, shape.out_channels, "w_scale"));
    if (bias && (bias->dtype() != DataType::kInt32 || bias->rank() != 1 || bias->dim(0) != shape.out_channels)) {
      return core::InvalidArgument("bias B {} {} must be int32 with {} values (one per output channel)",
                                   core::DataTypeName(bias->dtype()), core::ShapeToString(bias->shape()),
                                   shape.out_channels);
    }
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, y_type, shape.OutputShape()));
    if (y->element_count() == 0) return Status::Ok();

    ASSIGN_OR_RETURN(Tensor acc, Tensor::Create(DataType::kInt32, shape.OutputShape(), context.allocator()));
    IntegerConvolution(shape, *x, IntegerAt(x_zero, 0), prepared.weights, acc.data<int32_t>());

    // y = saturate(round_half_even((acc + bias) * x_scale * w_scale / y_scale) + y_zero)
    std::vector<double> multiplier(static_cast<size_t>(shape.out_channels));
    const double x_s = x_scale->data<float>()[0];
    const double y_s = y_scale->data<float>()[0];
    if (!(y_s != 0.0) || !std::isfinite(y_s))
      return core::InvalidArgument("y_scale {} must be finite and non-zero", y_s);
    for (int64_t m = 0; m < shape.out_channels; ++m) {
      multiplier[m] = x_s * w_scale->data<float>()[w_scale->element_count() == 1 ? 0 : m] / y_s;
    }
    const int32_t zero = IntegerAt(y_zero, 0);
    const int32_t* bp = bias ? bias->data<int32_t>() : nullptr;
    if (y_type == DataType::kUInt8) {
      Requantize<uint8_t>(shape, acc.data<int32_t>(), bp, multiplier, zero, y->data<uint8_t>());
    } else {
      Requantize<int8_t>(shape, acc.data<int32_t>(), bp, multiplier, zero, y->data<int8_t>());
    }
    return Status::Ok();
  }

 private:
  template <typename T>
  static void Requantize(const ConvShape& shape, const int32_t* acc, const int32_t* bias,
                         const std::vector<double>& multiplier, int32_t zero, T* y) {
    const int64_t plane = shape.OutputSize();
    constexpr double lo = std::numeric_limits<T>::min();
    constexpr double hi = std::numeric_limits<T>::max();
    core::ParallelFor(shape.batch * shape.out_channels, std::max<int64_t>(1, 4096 / std::max<int64_t>(plane, 1)),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t c = begin; c < end; ++c) {
                          const int64_t m = c % shape.out_channels;
                          const int64_t add = bias ? bias[m] : 0;
                          const double scale = multiplier[m];
                          for (int64_t i = c * plane; i < (c + 1) * plane; ++i) {
                            // nearbyint rounds half to even in the default rounding mode.
                            double v = std::nearbyint(static_cast<double>(acc[i] + add) * scale) + zero;
                            y[i] = static_cast<T>(std::clamp(v, lo, hi));
                          }
                        }
                      });
  }
};

// Weights prepared at load when w (and its zero point, if any) are constant.
Result<std::optional<std::vector<int16_t>>> PrepareConstantWeights(KernelBuildContext& context, int w_index,
                                                                   int zero_index) {
  const Tensor* w = context.constant_input(w_index);
  const bool zero_given = context.node().HasInput(static_cast<size_t>(zero_index));
  const Tensor* w_zero = zero_given ? context.constant_input(zero_index) : nullptr;
  if (!w || (zero_given && !w_zero) || !Is8BitInteger(w->dtype()) || w->rank() < 3) {
    return std::optional<std::vector<int16_t>>();
  }
  ASSIGN_OR_RETURN(std::vector<int16_t> prepared, PrepareWeights(*w, w_zero));
  return std::optional<std::vector<int16_t>>(std::move(prepared));
}

}  // namespace

Result<std::unique_ptr<Kernel>> CreateConvIntegerKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(WindowAttributes attributes, ParseWindowAttributes(context.node()));
  ASSIGN_OR_RETURN(int64_t group, ParseGroup(context.node()));
  ASSIGN_OR_RETURN(auto weights, PrepareConstantWeights(context, 1, 3));
  return std::unique_ptr<Kernel>(std::make_unique<ConvIntegerKernel>(std::move(attributes), group, std::move(weights)));
}

Result<std::unique_ptr<Kernel>> CreateQLinearConvKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(WindowAttributes attributes, ParseWindowAttributes(context.node()));
  ASSIGN_OR_RETURN(int64_t group, ParseGroup(context.node()));
  ASSIGN_OR_RETURN(auto weights, PrepareConstantWeights(context, 3, 5));
  return std::unique_ptr<Kernel>(std::make_unique<QLinearConvKernel>(std::move(attributes), group, std::move(weights)));
}

Status InferConvInteger(InferenceContext& context) { return InferConvLike(context, 0, 1, DataType::kInt32); }

Status InferQLinearConv(InferenceContext& context) {
  DataType dtype = InputDtype(context, 7);
  if (dtype == DataType::kUndefined) dtype = InputDtype(context, 0);
  return InferConvLike(context, 0, 3, dtype);
}

}  // namespace berth::engine::conv

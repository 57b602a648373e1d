// MaxUnpool: scatters X into a zero tensor at the positions MaxPool's indices
// name.
//
// The indices address the flattened tensor of the "inferred" unpooled shape
//   (in - 1) * stride - pad_begin - pad_end + kernel
// per spatial axis. When output_shape asks for a larger tensor, the inferred
// tensor sits at its start (the ONNX reference implementation's reading,
// which the backend tests check), the rest is zero.
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/convolution/conv_common.h"
#include "engine/kernels/pooling/pool_common.h"

namespace berth::engine::pool {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

// The inferred unpooled shape of X [N, C, spatial...]; -1 where unknown.
Result<TensorShape> InferredShape(const conv::WindowAttributes& attributes, const TensorShape& x) {
  if (x.size() < 3) {
    return core::InvalidArgument("input X {} must have rank 3 or more (N, C, spatial...)", core::ShapeToString(x));
  }
  const size_t rank = x.size() - 2;
  if (attributes.kernel_shape.size() != rank) {
    return core::InvalidArgument("kernel_shape {} does not match the {} spatial axes of X {}",
                                 core::ShapeToString(attributes.kernel_shape), rank, core::ShapeToString(x));
  }
  if ((!attributes.strides.empty() && attributes.strides.size() != rank) ||
      (!attributes.pads.empty() && attributes.pads.size() != 2 * rank)) {
    return core::InvalidArgument("strides {} or pads {} do not match {} spatial axes",
                                 core::ShapeToString(attributes.strides), core::ShapeToString(attributes.pads), rank);
  }
  TensorShape shape = {x[0], x[1]};
  for (size_t a = 0; a < rank; ++a) {
    const int64_t in = x[a + 2];
    if (in < 0) {
      shape.push_back(-1);
      continue;
    }
    const int64_t stride = attributes.strides.empty() ? 1 : attributes.strides[a];
    const int64_t pads = attributes.pads.empty() ? 0 : attributes.pads[a] + attributes.pads[a + rank];
    const int64_t extent = (in - 1) * stride - pads + attributes.kernel_shape[a];
    if (extent < 0) {
      return core::InvalidArgument("pads {} leave a negative unpooled extent on spatial axis {}",
                                   core::ShapeToString(attributes.pads), a);
    }
    shape.push_back(extent);
  }
  return shape;
}

class MaxUnpoolKernel final : public Kernel {
 public:
  explicit MaxUnpoolKernel(conv::WindowAttributes attributes) : attributes_(std::move(attributes)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 1, "I"));
    if (indices->dtype() != DataType::kInt64) {
      return core::InvalidArgument("indices I have type {}; expected int64", core::DataTypeName(indices->dtype()));
    }
    if (indices->shape() != x->shape()) {
      return core::InvalidArgument("indices I {} must have the shape of X {}", core::ShapeToString(indices->shape()),
                                   core::ShapeToString(x->shape()));
    }
    ASSIGN_OR_RETURN(TensorShape inferred, InferredShape(attributes_, x->shape()));
    TensorShape out_shape = inferred;
    if (const Tensor* wanted = context.input_tensor(2)) {
      if (wanted->dtype() != DataType::kInt64 || wanted->rank() != 1) {
        return core::InvalidArgument("output_shape must be a 1-D int64 tensor; got {}", wanted->DebugString());
      }
      out_shape = wanted->ToInt64Vector();
      bool fits = out_shape.size() == inferred.size() && out_shape[0] == inferred[0] && out_shape[1] == inferred[1];
      for (size_t a = 2; fits && a < out_shape.size(); ++a) fits = out_shape[a] >= inferred[a];
      if (!fits) {
        return core::InvalidArgument("output_shape {} cannot hold the unpooled shape {}",
                                     core::ShapeToString(out_shape), core::ShapeToString(inferred));
      }
    }
    RETURN_IF_ERROR(core::CheckedElementCount(out_shape, std::max<size_t>(x->element_size(), 1)).status());
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), out_shape));
    const int64_t limit = core::ElementCount(inferred);
    const int64_t* ip = indices->data<int64_t>();
    for (int64_t i = 0; i < indices->element_count(); ++i) {
      if (ip[i] < 0 || ip[i] >= limit) {
        return core::OutOfRange("index {} at position {} is outside the unpooled tensor of {} elements", ip[i], i,
                                limit);
      }
    }
    const bool same = out_shape == inferred;
    std::vector<int64_t> out_strides = core::RowMajorStrides(out_shape);
    bool supported = core::VisitNumericType(x->dtype(), [&]<typename T>() {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        T* yp = y->data<T>();
        const T* xp = x->data<T>();
        std::fill(yp, yp + y->element_count(), T(0));
        // Sequential: indices may repeat, and the last write must win.
        for (int64_t i = 0; i < x->element_count(); ++i) {
          int64_t target = ip[i];
          if (!same) {
            int64_t rest = target, offset = 0;
            for (size_t a = inferred.size(); a-- > 0;) {
              offset += (rest % inferred[a]) * out_strides[a];
              rest /= inferred[a];
            }
            target = offset;
          }
          yp[target] = xp[i];
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("MaxUnpool on {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  conv::WindowAttributes attributes_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> CreateMaxUnpoolKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(conv::WindowAttributes attributes, conv::ParseWindowAttributes(context.node()));
  if (attributes.kernel_shape.empty()) return core::InvalidArgument("kernel_shape is required");
  return std::unique_ptr<Kernel>(std::make_unique<MaxUnpoolKernel>(std::move(attributes)));
}

Status InferMaxUnpool(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const ValueType& x = context.input_type(0);
  if (context.has_input(2)) {
    if (const Tensor* wanted = context.input_value(2)) {
      context.set_output_type(0, ValueType::TensorFromShape(dtype, wanted->ToInt64Vector()));
    } else if (x.is_tensor() && x.has_shape) {
      TensorShape shape = x.Shape();
      std::fill(shape.begin() + std::min<size_t>(2, shape.size()), shape.end(), -1);
      context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
    } else {
      SetUnknownShape(context, 0, dtype);
    }
    return Status::Ok();
  }
  if (!x.is_tensor() || !x.has_shape) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(conv::WindowAttributes attributes, conv::ParseWindowAttributes(context.node()));
  ASSIGN_OR_RETURN(TensorShape shape, InferredShape(attributes, x.Shape()));
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return Status::Ok();
}

}  // namespace berth::engine::pool

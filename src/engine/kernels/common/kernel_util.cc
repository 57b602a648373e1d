#include "engine/kernels/common/kernel_util.h"

namespace berth::engine {

core::Result<const core::Tensor*> RequireTensor(const KernelContext& context, int index, std::string_view what) {
  const core::Value* value = context.input(index);
  if (!value) return core::InvalidArgument("input {} ({}) is missing", index, what);
  if (!value->is_tensor() || !value->tensor().defined()) {
    return core::InvalidArgument("input {} ({}) is not a tensor", index, what);
  }
  return &value->tensor();
}

std::vector<int64_t> ReadInt64s(const core::Tensor& tensor) { return tensor.ToInt64Vector(); }

core::DataType InputDtype(const InferenceContext& context, int index) {
  const ValueType& type = context.input_type(index);
  return type.is_tensor() ? type.dtype : core::DataType::kUndefined;
}

void SetUnknownShape(InferenceContext& context, int index, core::DataType dtype) {
  context.set_output_type(index, ValueType::TensorUnknownShape(dtype));
}

core::Status InferSameAsInput(InferenceContext& context) {
  const ValueType& type = context.input_type(0);
  for (int o = 0; o < std::min(1, context.output_count()); ++o) context.set_output_type(o, type);
  return core::Status::Ok();
}

core::Status InferSameShape(InferenceContext& context, core::DataType dtype) {
  ValueType type = context.input_type(0);
  if (!type.is_tensor()) type = ValueType::TensorUnknownShape(dtype);
  type.dtype = dtype;
  context.set_output_type(0, type);
  return core::Status::Ok();
}

std::optional<core::TensorShape> InputShapeOrUnknownOutput(InferenceContext& context, core::DataType dtype) {
  const ValueType& input = context.input_type(0);
  if (!input.is_tensor() || !input.has_shape) {
    SetUnknownShape(context, 0, dtype);
    return std::nullopt;
  }
  return input.Shape();
}

core::Status InferBroadcast(InferenceContext& context, core::DataType dtype) {
  if (dtype == core::DataType::kUndefined) dtype = InputDtype(context, 0);
  core::TensorShape shape;
  for (int i = 0; i < context.input_count(); ++i) {
    if (!context.has_input(i)) continue;
    const ValueType& type = context.input_type(i);
    if (!type.is_tensor() || !type.has_shape) {
      SetUnknownShape(context, 0, dtype);
      return core::Status::Ok();
    }
    ASSIGN_OR_RETURN(shape, core::BroadcastShapes(shape, type.Shape()));
  }
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return core::Status::Ok();
}

std::vector<int64_t> BroadcastStrides(const core::TensorShape& shape, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  std::vector<int64_t> own = core::RowMajorStrides(shape);
  size_t offset = rank - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) strides[offset + i] = shape[i] == 1 ? 0 : own[i];
  return strides;
}

}  // namespace berth::engine

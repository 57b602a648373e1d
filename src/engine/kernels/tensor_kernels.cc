// Identity and Constant: values that pass through or are fixed at load time.
#include "engine/kernels/kernel_util.h"
#include "engine/kernels/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;

Result<core::Tensor> ConstantValue(const Node& node) {
  if (const core::Tensor* tensor = node.GetTensor("value")) return *tensor;
  if (const Attribute* attr = node.FindAttribute("value_float")) return core::Tensor::Scalar<float>(attr->f);
  if (const Attribute* attr = node.FindAttribute("value_int")) return core::Tensor::Scalar<int64_t>(attr->i);
  if (const Attribute* attr = node.FindAttribute("value_string")) return core::Tensor::Scalar<std::string>(attr->s);
  if (const Attribute* attr = node.FindAttribute("value_floats")) {
    return core::Tensor::FromVector<float>(attr->floats, {static_cast<int64_t>(attr->floats.size())});
  }
  if (const Attribute* attr = node.FindAttribute("value_ints")) {
    return core::Tensor::FromVector<int64_t>(attr->ints, {static_cast<int64_t>(attr->ints.size())});
  }
  if (const Attribute* attr = node.FindAttribute("value_strings")) {
    return core::Tensor::FromVector<std::string>(attr->strings, {static_cast<int64_t>(attr->strings.size())});
  }
  return core::InvalidArgument("Constant has no value attribute");
}

}  // namespace

void RegisterTensorKernels(OpRegistry& registry) {
  registry.Register(
      "", "Identity", {1, 13, 14, 16}, InferSameAsInput, [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
        return MakeFunctionKernel([](KernelContext& context) -> Status {
          const core::Value* value = context.input(0);
          if (!value) return core::InvalidArgument("Identity input is missing");
          context.SetOutput(0, *value);
          return Status::Ok();
        });
      });
  registry.Register(
      "", "Constant", {1, 9, 11, 12, 13},
      [](InferenceContext& context) -> Status {
        ASSIGN_OR_RETURN(core::Tensor value, ConstantValue(context.node()));
        context.set_output_type(0, ValueType::TensorFromShape(value.dtype(), value.shape()));
        return Status::Ok();
      },
      [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        ASSIGN_OR_RETURN(core::Tensor value, ConstantValue(build.node()));
        return MakeFunctionKernel([value](KernelContext& context) -> Status {
          context.SetOutput(0, value);
          return Status::Ok();
        });
      });
}

}  // namespace berth::engine

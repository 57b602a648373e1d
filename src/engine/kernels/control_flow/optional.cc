// Optional, OptionalHasElement, OptionalGetElement.
//
// An optional that holds a value is represented by the value itself (a
// tensor or a sequence) and an empty one by a Value of kind kNone, so these
// ops pass values through; only emptiness needs checking. An absent input
// (name "") is not the same as an empty optional: Optional and
// OptionalHasElement-18 treat it as "nothing", the others reject it.
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/control_flow/control_flow_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Value;

Status InferOptional(InferenceContext& context) {
  if (context.has_input(0)) {
    context.set_output_type(0, ValueType::Optional(context.input_type(0)));
    return Status::Ok();
  }
  const Attribute* type = context.node().FindAttribute("type");
  if (!type || type->type != Attribute::Type::kTypeProto) {
    return core::InvalidArgument("Optional without an input needs the 'type' attribute");
  }
  context.set_output_type(0, ValueType::Optional(type->type_proto));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateOptional(KernelBuildContext& build) {
  const Node& node = build.node();
  if (!node.HasInput(0)) {
    const Attribute* type = node.FindAttribute("type");
    if (!type || type->type != Attribute::Type::kTypeProto) {
      return core::InvalidArgument("an Optional without an input needs the 'type' attribute");
    }
  }
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    const Value* input = context.input(0);
    context.SetOutput(0, input ? *input : Value());
    return Status::Ok();
  });
}

Result<std::unique_ptr<Kernel>> CreateOptionalHasElement(KernelBuildContext& build) {
  const bool absent_is_empty = build.opset() >= 18;
  if (!absent_is_empty && !build.node().HasInput(0)) {
    return core::InvalidArgument("OptionalHasElement before opset 18 needs an input");
  }
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    const Value* input = context.input(0);
    ASSIGN_OR_RETURN(core::Tensor * out, context.AllocateOutput(0, core::DataType::kBool, {}));
    out->data<bool>()[0] = input != nullptr && !input->is_none();
    return Status::Ok();
  });
}

Status InferOptionalGetElement(InferenceContext& context) {
  const ValueType& input = context.input_type(0);
  if (input.kind == ValueType::Kind::kOptional) {
    context.set_output_type(0, input.element ? *input.element : ValueType{});
  } else {
    // Opset 18 also accepts a plain tensor or sequence and passes it through.
    context.set_output_type(0, input);
  }
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateOptionalGetElement(KernelBuildContext& build) {
  if (!build.node().HasInput(0)) return core::InvalidArgument("OptionalGetElement needs an input");
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    const Value* input = context.input(0);
    if (!input) return core::InvalidArgument("input 0 (the optional) is missing");
    if (input->is_none()) return core::InvalidArgument("input 0 is an empty optional: it has no element to get");
    context.SetOutput(0, *input);
    return Status::Ok();
  });
}

}  // namespace

void RegisterOptionalKernels(OpRegistry& registry) {
  registry.Register("", "Optional", {15}, InferOptional, CreateOptional);
  auto infer_bool_scalar = [](InferenceContext& context) {
    context.set_output_type(0, ValueType::TensorFromShape(core::DataType::kBool, {}));
    return Status::Ok();
  };
  // 18: the input may be absent (false) or a plain tensor/sequence (true).
  registry.Register("", "OptionalHasElement", {15, 18}, infer_bool_scalar, CreateOptionalHasElement);
  // 18: also accepts a plain tensor/sequence.
  registry.Register("", "OptionalGetElement", {15, 18}, InferOptionalGetElement, CreateOptionalGetElement);
}

}  // namespace berth::engine

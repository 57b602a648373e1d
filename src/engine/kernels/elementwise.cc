// Element-wise arithmetic and activations.
#include "engine/kernels/elementwise.h"

#include <cmath>

#include "engine/kernels/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// Half types compute in float.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, core::Float16> || std::is_same_v<T, core::BFloat16>, float, T>;

// A binary op whose output has the inputs' type. `Op` is a template functor:
// Op::template Apply<C>(C a, C b) -> C.
template <typename Op, bool kIntegers, bool kFloats>
Result<std::unique_ptr<Kernel>> MakeBinaryKernel(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* a, RequireTensor(context, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, RequireTensor(context, 1, "B"));
    if (a->dtype() != b->dtype()) {
      return core::InvalidArgument("inputs have different types {} and {}", core::DataTypeName(a->dtype()),
                                   core::DataTypeName(b->dtype()));
    }
    ASSIGN_OR_RETURN(core::TensorShape shape, core::BroadcastShapes(a->shape(), b->shape()));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, a->dtype(), shape));
    bool supported = core::VisitNumericType(a->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        using C = ComputeType<T>;
        if constexpr ((std::is_integral_v<C> && !kIntegers) || (std::is_floating_point_v<C> && !kFloats)) {
          return false;
        } else {
          BinaryMap<T, T, T>(*a, *b, *out, [](C x, C y) { return Op::template Apply<C>(x, y); });
          return true;
        }
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(a->dtype()));
    return Status::Ok();
  });
}

// A unary op on floating-point types: Op::template Apply<C>(C x) -> C.
template <typename Op>
Result<std::unique_ptr<Kernel>> MakeFloatUnaryKernel(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, x->dtype(), x->shape()));
    bool supported = core::VisitFloatType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        using C = ComputeType<T>;
        UnaryMap(x->data<T>(), out->data<T>(), x->element_count(),
                 [](T v) { return Op::template Apply<C>(static_cast<C>(v)); });
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  });
}

struct AddOp {
  template <typename C> static C Apply(C a, C b) { return a + b; }
};
struct SubOp {
  template <typename C> static C Apply(C a, C b) { return a - b; }
};
struct MulOp {
  template <typename C> static C Apply(C a, C b) { return a * b; }
};
struct DivOp {
  template <typename C> static C Apply(C a, C b) {
    if constexpr (std::is_integral_v<C>) {
      // Integer division by zero is undefined in ONNX; give 0 rather than trap.
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return static_cast<C>(-static_cast<std::make_unsigned_t<C>>(a));
      }
    }
    return a / b;
  }
};

struct ReluOp {
  template <typename C> static C Apply(C x) { return x > C(0) ? x : C(0); }
};
struct SigmoidOp {
  template <typename C> static C Apply(C x) { return C(1) / (C(1) + std::exp(-x)); }
};
struct TanhOp {
  template <typename C> static C Apply(C x) { return std::tanh(x); }
};
struct ExpOp {
  template <typename C> static C Apply(C x) { return std::exp(x); }
};

}  // namespace

void RegisterElementwiseKernels(OpRegistry& registry) {
  auto infer_broadcast = [](InferenceContext& context) { return InferBroadcast(context); };
  registry.Register("", "Add", {7, 13, 14}, infer_broadcast, MakeBinaryKernel<AddOp, true, true>);
  registry.Register("", "Sub", {7, 13, 14}, infer_broadcast, MakeBinaryKernel<SubOp, true, true>);
  registry.Register("", "Mul", {7, 13, 14}, infer_broadcast, MakeBinaryKernel<MulOp, true, true>);
  registry.Register("", "Div", {7, 13, 14}, infer_broadcast, MakeBinaryKernel<DivOp, true, true>);

  registry.Register("", "Relu", {6, 13, 14}, InferSameAsInput, MakeFloatUnaryKernel<ReluOp>);
  registry.Register("", "Sigmoid", {6, 13}, InferSameAsInput, MakeFloatUnaryKernel<SigmoidOp>);
  registry.Register("", "Tanh", {6, 13}, InferSameAsInput, MakeFloatUnaryKernel<TanhOp>);
  registry.Register("", "Exp", {6, 13}, InferSameAsInput, MakeFloatUnaryKernel<ExpOp>);
}

}  // namespace berth::engine

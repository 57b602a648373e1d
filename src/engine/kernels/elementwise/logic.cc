// Comparisons and logic: Equal, Greater, GreaterOrEqual, Less, LessOrEqual,
// And, Or, Xor, Not, Where.
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/elementwise/elementwise.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// Comparisons see half types as float; NaN compares false except in !=.
struct EqualOp {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a == b;
  }
};
struct GreaterOp {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a > b;
  }
};
struct GreaterOrEqualOp {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a >= b;
  }
};
struct LessOp {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a < b;
  }
};
struct LessOrEqualOp {
  template <typename C>
  bool operator()(const C& a, const C& b) const {
    return a <= b;
  }
};
struct AndOp {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct XorOp {
  bool operator()(bool a, bool b) const { return a != b; }
};
struct NotOp {
  bool operator()(bool a) const { return !a; }
};

Status InferComparison(InferenceContext& context) { return InferBinary(context, DataType::kBool); }

// Where(condition, X, Y): X where condition holds, else Y; all three broadcast.
class WhereKernel final : public Kernel {
 public:
  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* condition, RequireTensor(context, 0, "condition"));
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 1, "X"));
    ASSIGN_OR_RETURN(const Tensor* y, RequireTensor(context, 2, "Y"));
    if (condition->dtype() != DataType::kBool) {
      return core::InvalidArgument("condition must be bool, got {}", core::DataTypeName(condition->dtype()));
    }
    if (x->dtype() != y->dtype()) {
      return core::InvalidArgument("X has type {}, Y {}", core::DataTypeName(x->dtype()),
                                   core::DataTypeName(y->dtype()));
    }
    ASSIGN_OR_RETURN(core::TensorShape shape, core::BroadcastShapes(condition->shape(), x->shape()));
    ASSIGN_OR_RETURN(shape, core::BroadcastShapes(shape, y->shape()));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, x->dtype(), shape));
    bool supported = VisitTypes<kAllTypes>(x->dtype(), [&]<typename T>() {
      if constexpr (std::is_same_v<T, std::string>) {
        TernaryMap<bool, T, T, T>(*condition, *x, *y, *out,
                                  [](bool c, const T& a, const T& b) -> const T& { return c ? a : b; });
      } else {
        TernaryMap<bool, T, T, T>(*condition, *x, *y, *out, [](bool c, T a, T b) { return BitSelect(c, a, b); });
      }
    });
    if (!supported) return UnsupportedType(x->dtype());
    return Status::Ok();
  }
};

Status InferWhere(InferenceContext& context) {
  const ValueType& x = context.input_type(1);
  DataType dtype = x.is_tensor() ? x.dtype : InputDtype(context, 2);
  return InferBroadcast(context, dtype);
}

}  // namespace

void RegisterLogicKernels(OpRegistry& registry) {
  // Opset 1 comparisons and logic use legacy broadcasting (see LegacyBroadcast).
  registry.Register("", "Equal", {1, 7, 11, 13, 19}, InferComparison,
                    BinaryKernelFactory<kNumericTypes | kBoolType | kStringType, EqualOp, true>());
  registry.Register("", "Greater", {1, 7, 9, 13}, InferComparison,
                    BinaryKernelFactory<kNumericTypes, GreaterOp, true>());
  registry.Register("", "Less", {1, 7, 9, 13}, InferComparison, BinaryKernelFactory<kNumericTypes, LessOp, true>());
  registry.Register("", "GreaterOrEqual", {12, 16}, InferComparison,
                    BinaryKernelFactory<kNumericTypes, GreaterOrEqualOp, true>());
  registry.Register("", "LessOrEqual", {12, 16}, InferComparison,
                    BinaryKernelFactory<kNumericTypes, LessOrEqualOp, true>());

  registry.Register("", "And", {1, 7}, InferComparison, BinaryKernelFactory<kBoolType, AndOp, true>());
  registry.Register("", "Or", {1, 7}, InferComparison, BinaryKernelFactory<kBoolType, OrOp, true>());
  registry.Register("", "Xor", {1, 7}, InferComparison, BinaryKernelFactory<kBoolType, XorOp, true>());
  registry.Register("", "Not", {1}, InferSameAsInput, [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
    return MakeUnaryKernel<kBoolType>(NotOp{});
  });

  registry.Register("", "Where", {9, 16}, InferWhere, [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<WhereKernel>());
  });
}

}  // namespace berth::engine

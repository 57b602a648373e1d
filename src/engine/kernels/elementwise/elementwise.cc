// Element-wise arithmetic: Add, Sub, Mul, Div, Pow, Mod, BitShift, the
// Bitwise* ops, and the variadic Sum, Mean, Max, Min.
//
// Integer arithmetic wraps around (two's complement) instead of overflowing
// into undefined behaviour; integer division or remainder by zero gives 0
// (ONNX leaves it undefined; a trap would take the server down).

#include "engine/kernels/elementwise/elementwise.h"

#include "engine/kernels/builtin_kernels.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

// The unsigned type integer arithmetic on C wraps in (at least as wide as
// unsigned int, so that uint16 * uint16 cannot overflow a promoted int).
template <typename C>
using WrapType = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;

struct AddOp {
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(WrapType<C>(a) + WrapType<C>(b));
    else
      return a + b;
  }
};
struct SubOp {
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(WrapType<C>(a) - WrapType<C>(b));
    else
      return a - b;
  }
};
struct MulOp {
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(WrapType<C>(a) * WrapType<C>(b));
    else
      return a * b;
  }
};
// Integer division truncates toward zero.
struct DivOp {
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return static_cast<C>(WrapType<C>(0) - WrapType<C>(a));  // INT_MIN / -1 wraps
      }
    }
    return a / b;
  }
};

// fmod=1: the remainder has the dividend's sign (C fmod). fmod=0 (integers
// only): it has the divisor's sign (Python's %).
struct ModOp {
  bool fmod = false;
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<C>) {
        if (b == -1) return 0;  // avoids INT_MIN % -1
      }
      C r = static_cast<C>(a % b);
      if constexpr (std::is_signed_v<C>) {
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
      }
      return r;
    } else {
      return std::fmod(a, b);
    }
  }
};

// Shifts of the bit width or more give 0 (a plain shift is undefined there).
struct ShiftLeftOp {
  template <typename C>
  C operator()(C a, C b) const {
    return b >= sizeof(C) * 8 ? C(0) : static_cast<C>(WrapType<C>(a) << b);
  }
};
struct ShiftRightOp {
  template <typename C>
  C operator()(C a, C b) const {
    return b >= sizeof(C) * 8 ? C(0) : static_cast<C>(a >> b);
  }
};

struct BitwiseAndOp {
  template <typename C>
  C operator()(C a, C b) const {
    return static_cast<C>(a & b);
  }
};
struct BitwiseOrOp {
  template <typename C>
  C operator()(C a, C b) const {
    return static_cast<C>(a | b);
  }
};
struct BitwiseXorOp {
  template <typename C>
  C operator()(C a, C b) const {
    return static_cast<C>(a ^ b);
  }
};
struct BitwiseNotOp {
  template <typename C>
  C operator()(C a) const {
    return static_cast<C>(~a);
  }
};

// Max and Min propagate NaN, as numpy's maximum / minimum do.
struct MaxOp {
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (a != a || b != b) return a + b;  // NaN
    }
    return a < b ? b : a;
  }
};
struct MinOp {
  template <typename C>
  C operator()(C a, C b) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (a != a || b != b) return a + b;  // NaN
    }
    return b < a ? b : a;
  }
};

// ---------------------------------------------------------------------------
// Pow: the exponent may have another type than the base; the result has the
// base's type.

// Exact integer power by squaring (wrapping); a negative exponent gives the
// truncated reciprocal: 1 for base 1, +-1 for base -1, else 0.
template <typename B, typename E>
B IntegerPower(B base, E exponent) {
  if constexpr (std::is_signed_v<E>) {
    if (exponent < 0) {
      if (base == 1) return 1;
      if constexpr (std::is_signed_v<B>) {
        if (base == -1) return (exponent & 1) ? B(-1) : B(1);
      }
      return 0;
    }
  }
  using U = WrapType<B>;
  U result = 1;
  U factor = static_cast<U>(base);
  auto e = static_cast<std::make_unsigned_t<E>>(exponent);
  while (e != 0) {
    if (e & 1) result = static_cast<U>(result * factor);
    factor = static_cast<U>(factor * factor);
    e >>= 1;
  }
  return static_cast<B>(result);
}

struct PowOp {
  template <typename CB, typename CE>
  auto operator()(CB base, CE exponent) const {
    if constexpr (std::is_integral_v<CB> && std::is_integral_v<CE>) {
      return IntegerPower(base, exponent);
    } else if constexpr (std::is_integral_v<CB>) {
      return SaturatingCast<CB>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    } else if constexpr (std::is_same_v<CB, float> && !std::is_same_v<CE, double>) {
      return std::pow(base, static_cast<float>(exponent));
    } else {
      return static_cast<CB>(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
    }
  }
};

class PowKernel final : public Kernel {
 public:
  explicit PowKernel(LegacyBroadcast legacy) : legacy_(legacy) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* base, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* exponent, RequireTensor(context, 1, "Y"));
    core::TensorShape exponent_shape = exponent->shape();
    if (legacy_.enabled) {
      ASSIGN_OR_RETURN(exponent_shape, legacy_.Align(base->shape(), exponent->shape()));
    }
    ASSIGN_OR_RETURN(core::TensorShape shape, core::BroadcastShapes(base->shape(), exponent_shape));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, base->dtype(), shape));
    bool exponent_supported = true;
    auto run = [&]<typename B>() {
      if constexpr (!std::is_integral_v<B>) {
        // x^2 (exported LayerNorm) as one multiply: exactly rounded, and fast.
        // One exponent element leaves the element order of the base unchanged.
        if (core::IsNumeric(exponent->dtype()) && exponent->element_count() == 1 && exponent->NumberAt(0) == 2.0) {
          UnaryMap(base->data<B>(), out->data<B>(), base->element_count(), [](auto v) { return v * v; });
          return;
        }
      }
      exponent_supported = VisitTypes<kNumericTypes>(exponent->dtype(), [&]<typename E>() {
        BinaryMap<B, E, B>(base->data<B>(), base->shape(), exponent->data<E>(), exponent_shape, out->data<B>(), shape,
                           PowOp{});
      });
    };
    // Bases: the float types, int32 and int64 (as the spec lists).
    bool base_supported = true;
    if (base->dtype() == DataType::kInt32) {
      run.template operator()<int32_t>();
    } else if (base->dtype() == DataType::kInt64) {
      run.template operator()<int64_t>();
    } else {
      base_supported = VisitTypes<kFloatTypes>(base->dtype(), run);
    }
    if (!base_supported) return UnsupportedType(base->dtype(), "base");
    if (!exponent_supported) return UnsupportedType(exponent->dtype(), "exponent");
    return Status::Ok();
  }

 private:
  LegacyBroadcast legacy_;
};

// ---------------------------------------------------------------------------
// Sum, Mean, Max, Min: any number of inputs, broadcast together.

template <unsigned kTypes, typename Op, bool kMean = false>
class VariadicKernel final : public Kernel {
 public:
  Status Compute(KernelContext& context) const override {
    const int count = context.input_count();
    if (count < 1) return core::InvalidArgument("needs at least one input");
    std::vector<const Tensor*> inputs;
    inputs.reserve(count);
    core::TensorShape shape;
    for (int i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, i, "data"));
      if (!inputs.empty() && input->dtype() != inputs[0]->dtype()) {
        return core::InvalidArgument("input {} has type {}, input 0 has {}", i, core::DataTypeName(input->dtype()),
                                     core::DataTypeName(inputs[0]->dtype()));
      }
      ASSIGN_OR_RETURN(shape, core::BroadcastShapes(shape, input->shape()));
      inputs.push_back(input);
    }
    const DataType dtype = inputs[0]->dtype();
    if (count == 1) {
      // One input is its own sum, mean, max and min (tensors are immutable: share it).
      bool supported = VisitTypes<kTypes>(dtype, []<typename T>() {});
      if (!supported) return UnsupportedType(dtype);
      context.SetOutput(0, *inputs[0]);
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, dtype, shape));
    bool supported = VisitTypes<kTypes>(dtype, [&]<typename T>() {
      T* result = out->data<T>();
      // Fold left; from the third input on, the output is also the first operand.
      BinaryMap<T, T, T>(inputs[0]->data<T>(), inputs[0]->shape(), inputs[1]->data<T>(), inputs[1]->shape(), result,
                         shape, Op{});
      for (int i = 2; i < count; ++i) {
        BinaryMap<T, T, T>(result, shape, inputs[i]->data<T>(), inputs[i]->shape(), result, shape, Op{});
      }
      if constexpr (kMean) {
        using C = ComputeType<T>;
        const C n = static_cast<C>(count);
        UnaryMap(result, result, out->element_count(), [n](C v) { return v / n; });
      }
    });
    if (!supported) return UnsupportedType(dtype);
    return Status::Ok();
  }
};

template <typename KernelType>
Result<std::unique_ptr<Kernel>> MakeKernel(KernelBuildContext&) {
  return std::unique_ptr<Kernel>(std::make_unique<KernelType>());
}

// Mod rejects fmod=0 on floats, as the spec asks.
class ModKernel final : public Kernel {
 public:
  explicit ModKernel(bool fmod) : binary_(ModOp{fmod}, LegacyBroadcast{}), fmod_(fmod) {}

  Status Compute(KernelContext& context) const override {
    const Tensor* a = context.input_tensor(0);
    if (!fmod_ && a && core::IsFloatingPoint(a->dtype())) {
      return core::InvalidArgument("Mod of {} inputs needs fmod=1", core::DataTypeName(a->dtype()));
    }
    return binary_.Compute(context);
  }

 private:
  BinaryKernel<kNumericTypes, ModOp> binary_;
  bool fmod_;
};

Result<std::unique_ptr<Kernel>> MakeModKernel(KernelBuildContext& build) {
  const int64_t fmod = build.node().GetInt("fmod", 0);
  if (fmod != 0 && fmod != 1) return core::InvalidArgument("fmod must be 0 or 1, got {}", fmod);
  return std::unique_ptr<Kernel>(std::make_unique<ModKernel>(fmod != 0));
}

Result<std::unique_ptr<Kernel>> MakeBitShiftKernel(KernelBuildContext& build) {
  const std::string direction = build.node().GetString("direction");
  if (direction == "LEFT") return BinaryKernelFactory<kUnsignedTypes, ShiftLeftOp>()(build);
  if (direction == "RIGHT") return BinaryKernelFactory<kUnsignedTypes, ShiftRightOp>()(build);
  return core::InvalidArgument("direction must be LEFT or RIGHT, got '{}'", direction);
}

}  // namespace

void RegisterElementwiseKernels(OpRegistry& registry) {
  auto infer_binary = [](InferenceContext& context) { return InferBinary(context); };
  auto infer_broadcast = [](InferenceContext& context) { return InferBroadcast(context); };
  registry.Register("", "Add", {1, 6, 7, 13, 14}, infer_binary, BinaryKernelFactory<kNumericTypes, AddOp>());
  registry.Register("", "Sub", {1, 6, 7, 13, 14}, infer_binary, BinaryKernelFactory<kNumericTypes, SubOp>());
  registry.Register("", "Mul", {1, 6, 7, 13, 14}, infer_binary, BinaryKernelFactory<kNumericTypes, MulOp>());
  registry.Register("", "Div", {1, 6, 7, 13, 14}, infer_binary, BinaryKernelFactory<kNumericTypes, DivOp>());
  registry.Register(
      "", "Pow", {1, 7, 12, 13, 15}, infer_binary, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        return std::unique_ptr<Kernel>(std::make_unique<PowKernel>(LegacyBroadcast::FromNode(build.node())));
      });
  registry.Register("", "Mod", {10, 13}, infer_broadcast, MakeModKernel);
  registry.Register("", "BitShift", {11}, infer_broadcast, MakeBitShiftKernel);
  registry.Register("", "BitwiseAnd", {18}, infer_broadcast, BinaryKernelFactory<kIntegerTypes, BitwiseAndOp>());
  registry.Register("", "BitwiseOr", {18}, infer_broadcast, BinaryKernelFactory<kIntegerTypes, BitwiseOrOp>());
  registry.Register("", "BitwiseXor", {18}, infer_broadcast, BinaryKernelFactory<kIntegerTypes, BitwiseXorOp>());
  registry.Register("", "BitwiseNot", {18}, InferSameAsInput,
                    [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
                      return MakeUnaryKernel<kIntegerTypes>(BitwiseNotOp{});
                    });

  // Before opset 8 these took same-shaped inputs; broadcasting covers that.
  registry.Register("", "Sum", {1, 6, 8, 13}, infer_broadcast, MakeKernel<VariadicKernel<kFloatTypes, AddOp>>);
  registry.Register("", "Mean", {1, 6, 8, 13}, infer_broadcast, MakeKernel<VariadicKernel<kFloatTypes, AddOp, true>>);
  registry.Register("", "Max", {1, 6, 8, 12, 13}, infer_broadcast, MakeKernel<VariadicKernel<kNumericTypes, MaxOp>>);
  registry.Register("", "Min", {1, 6, 8, 12, 13}, infer_broadcast, MakeKernel<VariadicKernel<kNumericTypes, MinOp>>);
}

}  // namespace berth::engine

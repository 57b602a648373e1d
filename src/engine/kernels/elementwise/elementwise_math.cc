// Element-wise math functions of one input: Abs, Neg, Reciprocal, Floor,
// Ceil, Round, Sqrt, Exp, Log, the trigonometric and hyperbolic functions,
// Erf, Sign, IsNaN, IsInf.
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/elementwise/elementwise.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::Result;
using core::Status;
using core::Tensor;

// Negation in the unsigned type, so that INT_MIN wraps instead of overflowing.
template <typename C>
C WrappingNegate(C x) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
    return static_cast<C>(U(0) - static_cast<U>(x));
  } else {
    return -x;
  }
}

struct AbsOp {
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>)
      return x;
    else if constexpr (std::is_integral_v<C>)
      return x < 0 ? WrappingNegate(x) : x;
    else
      return std::fabs(x);
  }
};
struct NegOp {
  template <typename C>
  C operator()(C x) const {
    return WrappingNegate(x);
  }
};
struct ReciprocalOp {
  template <typename C>
  C operator()(C x) const {
    return C(1) / x;
  }
};
struct FloorOp {
  template <typename C>
  C operator()(C x) const {
    return std::floor(x);
  }
};
struct CeilOp {
  template <typename C>
  C operator()(C x) const {
    return std::ceil(x);
  }
};
// Halves round to even, as the default floating-point rounding mode does.
struct RoundOp {
  template <typename C>
  C operator()(C x) const {
    return std::nearbyint(x);
  }
};
struct SqrtOp {
  template <typename C>
  C operator()(C x) const {
    return std::sqrt(x);
  }
};
struct LogOp {
  template <typename C>
  C operator()(C x) const {
    return std::log(x);
  }
};

void ExpFloat32(const float* in, float* out, int64_t n) {
  MapFloat32(in, out, n, [](float x) { return VectorExp(x); });
}
struct ExpOp {
  template <typename C>
  C operator()(C x) const {
    return std::exp(x);
  }
  void RunFloat32(const float* in, float* out, int64_t n) const { ExpFloat32(in, out, n); }
};

void ErfFloat32(const float* in, float* out, int64_t n) {
  MapFloat32(in, out, n, [](float x) { return VectorErf(x); });
}
// Erf accepts integer types too; their result is truncated back.
struct ErfOp {
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_integral_v<C>)
      return static_cast<C>(std::erf(static_cast<double>(x)));
    else
      return std::erf(x);
  }
  void RunFloat32(const float* in, float* out, int64_t n) const { ErfFloat32(in, out, n); }
};

struct SinOp {
  template <typename C>
  C operator()(C x) const {
    return std::sin(x);
  }
};
struct CosOp {
  template <typename C>
  C operator()(C x) const {
    return std::cos(x);
  }
};
struct TanOp {
  template <typename C>
  C operator()(C x) const {
    return std::tan(x);
  }
};
struct AsinOp {
  template <typename C>
  C operator()(C x) const {
    return std::asin(x);
  }
};
struct AcosOp {
  template <typename C>
  C operator()(C x) const {
    return std::acos(x);
  }
};
struct AtanOp {
  template <typename C>
  C operator()(C x) const {
    return std::atan(x);
  }
};
struct SinhOp {
  template <typename C>
  C operator()(C x) const {
    return std::sinh(x);
  }
};
struct CoshOp {
  template <typename C>
  C operator()(C x) const {
    return std::cosh(x);
  }
};
struct AsinhOp {
  template <typename C>
  C operator()(C x) const {
    return std::asinh(x);
  }
};
struct AcoshOp {
  template <typename C>
  C operator()(C x) const {
    return std::acosh(x);
  }
};
struct AtanhOp {
  template <typename C>
  C operator()(C x) const {
    return std::atanh(x);
  }
};

// -1, 0 or 1 (NaN stays NaN).
struct SignOp {
  template <typename C>
  C operator()(C x) const {
    if constexpr (std::is_unsigned_v<C>) {
      return x > 0 ? C(1) : C(0);
    } else {
      if constexpr (std::is_floating_point_v<C>) {
        if (x != x) return x;
      }
      return x > 0 ? C(1) : (x < 0 ? C(-1) : C(0));
    }
  }
};

// A float predicate: bool output of the input's shape.
template <typename Predicate>
class PredicateKernel final : public Kernel {
 public:
  explicit PredicateKernel(Predicate predicate) : predicate_(predicate) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, core::DataType::kBool, x->shape()));
    const Predicate& predicate = predicate_;
    bool supported = VisitTypes<kFloatTypes>(x->dtype(), [&]<typename T>() {
      UnaryMap(x->data<T>(), out->data<bool>(), x->element_count(), [&predicate](auto v) { return predicate(v); });
    });
    if (!supported) return UnsupportedType(x->dtype());
    return Status::Ok();
  }

 private:
  Predicate predicate_;
};

struct IsNaNPredicate {
  template <typename C>
  bool operator()(C x) const {
    return x != x;
  }
};
struct IsInfPredicate {
  bool negative = true;
  bool positive = true;
  template <typename C>
  bool operator()(C x) const {
    return (positive && x == std::numeric_limits<C>::infinity()) ||
           (negative && x == -std::numeric_limits<C>::infinity());
  }
};

core::Status InferBool(InferenceContext& context) {
  ValueType type = context.input_type(0);
  if (type.is_tensor()) {
    type.dtype = core::DataType::kBool;
  } else {
    type = ValueType::TensorUnknownShape(core::DataType::kBool);
  }
  context.set_output_type(0, type);
  return Status::Ok();
}

template <unsigned kTypes, typename Op>
void RegisterUnary(OpRegistry& registry, std::string_view op_type, std::initializer_list<int> versions) {
  registry.Register(
      "", op_type, versions, InferSameAsInput,
      [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> { return MakeUnaryKernel<kTypes>(Op{}); });
}

}  // namespace

void RegisterElementwiseMathKernels(OpRegistry& registry) {
  // Opset 1 versions differ only by the ignored consumed_inputs attribute.
  RegisterUnary<kNumericTypes, AbsOp>(registry, "Abs", {1, 6, 13});
  RegisterUnary<kSignedNumericTypes, NegOp>(registry, "Neg", {1, 6, 13});
  RegisterUnary<kFloatTypes, ReciprocalOp>(registry, "Reciprocal", {1, 6, 13});
  RegisterUnary<kFloatTypes, FloorOp>(registry, "Floor", {1, 6, 13});
  RegisterUnary<kFloatTypes, CeilOp>(registry, "Ceil", {1, 6, 13});
  RegisterUnary<kFloatTypes, RoundOp>(registry, "Round", {11});
  RegisterUnary<kFloatTypes, SqrtOp>(registry, "Sqrt", {1, 6, 13});
  RegisterUnary<kFloatTypes, ExpOp>(registry, "Exp", {1, 6, 13});
  RegisterUnary<kFloatTypes, LogOp>(registry, "Log", {1, 6, 13});
  RegisterUnary<kFloatTypes, SinOp>(registry, "Sin", {7});
  RegisterUnary<kFloatTypes, CosOp>(registry, "Cos", {7});
  RegisterUnary<kFloatTypes, TanOp>(registry, "Tan", {7});
  RegisterUnary<kFloatTypes, AsinOp>(registry, "Asin", {7});
  RegisterUnary<kFloatTypes, AcosOp>(registry, "Acos", {7});
  RegisterUnary<kFloatTypes, AtanOp>(registry, "Atan", {7});
  RegisterUnary<kFloatTypes, SinhOp>(registry, "Sinh", {9});
  RegisterUnary<kFloatTypes, CoshOp>(registry, "Cosh", {9});
  RegisterUnary<kFloatTypes, AsinhOp>(registry, "Asinh", {9});
  RegisterUnary<kFloatTypes, AcoshOp>(registry, "Acosh", {9});
  RegisterUnary<kFloatTypes, AtanhOp>(registry, "Atanh", {9});
  RegisterUnary<kNumericTypes, ErfOp>(registry, "Erf", {9, 13});
  RegisterUnary<kNumericTypes, SignOp>(registry, "Sign", {9, 13});

  registry.Register("", "IsNaN", {9, 13}, InferBool, [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(std::make_unique<PredicateKernel<IsNaNPredicate>>(IsNaNPredicate{}));
  });
  registry.Register("", "IsInf", {10}, InferBool, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
    IsInfPredicate predicate{build.node().GetInt("detect_negative", 1) != 0,
                             build.node().GetInt("detect_positive", 1) != 0};
    return std::unique_ptr<Kernel>(std::make_unique<PredicateKernel<IsInfPredicate>>(predicate));
  });
}

}  // namespace berth::engine

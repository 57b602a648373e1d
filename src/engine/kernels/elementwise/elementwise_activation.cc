// Activation functions: Relu, LeakyRelu, PRelu, Elu, Selu, Celu,
// ThresholdedRelu, HardSigmoid, HardSwish, Sigmoid, Tanh, Softplus, Softsign,
// Shrink, Gelu, Mish, Clip.
#include <cfloat>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/elementwise/elementwise.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

struct ReluOp {
  template <typename C>
  C operator()(C x) const {
    return x > C(0) ? x : C(0);
  }
};

struct LeakyReluOp {
  float alpha = 0.01f;
  template <typename C>
  C operator()(C x) const {
    return x >= C(0) ? x : static_cast<C>(alpha) * x;
  }
};

struct EluOp {
  float alpha = 1.0f;
  template <typename C>
  C operator()(C x) const {
    return x >= C(0) ? x : static_cast<C>(alpha) * std::expm1(x);
  }
};

struct SeluOp {
  float alpha = 1.67326319217681884765625f;
  float gamma = 1.05070102214813232421875f;
  template <typename C>
  C operator()(C x) const {
    return static_cast<C>(gamma) * (x > C(0) ? x : static_cast<C>(alpha) * std::expm1(x));
  }
};

// max(0, x) + min(0, alpha (exp(x / alpha) - 1)).
struct CeluOp {
  float alpha = 1.0f;
  template <typename C>
  C operator()(C x) const {
    const C a = static_cast<C>(alpha);
    return x > C(0) ? x : a * std::expm1(x / a);
  }
};

struct ThresholdedReluOp {
  float alpha = 1.0f;
  template <typename C>
  C operator()(C x) const {
    return x > static_cast<C>(alpha) ? x : C(0);
  }
};

// max(0, min(1, alpha x + beta)); HardSwish multiplies that by x.
template <bool kTimesX>
struct HardSigmoidOp {
  float alpha = 0.2f;
  float beta = 0.5f;
  template <typename C>
  C operator()(C x) const {
    C y = static_cast<C>(alpha) * x + static_cast<C>(beta);
    y = y < C(0) ? C(0) : y;
    y = y > C(1) ? C(1) : y;
    if constexpr (kTimesX)
      return x * y;
    else
      return y;
  }
};

void SigmoidFloat32(const float* in, float* out, int64_t n) {
  MapFloat32(in, out, n, [](float x) { return VectorSigmoid(x); });
}
struct SigmoidOp {
  template <typename C>
  C operator()(C x) const {
    return C(1) / (C(1) + std::exp(-x));
  }
  void RunFloat32(const float* in, float* out, int64_t n) const { SigmoidFloat32(in, out, n); }
};

void TanhFloat32(const float* in, float* out, int64_t n) {
  MapFloat32(in, out, n, [](float x) { return VectorTanh(x); });
}
struct TanhOp {
  template <typename C>
  C operator()(C x) const {
    return std::tanh(x);
  }
  void RunFloat32(const float* in, float* out, int64_t n) const { TanhFloat32(in, out, n); }
};

// log(1 + e^x), written so that large |x| neither overflows nor loses digits.
template <typename C>
C Softplus(C x) {
  return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
struct SoftplusOp {
  template <typename C>
  C operator()(C x) const {
    return Softplus(x);
  }
};

struct SoftsignOp {
  template <typename C>
  C operator()(C x) const {
    return x / (C(1) + std::fabs(x));
  }
};

// x + bias below -lambd, x - bias above lambd, else 0. Integer inputs
// compute in double and convert back.
struct ShrinkOp {
  float lambd = 0.5f;
  float bias = 0.0f;
  template <typename C>
  C operator()(C x) const {
    using F = std::conditional_t<std::is_floating_point_v<C>, C, double>;
    const F v = static_cast<F>(x);
    F y = F(0);
    if (v < -static_cast<F>(lambd))
      y = v + static_cast<F>(bias);
    else if (v > static_cast<F>(lambd))
      y = v - static_cast<F>(bias);
    if constexpr (std::is_integral_v<C>)
      return SaturatingCast<C>(y);
    else
      return y;
  }
};

void GeluErfFloat32(const float* in, float* out, int64_t n) {
  MapFloat32(in, out, n, [](float x) { return VectorGeluErf(x); });
}
void GeluTanhFloat32(const float* in, float* out, int64_t n) {
  MapFloat32(in, out, n, [](float x) { return VectorGeluTanh(x); });
}
// 0.5 x (1 + erf(x / sqrt 2)), or with approximate="tanh"
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
struct GeluOp {
  bool tanh = false;
  template <typename C>
  C operator()(C x) const {
    if (tanh) {
      return C(0.5) * x * (C(1) + std::tanh(C(0.79788456080286536) * (x + C(0.044715) * x * x * x)));
    }
    return C(0.5) * x * (C(1) + std::erf(x * C(0.70710678118654752)));
  }
  void RunFloat32(const float* in, float* out, int64_t n) const {
    if (tanh)
      GeluTanhFloat32(in, out, n);
    else
      GeluErfFloat32(in, out, n);
  }
};

struct MishOp {
  template <typename C>
  C operator()(C x) const {
    return x * std::tanh(Softplus(x));
  }
};

// ---------------------------------------------------------------------------
// PRelu: y = x < 0 ? slope * x : x, slope broadcast onto x (unidirectional).

struct PReluOp {
  template <typename C>
  C operator()(C x, C slope) const {
    if constexpr (std::is_unsigned_v<C>) {
      return x;
    } else if constexpr (std::is_integral_v<C>) {
      using U = std::conditional_t<(sizeof(C) < sizeof(unsigned)), unsigned, std::make_unsigned_t<C>>;
      return x < 0 ? static_cast<C>(static_cast<U>(slope) * static_cast<U>(x)) : x;
    } else {
      return x < C(0) ? slope * x : x;
    }
  }
};

class PReluKernel final : public Kernel {
 public:
  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* slope, RequireTensor(context, 1, "slope"));
    if (x->dtype() != slope->dtype()) {
      return core::InvalidArgument("X has type {}, slope {}", core::DataTypeName(x->dtype()),
                                   core::DataTypeName(slope->dtype()));
    }
    ASSIGN_OR_RETURN(core::TensorShape shape, core::BroadcastShapes(x->shape(), slope->shape()));
    if (shape != x->shape()) {
      return core::InvalidArgument("slope {} does not broadcast to X {}", core::ShapeToString(slope->shape()),
                                   core::ShapeToString(x->shape()));
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, x->dtype(), shape));
    bool supported =
        VisitTypes<kNumericTypes>(x->dtype(), [&]<typename T>() { BinaryMap<T, T, T>(*x, *slope, *out, PReluOp{}); });
    if (!supported) return UnsupportedType(x->dtype());
    return Status::Ok();
  }
};

// ---------------------------------------------------------------------------
// Clip: bounds from attributes (opset < 11) or from optional scalar inputs.

struct ClipOp {
  // NaN passes through; when min > max everything becomes max.
  template <typename C>
  C operator()(C x, C low, C high) const {
    C y = x < low ? low : x;
    return y > high ? high : y;
  }
};

class ClipKernel final : public Kernel {
 public:
  // From attributes: float bounds.
  ClipKernel(float low, float high) : from_inputs_(false), low_(low), high_(high) {}
  ClipKernel() : from_inputs_(true) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "input"));
    const Tensor* bounds[2] = {context.input_tensor(1), context.input_tensor(2)};
    if (from_inputs_) {
      for (int i = 0; i < 2; ++i) {
        if (!bounds[i]) continue;
        const char* name = i == 0 ? "min" : "max";
        if (bounds[i]->dtype() != x->dtype()) {
          return core::InvalidArgument("{} has type {}, input {}", name, core::DataTypeName(bounds[i]->dtype()),
                                       core::DataTypeName(x->dtype()));
        }
        if (bounds[i]->element_count() != 1) {
          return core::InvalidArgument("{} must be a scalar, got shape {}", name,
                                       core::ShapeToString(bounds[i]->shape()));
        }
      }
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, x->dtype(), x->shape()));
    // Attribute bounds (opset < 11) are for float inputs only.
    bool supported = from_inputs_ || core::IsFloatingPoint(x->dtype());
    supported = supported && VisitTypes<kNumericTypes>(x->dtype(), [&]<typename T>() {
                  using C = ComputeType<T>;
                  C low = std::numeric_limits<C>::lowest();
                  C high = std::numeric_limits<C>::max();
                  if constexpr (std::is_floating_point_v<C>) {
                    low = -std::numeric_limits<C>::infinity();
                    high = std::numeric_limits<C>::infinity();
                  }
                  if constexpr (std::is_floating_point_v<C>) {
                    if (!from_inputs_) {
                      low = static_cast<C>(low_);
                      high = static_cast<C>(high_);
                    }
                  }
                  if (from_inputs_) {
                    if (bounds[0]) low = LoadValue(bounds[0]->data<T>()[0]);
                    if (bounds[1]) high = LoadValue(bounds[1]->data<T>()[0]);
                  }
                  UnaryMap(x->data<T>(), out->data<T>(), x->element_count(),
                           [low, high](C v) { return ClipOp{}(v, low, high); });
                });
    if (!supported) return UnsupportedType(x->dtype());
    return Status::Ok();
  }

 private:
  bool from_inputs_;
  float low_ = 0;
  float high_ = 0;
};

Result<std::unique_ptr<Kernel>> MakeClipKernel(KernelBuildContext& build) {
  if (build.opset() < 11) {
    // Opset 1 leaves an absent bound unbounded; opset 6 defaults to +-FLT_MAX.
    const float unbounded = build.opset() < 6 ? INFINITY : FLT_MAX;
    return std::unique_ptr<Kernel>(std::make_unique<ClipKernel>(build.node().GetFloat("min", -unbounded),
                                                                build.node().GetFloat("max", unbounded)));
  }
  return std::unique_ptr<Kernel>(std::make_unique<ClipKernel>());
}

template <unsigned kTypes, typename Op>
void RegisterActivation(OpRegistry& registry, std::string_view op_type, std::initializer_list<int> versions) {
  registry.Register(
      "", op_type, versions, InferSameAsInput,
      [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> { return MakeUnaryKernel<kTypes>(Op{}); });
}

}  // namespace

void RegisterActivationKernels(OpRegistry& registry) {
  // Relu takes signed integers from opset 14.
  RegisterActivation<kSignedNumericTypes, ReluOp>(registry, "Relu", {1, 6, 13, 14});
  RegisterActivation<kFloatTypes, SigmoidOp>(registry, "Sigmoid", {1, 6, 13});
  RegisterActivation<kFloatTypes, TanhOp>(registry, "Tanh", {1, 6, 13});
  RegisterActivation<kFloatTypes, SoftplusOp>(registry, "Softplus", {1});
  RegisterActivation<kFloatTypes, SoftsignOp>(registry, "Softsign", {1});
  RegisterActivation<kFloatTypes, MishOp>(registry, "Mish", {18});

  registry.Register("", "LeakyRelu", {1, 6, 16}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      return MakeUnaryKernel<kFloatTypes>(LeakyReluOp{build.node().GetFloat("alpha", 0.01f)});
                    });
  registry.Register("", "Elu", {1, 6}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      return MakeUnaryKernel<kFloatTypes>(EluOp{build.node().GetFloat("alpha", 1.0f)});
                    });
  registry.Register("", "Selu", {1, 6}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      SeluOp op;
                      op.alpha = build.node().GetFloat("alpha", op.alpha);
                      op.gamma = build.node().GetFloat("gamma", op.gamma);
                      return MakeUnaryKernel<kFloatTypes>(op);
                    });
  registry.Register("", "Celu", {12}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      const float alpha = build.node().GetFloat("alpha", 1.0f);
                      if (alpha == 0.0f) return core::InvalidArgument("alpha must not be 0");
                      return MakeUnaryKernel<kFloatTypes>(CeluOp{alpha});
                    });
  registry.Register("", "ThresholdedRelu", {10}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      return MakeUnaryKernel<kFloatTypes>(ThresholdedReluOp{build.node().GetFloat("alpha", 1.0f)});
                    });
  registry.Register(
      "", "HardSigmoid", {1, 6}, InferSameAsInput, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        return MakeUnaryKernel<kFloatTypes>(
            HardSigmoidOp<false>{build.node().GetFloat("alpha", 0.2f), build.node().GetFloat("beta", 0.5f)});
      });
  registry.Register("", "HardSwish", {14}, InferSameAsInput,
                    [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
                      return MakeUnaryKernel<kFloatTypes>(HardSigmoidOp<true>{1.0f / 6.0f, 0.5f});
                    });
  registry.Register("", "Shrink", {9}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      return MakeUnaryKernel<kNumericTypes>(
                          ShrinkOp{build.node().GetFloat("lambd", 0.5f), build.node().GetFloat("bias", 0.0f)});
                    });
  registry.Register("", "Gelu", {20}, InferSameAsInput,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      const std::string approximate = build.node().GetString("approximate", "none");
                      if (approximate != "none" && approximate != "tanh") {
                        return core::InvalidArgument("approximate must be 'none' or 'tanh', got '{}'", approximate);
                      }
                      return MakeUnaryKernel<kFloatTypes>(GeluOp{approximate == "tanh"});
                    });

  registry.Register("", "PRelu", {6, 7, 9, 16}, InferSameAsInput,
                    [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
                      return std::unique_ptr<Kernel>(std::make_unique<PReluKernel>());
                    });
  registry.Register("", "Clip", {1, 6, 11, 12, 13}, InferSameAsInput, MakeClipKernel);
}

}  // namespace berth::engine

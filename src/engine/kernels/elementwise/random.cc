// Random generators and Dropout: RandomNormal, RandomUniform,
// RandomNormalLike, RandomUniformLike, Bernoulli, Dropout.
//
// Numbers come from a counter-based generator (splitmix64 evaluated at any
// position), so one call fills a tensor in parallel without shared state:
// element i of call k of a kernel draws from position (stream(k), i). With a
// `seed` attribute a kernel gives the same sequence of tensors in every
// process; without one each kernel starts from a random key. Values cannot
// match other runtimes (ONNX does not define the generator).
#include <atomic>
#include <bit>
#include <cfloat>
#include <random>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/elementwise/elementwise.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;

inline uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A kernel's source of streams: one fresh stream per call, thread-safe.
class RandomSource {
 public:
  // From the node's float `seed` attribute when present, else at random.
  explicit RandomSource(const Node& node) {
    if (const Attribute* seed = node.FindAttribute("seed")) {
      const float value = seed->type == Attribute::Type::kInt ? static_cast<float>(seed->i) : seed->f;
      key_ = Mix64(std::bit_cast<uint32_t>(value) ^ 0x5eedull);
    } else {
      std::random_device device;
      key_ = (static_cast<uint64_t>(device()) << 32) ^ device();
    }
  }

  // The state from which call `NextStream()` draws position i as Mix64(state + (i + 1) * gamma).
  uint64_t NextStream() const { return Mix64(key_ + calls_.fetch_add(1, std::memory_order_relaxed) * kGoldenGamma); }

 private:
  uint64_t key_ = 0;
  mutable std::atomic<uint64_t> calls_{0};
};

inline uint64_t Draw(uint64_t stream, uint64_t position) { return Mix64(stream + (position + 1) * kGoldenGamma); }

// Uniform in [0, 1) with 53 random bits.
inline double UniformAt(uint64_t stream, uint64_t position) {
  return static_cast<double>(Draw(stream, position) >> 11) * 0x1.0p-53;
}

// Standard normal by Box-Muller from two draws per element.
inline double NormalAt(uint64_t stream, uint64_t position) {
  const double u1 = static_cast<double>((Draw(stream, 2 * position) >> 11) + 1) * 0x1.0p-53;  // (0, 1]
  const double u2 = UniformAt(stream, 2 * position + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Fills `out` (a float type) with fn(stream, i).
template <typename Fn>
Status FillRandom(Tensor& out, uint64_t stream, Fn fn) {
  bool supported = VisitTypes<kFloatTypes>(out.dtype(), [&]<typename T>() {
    T* data = out.data<T>();
    core::ParallelFor(out.element_count(), 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) data[i] = StoreAs<T>(fn(stream, static_cast<uint64_t>(i)));
    });
  });
  if (!supported) return UnsupportedType(out.dtype(), "output");
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// RandomNormal / RandomUniform (shape from an attribute) and their *Like
// forms (shape, and by default type, of the input).

struct Distribution {
  bool normal = false;
  double a = 0;  // mean or low
  double b = 1;  // scale or high
};

// The output type: the `dtype` attribute, else `fallback`.
Result<DataType> RandomOutputType(const Node& node, DataType fallback) {
  if (!node.HasAttribute("dtype")) return fallback;
  std::optional<DataType> type = core::DataTypeFromOnnx(static_cast<int32_t>(node.GetInt("dtype", 1)));
  if (!type || !core::IsFloatingPoint(*type)) {
    return core::Unimplemented("dtype {} is not supported (float types only)", node.GetInt("dtype", 1));
  }
  return *type;
}

Distribution ReadDistribution(const Node& node, bool normal) {
  Distribution d;
  d.normal = normal;
  d.a = normal ? node.GetFloat("mean", 0.0f) : node.GetFloat("low", 0.0f);
  d.b = normal ? node.GetFloat("scale", 1.0f) : node.GetFloat("high", 1.0f);
  return d;
}

class RandomKernel final : public Kernel {
 public:
  // `like`: shape from input 0; `dtype` kUndefined means input 0's type.
  RandomKernel(const Node& node, Distribution distribution, bool like, DataType dtype, core::TensorShape shape)
      : source_(node), distribution_(distribution), like_(like), dtype_(dtype), shape_(std::move(shape)) {}

  Status Compute(KernelContext& context) const override {
    core::TensorShape shape = shape_;
    DataType dtype = dtype_;
    if (like_) {
      ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
      shape = input->shape();
      if (dtype == DataType::kUndefined) dtype = input->dtype();
    }
    if (!core::IsFloatingPoint(dtype)) return UnsupportedType(dtype, "output");
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, dtype, shape));
    const Distribution d = distribution_;
    if (d.normal) {
      return FillRandom(*out, source_.NextStream(), [d](uint64_t s, uint64_t i) { return d.a + d.b * NormalAt(s, i); });
    }
    return FillRandom(*out, source_.NextStream(),
                      [d](uint64_t s, uint64_t i) { return d.a + (d.b - d.a) * UniformAt(s, i); });
  }

 private:
  RandomSource source_;
  Distribution distribution_;
  bool like_;
  DataType dtype_;
  core::TensorShape shape_;
};

Result<core::TensorShape> ShapeAttribute(const Node& node) {
  const Attribute* attr = node.FindAttribute("shape");
  if (!attr || attr->type != Attribute::Type::kInts) return core::InvalidArgument("attribute 'shape' is missing");
  for (int64_t dim : attr->ints) {
    if (dim < 0) return core::InvalidArgument("shape {} has a negative dim", core::ShapeToString(attr->ints));
  }
  RETURN_IF_ERROR(core::CheckedElementCount(attr->ints).status());
  return attr->ints;
}

KernelFactory RandomFactory(bool normal, bool like) {
  return [normal, like](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
    const Node& node = build.node();
    core::TensorShape shape;
    if (!like) {
      ASSIGN_OR_RETURN(shape, ShapeAttribute(node));
    }
    ASSIGN_OR_RETURN(DataType dtype, RandomOutputType(node, like ? DataType::kUndefined : DataType::kFloat32));
    return std::unique_ptr<Kernel>(
        std::make_unique<RandomKernel>(node, ReadDistribution(node, normal), like, dtype, std::move(shape)));
  };
}

Status InferRandom(InferenceContext& context) {
  ASSIGN_OR_RETURN(core::TensorShape shape, ShapeAttribute(context.node()));
  ASSIGN_OR_RETURN(DataType dtype, RandomOutputType(context.node(), DataType::kFloat32));
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return Status::Ok();
}

// *Like and Bernoulli: the input's shape; `dtype` attribute or the input's type.
Status InferRandomLike(InferenceContext& context) {
  const Attribute* dtype_attr = context.node().FindAttribute("dtype");
  DataType dtype = InputDtype(context, 0);
  if (dtype_attr) dtype = core::DataTypeFromOnnx(static_cast<int32_t>(dtype_attr->i)).value_or(DataType::kUndefined);
  return InferSameShape(context, dtype);
}

// ---------------------------------------------------------------------------
// Bernoulli: 1 with probability input[i], else 0, in the `dtype` type.

class BernoulliKernel final : public Kernel {
 public:
  BernoulliKernel(const Node& node, DataType dtype) : source_(node), dtype_(dtype) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* p, RequireTensor(context, 0, "input"));
    const DataType dtype = dtype_ == DataType::kUndefined ? p->dtype() : dtype_;
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, dtype, p->shape()));
    const uint64_t stream = source_.NextStream();
    bool out_supported = false;
    bool supported = VisitTypes<kFloatTypes>(p->dtype(), [&]<typename P>() {
      out_supported = VisitTypes<kNumericTypes | kBoolType>(dtype, [&]<typename T>() {
        const P* probability = p->data<P>();
        T* data = out->data<T>();
        core::ParallelFor(p->element_count(), 4096, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const bool one =
                UniformAt(stream, static_cast<uint64_t>(i)) < static_cast<double>(LoadValue(probability[i]));
            data[i] = StoreAs<T>(one ? 1 : 0);
          }
        });
      });
    });
    if (!supported) return UnsupportedType(p->dtype());
    if (!out_supported) return UnsupportedType(dtype, "output");
    return Status::Ok();
  }

 private:
  RandomSource source_;
  DataType dtype_;
};

// ---------------------------------------------------------------------------
// Dropout. In inference (the default) the output is the input and the mask
// all true. Training (opset 12+: training_mode input true; opset < 7:
// is_test=0) zeroes each element with probability `ratio` and scales the rest
// by 1 / (1 - ratio).

class DropoutKernel final : public Kernel {
 public:
  // opset 12+: ratio and training_mode come from inputs 1 and 2. `mask_type`
  // kUndefined: the data's type.
  DropoutKernel(const Node& node, bool from_inputs, bool training, float ratio, DataType mask_type)
      : source_(node), from_inputs_(from_inputs), training_(training), ratio_(ratio), mask_type_(mask_type) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "data"));
    bool training = training_;
    double ratio = ratio_;
    if (from_inputs_) {
      if (const Tensor* r = context.input_tensor(1)) {
        if (r->element_count() != 1 || !core::IsFloatingPoint(r->dtype())) {
          return core::InvalidArgument("ratio must be a float scalar, got {}", r->DebugString());
        }
        ratio = r->NumberAt(0);
      }
      if (const Tensor* t = context.input_tensor(2)) {
        if (t->element_count() != 1 || t->dtype() != DataType::kBool) {
          return core::InvalidArgument("training_mode must be a bool scalar, got {}", t->DebugString());
        }
        training = t->data<bool>()[0];
      }
    }
    if (!core::IsFloatingPoint(x->dtype())) return UnsupportedType(x->dtype());
    const bool wants_mask = context.output_count() > 1 && context.output_wanted(1);
    const DataType mask_type = mask_type_ == DataType::kUndefined ? x->dtype() : mask_type_;
    if (!training || ratio == 0) {
      context.SetOutput(0, *context.input(0));
      if (wants_mask) {
        ASSIGN_OR_RETURN(Tensor * mask, context.AllocateOutput(1, mask_type, x->shape()));
        RETURN_IF_ERROR(FillOnes(*mask));
      }
      return Status::Ok();
    }
    if (!(ratio >= 0 && ratio < 1)) return core::InvalidArgument("ratio must be in [0, 1), got {}", ratio);
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
    Tensor* mask = nullptr;
    if (wants_mask) {
      ASSIGN_OR_RETURN(mask, context.AllocateOutput(1, mask_type, x->shape()));
    }
    const uint64_t stream = source_.NextStream();
    const double keep_scale = 1.0 / (1.0 - ratio);
    VisitTypes<kFloatTypes>(x->dtype(), [&]<typename T>() {
      if (!mask) {
        Drop<T, bool>(*x, stream, ratio, keep_scale, *y, nullptr);
        return;
      }
      VisitTypes<kFloatTypes | kBoolType>(
          mask->dtype(), [&]<typename M>() { Drop<T, M>(*x, stream, ratio, keep_scale, *y, mask->data<M>()); });
    });
    return Status::Ok();
  }

 private:
  template <typename T, typename M>
  static void Drop(const Tensor& x, uint64_t stream, double ratio, double keep_scale, Tensor& y, M* mask) {
    const T* in = x.data<T>();
    T* out = y.data<T>();
    core::ParallelFor(x.element_count(), 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const bool keep = UniformAt(stream, static_cast<uint64_t>(i)) >= ratio;
        out[i] = StoreAs<T>(keep ? static_cast<double>(LoadValue(in[i])) * keep_scale : 0.0);
        if (mask) mask[i] = StoreAs<M>(keep ? 1 : 0);
      }
    });
  }
  // The mask is bool from opset 10, the data's type before.
  static Status FillOnes(Tensor& mask) {
    bool supported = VisitTypes<kFloatTypes | kBoolType>(mask.dtype(), [&]<typename M>() {
      M* data = mask.data<M>();
      const M one = StoreAs<M>(1);
      for (int64_t i = 0; i < mask.element_count(); ++i) data[i] = one;
    });
    if (!supported) return UnsupportedType(mask.dtype(), "mask");
    return Status::Ok();
  }

  RandomSource source_;
  bool from_inputs_;
  bool training_;
  float ratio_;
  DataType mask_type_;
};

Result<std::unique_ptr<Kernel>> MakeDropout(KernelBuildContext& build) {
  const Node& node = build.node();
  const int opset = build.opset();
  const float ratio = node.GetFloat("ratio", 0.5f);
  if (opset < 12 && !(ratio >= 0.0f && ratio < 1.0f))
    return core::InvalidArgument("ratio must be in [0, 1), got {}", ratio);
  // Before opset 10 the mask has the data's type (kUndefined here).
  const DataType mask_type = opset < 10 ? DataType::kUndefined : DataType::kBool;
  const bool training = opset < 7 && node.GetInt("is_test", 0) == 0;
  return std::unique_ptr<Kernel>(std::make_unique<DropoutKernel>(node, opset >= 12, training, ratio, mask_type));
}

Status InferDropout(InferenceContext& context) {
  const ValueType& input = context.input_type(0);
  context.set_output_type(0, input);
  if (context.output_count() > 1) {
    ValueType mask = input.is_tensor() ? input : ValueType::TensorUnknownShape(DataType::kBool);
    if (context.opset() >= 10) mask.dtype = DataType::kBool;
    context.set_output_type(1, mask);
  }
  return Status::Ok();
}

}  // namespace

void RegisterRandomKernels(OpRegistry& registry) {
  registry.Register("", "RandomNormal", {1}, InferRandom, RandomFactory(true, false));
  registry.Register("", "RandomUniform", {1}, InferRandom, RandomFactory(false, false));
  registry.Register("", "RandomNormalLike", {1}, InferRandomLike, RandomFactory(true, true));
  registry.Register("", "RandomUniformLike", {1}, InferRandomLike, RandomFactory(false, true));
  registry.Register(
      "", "Bernoulli", {15}, InferRandomLike, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        const Node& node = build.node();
        DataType dtype = DataType::kUndefined;
        if (node.HasAttribute("dtype")) {
          std::optional<DataType> type = core::DataTypeFromOnnx(static_cast<int32_t>(node.GetInt("dtype", 0)));
          if (!type || !(core::IsNumeric(*type) || *type == DataType::kBool)) {
            return core::Unimplemented("dtype {} is not supported", node.GetInt("dtype", 0));
          }
          dtype = *type;
        }
        return std::unique_ptr<Kernel>(std::make_unique<BernoulliKernel>(node, dtype));
      });
  registry.Register("", "Dropout", {1, 6, 7, 10, 12, 13}, InferDropout, MakeDropout);
}

}  // namespace berth::engine

// Normalisations over channels and batches: BatchNormalization (inference
// and training mode), InstanceNormalization, LRN and
// MeanVarianceNormalization. BatchNormalization and LRN run float32 on
// oneDNN (one primitive per input shape, cached); everything else, and other
// float types, is plain C++ computing in float (double for double).
#include <algorithm>
#include <cmath>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/dnnl_shape_cache.h"
#include "engine/kernels/normalization/norm_common.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

Status UnsupportedType(std::string_view op, DataType dtype) {
  return core::Unimplemented("{} does not support type {}", op, core::DataTypeName(dtype));
}

// Calls fn.template operator()<T>() for a float tensor type; false otherwise.
template <typename Fn>
bool VisitFloat(DataType dtype, Fn&& fn) {
  return core::VisitFloatType(dtype, [&]<typename T>() {
    if constexpr (std::is_void_v<T>) {
      return false;
    } else {
      fn.template operator()<T>();
      return true;
    }
  });
}

// Mean and (population) variance of `count` values `stride` apart, in double
// so that long rows keep float precision; two passes for stability.
template <typename T>
void MeanVariance(const T* x, int64_t count, int64_t stride, double* mean, double* variance) {
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(static_cast<ComputeType<T>>(x[i * stride]));
  const double m = count ? sum / static_cast<double>(count) : 0.0;
  double squares = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = static_cast<double>(static_cast<ComputeType<T>>(x[i * stride])) - m;
    squares += d * d;
  }
  *mean = m;
  *variance = count ? squares / static_cast<double>(count) : 0.0;
}

// y = x * a + b over rows of `inner` elements, row r using a[r % channels].
template <typename T, typename C>
void ChannelAffine(const T* x, T* y, int64_t rows, int64_t channels, int64_t inner, const std::vector<C>& a,
                   const std::vector<C>& b) {
  core::ParallelFor(rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const C scale = a[r % channels];
      const C shift = b[r % channels];
      const T* src = x + r * inner;
      T* dst = y + r * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] = T(static_cast<C>(src[i]) * scale + shift);
    }
  });
}

// ---------------------------------------------------------------------------
// BatchNormalization

struct BatchNormAttributes {
  float epsilon = 1e-5f;
  float momentum = 0.9f;
  bool training = false;  // opset 14+: Y from batch statistics, running stats out
  bool spatial = true;    // before opset 9: spatial=0 has per-element parameters
};

class BatchNormKernel final : public Kernel {
 public:
  explicit BatchNormKernel(BatchNormAttributes attrs) : attrs_(attrs) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    const char* names[] = {"scale", "B", "input_mean", "input_var"};
    const Tensor* params[4];
    for (int i = 0; i < 4; ++i) {
      ASSIGN_OR_RETURN(params[i], RequireTensor(context, i + 1, names[i]));
    }
    if (x->rank() < 2) {
      return core::InvalidArgument("BatchNormalization X must have rank >= 2, got {}", x->DebugString());
    }
    if (!core::IsFloatingPoint(x->dtype())) return UnsupportedType("BatchNormalization", x->dtype());
    const int64_t batch = x->dim(0);
    // Parameters are per channel, or (spatial=0) per element of one sample.
    const int64_t channels =
        attrs_.spatial ? x->dim(1) : core::ElementCount(std::span<const int64_t>(x->shape()).subspan(1));
    const int64_t inner = attrs_.spatial ? core::ElementCount(std::span<const int64_t>(x->shape()).subspan(2)) : 1;
    for (int i = 0; i < 4; ++i) {
      if (params[i]->element_count() != channels) {
        return core::InvalidArgument("BatchNormalization {} has {} values for {} channels", names[i],
                                     params[i]->element_count(), channels);
      }
    }
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
    Tensor* running[2] = {nullptr, nullptr};
    if (attrs_.training) {
      for (int i = 0; i < 2; ++i) {
        if (i + 1 < context.output_count() && context.output_wanted(i + 1)) {
          ASSIGN_OR_RETURN(running[i], context.AllocateOutput(i + 1, params[2 + i]->dtype(), {channels}));
          if (!core::IsFloatingPoint(running[i]->dtype())) {
            return UnsupportedType("BatchNormalization", running[i]->dtype());
          }
        }
      }
    }
    // Batch statistics (training mode), filled by either path below.
    std::vector<double> batch_mean, batch_var;
    bool all_f32 = x->dtype() == DataType::kFloat32;
    for (const Tensor* p : params) all_f32 &= p->dtype() == DataType::kFloat32;
    Status status = core::Unimplemented("not on oneDNN");
    if (all_f32 && attrs_.spatial && x->rank() <= 5 && x->element_count() > 0) {
      status = ComputeDnnl(context, *x, params, *y, &batch_mean, &batch_var);
      if (!status.ok() && status.code() != core::StatusCode::kUnimplemented) return status;
    }
    if (!status.ok()) RETURN_IF_ERROR(ComputePlain(*x, params, batch, channels, inner, *y, &batch_mean, &batch_var));
    if (attrs_.training) {
      for (int i = 0; i < 2; ++i) {
        if (!running[i]) continue;
        ASSIGN_OR_RETURN(std::vector<double> input, ReadNormParameter<double>(*params[2 + i], names[2 + i]));
        const std::vector<double>& current = i == 0 ? batch_mean : batch_var;
        for (size_t c = 0; c < input.size(); ++c) {
          input[c] = input[c] * attrs_.momentum + current[c] * (1.0 - attrs_.momentum);
        }
        WriteNormValues(input, *running[i]);
      }
    }
    return Status::Ok();
  }

 private:
  Status ComputeDnnl(KernelContext& context, const Tensor& x, const Tensor* const* params, Tensor& y,
                     std::vector<double>* batch_mean, std::vector<double>* batch_var) const {
    DnnlShapeKey key;
    key.Add(x.shape());
    auto plan = plans_.GetOrBuild(key, [&]() -> Result<std::shared_ptr<const DnnlNormPlan>> {
      auto built = std::make_shared<DnnlNormPlan>();
      RETURN_IF_ERROR(dnnl_util::TryDnnl("batch normalization primitive", [&] {
        using flags = dnnl::normalization_flags;
        built->data = dnnl_util::PlainDesc(x.shape(), dnnl::memory::data_type::f32);
        const auto prop = attrs_.training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        flags f = flags::use_scale | flags::use_shift;
        if (!attrs_.training) f = f | flags::use_global_stats;
        dnnl::batch_normalization_forward::primitive_desc pd(
            dnnl::batch_normalization_forward::desc(prop, built->data, attrs_.epsilon, f), dnnl_util::DefaultAttr(),
            dnnl_util::CpuEngine());
        built->primitive = dnnl::batch_normalization_forward(pd);
        built->stats = pd.mean_desc();
        built->scratchpad = pd.scratchpad_desc();
      }));
      return std::shared_ptr<const DnnlNormPlan>(std::move(built));
    });
    if (!plan.ok()) return core::Unimplemented("{}", plan.status().message());
    const DnnlNormPlan& p = **plan;
    const int64_t channels = x.dim(1);
    std::vector<float> mean, variance;
    const void* mean_data = params[2]->raw_data();
    const void* var_data = params[3]->raw_data();
    if (attrs_.training) {  // the primitive computes the batch statistics into these
      mean.resize(static_cast<size_t>(channels));
      variance.resize(static_cast<size_t>(channels));
      mean_data = mean.data();
      var_data = variance.data();
    }
    std::unordered_map<int, dnnl::memory> args;
    RETURN_IF_ERROR(dnnl_util::TryDnnl("batch normalization arguments", [&] {
      args = {{DNNL_ARG_SRC, NormArg(p.data, x.raw_data())},
              {DNNL_ARG_DST, NormArg(p.data, y.raw_data())},
              {DNNL_ARG_SCALE, NormArg(NormVectorDesc(channels), params[0]->raw_data())},
              {DNNL_ARG_SHIFT, NormArg(NormVectorDesc(channels), params[1]->raw_data())},
              {DNNL_ARG_MEAN, NormArg(p.stats, mean_data)},
              {DNNL_ARG_VARIANCE, NormArg(p.stats, var_data)}};
    }));
    RETURN_IF_ERROR(dnnl_util::Execute(p.primitive, std::move(args), p.scratchpad, context.allocator()));
    batch_mean->assign(mean.begin(), mean.end());
    batch_var->assign(variance.begin(), variance.end());
    return Status::Ok();
  }

  Status ComputePlain(const Tensor& x, const Tensor* const* params, int64_t batch, int64_t channels, int64_t inner,
                      Tensor& y, std::vector<double>* batch_mean, std::vector<double>* batch_var) const {
    Status status = Status::Ok();
    VisitFloat(x.dtype(), [&]<typename T>() {
      using C = ComputeType<T>;
      auto scale = ReadNormParameter<C>(*params[0], "scale");
      auto bias = ReadNormParameter<C>(*params[1], "B");
      auto mean = ReadNormParameter<C>(*params[2], "input_mean");
      auto var = ReadNormParameter<C>(*params[3], "input_var");
      for (const auto* r : {&scale, &bias, &mean, &var}) {
        if (!r->ok()) {
          status = r->status();
          return;
        }
      }
      const T* src = x.data<T>();
      if (attrs_.training) {
        batch_mean->assign(static_cast<size_t>(channels), 0.0);
        batch_var->assign(static_cast<size_t>(channels), 0.0);
        // Per channel over the batch and spatial dims: two passes in double.
        core::ParallelFor(channels, 1, [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c) {
            double sum = 0;
            for (int64_t n = 0; n < batch; ++n) {
              const T* row = src + (n * channels + c) * inner;
              for (int64_t i = 0; i < inner; ++i) sum += static_cast<double>(static_cast<C>(row[i]));
            }
            const double count = static_cast<double>(batch * inner);
            const double m = count > 0 ? sum / count : 0.0;
            double squares = 0;
            for (int64_t n = 0; n < batch; ++n) {
              const T* row = src + (n * channels + c) * inner;
              for (int64_t i = 0; i < inner; ++i) {
                const double d = static_cast<double>(static_cast<C>(row[i])) - m;
                squares += d * d;
              }
            }
            (*batch_mean)[c] = m;
            (*batch_var)[c] = count > 0 ? squares / count : 0.0;
          }
        });
      }
      std::vector<C> a(static_cast<size_t>(channels)), b(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) {
        const C m = attrs_.training ? static_cast<C>((*batch_mean)[c]) : (*mean)[c];
        const C v = attrs_.training ? static_cast<C>((*batch_var)[c]) : (*var)[c];
        a[c] = (*scale)[c] / std::sqrt(v + static_cast<C>(attrs_.epsilon));
        b[c] = (*bias)[c] - m * a[c];
      }
      ChannelAffine<T, C>(src, y.data<T>(), batch * channels, channels, inner, a, b);
    });
    return status;
  }

  BatchNormAttributes attrs_;
  DnnlShapeCache<DnnlNormPlan> plans_;
};

Result<std::unique_ptr<Kernel>> CreateBatchNorm(KernelBuildContext& build) {
  const Node& node = build.node();
  BatchNormAttributes attrs;
  attrs.epsilon = node.GetFloat("epsilon", 1e-5f);
  attrs.momentum = node.GetFloat("momentum", 0.9f);
  if (build.opset() >= 14) {
    attrs.training = node.GetInt("training_mode", 0) != 0;
  } else {
    // Before 14, asking for the statistics outputs selected training mode,
    // whose saved_mean/saved_var outputs were never pinned down.
    for (size_t i = 1; i < node.outputs.size(); ++i) {
      if (node.HasOutput(i)) {
        return core::Unimplemented("BatchNormalization training outputs before opset 14 are not supported");
      }
    }
  }
  if (build.opset() < 9) attrs.spatial = node.GetInt("spatial", 1) != 0;
  if (!(attrs.epsilon >= 0)) return core::InvalidArgument("BatchNormalization epsilon {} is negative", attrs.epsilon);
  return std::unique_ptr<Kernel>(std::make_unique<BatchNormKernel>(attrs));
}

Status InferBatchNorm(InferenceContext& context) {
  context.set_output_type(0, context.input_type(0));
  const ValueType& x = context.input_type(0);
  Dimension channels;
  if (x.is_tensor() && x.has_shape && x.dims.size() >= 2) channels = x.dims[1];
  // Running (or, before opset 14, saved) mean and variance: per channel.
  for (int i = 1; i < std::min(5, context.output_count()); ++i) {
    context.set_output_type(i, ValueType::Tensor(InputDtype(context, i % 2 ? 3 : 4), {channels}));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// InstanceNormalization: per sample and channel, over the spatial dims.

Status ComputeInstanceNorm(KernelContext& context, float epsilon) {
  ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "input"));
  ASSIGN_OR_RETURN(const Tensor* scale_t, RequireTensor(context, 1, "scale"));
  ASSIGN_OR_RETURN(const Tensor* bias_t, RequireTensor(context, 2, "B"));
  if (x->rank() < 2) {
    return core::InvalidArgument("InstanceNormalization input must have rank >= 2, got {}", x->DebugString());
  }
  if (!core::IsFloatingPoint(x->dtype())) return UnsupportedType("InstanceNormalization", x->dtype());
  const int64_t channels = x->dim(1);
  if (scale_t->element_count() != channels || bias_t->element_count() != channels) {
    return core::InvalidArgument("InstanceNormalization scale and B need {} values, got {} and {}", channels,
                                 scale_t->element_count(), bias_t->element_count());
  }
  const int64_t rows = x->dim(0) * channels;
  const int64_t inner = core::ElementCount(std::span<const int64_t>(x->shape()).subspan(2));
  ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
  Status status = Status::Ok();
  VisitFloat(x->dtype(), [&]<typename T>() {
    using C = ComputeType<T>;
    auto scale = ReadNormParameter<C>(*scale_t, "scale");
    auto bias = ReadNormParameter<C>(*bias_t, "B");
    if (!scale.ok() || !bias.ok()) {
      status = scale.ok() ? bias.status() : scale.status();
      return;
    }
    const T* src = x->data<T>();
    T* dst = y->data<T>();
    core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        double mean, variance;
        MeanVariance(src + r * inner, inner, 1, &mean, &variance);
        const C a = static_cast<C>((*scale)[r % channels] / std::sqrt(variance + epsilon));
        const C b = static_cast<C>((*bias)[r % channels] - mean * a);
        for (int64_t i = 0; i < inner; ++i) dst[r * inner + i] = T(static_cast<C>(src[r * inner + i]) * a + b);
      }
    });
  });
  return status;
}

// ---------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta,
// the window running from c - floor((size-1)/2) to c + ceil((size-1)/2).

struct LrnAttributes {
  float alpha = 1e-4f;
  float beta = 0.75f;
  float bias = 1.0f;
  int64_t size = 1;
};

template <typename T>
void PlainLrn(const LrnAttributes& attrs, const T* x, T* y, int64_t batch, int64_t channels, int64_t inner) {
  using C = ComputeType<T>;
  const int64_t before = (attrs.size - 1) / 2;
  const int64_t after = attrs.size - 1 - before;
  const C scale = static_cast<C>(attrs.alpha) / static_cast<C>(attrs.size);
  core::ParallelFor(batch * channels, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner * attrs.size, 1)),
                    [&](int64_t begin, int64_t end) {
                      for (int64_t r = begin; r < end; ++r) {
                        const int64_t n = r / channels;
                        const int64_t c = r % channels;
                        const int64_t first = std::max<int64_t>(0, c - before);
                        const int64_t last = std::min<int64_t>(channels - 1, c + after);
                        for (int64_t i = 0; i < inner; ++i) {
                          C sum = 0;
                          for (int64_t k = first; k <= last; ++k) {
                            const C v = static_cast<C>(x[(n * channels + k) * inner + i]);
                            sum += v * v;
                          }
                          const C v = static_cast<C>(x[r * inner + i]);
                          y[r * inner + i] =
                              T(v / std::pow(static_cast<C>(attrs.bias) + scale * sum, static_cast<C>(attrs.beta)));
                        }
                      }
                    });
}

class LrnKernel final : public Kernel {
 public:
  explicit LrnKernel(LrnAttributes attrs) : attrs_(attrs) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    if (x->rank() < 2) return core::InvalidArgument("LRN input must have rank >= 2, got {}", x->DebugString());
    if (!core::IsFloatingPoint(x->dtype())) return UnsupportedType("LRN", x->dtype());
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
    if (x->element_count() == 0) return Status::Ok();
    // oneDNN centres an even-sized window differently from ONNX: odd sizes only.
    if (x->dtype() == DataType::kFloat32 && x->rank() >= 3 && x->rank() <= 5 && attrs_.size % 2 == 1) {
      Status status = ComputeDnnl(context, *x, *y);
      if (status.code() != core::StatusCode::kUnimplemented) return status;
    }
    const int64_t inner = core::ElementCount(std::span<const int64_t>(x->shape()).subspan(2));
    VisitFloat(x->dtype(),
               [&]<typename T>() { PlainLrn<T>(attrs_, x->data<T>(), y->data<T>(), x->dim(0), x->dim(1), inner); });
    return Status::Ok();
  }

 private:
  Status ComputeDnnl(KernelContext& context, const Tensor& x, Tensor& y) const {
    DnnlShapeKey key;
    key.Add(x.shape());
    auto plan = plans_.GetOrBuild(key, [&]() -> Result<std::shared_ptr<const DnnlNormPlan>> {
      auto built = std::make_shared<DnnlNormPlan>();
      RETURN_IF_ERROR(dnnl_util::TryDnnl("LRN primitive", [&] {
        built->data = dnnl_util::PlainDesc(x.shape(), dnnl::memory::data_type::f32);
        dnnl::lrn_forward::primitive_desc pd(
            dnnl::lrn_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels,
                                    built->data, attrs_.size, attrs_.alpha, attrs_.beta, attrs_.bias),
            dnnl_util::DefaultAttr(), dnnl_util::CpuEngine());
        built->primitive = dnnl::lrn_forward(pd);
        built->scratchpad = pd.scratchpad_desc();
      }));
      return std::shared_ptr<const DnnlNormPlan>(std::move(built));
    });
    if (!plan.ok()) return core::Unimplemented("{}", plan.status().message());
    const DnnlNormPlan& p = **plan;
    std::unordered_map<int, dnnl::memory> args;
    RETURN_IF_ERROR(dnnl_util::TryDnnl("LRN arguments", [&] {
      args = {{DNNL_ARG_SRC, NormArg(p.data, x.raw_data())}, {DNNL_ARG_DST, NormArg(p.data, y.raw_data())}};
    }));
    return dnnl_util::Execute(p.primitive, std::move(args), p.scratchpad, context.allocator());
  }

  LrnAttributes attrs_;
  DnnlShapeCache<DnnlNormPlan> plans_;
};

Result<std::unique_ptr<Kernel>> CreateLrn(KernelBuildContext& build) {
  const Node& node = build.node();
  LrnAttributes attrs;
  attrs.alpha = node.GetFloat("alpha", 1e-4f);
  attrs.beta = node.GetFloat("beta", 0.75f);
  attrs.bias = node.GetFloat("bias", 1.0f);
  attrs.size = node.GetInt("size", 0);
  if (attrs.size <= 0) return core::InvalidArgument("LRN needs a positive 'size', got {}", attrs.size);
  return std::unique_ptr<Kernel>(std::make_unique<LrnKernel>(attrs));
}

// ---------------------------------------------------------------------------
// MeanVarianceNormalization: y = (x - mean) / (sqrt(variance) + 1e-9) with
// mean and variance over `axes` (the ONNX function's epsilon placement).

Status ComputeMvn(KernelContext& context, const std::vector<int64_t>& axes_attr) {
  ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
  if (!core::IsFloatingPoint(x->dtype())) return UnsupportedType("MeanVarianceNormalization", x->dtype());
  const int64_t rank = x->rank();
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t axis : axes_attr) {
    ASSIGN_OR_RETURN(int64_t a, core::NormalizeAxis(axis, rank));
    reduced[a] = true;
  }
  ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
  const std::vector<int64_t> strides = core::RowMajorStrides(x->shape());
  TensorShape kept_shape, reduced_shape;
  std::vector<int64_t> kept_strides, reduced_strides;
  for (int64_t a = 0; a < rank; ++a) {
    (reduced[a] ? reduced_shape : kept_shape).push_back(x->dim(a));
    (reduced[a] ? reduced_strides : kept_strides).push_back(strides[a]);
  }
  const int64_t groups = core::ElementCount(kept_shape);
  const int64_t count = core::ElementCount(reduced_shape);
  if (x->element_count() == 0) return Status::Ok();
  VisitFloat(x->dtype(), [&]<typename T>() {
    using C = ComputeType<T>;
    const T* src = x->data<T>();
    T* dst = y->data<T>();
    core::ParallelFor(
        groups, std::max<int64_t>(1, 8192 / std::max<int64_t>(count, 1)), [&](int64_t begin, int64_t end) {
          std::vector<int64_t> index(reduced_shape.size());
          // Visits the group's elements: fn(offset).
          auto for_each = [&](int64_t base, auto&& fn) {
            std::fill(index.begin(), index.end(), 0);
            int64_t offset = base;
            for (int64_t j = 0; j < count; ++j) {
              fn(offset);
              for (size_t a = index.size(); a-- > 0;) {
                offset += reduced_strides[a];
                if (++index[a] < reduced_shape[a]) break;
                offset -= reduced_strides[a] * reduced_shape[a];
                index[a] = 0;
              }
            }
          };
          for (int64_t g = begin; g < end; ++g) {
            int64_t base = 0;
            int64_t rest = g;
            for (size_t a = kept_shape.size(); a-- > 0;) {
              base += (rest % kept_shape[a]) * kept_strides[a];
              rest /= kept_shape[a];
            }
            double sum = 0;
            for_each(base, [&](int64_t o) { sum += static_cast<double>(static_cast<C>(src[o])); });
            const double mean = sum / static_cast<double>(count);
            double squares = 0;
            for_each(base, [&](int64_t o) {
              const double d = static_cast<double>(static_cast<C>(src[o])) - mean;
              squares += d * d;
            });
            const double denominator = std::sqrt(squares / static_cast<double>(count)) + 1e-9;
            for_each(base, [&](int64_t o) {
              dst[o] = T(static_cast<C>((static_cast<double>(static_cast<C>(src[o])) - mean) / denominator));
            });
          }
        });
  });
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateMvn(KernelBuildContext& build) {
  std::vector<int64_t> axes =
      build.node().HasAttribute("axes") ? build.node().GetInts("axes") : std::vector<int64_t>{0, 2, 3};
  return MakeFunctionKernel([axes](KernelContext& context) { return ComputeMvn(context, axes); });
}

}  // namespace

void RegisterNormalizationKernels(OpRegistry& registry) {
  // 7: spatial default and consumed_inputs gone; 9: spatial removed;
  // 14: training_mode; 15: separate types for scale/bias and mean/var.
  registry.Register("", "BatchNormalization", {1, 6, 7, 9, 14, 15}, InferBatchNorm, CreateBatchNorm);
  registry.Register(
      "", "InstanceNormalization", {1, 6}, InferSameAsInput,
      [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        const float epsilon = build.node().GetFloat("epsilon", 1e-5f);
        return MakeFunctionKernel([epsilon](KernelContext& context) { return ComputeInstanceNorm(context, epsilon); });
      });
  registry.Register("", "LRN", {1, 13}, InferSameAsInput, CreateLrn);
  registry.Register("", "MeanVarianceNormalization", {9, 13}, InferSameAsInput, CreateMvn);
}

}  // namespace berth::engine

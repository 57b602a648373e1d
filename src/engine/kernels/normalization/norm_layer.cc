// LayerNormalization (normalise each row of the trailing dims from `axis`)
// and GroupNormalization (each group of channels per sample). float32
// LayerNormalization runs on oneDNN with a primitive per shape, cached; the
// rest is plain C++ computing in float (double for double).
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

// ONNX's stash_type names the type Mean and InvStdDev are computed and given in.
Result<DataType> StashType(int64_t stash_type) {
  switch (stash_type) {
    case 1:
      return DataType::kFloat32;
    case 10:
      return DataType::kFloat16;
    case 11:
      return DataType::kFloat64;
    case 16:
      return DataType::kBFloat16;
    default:
      return core::InvalidArgument("stash_type {} is not a float type", stash_type);
  }
}

// A per-element parameter (Scale, B) broadcast to the `cols` trailing
// elements of shape `normalized`. Empty when the tensor already has exactly
// that layout (the common case); else the expanded values.
template <typename C>
Result<std::vector<C>> ExpandParameter(const Tensor& param, const TensorShape& normalized, std::string_view what) {
  const TensorShape& shape = param.shape();
  if (shape.size() > normalized.size()) {
    return core::InvalidArgument("{} {} has more dims than the normalized shape {}", what, core::ShapeToString(shape),
                                 core::ShapeToString(normalized));
  }
  const size_t offset = normalized.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != 1 && shape[i] != normalized[offset + i]) {
      return core::InvalidArgument("{} {} does not broadcast to the normalized shape {}", what,
                                   core::ShapeToString(shape), core::ShapeToString(normalized));
    }
  }
  ASSIGN_OR_RETURN(std::vector<C> values, ReadNormParameter<C>(param, what));
  const int64_t cols = core::ElementCount(normalized);
  if (param.element_count() == cols) return values;
  std::vector<int64_t> strides = BroadcastStrides(shape, normalized.size());
  std::vector<C> out(static_cast<size_t>(cols));
  std::vector<int64_t> index(normalized.size(), 0);
  int64_t offset_in = 0;
  for (int64_t i = 0; i < cols; ++i) {
    out[i] = values[offset_in];
    for (size_t a = normalized.size(); a-- > 0;) {
      offset_in += strides[a];
      if (++index[a] < normalized[a]) break;
      offset_in -= strides[a] * index[a];
      index[a] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// LayerNormalization

struct LayerNormAttributes {
  int64_t axis = -1;
  float epsilon = 1e-5f;
  DataType stash = DataType::kFloat32;
};

class LayerNormKernel final : public Kernel {
 public:
  explicit LayerNormKernel(LayerNormAttributes attrs) : attrs_(attrs) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* scale, RequireTensor(context, 1, "Scale"));
    const Tensor* bias = context.input_tensor(2);
    if (!core::IsFloatingPoint(x->dtype())) {
      return core::Unimplemented("LayerNormalization does not support type {}", core::DataTypeName(x->dtype()));
    }
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(attrs_.axis, x->rank()));
    const TensorShape& shape = x->shape();
    const TensorShape normalized(shape.begin() + axis, shape.end());
    const int64_t rows = core::ElementCount(std::span<const int64_t>(shape).first(static_cast<size_t>(axis)));
    const int64_t cols = core::ElementCount(normalized);
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), shape));
    TensorShape stats_shape(shape.begin(), shape.begin() + axis);
    stats_shape.resize(shape.size(), 1);
    Tensor* mean = nullptr;
    Tensor* inv_std = nullptr;
    if (context.output_count() > 1 && context.output_wanted(1)) {
      ASSIGN_OR_RETURN(mean, context.AllocateOutput(1, attrs_.stash, stats_shape));
    }
    if (context.output_count() > 2 && context.output_wanted(2)) {
      ASSIGN_OR_RETURN(inv_std, context.AllocateOutput(2, attrs_.stash, stats_shape));
    }
    if (x->element_count() == 0) return Status::Ok();

    const bool direct = scale->element_count() == cols && (!bias || bias->element_count() == cols);
    if (x->dtype() == DataType::kFloat32 && scale->dtype() == DataType::kFloat32 &&
        (!bias || bias->dtype() == DataType::kFloat32) && direct) {
      // Shapes still have to broadcast properly (same count is not enough).
      RETURN_IF_ERROR(ExpandParameter<float>(*scale, normalized, "Scale").status());
      if (bias) RETURN_IF_ERROR(ExpandParameter<float>(*bias, normalized, "B").status());
      Status status = ComputeDnnl(context, *x, *scale, bias, rows, cols, *y, mean, inv_std);
      if (status.code() != core::StatusCode::kUnimplemented) return status;
    }
    Status status = Status::Ok();
    core::VisitFloatType(x->dtype(), [&]<typename T>() {
      if constexpr (!std::is_void_v<T>)
        status = ComputePlain<T>(*x, *scale, bias, normalized, rows, cols, *y, mean, inv_std);
      return true;
    });
    return status;
  }

 private:
  template <typename T>
  Status ComputePlain(const Tensor& x, const Tensor& scale_t, const Tensor* bias_t, const TensorShape& normalized,
                      int64_t rows, int64_t cols, Tensor& y, Tensor* mean_out, Tensor* inv_std_out) const {
    using C = ComputeType<T>;
    ASSIGN_OR_RETURN(std::vector<C> scale, ExpandParameter<C>(scale_t, normalized, "Scale"));
    std::vector<C> bias(static_cast<size_t>(cols), C(0));
    if (bias_t) {
      ASSIGN_OR_RETURN(bias, ExpandParameter<C>(*bias_t, normalized, "B"));
    }
    std::vector<double> means(mean_out ? rows : 0), inv_stds(inv_std_out ? rows : 0);
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    core::ParallelFor(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = src + r * cols;
        double sum = 0;
        for (int64_t j = 0; j < cols; ++j) sum += static_cast<double>(static_cast<C>(row[j]));
        const double mean = sum / static_cast<double>(cols);
        double squares = 0;
        for (int64_t j = 0; j < cols; ++j) {
          const double d = static_cast<double>(static_cast<C>(row[j])) - mean;
          squares += d * d;
        }
        const double inv_std = 1.0 / std::sqrt(squares / static_cast<double>(cols) + attrs_.epsilon);
        const C m = static_cast<C>(mean);
        const C s = static_cast<C>(inv_std);
        for (int64_t j = 0; j < cols; ++j) dst[r * cols + j] = T((static_cast<C>(row[j]) - m) * s * scale[j] + bias[j]);
        if (mean_out) means[r] = mean;
        if (inv_std_out) inv_stds[r] = inv_std;
      }
    });
    if (mean_out) WriteNormValues(means, *mean_out);
    if (inv_std_out) WriteNormValues(inv_stds, *inv_std_out);
    return Status::Ok();
  }

  Status ComputeDnnl(KernelContext& context, const Tensor& x, const Tensor& scale, const Tensor* bias, int64_t rows,
                     int64_t cols, Tensor& y, Tensor* mean_out, Tensor* inv_std_out) const {
    const bool stats = mean_out || inv_std_out;
    DnnlShapeKey key;
    key.Add({rows, cols, bias ? 1 : 0, stats ? 1 : 0});
    auto plan = plans_.GetOrBuild(key, [&]() -> Result<std::shared_ptr<const DnnlNormPlan>> {
      auto built = std::make_shared<DnnlNormPlan>();
      RETURN_IF_ERROR(dnnl_util::TryDnnl("layer normalization primitive", [&] {
        using flags = dnnl::normalization_flags;
        built->data = dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
        built->stats = NormVectorDesc(rows);
        flags f = flags::use_scale;
        if (bias) f = f | flags::use_shift;
        // Training propagation is what hands out the statistics.
        const auto prop = stats ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
        dnnl::layer_normalization_forward::primitive_desc pd(
            dnnl::layer_normalization_forward::desc(prop, built->data, built->stats, attrs_.epsilon, f),
            dnnl_util::DefaultAttr(), dnnl_util::CpuEngine());
        built->primitive = dnnl::layer_normalization_forward(pd);
        built->scratchpad = pd.scratchpad_desc();
      }));
      return std::shared_ptr<const DnnlNormPlan>(std::move(built));
    });
    if (!plan.ok()) return core::Unimplemented("{}", plan.status().message());
    const DnnlNormPlan& p = **plan;
    // Statistics land in float buffers: the outputs themselves when they are
    // float32, else temporaries converted afterwards.
    Tensor mean_buffer, var_buffer;
    if (stats) {
      if (mean_out && mean_out->dtype() == DataType::kFloat32) {
        mean_buffer = *mean_out;
      } else {
        ASSIGN_OR_RETURN(mean_buffer, Tensor::Create(DataType::kFloat32, {rows}, context.allocator()));
      }
      if (inv_std_out && inv_std_out->dtype() == DataType::kFloat32) {
        var_buffer = *inv_std_out;
      } else {
        ASSIGN_OR_RETURN(var_buffer, Tensor::Create(DataType::kFloat32, {rows}, context.allocator()));
      }
    }
    std::unordered_map<int, dnnl::memory> args;
    RETURN_IF_ERROR(dnnl_util::TryDnnl("layer normalization arguments", [&] {
      args = {{DNNL_ARG_SRC, NormArg(p.data, x.raw_data())},
              {DNNL_ARG_DST, NormArg(p.data, y.raw_data())},
              {DNNL_ARG_SCALE, NormArg(NormVectorDesc(cols), scale.raw_data())}};
      if (bias) args.emplace(DNNL_ARG_SHIFT, NormArg(NormVectorDesc(cols), bias->raw_data()));
      if (stats) {
        args.emplace(DNNL_ARG_MEAN, NormArg(p.stats, mean_buffer.raw_data()));
        args.emplace(DNNL_ARG_VARIANCE, NormArg(p.stats, var_buffer.raw_data()));
      }
    }));
    RETURN_IF_ERROR(dnnl_util::Execute(p.primitive, std::move(args), p.scratchpad, context.allocator()));
    if (!stats) return Status::Ok();
    float* variance = var_buffer.data<float>();
    for (int64_t r = 0; r < rows; ++r) variance[r] = 1.0f / std::sqrt(variance[r] + attrs_.epsilon);
    if (mean_out && mean_buffer.raw_data() != mean_out->raw_data()) {
      WriteNormValues(std::vector<float>(mean_buffer.data<float>(), mean_buffer.data<float>() + rows), *mean_out);
    }
    if (inv_std_out && var_buffer.raw_data() != inv_std_out->raw_data()) {
      WriteNormValues(std::vector<float>(variance, variance + rows), *inv_std_out);
    }
    return Status::Ok();
  }

  LayerNormAttributes attrs_;
  DnnlShapeCache<DnnlNormPlan> plans_;
};

Result<std::unique_ptr<Kernel>> CreateLayerNorm(KernelBuildContext& build) {
  const Node& node = build.node();
  LayerNormAttributes attrs;
  attrs.axis = node.GetInt("axis", -1);
  attrs.epsilon = node.GetFloat("epsilon", 1e-5f);
  ASSIGN_OR_RETURN(attrs.stash, StashType(node.GetInt("stash_type", 1)));
  return std::unique_ptr<Kernel>(std::make_unique<LayerNormKernel>(attrs));
}

Status InferLayerNorm(InferenceContext& context) {
  const ValueType& x = context.input_type(0);
  context.set_output_type(0, x);
  if (context.output_count() < 2) return Status::Ok();
  ASSIGN_OR_RETURN(DataType stash, StashType(context.node().GetInt("stash_type", 1)));
  ValueType stats = ValueType::TensorUnknownShape(stash);
  if (x.is_tensor() && x.has_shape) {
    ASSIGN_OR_RETURN(int64_t axis,
                     core::NormalizeAxis(context.node().GetInt("axis", -1), static_cast<int64_t>(x.dims.size())));
    std::vector<Dimension> dims(x.dims.begin(), x.dims.begin() + axis);
    dims.resize(x.dims.size(), Dimension{1, {}});
    stats = ValueType::Tensor(stash, std::move(dims));
  }
  for (int i = 1; i < std::min(3, context.output_count()); ++i) context.set_output_type(i, stats);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// GroupNormalization: channels split into num_groups groups, each group of one
// sample normalised together. Scale and bias are per group (opset 18) or per
// channel (opset 21).

struct GroupNormAttributes {
  int64_t groups = 0;
  float epsilon = 1e-5f;
  bool per_channel = false;
};

Status ComputeGroupNorm(KernelContext& context, const GroupNormAttributes& attrs) {
  ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
  ASSIGN_OR_RETURN(const Tensor* scale_t, RequireTensor(context, 1, "scale"));
  ASSIGN_OR_RETURN(const Tensor* bias_t, RequireTensor(context, 2, "bias"));
  if (!core::IsFloatingPoint(x->dtype())) {
    return core::Unimplemented("GroupNormalization does not support type {}", core::DataTypeName(x->dtype()));
  }
  if (x->rank() < 2) return core::InvalidArgument("GroupNormalization X must have rank >= 2, got {}", x->DebugString());
  const int64_t channels = x->dim(1);
  if (channels % attrs.groups != 0) {
    return core::InvalidArgument("GroupNormalization: {} channels do not split into {} groups", channels, attrs.groups);
  }
  const int64_t params = attrs.per_channel ? channels : attrs.groups;
  if (scale_t->element_count() != params || bias_t->element_count() != params) {
    return core::InvalidArgument("GroupNormalization scale and bias need {} values, got {} and {}", params,
                                 scale_t->element_count(), bias_t->element_count());
  }
  const int64_t inner = core::ElementCount(std::span<const int64_t>(x->shape()).subspan(2));
  const int64_t per_group = channels / attrs.groups;
  ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
  Status status = Status::Ok();
  core::VisitFloatType(x->dtype(), [&]<typename T>() {
    if constexpr (!std::is_void_v<T>) {
      using C = ComputeType<T>;
      auto scale = ReadNormParameter<C>(*scale_t, "scale");
      auto bias = ReadNormParameter<C>(*bias_t, "bias");
      if (!scale.ok() || !bias.ok()) {
        status = scale.ok() ? bias.status() : scale.status();
        return true;
      }
      const T* src = x->data<T>();
      T* dst = y->data<T>();
      const int64_t size = per_group * inner;  // a group is one contiguous block
      core::ParallelFor(x->dim(0) * attrs.groups, 1, [&](int64_t begin, int64_t end) {
        for (int64_t block = begin; block < end; ++block) {
          const T* in = src + block * size;
          double sum = 0;
          for (int64_t i = 0; i < size; ++i) sum += static_cast<double>(static_cast<C>(in[i]));
          const double mean = size ? sum / static_cast<double>(size) : 0.0;
          double squares = 0;
          for (int64_t i = 0; i < size; ++i) {
            const double d = static_cast<double>(static_cast<C>(in[i])) - mean;
            squares += d * d;
          }
          const double inv_std = 1.0 / std::sqrt((size ? squares / static_cast<double>(size) : 0.0) + attrs.epsilon);
          const int64_t group = block % attrs.groups;
          for (int64_t c = 0; c < per_group; ++c) {
            const int64_t p = attrs.per_channel ? group * per_group + c : group;
            const C a = static_cast<C>(inv_std * (*scale)[p]);
            const C b = static_cast<C>((*bias)[p] - mean * a);
            for (int64_t i = 0; i < inner; ++i) {
              dst[block * size + c * inner + i] = T(static_cast<C>(in[c * inner + i]) * a + b);
            }
          }
        }
      });
    }
    return true;
  });
  return status;
}

Result<std::unique_ptr<Kernel>> CreateGroupNorm(KernelBuildContext& build) {
  const Node& node = build.node();
  GroupNormAttributes attrs;
  attrs.groups = node.GetInt("num_groups", 0);
  attrs.epsilon = node.GetFloat("epsilon", 1e-5f);
  attrs.per_channel = build.opset() >= 21;
  if (attrs.groups <= 0) return core::InvalidArgument("GroupNormalization needs a positive num_groups");
  return MakeFunctionKernel([attrs](KernelContext& context) { return ComputeGroupNorm(context, attrs); });
}

}  // namespace

void RegisterLayerNormalizationKernels(OpRegistry& registry) {
  registry.Register("", "LayerNormalization", {17}, InferLayerNorm, CreateLayerNorm);
  registry.Register("", "GroupNormalization", {18, 21}, InferSameAsInput, CreateGroupNorm);
}

}  // namespace berth::engine

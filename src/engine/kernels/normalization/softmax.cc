// Softmax, LogSoftmax and Hardmax. Before opset 13 the input is read as a 2-D
// matrix [prod(dims before axis), prod(dims from axis)] and each row is
// normalised; from 13 on, only the `axis` dim is. float32 Softmax/LogSoftmax
// run on oneDNN (a primitive per shape, cached); the rest is plain C++.
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

enum class SoftmaxKind { kSoftmax, kLogSoftmax, kHardmax };

const char* KindName(SoftmaxKind kind) {
  switch (kind) {
    case SoftmaxKind::kSoftmax:
      return "Softmax";
    case SoftmaxKind::kLogSoftmax:
      return "LogSoftmax";
    case SoftmaxKind::kHardmax:
      return "Hardmax";
  }
  return "?";
}

// The input seen as [outer, dim, inner], normalised along dim.
struct SoftmaxLayout {
  int64_t outer = 1;
  int64_t dim = 1;
  int64_t inner = 1;
};

Result<SoftmaxLayout> ComputeLayout(const core::TensorShape& shape, int64_t axis_attr, bool coerce_2d) {
  SoftmaxLayout layout;
  if (shape.empty()) {  // a scalar is one row of one element
    if (axis_attr != 0 && axis_attr != -1) {
      return core::InvalidArgument("axis {} is out of range for a scalar", axis_attr);
    }
    return layout;
  }
  const int64_t rank = static_cast<int64_t>(shape.size());
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(axis_attr, rank));
  std::span<const int64_t> dims(shape);
  layout.outer = core::ElementCount(dims.first(static_cast<size_t>(axis)));
  if (coerce_2d) {
    layout.dim = core::ElementCount(dims.subspan(static_cast<size_t>(axis)));
  } else {
    layout.dim = shape[axis];
    layout.inner = core::ElementCount(dims.subspan(static_cast<size_t>(axis) + 1));
  }
  return layout;
}

template <typename T>
void PlainSoftmax(SoftmaxKind kind, const SoftmaxLayout& l, const T* x, T* y) {
  using C = ComputeType<T>;
  const int64_t lanes = l.outer * l.inner;
  core::ParallelFor(lanes, std::max<int64_t>(1, 8192 / std::max<int64_t>(l.dim, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t lane = begin; lane < end; ++lane) {
      const int64_t base = (lane / l.inner) * l.dim * l.inner + lane % l.inner;
      const T* in = x + base;
      T* out = y + base;
      const int64_t step = l.inner;
      C max = static_cast<C>(in[0]);
      int64_t argmax = 0;
      for (int64_t k = 1; k < l.dim; ++k) {
        const C v = static_cast<C>(in[k * step]);
        if (v > max) {
          max = v;
          argmax = k;
        }
      }
      if (kind == SoftmaxKind::kHardmax) {  // 1 at the first maximum
        for (int64_t k = 0; k < l.dim; ++k) out[k * step] = T(k == argmax ? C(1) : C(0));
        continue;
      }
      C sum = 0;
      for (int64_t k = 0; k < l.dim; ++k) sum += std::exp(static_cast<C>(in[k * step]) - max);
      if (kind == SoftmaxKind::kSoftmax) {
        const C inv = C(1) / sum;
        for (int64_t k = 0; k < l.dim; ++k) out[k * step] = T(std::exp(static_cast<C>(in[k * step]) - max) * inv);
      } else {
        const C shift = max + std::log(sum);
        for (int64_t k = 0; k < l.dim; ++k) out[k * step] = T(static_cast<C>(in[k * step]) - shift);
      }
    }
  });
}

class SoftmaxKernel final : public Kernel {
 public:
  SoftmaxKernel(SoftmaxKind kind, int64_t axis, bool coerce_2d) : kind_(kind), axis_(axis), coerce_2d_(coerce_2d) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "input"));
    if (!core::IsFloatingPoint(x->dtype())) {
      return core::Unimplemented("{} does not support type {}", KindName(kind_), core::DataTypeName(x->dtype()));
    }
    ASSIGN_OR_RETURN(SoftmaxLayout layout, ComputeLayout(x->shape(), axis_, coerce_2d_));
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
    if (x->element_count() == 0) return Status::Ok();
    if (x->dtype() == DataType::kFloat32 && kind_ != SoftmaxKind::kHardmax) {
      Status status = ComputeDnnl(context, layout, *x, *y);
      if (status.code() != core::StatusCode::kUnimplemented) return status;
    }
    core::VisitFloatType(x->dtype(), [&]<typename T>() {
      if constexpr (!std::is_void_v<T>) PlainSoftmax<T>(kind_, layout, x->data<T>(), y->data<T>());
      return true;
    });
    return Status::Ok();
  }

 private:
  Status ComputeDnnl(KernelContext& context, const SoftmaxLayout& l, const Tensor& x, Tensor& y) const {
    DnnlShapeKey key;
    key.Add({l.outer, l.dim, l.inner});
    auto plan = plans_.GetOrBuild(key, [&]() -> Result<std::shared_ptr<const DnnlNormPlan>> {
      auto built = std::make_shared<DnnlNormPlan>();
      RETURN_IF_ERROR(dnnl_util::TryDnnl("softmax primitive", [&] {
        // Rows over the last dim are the fast case; keep it 2-D when it is one.
        built->data = l.inner == 1 ? dnnl::memory::desc({l.outer, l.dim}, dnnl::memory::data_type::f32,
                                                        dnnl::memory::format_tag::ab)
                                   : dnnl::memory::desc({l.outer, l.dim, l.inner}, dnnl::memory::data_type::f32,
                                                        dnnl::memory::format_tag::abc);
        const auto algorithm =
            kind_ == SoftmaxKind::kSoftmax ? dnnl::algorithm::softmax_accurate : dnnl::algorithm::softmax_log;
        dnnl::softmax_v2_forward::primitive_desc pd(
            dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference, algorithm, built->data, built->data, 1),
            dnnl_util::DefaultAttr(), dnnl_util::CpuEngine());
        built->primitive = dnnl::softmax_v2_forward(pd);
        built->scratchpad = pd.scratchpad_desc();
      }));
      return std::shared_ptr<const DnnlNormPlan>(std::move(built));
    });
    if (!plan.ok()) return core::Unimplemented("{}", plan.status().message());
    const DnnlNormPlan& p = **plan;
    std::unordered_map<int, dnnl::memory> args;
    RETURN_IF_ERROR(dnnl_util::TryDnnl("softmax arguments", [&] {
      args = {{DNNL_ARG_SRC, NormArg(p.data, x.raw_data())}, {DNNL_ARG_DST, NormArg(p.data, y.raw_data())}};
    }));
    return dnnl_util::Execute(p.primitive, std::move(args), p.scratchpad, context.allocator());
  }

  SoftmaxKind kind_;
  int64_t axis_;
  bool coerce_2d_;
  DnnlShapeCache<DnnlNormPlan> plans_;
};

KernelFactory SoftmaxFactory(SoftmaxKind kind) {
  return [kind](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
    const bool coerce_2d = build.opset() < 13;
    const int64_t axis = build.node().GetInt("axis", coerce_2d ? 1 : -1);
    return std::unique_ptr<Kernel>(std::make_unique<SoftmaxKernel>(kind, axis, coerce_2d));
  };
}

Status InferSoftmax(InferenceContext& context) {
  const ValueType& x = context.input_type(0);
  if (x.is_tensor() && x.has_shape && !x.dims.empty()) {
    const bool coerce_2d = context.opset() < 13;
    RETURN_IF_ERROR(
        core::NormalizeAxis(context.node().GetInt("axis", coerce_2d ? 1 : -1), static_cast<int64_t>(x.dims.size()))
            .status());
  }
  context.set_output_type(0, x);
  return Status::Ok();
}

}  // namespace

void RegisterSoftmaxKernels(OpRegistry& registry) {
  // 11: negative axis allowed; 13: normalise along one axis, not a 2-D coercion.
  registry.Register("", "Softmax", {1, 11, 13}, InferSoftmax, SoftmaxFactory(SoftmaxKind::kSoftmax));
  registry.Register("", "LogSoftmax", {1, 11, 13}, InferSoftmax, SoftmaxFactory(SoftmaxKind::kLogSoftmax));
  registry.Register("", "Hardmax", {1, 11, 13}, InferSoftmax, SoftmaxFactory(SoftmaxKind::kHardmax));
}

}  // namespace berth::engine

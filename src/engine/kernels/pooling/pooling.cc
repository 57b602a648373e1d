// MaxPool, AveragePool, LpPool and their Global forms; MaxUnpool lives in
// pool_unpool.cc, the portable implementation in pool_portable.cc.
//
// float32 max and average pooling (and int8/uint8 max) run on oneDNN with
// the primitive cached per input shape. oneDNN has no ceil_mode: the extra
// windows are expressed as more padding on the right, which max pooling and
// padding-excluding averages ignore. An average that counts padding counts
// only the explicit pads in ONNX, so when ceil_mode adds padding that case
// goes to the portable code, as do indices, Lp and the other types.
#include <cmath>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/convolution/conv_dnnl.h"
#include "engine/kernels/pooling/pool_common.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using conv::Window;
using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using dnnl::memory;
using pool::PoolAttributes;
using pool::PoolKind;

struct PoolPrimitive {
  bool available = false;  // false: oneDNN has no implementation for this shape
  dnnl::pooling_v2_forward primitive;
  memory::desc src, dst, scratchpad;
};

// Right padding that makes oneDNN's floor rule produce ONNX's output extent.
int64_t DnnlPadEnd(const Window& window, size_t axis) {
  const int64_t needed = (window.output[axis] - 1) * window.strides[axis] + window.KernelExtent(axis) -
                         window.input[axis] - window.pad_begin[axis];
  return std::max(window.pad_end[axis], needed);
}

// Whether oneDNN computes exactly what ONNX asks for this shape and type.
bool DnnlSuits(const PoolAttributes& attributes, const Window& window, DataType dtype, bool want_indices) {
  if (window.rank < 1 || window.rank > 3 || want_indices) return false;
  switch (attributes.kind) {
    case PoolKind::kMax:
      if (dtype != DataType::kFloat32 && dtype != DataType::kInt8 && dtype != DataType::kUInt8) return false;
      break;
    case PoolKind::kAverage:
      if (dtype != DataType::kFloat32) return false;
      if (attributes.count_include_pad) {
        for (size_t a = 0; a < window.rank; ++a) {
          if (DnnlPadEnd(window, a) != window.pad_end[a]) return false;
        }
      }
      break;
    case PoolKind::kLp:
      return false;
  }
  for (size_t a = 0; a < window.rank; ++a) {
    if (window.input[a] == 0) return false;
    // oneDNN wants each window to touch the input (or padding no larger than the kernel).
    if (window.pad_begin[a] >= window.KernelExtent(a) || DnnlPadEnd(window, a) >= window.KernelExtent(a)) {
      return false;
    }
  }
  return true;
}

Result<std::shared_ptr<const PoolPrimitive>> BuildPoolPrimitive(const PoolAttributes& attributes, const Window& window,
                                                                const core::TensorShape& x, memory::data_type type,
                                                                core::TensorLayout layout) {
  auto entry = std::make_shared<PoolPrimitive>();
  memory::dims pad_end;
  for (size_t a = 0; a < window.rank; ++a) pad_end.push_back(DnnlPadEnd(window, a));
  dnnl::algorithm algorithm = dnnl::algorithm::pooling_max;
  if (attributes.kind == PoolKind::kAverage) {
    algorithm = attributes.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                             : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  Status status = dnnl_util::TryDnnl("building the pooling", [&] {
    memory::dims src_dims = conv::DnnlActivationDims(x[0], x[1], window.input);
    memory::dims dst_dims = conv::DnnlActivationDims(x[0], x[1], window.output);
    // Pooling keeps its input's layout (blocked in, blocked out).
    entry->src = memory::desc(src_dims, type, dnnl_util::LayoutTag(layout, src_dims.size()));
    entry->dst = memory::desc(dst_dims, type, dnnl_util::LayoutTag(layout, dst_dims.size()));
    dnnl::pooling_v2_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, entry->src, entry->dst,
                                        conv::ToDnnlDims(window.strides), conv::ToDnnlDims(window.kernel),
                                        conv::DnnlDilations(window), conv::ToDnnlDims(window.pad_begin), pad_end);
    dnnl::pooling_v2_forward::primitive_desc pd(desc, dnnl_util::DefaultAttr(), dnnl_util::CpuEngine());
    entry->scratchpad = pd.scratchpad_desc();
    entry->primitive = dnnl::pooling_v2_forward(pd);
  });
  // Remember a missing implementation so later runs go straight to portable code.
  if (status.code() != core::StatusCode::kUnimplemented) RETURN_IF_ERROR(status);
  entry->available = status.ok();
  return std::shared_ptr<const PoolPrimitive>(std::move(entry));
}

class PoolKernel final : public Kernel {
 public:
  PoolKernel(PoolAttributes attributes, bool blocked_output)
      : attributes_(std::move(attributes)), blocked_output_(blocked_output) {}

  bool AcceptsBlockedInputs() const override { return true; }

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(Window window, pool::ResolvePoolWindow(attributes_, x->shape()));
    core::TensorShape out_shape = pool::PoolOutputShape(x->shape(), window);
    RETURN_IF_ERROR(core::CheckedElementCount(out_shape, sizeof(int64_t)).status());
    const bool want_indices =
        attributes_.kind == PoolKind::kMax && context.output_count() > 1 && context.output_wanted(1);
    core::Allocator& allocator = context.allocator();
    // The layout the optimizer promised this node's readers.
    const core::TensorLayout out_layout =
        blocked_output_ ? dnnl_util::PreferredBlockedLayout() : core::TensorLayout::kPlain;
    if (DnnlSuits(attributes_, window, x->dtype(), want_indices) && x->rank() == 4 && !x->is_plain()) {
      // Blocked in: pool in that layout, then hand out what was promised.
      ASSIGN_OR_RETURN(Tensor pooled, Tensor::CreateBlocked(x->dtype(), out_shape, x->layout(), allocator));
      Status status = pooled.element_count() ? RunDnnl(window, *x, pooled, allocator) : Status::Ok();
      if (status.ok()) {
        ASSIGN_OR_RETURN(Tensor out, dnnl_util::ToLayout(pooled, out_layout, allocator));
        context.SetOutput(0, std::move(out));
        return Status::Ok();
      }
      if (status.code() != core::StatusCode::kUnimplemented) return status;
    }
    std::optional<Tensor> x_plain;
    if (!x->is_plain()) {
      ASSIGN_OR_RETURN(x_plain, dnnl_util::ToPlain(*x, allocator));
      x = &*x_plain;
    }
    Tensor* y = nullptr;
    std::optional<Tensor> y_plain;
    if (out_layout == core::TensorLayout::kPlain) {
      ASSIGN_OR_RETURN(y, context.AllocateOutput(0, x->dtype(), out_shape));
    } else {
      ASSIGN_OR_RETURN(y_plain, Tensor::Create(x->dtype(), out_shape, allocator));
      y = &*y_plain;
    }
    Tensor* indices = nullptr;
    if (want_indices) {
      ASSIGN_OR_RETURN(indices, context.AllocateOutput(1, DataType::kInt64, out_shape));
    }
    if (y->element_count() > 0) {
      Status status = Status(core::StatusCode::kUnimplemented, "");
      if (DnnlSuits(attributes_, window, x->dtype(), want_indices)) status = RunDnnl(window, *x, *y, allocator);
      // A shape oneDNN has no implementation for falls through to portable code.
      if (status.code() == core::StatusCode::kUnimplemented) {
        status = pool::PortablePool(attributes_, window, *x, *y, indices);
      }
      RETURN_IF_ERROR(status);
    }
    if (y_plain) {
      ASSIGN_OR_RETURN(Tensor out, dnnl_util::ToLayout(*y_plain, out_layout, allocator));
      context.SetOutput(0, std::move(out));
    }
    return Status::Ok();
  }

 private:
  Status RunDnnl(const Window& window, const Tensor& x, Tensor& y, core::Allocator& allocator) const {
    memory::data_type type = *dnnl_util::ToDnnlType(x.dtype());
    std::vector<int64_t> key = x.shape();
    key.push_back(static_cast<int64_t>(x.layout()));
    key.push_back(core::IntraOpThreads());
    ASSIGN_OR_RETURN(std::shared_ptr<const PoolPrimitive> entry, cache_.Get(key, [&] {
      return BuildPoolPrimitive(attributes_, window, x.shape(), type, x.layout());
    }));
    if (!entry->available) return core::Unimplemented("oneDNN has no pooling for this shape");
    std::unordered_map<int, memory> args;
    RETURN_IF_ERROR(dnnl_util::TryDnnl("pooling arguments", [&] {
      args.emplace(DNNL_ARG_SRC, memory(entry->src, dnnl_util::CpuEngine(), const_cast<void*>(x.raw_data())));
      args.emplace(DNNL_ARG_DST, memory(entry->dst, dnnl_util::CpuEngine(), y.raw_data()));
    }));
    return dnnl_util::Execute(entry->primitive, std::move(args), entry->scratchpad, allocator);
  }

  PoolAttributes attributes_;
  bool blocked_output_;
  conv::ShapeCache<PoolPrimitive> cache_;
};

// LpPool-1 / GlobalLpPool-1 declare p as a float, later versions as an int.
Result<double> ParseP(const Node& node) {
  double p = 2;
  if (const Attribute* attribute = node.FindAttribute("p")) {
    p = attribute->type == Attribute::Type::kFloat ? attribute->f : static_cast<double>(attribute->i);
  }
  if (!(p > 0) || !std::isfinite(p)) return core::InvalidArgument("p {} must be a positive number", p);
  return p;
}

Result<PoolAttributes> ParsePoolAttributes(const Node& node, PoolKind kind, bool global) {
  PoolAttributes attributes;
  attributes.kind = kind;
  attributes.global = global;
  if (global) {
    if (kind == PoolKind::kLp) {
      ASSIGN_OR_RETURN(attributes.p, ParseP(node));
    }
    return attributes;
  }
  ASSIGN_OR_RETURN(attributes.window, conv::ParseWindowAttributes(node));
  if (attributes.window.kernel_shape.empty()) return core::InvalidArgument("kernel_shape is required");
  attributes.count_include_pad = node.GetInt("count_include_pad", 0) != 0;
  attributes.storage_order = node.GetInt("storage_order", 0);
  if (attributes.storage_order != 0 && attributes.storage_order != 1) {
    return core::InvalidArgument("storage_order {} must be 0 (row major) or 1 (column major)",
                                 attributes.storage_order);
  }
  if (kind == PoolKind::kLp) {
    ASSIGN_OR_RETURN(attributes.p, ParseP(node));
  }
  return attributes;
}

template <PoolKind kKind, bool kGlobal>
Result<std::unique_ptr<Kernel>> CreatePoolKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(PoolAttributes attributes, ParsePoolAttributes(context.node(), kKind, kGlobal));
  const bool blocked_output = context.node().GetInt("blocked_output", 0) != 0;
  return std::unique_ptr<Kernel>(std::make_unique<PoolKernel>(std::move(attributes), blocked_output));
}

template <PoolKind kKind, bool kGlobal>
Status InferPool(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const bool indices = kKind == PoolKind::kMax && context.output_count() > 1;
  const std::optional<core::TensorShape> input_shape = InputShapeOrUnknownOutput(context, dtype);
  if (!input_shape) {
    if (indices) SetUnknownShape(context, 1, DataType::kInt64);
    return Status::Ok();
  }
  const core::TensorShape& x_shape = *input_shape;
  core::TensorShape out;
  if (kGlobal) {
    if (x_shape.size() < 2)
      return core::InvalidArgument("input X {} must have rank 2 or more", core::ShapeToString(x_shape));
    out = x_shape;
    std::fill(out.begin() + 2, out.end(), 1);
  } else {
    ASSIGN_OR_RETURN(PoolAttributes attributes, ParsePoolAttributes(context.node(), kKind, kGlobal));
    ASSIGN_OR_RETURN(Window window, pool::ResolvePoolWindow(attributes, x_shape));
    out = pool::PoolOutputShape(x_shape, window);
  }
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  if (indices) context.set_output_type(1, ValueType::TensorFromShape(DataType::kInt64, out));
  return Status::Ok();
}

}  // namespace

void RegisterPoolingKernels(OpRegistry& registry) {
  registry.Register("", "MaxPool", {1, 8, 10, 11, 12}, InferPool<PoolKind::kMax, false>,
                    CreatePoolKernel<PoolKind::kMax, false>);
  registry.Register("", "AveragePool", {1, 7, 10, 11, 19}, InferPool<PoolKind::kAverage, false>,
                    CreatePoolKernel<PoolKind::kAverage, false>);
  registry.Register("", "LpPool", {1, 2, 11, 18}, InferPool<PoolKind::kLp, false>,
                    CreatePoolKernel<PoolKind::kLp, false>);
  registry.Register("", "GlobalMaxPool", {1}, InferPool<PoolKind::kMax, true>, CreatePoolKernel<PoolKind::kMax, true>);
  registry.Register("", "GlobalAveragePool", {1}, InferPool<PoolKind::kAverage, true>,
                    CreatePoolKernel<PoolKind::kAverage, true>);
  registry.Register("", "GlobalLpPool", {1, 2}, InferPool<PoolKind::kLp, true>, CreatePoolKernel<PoolKind::kLp, true>);
  registry.Register("", "MaxUnpool", {9, 11}, pool::InferMaxUnpool, pool::CreateMaxUnpoolKernel);
}

}  // namespace berth::engine

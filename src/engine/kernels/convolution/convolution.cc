// Conv through oneDNN (float types, 1-3 spatial axes), with a portable
// im2col path for double and higher ranks; registration of the whole
// convolution family (ConvTranspose and the integer convolutions live in
// conv_transpose.cc and conv_integer.cc).
//
// Speed: constant weights are converted to float32 at load; per input shape
// the primitive is built once and the weights are reordered once into the
// layout the primitive prefers (format_tag::any), so a steady-state run only
// executes (plus, where blocked layouts pay off, reorders of the activations:
// the kernel's inputs and outputs stay plain NCHW for now).
#include <optional>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/fused_activation.h"
#include "engine/kernels/common/packed_weights.h"
#include "engine/kernels/convolution/conv_common.h"
#include "engine/kernels/convolution/conv_dnnl.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using conv::ConvShape;
using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using dnnl::memory;

// One thread's share of a depthwise convolution: a primitive over a
// contiguous run of channel blocks, whose activations, packed weights and
// bias are the whole convolution's at an offset (see BuildChannelSlices).
struct ChannelSlice {
  dnnl::convolution_forward primitive;
  memory::desc scratchpad;
  dnnl_util::PrimitiveArguments arguments;
  int64_t first_channel = 0;
  size_t src_offset = 0;  // in floats
  size_t dst_offset = 0;
  size_t weight_offset = 0;
};

// A oneDNN convolution for one problem shape, with the weights already in its
// preferred layout when they are constant.
struct ConvPrimitive {
  dnnl::convolution_forward primitive;
  memory::desc src;  // the primitive's layouts
  memory::desc weights;
  memory::desc bias;
  memory::desc dst;
  memory::desc residual;  // binary post-op source (zero desc without residual)
  // Slower than the bare convolution followed by the fusion in one pass
  // over the output (see BuildOnePrimitive's note on gemm kernels).
  bool fusion_after = false;
  memory::desc scratchpad;
  memory::desc plain_src;  // the kernel's NCHW input and output
  memory::desc plain_dst;
  std::optional<conv::DnnlReorder> src_reorder;  // plain_src -> src, when they differ
  std::optional<conv::DnnlReorder> dst_reorder;  // dst -> plain_dst, when they differ
  dnnl::memory packed_weights;                   // constant weights in `weights` layout (null memory: given each run)
  dnnl_util::PrimitiveArguments arguments;
  // With a depthwise stage (ConvFusion::depthwise), either this primitive
  // runs it as a post-op, on its constant weights in their layout here...
  memory::desc depthwise_weights;
  dnnl::memory packed_depthwise_weights;
  // ...or it is a primitive of its own, run next on this one's blocked output.
  std::shared_ptr<const ConvPrimitive> depthwise_stage;
  // When set, these run instead of `primitive`, one per thread.
  std::vector<ChannelSlice> slices;
};

// Whether to let oneDNN pick blocked activation layouts (reordering NCHW in
// and out each run). Measured on AVX-512 with ResNet-50 / MobileNetV2 layers,
// one thread: depthwise runs ~15x faster blocked, 3x3 and 7x7 ~1.3-1.6x even
// with both reorders; a plain 1x1 convolution is a single GEMM on NCHW, where
// the reorders make it slower. (Once activations stay blocked across ops the
// reorders go away and this choice moves to the graph level.)
bool PreferBlockedActivations(const ConvShape& shape) {
  if (shape.group > 1) return true;
  for (size_t a = 0; a < shape.window.rank; ++a) {
    if (shape.window.kernel[a] != 1 || shape.window.strides[a] != 1 || shape.window.pad_begin[a] != 0 ||
        shape.window.pad_end[a] != 0) {
      return true;
    }
  }
  return false;
}

// Depthwise convolutions with fewer outputs than this run as one primitive
// (BuildChannelSlices): measured on MobileNetV2's, slices pay from ~100K
// outputs (144 x 28x28) and cost more than they save at ~40K (192 x 14x14).
constexpr int64_t kSlicedDepthwiseMinOutputs = 64 * 1024;

// A 3x3 depthwise convolution with padding 1 that the optimizer folded into
// the 1x1 convolution before it (FuseDepthwiseConvolutions): attributes
// depthwise_stride and depthwise_activation*, weights and bias at inputs 4
// and 5. It reads the 1x1's output after the 1x1's own activation.
struct DepthwiseStage {
  int64_t stride = 1;
  FusedActivation activation;

  conv::WindowAttributes Window() const {
    conv::WindowAttributes window;
    window.kernel_shape = {3, 3};
    window.strides = {stride, stride};
    window.pads = {1, 1, 1, 1};
    return window;
  }
  // The stage's problem on the 1x1's output.
  Result<ConvShape> Shape(const ConvShape& pointwise) const {
    const int64_t channels = pointwise.out_channels;
    return conv::ResolveConvShape(Window(), channels, pointwise.OutputShape(), {channels, 1, 3, 3});
  }
};

Result<std::optional<DepthwiseStage>> ParseDepthwiseStage(const Node& node) {
  if (node.domain != kBerthDomain || !node.HasAttribute("depthwise_stride")) {
    return std::optional<DepthwiseStage>();
  }
  DepthwiseStage stage;
  stage.stride = node.GetInt("depthwise_stride", 1);
  if (stage.stride != 1 && stage.stride != 2) {
    return core::InvalidArgument("depthwise_stride must be 1 or 2, got {}", stage.stride);
  }
  ASSIGN_OR_RETURN(stage.activation, FusedActivation::FromNode(node, "depthwise_"));
  return std::optional<DepthwiseStage>(stage);
}

// What the fused node adds around the convolution and how its activations
// are laid out: fixed per kernel except the input layouts, which come with
// the tensors.
struct ConvFusion {
  FusedActivation activation;
  bool has_residual = false;    // input 3 is added before the activation
  bool blocked_output = false;  // the optimizer gave this node a blocked output
  bool winograd = false;        // the optimizer allows a Winograd algorithm (fuse_convolution.cc)
  std::optional<DepthwiseStage> depthwise;
};

struct ConvLayouts {
  core::TensorLayout src = core::TensorLayout::kPlain;
  core::TensorLayout residual = core::TensorLayout::kPlain;
  core::TensorLayout dst = core::TensorLayout::kPlain;
};

// oneDNN's depthwise kernel shares a convolution among threads by (chunk of
// 4 channel blocks, output row): where the channel blocks do not divide into
// equal chunks, two threads get unequal work (144 channels = 9 blocks: one
// thread does 2/3; 96 channels: 2/3 too), and such layers run only 1.1-1.5x
// faster on 2 threads than on 1. A batch-1 depthwise convolution in blocked
// layout is instead cut into one slice of whole channel blocks per thread,
// each a primitive run single-threaded on its thread (MobileNetV2's
// 144 x 56x56 alone: 115 -> 82 us; in the model ~1% overall). Small ones stay
// whole, where the split costs more than the imbalance. Returns no slices
// where this does not apply.
Result<std::vector<ChannelSlice>> BuildChannelSlices(const ConvPrimitive& entry, const ConvShape& shape,
                                                     const ConvFusion& fusion, const ConvLayouts& layouts) {
  std::vector<ChannelSlice> slices;
  const int64_t threads = core::IntraOpThreads();
  const int64_t channels = shape.out_channels;
  const bool depthwise = shape.group > 1 && shape.group == channels && shape.in_channels == channels;
  if (!depthwise || shape.batch != 1 || shape.window.rank != 2 || threads < 2 || fusion.has_residual ||
      fusion.depthwise || layouts.src != layouts.dst || layouts.src == core::TensorLayout::kPlain ||
      entry.src_reorder || entry.dst_reorder || channels * shape.OutputSize() < kSlicedDepthwiseMinOutputs) {
    return slices;
  }
  const int64_t block = layouts.src == core::TensorLayout::kChannelsBlocked16 ? 16 : 8;
  const int64_t blocks = channels / block;
  if (channels % block != 0 || blocks < threads) return slices;
  const auto f32 = memory::data_type::f32;
  const memory::format_tag weight_tag = block == 16 ? memory::format_tag::Goihw16g : memory::format_tag::Goihw8g;
  const int64_t kernel_size = shape.KernelSize();
  // Slices read the packed weights at an offset: only in Goi..g-blocked form.
  if (entry.weights !=
      memory::desc(conv::DnnlWeightDims(channels, channels, channels, shape.window.kernel), f32, weight_tag)) {
    return slices;
  }
  const memory::format_tag activation_tag = dnnl_util::LayoutTag(layouts.src, 4);
  Status status = dnnl_util::TryDnnl("building depthwise slices", [&] {
    for (int64_t t = 0; t < threads; ++t) {
      const int64_t first = blocks * t / threads * block;
      const int64_t count = blocks * (t + 1) / threads * block - first;
      memory::desc src(conv::DnnlActivationDims(1, count, shape.window.input), f32, activation_tag);
      memory::desc dst(conv::DnnlActivationDims(1, count, shape.window.output), f32, activation_tag);
      memory::desc weights(conv::DnnlWeightDims(count, count, count, shape.window.kernel), f32, weight_tag);
      memory::desc bias({count}, f32, memory::format_tag::a);
      dnnl::primitive_attr attr = dnnl_util::DefaultAttr();
      if (fusion.activation.active()) {
        dnnl::post_ops ops;
        fusion.activation.AppendTo(ops);
        attr.set_post_ops(ops);
      }
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                           weights, entry.bias ? bias : memory::desc(), dst,
                                           conv::ToDnnlDims(shape.window.strides), conv::DnnlDilations(shape.window),
                                           conv::ToDnnlDims(shape.window.pad_begin),
                                           conv::ToDnnlDims(shape.window.pad_end));
      dnnl::convolution_forward::primitive_desc pd(desc, attr, dnnl_util::CpuEngine());
      if (std::string_view(pd.impl_info_str()).substr(0, 3) == "ref") {
        slices.clear();
        return;
      }
      ChannelSlice& slice = slices.emplace_back();
      slice.primitive = dnnl::convolution_forward(pd);
      slice.scratchpad = pd.scratchpad_desc();
      slice.first_channel = first;
      slice.src_offset = static_cast<size_t>(first * shape.InputSize());
      slice.dst_offset = static_cast<size_t>(first * shape.OutputSize());
      slice.weight_offset = static_cast<size_t>(first * kernel_size);
      slice.arguments.Add(DNNL_ARG_SRC, src);
      slice.arguments.Add(DNNL_ARG_WEIGHTS, weights);
      if (entry.bias) slice.arguments.Add(DNNL_ARG_BIAS, bias);
      slice.arguments.Add(DNNL_ARG_DST, dst);
      if (slice.scratchpad.get_size() > 0) slice.arguments.Add(DNNL_ARG_SCRATCHPAD, slice.scratchpad);
    }
  });
  RETURN_IF_ERROR(status);
  return slices;
}

// The post-ops of a fused convolution: residual add, activation, depthwise
// stage with its own activation.
dnnl::primitive_attr FusionAttributes(const ConvFusion& fusion, const memory::desc& residual) {
  dnnl::primitive_attr attr = dnnl_util::DefaultAttr();
  if (!fusion.has_residual && !fusion.activation.active() && !fusion.depthwise) return attr;
  const auto f32 = memory::data_type::f32;
  dnnl::post_ops ops;
  if (fusion.has_residual) ops.append_binary(dnnl::algorithm::binary_add, residual);
  fusion.activation.AppendTo(ops);
  if (fusion.depthwise) {
    ops.append_dw(f32, f32, f32, 3, fusion.depthwise->stride, 1, 0, {});
    fusion.depthwise->activation.AppendTo(ops);
  }
  attr.set_post_ops(ops);
  return attr;
}

// Takes the layouts oneDNN chose and the primitive built from `pd`, and lists
// the memory arguments a run passes it.
void AdoptPrimitive(const dnnl::convolution_forward::primitive_desc& pd, bool has_bias, const ConvFusion& fusion,
                    ConvPrimitive& entry) {
  entry.weights = pd.weights_desc();
  entry.src = pd.src_desc();
  entry.dst = pd.dst_desc();
  entry.scratchpad = pd.scratchpad_desc();
  entry.primitive = dnnl::convolution_forward(pd);
  entry.arguments.Add(DNNL_ARG_SRC, entry.src);
  entry.arguments.Add(DNNL_ARG_WEIGHTS, entry.weights);
  if (has_bias) entry.arguments.Add(DNNL_ARG_BIAS, entry.bias);
  if (fusion.has_residual) entry.arguments.Add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, entry.residual);
  entry.arguments.Add(DNNL_ARG_DST, entry.dst);
  if (entry.scratchpad.get_size() > 0) entry.arguments.Add(DNNL_ARG_SCRATCHPAD, entry.scratchpad);
  if (fusion.depthwise) {
    entry.depthwise_weights = pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS);
    entry.arguments.Add(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS, entry.depthwise_weights);
    entry.arguments.Add(DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS,
                        pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS));
  }
}

// Builds one primitive; `constant_weights` (float32) are prepared in the
// layout it chose, otherwise the primitive takes plain weights each run. A
// depthwise stage in `fusion` becomes a post-op (its weights and bias, both
// constant, from `depthwise_weights` and at run time), and fails as
// unimplemented where oneDNN has no fused kernel for it.
Result<std::shared_ptr<ConvPrimitive>> BuildOnePrimitive(const ConvShape& shape, bool has_bias,
                                                         PackedWeights* constant_weights, const ConvFusion& fusion,
                                                         const ConvLayouts& layouts, PackedWeights* depthwise_weights) {
  auto entry = std::make_shared<ConvPrimitive>();
  const auto f32 = memory::data_type::f32;
  memory::dims src_dims = conv::DnnlActivationDims(shape.batch, shape.in_channels, shape.window.input);
  memory::dims dst_dims = conv::DnnlActivationDims(shape.batch, shape.out_channels, shape.window.output);
  memory::dims weight_dims =
      conv::DnnlWeightDims(shape.group, shape.out_channels, shape.in_channels, shape.window.kernel);
  memory::dims final_dims = dst_dims;  // the output: after the depthwise stage, if any
  if (fusion.depthwise) {
    ASSIGN_OR_RETURN(ConvShape depthwise, fusion.depthwise->Shape(shape));
    final_dims = conv::DnnlActivationDims(depthwise.batch, depthwise.out_channels, depthwise.window.output);
  }
  const size_t rank = src_dims.size();
  memory::desc plain_weights(weight_dims, f32, dnnl_util::PlainTag(weight_dims.size()));
  bool reference_kernel = false;  // oneDNN chose its reference implementation
  Status status = dnnl_util::TryDnnl("building the convolution", [&] {
    entry->plain_src = memory::desc(src_dims, f32, dnnl_util::LayoutTag(layouts.src, rank));
    entry->plain_dst = memory::desc(final_dims, f32, dnnl_util::LayoutTag(layouts.dst, rank));
    // With plain activations at both edges, a blocked layout inside can
    // still pay for its two reorders (see PreferBlockedActivations); a fused
    // residual is read in the layout it arrives in, so it pins dst.
    const bool edges_plain = layouts.src == core::TensorLayout::kPlain && layouts.dst == core::TensorLayout::kPlain;
    const bool blocked_inside =
        edges_plain && constant_weights && PreferBlockedActivations(shape) && !fusion.has_residual;
    entry->src = blocked_inside ? memory::desc(src_dims, f32, memory::format_tag::any) : entry->plain_src;
    // (With a depthwise stage, dst describes the 1x1's output; oneDNN
    // answers with the stage's.)
    entry->dst = blocked_inside ? memory::desc(dst_dims, f32, memory::format_tag::any)
                                : memory::desc(dst_dims, f32, dnnl_util::LayoutTag(layouts.dst, rank));
    if (fusion.has_residual) {
      entry->residual = memory::desc(dst_dims, f32, dnnl_util::LayoutTag(layouts.residual, rank));
    }
    entry->bias = has_bias ? memory::desc({shape.out_channels}, f32, memory::format_tag::a) : memory::desc();
    memory::desc weights_any =
        constant_weights ? memory::desc(weight_dims, f32, memory::format_tag::any) : plain_weights;
    const dnnl::primitive_attr attr = FusionAttributes(fusion, entry->residual);
    auto describe = [&](const memory::desc& src, const memory::desc& dst,
                        dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
      dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm, src, weights_any, entry->bias,
                                           dst, conv::ToDnnlDims(shape.window.strides),
                                           conv::DnnlDilations(shape.window), conv::ToDnnlDims(shape.window.pad_begin),
                                           conv::ToDnnlDims(shape.window.pad_end));
      return dnnl::convolution_forward::primitive_desc(desc, attr, dnnl_util::CpuEngine());
    };
    // Winograd where the optimizer allowed it and oneDNN has a kernel for
    // this shape, layout and machine (it throws 'unimplemented' otherwise).
    // Its kernels take blocked activations only: a plain input or output is
    // reordered (cheap next to the convolution; see WinogradCandidate).
    std::optional<dnnl::convolution_forward::primitive_desc> winograd;
    auto try_winograd = [&](const memory::desc& src, const memory::desc& dst) {
      try {
        winograd = describe(src, dst, dnnl::algorithm::convolution_winograd);
      } catch (const dnnl::error&) {
      }
    };
    if (fusion.winograd && constant_weights) {
      try_winograd(entry->src, entry->dst);
      if (!winograd) {
        auto any = [](const memory::desc& d) { return memory::desc(d.dims(), d.data_type(), memory::format_tag::any); };
        try_winograd(any(entry->src), fusion.has_residual ? entry->dst : any(entry->dst));
      }
    }
    dnnl::convolution_forward::primitive_desc pd = winograd ? *winograd : describe(entry->src, entry->dst);
    // A plain input feeding a blocked output (a graph input or a plain-only
    // op before a chain of convolutions) has only oneDNN's reference kernel,
    // ~100x slower: let the primitive pick its input layout and reorder the
    // input into it instead.
    if (std::string_view(pd.impl_info_str()).substr(0, 3) == "ref" && entry->src == entry->plain_src) {
      const memory::desc src_any(src_dims, f32, memory::format_tag::any);
      const memory::desc dst = entry->dst == entry->plain_dst && !fusion.has_residual
                                   ? memory::desc(dst_dims, f32, memory::format_tag::any)
                                   : entry->dst;
      dnnl::convolution_forward::primitive_desc faster = describe(src_any, dst);
      if (std::string_view(faster.impl_info_str()).substr(0, 3) != "ref") pd = faster;
    }
    // oneDNN's gemm-based convolution (plain layouts) applies a binary
    // post-op point by point: a 1x1 144->24 at 56x56 with its residual took
    // 1.5 ms against 0.1 ms without. Such a primitive is not used: the run
    // takes the bare convolution and adds the residual and activation in
    // one pass over the output (see RunDnnl).
    entry->fusion_after = fusion.has_residual && !fusion.depthwise && layouts.dst == core::TensorLayout::kPlain &&
                          std::string_view(pd.impl_info_str()).find("gemm") != std::string_view::npos;
    AdoptPrimitive(pd, has_bias, fusion, *entry);
    reference_kernel = std::string_view(pd.impl_info_str()).substr(0, 3) == "ref";
  });
  RETURN_IF_ERROR(status);
  if (fusion.depthwise && reference_kernel) {
    return core::Unimplemented("oneDNN has only its reference chain for this depthwise stage");
  }
  if (entry->src != entry->plain_src) {
    ASSIGN_OR_RETURN(entry->src_reorder, conv::BuildReorder(entry->plain_src, entry->src));
  }
  if (entry->dst != entry->plain_dst) {
    ASSIGN_OR_RETURN(entry->dst_reorder, conv::BuildReorder(entry->dst, entry->plain_dst));
  }
  if (constant_weights) {
    ASSIGN_OR_RETURN(entry->packed_weights, constant_weights->Get(entry->weights));
    ASSIGN_OR_RETURN(entry->slices, BuildChannelSlices(*entry, shape, fusion, layouts));
  }
  if (fusion.depthwise) {
    if (!depthwise_weights) return core::Internal("a depthwise stage without its weights");
    ASSIGN_OR_RETURN(entry->packed_depthwise_weights, depthwise_weights->Get(entry->depthwise_weights));
  }
  return entry;
}

// The primitive(s) for one problem shape. A depthwise stage runs as a post-op
// where oneDNN has a fused kernel for it (its 1x1 kernel with k3s2p1 on
// AVX-512 or AVX2, when the input channels fill whole blocks: the expanded
// tensor then never leaves cache; MobileNetV2's 16 -> 96 x 112x112 pair, 2
// threads: 0.32 -> 0.26 ms alone). Otherwise, including where oneDNN offers
// only its reference chain (measured up to 1.9x slower than two primitives),
// as a second primitive on the first one's blocked output.
Result<std::shared_ptr<const ConvPrimitive>> BuildConvPrimitive(const ConvShape& shape, bool has_bias,
                                                                PackedWeights* constant_weights,
                                                                const ConvFusion& fusion, const ConvLayouts& layouts,
                                                                PackedWeights* depthwise_weights) {
  using Built = std::shared_ptr<const ConvPrimitive>;
  if (!fusion.depthwise) {
    ASSIGN_OR_RETURN(Built single, BuildOnePrimitive(shape, has_bias, constant_weights, fusion, layouts, nullptr));
    return single;
  }
  auto fused = BuildOnePrimitive(shape, has_bias, constant_weights, fusion, layouts, depthwise_weights);
  if (fused.ok()) return Built(*fused);
  if (fused.status().code() != core::StatusCode::kUnimplemented) return fused.status();
  ConvFusion pointwise = fusion;
  pointwise.depthwise.reset();
  ConvLayouts pointwise_layouts = layouts;
  pointwise_layouts.dst = dnnl_util::PreferredBlockedLayout();
  ASSIGN_OR_RETURN(std::shared_ptr<ConvPrimitive> entry,
                   BuildOnePrimitive(shape, has_bias, constant_weights, pointwise, pointwise_layouts, nullptr));
  ASSIGN_OR_RETURN(ConvShape depthwise_shape, fusion.depthwise->Shape(shape));
  ConvFusion depthwise;
  depthwise.activation = fusion.depthwise->activation;
  const ConvLayouts depthwise_layouts{pointwise_layouts.dst, core::TensorLayout::kPlain, layouts.dst};
  ASSIGN_OR_RETURN(entry->depthwise_stage, BuildOnePrimitive(depthwise_shape, /*has_bias=*/true, depthwise_weights,
                                                             depthwise, depthwise_layouts, nullptr));
  return Built(std::move(entry));
}

class ConvKernel final : public Kernel {
 public:
  // `weights`: the constant W as float32 (null when W is not constant),
  // `weights_dtype` its type in the model.
  // With a depthwise stage in `fusion`, `depthwise_weights` and
  // `depthwise_bias` (float32, zeros when the model has none) are its operands.
  ConvKernel(conv::WindowAttributes attributes, int64_t group, std::unique_ptr<PackedWeights> weights,
             DataType weights_dtype, std::optional<Tensor> bias, ConvFusion fusion,
             std::unique_ptr<PackedWeights> depthwise_weights = nullptr, std::optional<Tensor> depthwise_bias = {})
      : attributes_(std::move(attributes)),
        group_(group),
        constant_weights_(std::move(weights)),
        constant_bias_(std::move(bias)),
        fusion_(fusion),
        depthwise_weights_(std::move(depthwise_weights)),
        depthwise_bias_(std::move(depthwise_bias)) {
    if (constant_weights_) {
      weights_header_ = Tensor::Wrap(weights_dtype, constant_weights_->operand().shape(), nullptr, nullptr);
    }
  }

  bool AcceptsBlockedInputs() const override { return true; }
  bool KeepsConstantInput(int index) const override {
    return (index == 1 && constant_weights_) || (index == 4 && depthwise_weights_);
  }

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x_in, RequireTensor(context, 0, "X"));
    const Tensor* w = constant_weights_ ? &weights_header_ : nullptr;  // prepacked: dtype and shape only
    if (!w) {
      ASSIGN_OR_RETURN(w, RequireTensor(context, 1, "W"));
    }
    const Tensor* b = context.input_tensor(2);
    const Tensor* residual = nullptr;
    if (fusion_.has_residual) {
      ASSIGN_OR_RETURN(residual, RequireTensor(context, 3, "residual"));
    }
    // Blocked activations are only understood by the oneDNN float32 2-D path.
    const Tensor* x = x_in;
    std::optional<Tensor> x_plain;
    const bool dnnl_2d = x_in->dtype() == DataType::kFloat32 && x_in->rank() == 4;
    if (!x_in->is_plain() && !dnnl_2d) {
      ASSIGN_OR_RETURN(x_plain, dnnl_util::ToPlain(*x_in, context.allocator()));
      x = &*x_plain;
    }
    const DataType dtype = x->dtype();
    RETURN_IF_ERROR(conv::CheckFloatConvType("Conv", dtype));
    if (w->dtype() != dtype || (b && b->dtype() != dtype)) {
      return core::InvalidArgument("X, W and B must share one type; got {}, {}{}", core::DataTypeName(dtype),
                                   core::DataTypeName(w->dtype()),
                                   b ? std::string(", ") + std::string(core::DataTypeName(b->dtype())) : "");
    }
    ASSIGN_OR_RETURN(ConvShape shape, conv::ResolveConvShape(attributes_, group_, x->shape(), w->shape()));
    if (b && (b->rank() != 1 || b->dim(0) != shape.out_channels)) {
      return core::InvalidArgument("bias B {} must be 1-D with {} values (one per output channel)",
                                   core::ShapeToString(b->shape()), shape.out_channels);
    }
    if (residual && (residual->shape() != shape.OutputShape() || residual->dtype() != dtype)) {
      return core::InvalidArgument("fused residual {} does not match the convolution's output {} {}",
                                   residual->DebugString(), core::DataTypeName(dtype),
                                   core::ShapeToString(shape.OutputShape()));
    }
    core::TensorShape output_shape = shape.OutputShape();
    if (fusion_.depthwise) {
      // The optimizer fuses float32 NCHW convolutions only.
      if (!dnnl_2d || residual) {
        return core::Internal("a convolution with a depthwise stage got {}", x->DebugString());
      }
      ASSIGN_OR_RETURN(ConvShape depthwise, fusion_.depthwise->Shape(shape));
      output_shape = depthwise.OutputShape();
    }
    const bool blocked_output = fusion_.blocked_output && dnnl_2d && x->dtype() == DataType::kFloat32;
    Tensor* y = nullptr;
    if (blocked_output) {
      ASSIGN_OR_RETURN(
          y, context.AllocateBlockedOutput(0, dtype, std::move(output_shape), dnnl_util::PreferredBlockedLayout()));
    } else {
      ASSIGN_OR_RETURN(y, context.AllocateOutput(0, dtype, std::move(output_shape)));
    }
    if (y->element_count() == 0) return Status::Ok();
    if (dtype == DataType::kFloat64) {
      RunPortable<double>(shape, x->data<double>(), w->data<double>(), b ? b->data<double>() : nullptr,
                          y->data<double>());
      return ApplyFusionPortable<double>(residual, *y, context.allocator());
    }

    // float32 compute for float16 / bfloat16 / float32.
    core::Allocator& allocator = context.allocator();
    std::optional<Tensor> x32, w32, b32, y32;
    const float* xp = nullptr;
    if (IsHalf(dtype)) {
      ASSIGN_OR_RETURN(x32, conv::ToFloat32(*x, allocator));
      xp = x32->data<float>();
    } else {
      xp = x->data<float>();
    }
    const bool use_dnnl = shape.window.rank <= 3 && x->element_count() > 0;
    const Tensor* weights = nullptr;  // stays null for oneDNN with the prepacked constant weights
    std::optional<Tensor> plain_constant;
    if (constant_weights_) {
      if (!use_dnnl) {
        ASSIGN_OR_RETURN(plain_constant, constant_weights_->PlainTensor());
        weights = &*plain_constant;
      }
    } else if (IsHalf(dtype)) {
      ASSIGN_OR_RETURN(w32, conv::ToFloat32(*w, allocator));
      weights = &*w32;
    } else {
      weights = w;
    }
    const float* bp = nullptr;
    if (constant_bias_) {
      bp = constant_bias_->data<float>();
    } else if (b && IsHalf(dtype)) {
      ASSIGN_OR_RETURN(b32, conv::ToFloat32(*b, allocator));
      bp = b32->data<float>();
    } else if (b) {
      bp = b->data<float>();
    }
    float* yp = nullptr;
    if (IsHalf(dtype)) {
      ASSIGN_OR_RETURN(y32, Tensor::Create(DataType::kFloat32, y->shape(), allocator));
      yp = y32->data<float>();
    } else {
      yp = y->data<float>();
    }
    if (use_dnnl) {
      if (IsHalf(dtype)) {
        // float32 scratch in, float32 scratch out; fusion applied afterwards.
        ConvLayouts plain;
        RETURN_IF_ERROR(RunDnnl(shape, xp, plain, weights, bp, nullptr, yp, /*fuse=*/false, allocator));
      } else {
        ConvLayouts layouts{x->layout(), residual ? residual->layout() : core::TensorLayout::kPlain, y->layout()};
        bool fusion_left = false;
        RETURN_IF_ERROR(RunDnnl(shape, xp, layouts, weights, bp, residual, yp, /*fuse=*/true, allocator, &fusion_left));
        if (!fusion_left) return Status::Ok();
        return ApplyFusionPortable<float>(residual, *y, allocator);
      }
    } else {
      RunPortable<float>(shape, xp, weights->data<float>(), bp, yp);
    }
    if (IsHalf(dtype)) conv::FromFloat32(yp, *y);
    return ApplyFusionPortable<float>(residual, *y, allocator);
  }

 private:
  // `fuse` false runs the bare convolution (the caller applies the fusion);
  // so does a fused primitive marked `fusion_after`, which then says so in
  // `fusion_left`. `weights` is null with constant weights (the kernel's
  // packed copies).
  Status RunDnnl(const ConvShape& shape, const float* x, const ConvLayouts& layouts, const Tensor* weights,
                 const float* bias, const Tensor* residual, float* y, bool fuse, core::Allocator& allocator,
                 bool* fusion_left = nullptr) const {
    const bool constant = weights == nullptr;
    // oneDNN sizes scratchpads and splits work by the thread count at creation.
    std::vector<int64_t> key = {core::IntraOpThreads(),
                                shape.batch,
                                shape.in_channels,
                                bias != nullptr,
                                fuse,
                                static_cast<int64_t>(layouts.src),
                                static_cast<int64_t>(layouts.residual),
                                static_cast<int64_t>(layouts.dst)};
    key.insert(key.end(), shape.window.input.begin(), shape.window.input.end());
    if (!constant) key.insert(key.end(), weights->shape().begin(), weights->shape().end());
    ConvFusion fusion = fuse ? fusion_ : ConvFusion{};
    fusion.winograd = fusion_.winograd;
    ASSIGN_OR_RETURN(std::shared_ptr<const ConvPrimitive> entry, cache_.Get(key, [&] {
      return BuildConvPrimitive(shape, bias != nullptr, constant_weights_.get(), fusion, layouts,
                                depthwise_weights_.get());
    }));
    void* weight_data = constant ? entry->packed_weights.get_data_handle() : const_cast<void*>(weights->raw_data());
    if (fuse && entry->fusion_after && fusion_left) {
      *fusion_left = true;
      return RunDnnl(shape, x, layouts, weights, bias, nullptr, y, /*fuse=*/false, allocator);
    }
    const ConvPrimitive* stage = entry->depthwise_stage.get();
    if (!stage) return RunPrimitive(*entry, x, weight_data, bias, residual, y, allocator);
    // Through a blocked buffer into the depthwise stage's own primitive.
    std::shared_ptr<void> middle = allocator.Allocate(entry->dst.get_size());
    if (!middle) return core::ResourceExhausted("out of memory for {} bytes of activations", entry->dst.get_size());
    RETURN_IF_ERROR(RunPrimitive(*entry, x, weight_data, bias, residual, static_cast<float*>(middle.get()), allocator));
    return RunPrimitive(*stage, static_cast<const float*>(middle.get()), stage->packed_weights.get_data_handle(),
                        depthwise_bias_->data<float>(), nullptr, y, allocator);
  }

  // Runs one primitive of `entry` from `x` into `y` (each in the layout the
  // cache key gave), reordering where the primitive wants other layouts.
  Status RunPrimitive(const ConvPrimitive& entry, const float* x, void* weight_data, const float* bias,
                      const Tensor* residual, float* y, core::Allocator& allocator) const {
    if (!entry.slices.empty()) return RunSlices(entry, x, static_cast<const float*>(weight_data), bias, y, allocator);
    // Activations in the primitive's layout when it is not plain.
    const void* src_data = x;
    std::shared_ptr<void> src_buffer, dst_buffer;
    if (entry.src_reorder) {
      src_buffer = allocator.Allocate(entry.src.get_size());
      if (!src_buffer) return core::ResourceExhausted("out of memory for {} bytes of input", entry.src.get_size());
      dnnl_util::CountReorder(entry.plain_src.get_size());
      RETURN_IF_ERROR(conv::RunReorder(*entry.src_reorder, entry.plain_src, x, entry.src, src_buffer.get(), allocator));
      src_data = src_buffer.get();
    }
    void* dst_data = y;
    if (entry.dst_reorder) {
      dst_buffer = allocator.Allocate(entry.dst.get_size());
      if (!dst_buffer) return core::ResourceExhausted("out of memory for {} bytes of output", entry.dst.get_size());
      dst_data = dst_buffer.get();
    }
    // On the thread's memory objects for this primitive: a small
    // convolution costs little more than creating them would.
    RETURN_IF_ERROR(dnnl_util::ExecuteWithThreadArguments(
        "convolution", entry.primitive, entry.arguments, entry.scratchpad, allocator,
        [&](std::unordered_map<int, memory>& args) {
          args[DNNL_ARG_SRC].set_data_handle(const_cast<void*>(src_data));
          args[DNNL_ARG_WEIGHTS].set_data_handle(weight_data);
          if (bias) args[DNNL_ARG_BIAS].set_data_handle(const_cast<float*>(bias));
          if (residual) {
            args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1].set_data_handle(
                const_cast<void*>(residual->raw_data()));
          }
          if (entry.packed_depthwise_weights) {
            args[DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_WEIGHTS].set_data_handle(
                entry.packed_depthwise_weights.get_data_handle());
            args[DNNL_ARG_ATTR_POST_OP_DW | DNNL_ARG_BIAS].set_data_handle(
                const_cast<float*>(depthwise_bias_->data<float>()));
          }
          args[DNNL_ARG_DST].set_data_handle(dst_data);
        }));
    if (entry.dst_reorder) {
      dnnl_util::CountReorder(entry.plain_dst.get_size());
      RETURN_IF_ERROR(conv::RunReorder(*entry.dst_reorder, entry.dst, dst_data, entry.plain_dst, y, allocator));
    }
    return Status::Ok();
  }

  // A sliced depthwise convolution: each thread runs its slice's primitive
  // (single-threaded there: oneDNN does not nest parallel regions).
  Status RunSlices(const ConvPrimitive& entry, const float* x, const float* weights, const float* bias, float* y,
                   core::Allocator& allocator) const {
    std::vector<Status> statuses(entry.slices.size());
    core::ParallelFor(static_cast<int64_t>(entry.slices.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const ChannelSlice& slice = entry.slices[static_cast<size_t>(i)];
        statuses[static_cast<size_t>(i)] = dnnl_util::ExecuteWithThreadArguments(
            "convolution", slice.primitive, slice.arguments, slice.scratchpad, allocator,
            [&](std::unordered_map<int, memory>& args) {
              args[DNNL_ARG_SRC].set_data_handle(const_cast<float*>(x + slice.src_offset));
              args[DNNL_ARG_WEIGHTS].set_data_handle(const_cast<float*>(weights + slice.weight_offset));
              if (bias) args[DNNL_ARG_BIAS].set_data_handle(const_cast<float*>(bias + slice.first_channel));
              args[DNNL_ARG_DST].set_data_handle(y + slice.dst_offset);
            });
      }
    });
    for (Status& status : statuses) RETURN_IF_ERROR(status);
    return Status::Ok();
  }

  // The fused residual and activation on a plain output, for the paths that
  // cannot hand them to oneDNN.
  template <typename C>
  Status ApplyFusionPortable(const Tensor* residual, Tensor& y, core::Allocator& allocator) const {
    if (!residual && !fusion_.activation.active()) return Status::Ok();
    std::optional<Tensor> residual_plain;
    if (residual && !residual->is_plain()) {
      ASSIGN_OR_RETURN(residual_plain, dnnl_util::ToPlain(*residual, allocator));
      residual = &*residual_plain;
    }
    return core::VisitFloatType(y.dtype(), [&]<typename T>() -> Status {
      if constexpr (std::is_void_v<T>) {
        return core::Unimplemented("fused Conv on {}", core::DataTypeName(y.dtype()));
      } else {
        T* out = y.data<T>();
        const T* r = residual ? residual->data<T>() : nullptr;
        const FusedActivation& activation = fusion_.activation;
        core::ParallelFor(y.element_count(), 16384, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            C v = static_cast<C>(out[i]);
            if (r) v += static_cast<C>(r[i]);
            out[i] = static_cast<T>(activation.Apply(v));
          }
        });
        return Status::Ok();
      }
    });
  }

  // Im2col convolution plus bias, for double and for more than 3 spatial axes.
  template <typename T>
  static void RunPortable(const ConvShape& shape, const T* x, const T* w, const T* bias, T* y) {
    conv::Im2ColConvolution<T, T>(
        shape, [x](int64_t i) { return x[i]; }, w, y);
    if (!bias) return;
    const int64_t plane = shape.OutputSize();
    core::ParallelFor(shape.batch * shape.out_channels, std::max<int64_t>(1, 4096 / std::max<int64_t>(plane, 1)),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t c = begin; c < end; ++c) {
                          const T v = bias[c % shape.out_channels];
                          for (T* p = y + c * plane; p < y + (c + 1) * plane; ++p) *p += v;
                        }
                      });
  }

  conv::WindowAttributes attributes_;
  int64_t group_;
  // Constant float-family weights as float32, packed per layout; with a
  // header of their dtype and shape in the model.
  std::unique_ptr<PackedWeights> constant_weights_;
  Tensor weights_header_;
  std::optional<Tensor> constant_bias_;  // float32
  ConvFusion fusion_;
  std::unique_ptr<PackedWeights> depthwise_weights_;  // with fusion_.depthwise
  std::optional<Tensor> depthwise_bias_;              // float32
  conv::ShapeCache<ConvPrimitive> cache_;
};

// The constant float32 weights [C, 1, 3, 3] and bias [C] of a depthwise stage
// (inputs 4 and 5; zeros for an absent bias), checked against the 1x1's
// weights, which must be constant too.
Result<std::pair<std::unique_ptr<PackedWeights>, Tensor>> DepthwiseOperands(KernelBuildContext& context,
                                                                            bool constant_pointwise) {
  const Tensor* w = context.constant_input(1);
  const Tensor* dw = context.constant_input(4);
  const Tensor* db = context.constant_input(5);
  const core::TensorShape expected = {w ? w->dim(0) : -1, 1, 3, 3};
  if (!constant_pointwise || !w || w->dtype() != DataType::kFloat32 || w->rank() != 4 || !dw ||
      dw->dtype() != DataType::kFloat32 || dw->shape() != expected || context.node().HasInput(3)) {
    return core::InvalidArgument(
        "a depthwise stage needs constant float32 weights W [C, I, 1, 1] and depthwise weights [C, 1, 3, 3], "
        "and no residual");
  }
  if (context.node().HasInput(5) &&
      (!db || db->dtype() != DataType::kFloat32 || db->shape() != core::TensorShape{expected[0]})) {
    return core::InvalidArgument("the depthwise bias must be a constant float32 [{}]", expected[0]);
  }
  Tensor bias;
  if (db) {
    bias = *db;
  } else {
    ASSIGN_OR_RETURN(bias, Tensor::Create(DataType::kFloat32, {expected[0]}, core::HeapAllocator()));
    std::fill_n(bias.data<float>(), expected[0], 0.0f);
  }
  const int64_t channels = expected[0];
  memory::dims dims = conv::DnnlWeightDims(channels, channels, channels, {3, 3});
  std::unique_ptr<PackedWeights> packed;
  RETURN_IF_ERROR(dnnl_util::TryDnnl("depthwise weights", [&] {
    packed = std::make_unique<PackedWeights>(
        *dw, memory::desc(dims, memory::data_type::f32, dnnl_util::PlainTag(dims.size())));
  }));
  return std::make_pair(std::move(packed), std::move(bias));
}

Result<std::unique_ptr<Kernel>> CreateConvKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(conv::WindowAttributes attributes, conv::ParseWindowAttributes(context.node()));
  if (attributes.ceil_mode) return core::InvalidArgument("Conv has no ceil_mode");
  ASSIGN_OR_RETURN(int64_t group, conv::ParseGroup(context.node()));
  // Constant float weights and bias are kept as float32 for prepacking.
  ASSIGN_OR_RETURN(conv::ConstantFloatOperands constants, conv::ConstantFloatWeightsAndBias(context));
  const std::optional<Tensor>& weights = constants.weights;
  const Tensor* w = context.constant_input(1);
  ConvFusion fusion;
  const Node& node = context.node();
  if (node.domain == kBerthDomain) {
    ASSIGN_OR_RETURN(fusion.activation, FusedActivation::FromNode(node));
    fusion.has_residual = node.HasInput(3);
    fusion.blocked_output = node.GetInt("blocked_output", 0) != 0;
    fusion.winograd = node.GetInt("winograd", 0) != 0;
    ASSIGN_OR_RETURN(fusion.depthwise, ParseDepthwiseStage(node));
  }
  // Constant weights are held packed (their plain copy goes once packed);
  // oneDNN's plain weight layout: [O, I, k...] or [g, O/g, I/g, k...].
  std::unique_ptr<PackedWeights> packed;
  if (weights && weights->rank() >= 3 && weights->rank() <= 5) {
    const core::TensorShape& s = weights->shape();
    memory::dims dims = conv::DnnlWeightDims(group, s[0], s[1] * group, std::vector<int64_t>(s.begin() + 2, s.end()));
    RETURN_IF_ERROR(dnnl_util::TryDnnl("convolution weights", [&] {
      packed = std::make_unique<PackedWeights>(
          *weights, memory::desc(dims, memory::data_type::f32, dnnl_util::PlainTag(dims.size())));
    }));
  }
  std::unique_ptr<PackedWeights> depthwise_weights;
  std::optional<Tensor> depthwise_bias;
  if (fusion.depthwise) {
    ASSIGN_OR_RETURN(std::tie(depthwise_weights, depthwise_bias), DepthwiseOperands(context, packed != nullptr));
  }
  return std::unique_ptr<Kernel>(std::make_unique<ConvKernel>(
      std::move(attributes), group, std::move(packed), w ? w->dtype() : DataType::kFloat32, std::move(constants.bias),
      fusion, std::move(depthwise_weights), std::move(depthwise_bias)));
}

Status InferConv(InferenceContext& context) { return conv::InferConvLike(context, 0, 1, InputDtype(context, 0)); }

// FusedConv: Conv's output, or the depthwise stage's on it.
Status InferFusedConv(InferenceContext& context) {
  ASSIGN_OR_RETURN(std::optional<DepthwiseStage> depthwise, ParseDepthwiseStage(context.node()));
  if (!depthwise) return InferConv(context);
  const DataType dtype = InputDtype(context, 0);
  ASSIGN_OR_RETURN(std::optional<core::TensorShape> pointwise, conv::InferConvOutputShape(context, 0, 1));
  if (!pointwise) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  const conv::WindowAttributes window = depthwise->Window();
  ASSIGN_OR_RETURN(conv::Window resolved,
                   conv::ResolveWindow(window, std::span<const int64_t>(*pointwise).subspan(2), window.kernel_shape));
  core::TensorShape out = {(*pointwise)[0], (*pointwise)[1]};
  out.insert(out.end(), resolved.output.begin(), resolved.output.end());
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  return Status::Ok();
}

}  // namespace

void RegisterConvolutionKernels(OpRegistry& registry) {
  registry.Register("", "Conv", {1, 11}, InferConv, CreateConvKernel);
  // Conv [+ residual Add] [+ activation] [+ depthwise stage], made by the
  // optimizer (optimizer/fuse_convolution.cc).
  registry.Register(std::string(kBerthDomain), "FusedConv", {1}, InferFusedConv, CreateConvKernel);
  registry.Register("", "ConvTranspose", {1, 11}, conv::InferConvTranspose, conv::CreateConvTransposeKernel);
  registry.Register("", "ConvInteger", {10}, conv::InferConvInteger, conv::CreateConvIntegerKernel);
  registry.Register("", "QLinearConv", {10}, conv::InferQLinearConv, conv::CreateQLinearConvKernel);
}

}  // namespace berth::engine

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

#include "engine/kernels/conv_common.h"
#include "engine/kernels/conv_dnnl.h"
#include "engine/kernels/fused_activation.h"
#include "engine/kernels/op_registry.h"
#include "engine/kernels/packed_weights.h"

namespace berth::engine {
namespace {

using conv::ConvShape;
using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using dnnl::memory;

bool IsHalf(DataType dtype) { return dtype == DataType::kFloat16 || dtype == DataType::kBFloat16; }
bool IsConvFloat(DataType dtype) { return dtype == DataType::kFloat32 || IsHalf(dtype); }

// A oneDNN convolution for one problem shape, with the weights already in its
// preferred layout when they are constant.
struct ConvPrimitive {
  dnnl::convolution_forward primitive;
  memory::desc src;  // the primitive's layouts
  memory::desc weights;
  memory::desc bias;
  memory::desc dst;
  memory::desc residual;  // binary post-op source (zero desc without residual)
  memory::desc scratchpad;
  memory::desc plain_src;  // the kernel's NCHW input and output
  memory::desc plain_dst;
  std::optional<conv::DnnlReorder> src_reorder;  // plain_src -> src, when they differ
  std::optional<conv::DnnlReorder> dst_reorder;  // dst -> plain_dst, when they differ
  dnnl::memory packed_weights;  // constant weights in `weights` layout (null memory: given each run)
  dnnl_util::PrimitiveArguments arguments;
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

// What the fused node adds around the convolution and how its activations
// are laid out: fixed per kernel except the input layouts, which come with
// the tensors.
struct ConvFusion {
  FusedActivation activation;
  bool has_residual = false;  // input 3 is added before the activation
  bool blocked_output = false;  // the optimizer gave this node a blocked output
  bool winograd = false;        // the optimizer allows a Winograd algorithm (fuse_convolution.cc)
};

struct ConvLayouts {
  core::TensorLayout src = core::TensorLayout::kPlain;
  core::TensorLayout residual = core::TensorLayout::kPlain;
  core::TensorLayout dst = core::TensorLayout::kPlain;
};

// Builds the primitive; `constant_weights` (float32) are prepared in the
// layout it chose, otherwise the primitive takes plain weights each run.
Result<std::shared_ptr<const ConvPrimitive>> BuildConvPrimitive(const ConvShape& shape, bool has_bias,
                                                                PackedWeights* constant_weights,
                                                                const ConvFusion& fusion, const ConvLayouts& layouts) {
  auto entry = std::make_shared<ConvPrimitive>();
  const auto f32 = memory::data_type::f32;
  memory::dims src_dims = conv::DnnlActivationDims(shape.batch, shape.in_channels, shape.window.input);
  memory::dims dst_dims = conv::DnnlActivationDims(shape.batch, shape.out_channels, shape.window.output);
  memory::dims weight_dims =
      conv::DnnlWeightDims(shape.group, shape.out_channels, shape.in_channels, shape.window.kernel);
  const size_t rank = src_dims.size();
  memory::desc plain_weights(weight_dims, f32, dnnl_util::PlainTag(weight_dims.size()));
  Status status = dnnl_util::TryDnnl("building the convolution", [&] {
    entry->plain_src = memory::desc(src_dims, f32, dnnl_util::LayoutTag(layouts.src, rank));
    entry->plain_dst = memory::desc(dst_dims, f32, dnnl_util::LayoutTag(layouts.dst, rank));
    // With plain activations at both edges, a blocked layout inside can
    // still pay for its two reorders (see PreferBlockedActivations); a fused
    // residual is read in the layout it arrives in, so it pins dst.
    const bool edges_plain = layouts.src == core::TensorLayout::kPlain && layouts.dst == core::TensorLayout::kPlain;
    const bool blocked_inside = edges_plain && constant_weights && PreferBlockedActivations(shape) &&
                                !fusion.has_residual;
    entry->src = blocked_inside ? memory::desc(src_dims, f32, memory::format_tag::any) : entry->plain_src;
    entry->dst = blocked_inside ? memory::desc(dst_dims, f32, memory::format_tag::any) : entry->plain_dst;
    if (fusion.has_residual) {
      entry->residual = memory::desc(dst_dims, f32, dnnl_util::LayoutTag(layouts.residual, rank));
    }
    entry->bias = has_bias ? memory::desc({shape.out_channels}, f32, memory::format_tag::a) : memory::desc();
    memory::desc weights_any =
        constant_weights ? memory::desc(weight_dims, f32, memory::format_tag::any) : plain_weights;
    dnnl::primitive_attr attr = dnnl_util::DefaultAttr();
    if (fusion.has_residual || fusion.activation.active()) {
      dnnl::post_ops ops;
      if (fusion.has_residual) ops.append_binary(dnnl::algorithm::binary_add, entry->residual);
      fusion.activation.AppendTo(ops);
      attr.set_post_ops(ops);
    }
    auto describe = [&](const memory::desc& src, const memory::desc& dst,
                        dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct) {
      dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, algorithm, src, weights_any, entry->bias, dst,
          conv::ToDnnlDims(shape.window.strides), conv::DnnlDilations(shape.window),
          conv::ToDnnlDims(shape.window.pad_begin), conv::ToDnnlDims(shape.window.pad_end));
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
    entry->weights = pd.weights_desc();
    entry->src = pd.src_desc();
    entry->dst = pd.dst_desc();
    entry->scratchpad = pd.scratchpad_desc();
    entry->primitive = dnnl::convolution_forward(pd);
    entry->arguments.Add(DNNL_ARG_SRC, entry->src);
    entry->arguments.Add(DNNL_ARG_WEIGHTS, entry->weights);
    if (has_bias) entry->arguments.Add(DNNL_ARG_BIAS, entry->bias);
    if (fusion.has_residual) entry->arguments.Add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, entry->residual);
    entry->arguments.Add(DNNL_ARG_DST, entry->dst);
    if (entry->scratchpad.get_size() > 0) entry->arguments.Add(DNNL_ARG_SCRATCHPAD, entry->scratchpad);
  });
  RETURN_IF_ERROR(status);
  if (entry->src != entry->plain_src) {
    ASSIGN_OR_RETURN(entry->src_reorder, conv::BuildReorder(entry->plain_src, entry->src));
  }
  if (entry->dst != entry->plain_dst) {
    ASSIGN_OR_RETURN(entry->dst_reorder, conv::BuildReorder(entry->dst, entry->plain_dst));
  }
  if (constant_weights) {
    ASSIGN_OR_RETURN(entry->packed_weights, constant_weights->Get(entry->weights));
  }
  return std::shared_ptr<const ConvPrimitive>(std::move(entry));
}

class ConvKernel final : public Kernel {
 public:
  // `weights`: the constant W as float32 (null when W is not constant),
  // `weights_dtype` its type in the model.
  ConvKernel(conv::WindowAttributes attributes, int64_t group, std::unique_ptr<PackedWeights> weights,
             DataType weights_dtype, std::optional<Tensor> bias, ConvFusion fusion)
      : attributes_(std::move(attributes)),
        group_(group),
        constant_weights_(std::move(weights)),
        constant_bias_(std::move(bias)),
        fusion_(fusion) {
    if (constant_weights_) {
      weights_header_ = Tensor::Wrap(weights_dtype, constant_weights_->operand().shape(), nullptr, nullptr);
    }
  }

  bool AcceptsBlockedInputs() const override { return true; }
  bool KeepsConstantInput(int index) const override { return index == 1 && constant_weights_; }

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
    if (!IsConvFloat(dtype) && dtype != DataType::kFloat64) {
      return core::Unimplemented("Conv on {} is not supported (float16, bfloat16, float32, float64 are)",
                                 core::DataTypeName(dtype));
    }
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
    const bool blocked_output = fusion_.blocked_output && dnnl_2d && x->dtype() == DataType::kFloat32;
    Tensor* y = nullptr;
    if (blocked_output) {
      ASSIGN_OR_RETURN(y, context.AllocateBlockedOutput(0, dtype, shape.OutputShape(),
                                                        dnnl_util::PreferredBlockedLayout()));
    } else {
      ASSIGN_OR_RETURN(y, context.AllocateOutput(0, dtype, shape.OutputShape()));
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
        return RunDnnl(shape, xp, layouts, weights, bp, residual, yp, /*fuse=*/true, allocator);
      }
    } else {
      RunPortable<float>(shape, xp, weights->data<float>(), bp, yp);
    }
    if (IsHalf(dtype)) {
      conv::FromFloat32(yp, *y);
      return ApplyFusionPortable<float>(residual, *y, allocator);
    }
    return ApplyFusionPortable<float>(residual, *y, allocator);
  }

 private:
  // `fuse` false runs the bare convolution (the caller applies the fusion).
  // `weights` is null with constant weights (the kernel's packed copies).
  Status RunDnnl(const ConvShape& shape, const float* x, const ConvLayouts& layouts, const Tensor* weights,
                 const float* bias, const Tensor* residual, float* y, bool fuse, core::Allocator& allocator) const {
    const bool constant = weights == nullptr;
    // oneDNN sizes scratchpads and splits work by the thread count at creation.
    std::vector<int64_t> key = {core::IntraOpThreads(), shape.batch, shape.in_channels, bias != nullptr, fuse,
                                static_cast<int64_t>(layouts.src), static_cast<int64_t>(layouts.residual),
                                static_cast<int64_t>(layouts.dst)};
    key.insert(key.end(), shape.window.input.begin(), shape.window.input.end());
    if (!constant) key.insert(key.end(), weights->shape().begin(), weights->shape().end());
    ConvFusion fusion = fuse ? fusion_ : ConvFusion{};
    fusion.winograd = fusion_.winograd;
    ASSIGN_OR_RETURN(std::shared_ptr<const ConvPrimitive> entry, cache_.Get(key, [&] {
      return BuildConvPrimitive(shape, bias != nullptr, constant_weights_.get(), fusion, layouts);
    }));
    void* weight_data = constant ? entry->packed_weights.get_data_handle() : const_cast<void*>(weights->raw_data());
    // Activations in the primitive's layout when it is not plain.
    const void* src_data = x;
    std::shared_ptr<void> src_buffer, dst_buffer;
    if (entry->src_reorder) {
      src_buffer = allocator.Allocate(entry->src.get_size());
      if (!src_buffer) return core::ResourceExhausted("out of memory for {} bytes of input", entry->src.get_size());
      RETURN_IF_ERROR(conv::RunReorder(*entry->src_reorder, entry->plain_src, x, entry->src, src_buffer.get(),
                                       allocator));
      src_data = src_buffer.get();
    }
    void* dst_data = y;
    if (entry->dst_reorder) {
      dst_buffer = allocator.Allocate(entry->dst.get_size());
      if (!dst_buffer) return core::ResourceExhausted("out of memory for {} bytes of output", entry->dst.get_size());
      dst_data = dst_buffer.get();
    }
    // On the thread's memory objects for this primitive: a small
    // convolution costs little more than creating them would.
    RETURN_IF_ERROR(dnnl_util::ExecuteWithThreadArguments(
        "convolution", entry->primitive, entry->arguments, entry->scratchpad, allocator,
        [&](std::unordered_map<int, memory>& args) {
          args[DNNL_ARG_SRC].set_data_handle(const_cast<void*>(src_data));
          args[DNNL_ARG_WEIGHTS].set_data_handle(weight_data);
          if (bias) args[DNNL_ARG_BIAS].set_data_handle(const_cast<float*>(bias));
          if (fusion.has_residual) {
            args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1].set_data_handle(
                const_cast<void*>(residual->raw_data()));
          }
          args[DNNL_ARG_DST].set_data_handle(dst_data);
        }));
    if (entry->dst_reorder) {
      RETURN_IF_ERROR(conv::RunReorder(*entry->dst_reorder, entry->dst, dst_data, entry->plain_dst, y, allocator));
    }
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
    conv::Im2ColConvolution<T, T>(shape, [x](int64_t i) { return x[i]; }, w, y);
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
  std::optional<Tensor> constant_bias_;     // float32
  ConvFusion fusion_;
  conv::ShapeCache<ConvPrimitive> cache_;
};

Result<std::unique_ptr<Kernel>> CreateConvKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(conv::WindowAttributes attributes, conv::ParseWindowAttributes(context.node()));
  if (attributes.ceil_mode) return core::InvalidArgument("Conv has no ceil_mode");
  ASSIGN_OR_RETURN(int64_t group, conv::ParseGroup(context.node()));
  // Constant float weights and bias are kept as float32 for prepacking.
  std::optional<Tensor> weights, bias;
  const Tensor* w = context.constant_input(1);
  const Tensor* b = context.constant_input(2);
  if (w && IsConvFloat(w->dtype())) {
    if (w->dtype() == DataType::kFloat32) {
      weights = *w;
    } else {
      ASSIGN_OR_RETURN(weights, conv::ToFloat32(*w, core::HeapAllocator()));
    }
    if (b && b->dtype() == w->dtype()) {
      if (b->dtype() == DataType::kFloat32) {
        bias = *b;
      } else {
        ASSIGN_OR_RETURN(bias, conv::ToFloat32(*b, core::HeapAllocator()));
      }
    }
  }
  ConvFusion fusion;
  const Node& node = context.node();
  if (node.domain == kBerthDomain) {
    ASSIGN_OR_RETURN(fusion.activation, FusedActivation::FromNode(node));
    fusion.has_residual = node.HasInput(3);
    fusion.blocked_output = node.GetInt("blocked_output", 0) != 0;
    fusion.winograd = node.GetInt("winograd", 0) != 0;
  }
  // Constant weights are held packed (their plain copy goes once packed);
  // oneDNN's plain weight layout: [O, I, k...] or [g, O/g, I/g, k...].
  std::unique_ptr<PackedWeights> packed;
  if (weights && weights->rank() >= 3 && weights->rank() <= 5) {
    const core::TensorShape& s = weights->shape();
    memory::dims dims =
        conv::DnnlWeightDims(group, s[0], s[1] * group, std::vector<int64_t>(s.begin() + 2, s.end()));
    RETURN_IF_ERROR(dnnl_util::TryDnnl("convolution weights", [&] {
      packed = std::make_unique<PackedWeights>(*weights,
                                               memory::desc(dims, memory::data_type::f32, dnnl_util::PlainTag(dims.size())));
    }));
  }
  return std::unique_ptr<Kernel>(std::make_unique<ConvKernel>(std::move(attributes), group, std::move(packed),
                                                              w ? w->dtype() : DataType::kFloat32, std::move(bias),
                                                              fusion));
}

Status InferConv(InferenceContext& context) {
  return conv::InferConvLike(context, 0, 1, InputDtype(context, 0));
}

}  // namespace

void RegisterConvolutionKernels(OpRegistry& registry) {
  registry.Register("", "Conv", {1, 11}, InferConv, CreateConvKernel);
  // Conv [+ residual Add] [+ activation], made by the optimizer (optimizer/fuse_convolution.cc).
  registry.Register(std::string(kBerthDomain), "FusedConv", {1}, InferConv, CreateConvKernel);
  registry.Register("", "ConvTranspose", {1, 11}, conv::InferConvTranspose, conv::CreateConvTransposeKernel);
  registry.Register("", "ConvInteger", {10}, conv::InferConvInteger, conv::CreateConvIntegerKernel);
  registry.Register("", "QLinearConv", {10}, conv::InferQLinearConv, conv::CreateQLinearConvKernel);
}

}  // namespace berth::engine

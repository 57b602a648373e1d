// ConvTranspose: oneDNN deconvolution for float types with 1-3 spatial axes,
// a direct scatter for double and higher ranks.
//
// ONNX lets the pads come out negative (output_padding beyond the end pad, or
// an output_shape larger than the full result): those output positions are
// reached by no input and hold only the bias. oneDNN takes non-negative pads
// only, so it computes the reachable core and the kernel places it inside a
// bias-filled output.
//
// Activations stay plain NCHW: measured on AVX-512 decoder-style layers,
// oneDNN's blocked deconvolution is only 10-20% faster, which the two
// activation reorders per run would eat. Weights are prepacked when constant.
#include <optional>

#include "engine/kernels/convolution/conv_dnnl.h"
#include "engine/ops/op_registry.h"

namespace berth::engine::conv {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using dnnl::memory;

// Where oneDNN's core result sits inside the ONNX output.
struct CoreRegion {
  std::vector<int64_t> extent;  // core spatial extents
  std::vector<int64_t> offset;  // where the core starts in the output
  bool whole = true;            // core == output (no negative pads)
  bool empty = false;           // no output position is reached by an input
};

CoreRegion FindCore(const Window& window) {
  CoreRegion core;
  for (size_t a = 0; a < window.rank; ++a) {
    const int64_t begin = std::max<int64_t>(0, window.pad_begin[a]);
    const int64_t end = std::max<int64_t>(0, window.pad_end[a]);
    const int64_t extent = (window.input[a] - 1) * window.strides[a] + window.KernelExtent(a) - begin - end;
    core.extent.push_back(extent);
    core.offset.push_back(std::max<int64_t>(0, -window.pad_begin[a]));
    if (window.pad_begin[a] < 0 || window.pad_end[a] < 0) core.whole = false;
    if (extent <= 0 || window.input[a] == 0) core.empty = true;
  }
  return core;
}

// ONNX W is [C, M/g, k...]: as oneDNN's [g, M/g, C/g, k...] (or [M, C, k...])
// that is a strided view, described here without copying.
memory::desc OnnxTransposeWeights(const ConvShape& shape) {
  const int64_t in_per_group = shape.in_channels / shape.group;
  const int64_t out_per_group = shape.out_channels / shape.group;
  memory::dims dims = DnnlWeightDims(shape.group, shape.out_channels, shape.in_channels, shape.window.kernel);
  std::vector<int64_t> kernel_strides = core::RowMajorStrides(shape.window.kernel);
  const int64_t kernel_size = shape.KernelSize();
  memory::dims strides;
  if (shape.group > 1) strides.push_back(in_per_group * out_per_group * kernel_size);
  strides.push_back(kernel_size);                  // output channel within the group
  strides.push_back(out_per_group * kernel_size);  // input channel within the group
  strides.insert(strides.end(), kernel_strides.begin(), kernel_strides.end());
  return memory::desc(dims, memory::data_type::f32, strides);
}

struct DeconvPrimitive {
  dnnl::deconvolution_forward primitive;
  memory::desc src, user_weights, weights, bias, dst, scratchpad;
  std::shared_ptr<void> packed_weights;       // constant W in `weights` layout
  std::optional<DnnlReorder> weight_reorder;  // non-constant W whose layout differs
};

Result<std::shared_ptr<const DeconvPrimitive>> BuildDeconvPrimitive(const ConvShape& shape, const CoreRegion& core,
                                                                    bool has_bias, const Tensor* constant_weights) {
  auto entry = std::make_shared<DeconvPrimitive>();
  const auto f32 = memory::data_type::f32;
  const Window& window = shape.window;
  memory::dims pad_begin, pad_end;
  for (size_t a = 0; a < window.rank; ++a) {
    pad_begin.push_back(std::max<int64_t>(0, window.pad_begin[a]));
    pad_end.push_back(std::max<int64_t>(0, window.pad_end[a]));
  }
  memory::dims src_dims = DnnlActivationDims(shape.batch, shape.in_channels, window.input);
  memory::dims dst_dims = DnnlActivationDims(shape.batch, shape.out_channels, core.extent);
  memory::dims weight_dims = DnnlWeightDims(shape.group, shape.out_channels, shape.in_channels, window.kernel);
  RETURN_IF_ERROR(dnnl_util::TryDnnl("building the transposed convolution", [&] {
    entry->src = memory::desc(src_dims, f32, dnnl_util::PlainTag(src_dims.size()));
    entry->dst = memory::desc(dst_dims, f32, dnnl_util::PlainTag(dst_dims.size()));
    entry->user_weights = OnnxTransposeWeights(shape);
    entry->bias = has_bias ? memory::desc({shape.out_channels}, f32, memory::format_tag::a) : memory::desc();
    dnnl::deconvolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                           entry->src, memory::desc(weight_dims, f32, memory::format_tag::any),
                                           entry->bias, entry->dst, ToDnnlDims(window.strides), DnnlDilations(window),
                                           pad_begin, pad_end);
    dnnl::deconvolution_forward::primitive_desc pd(desc, dnnl_util::DefaultAttr(), dnnl_util::CpuEngine());
    entry->weights = pd.weights_desc();
    entry->scratchpad = pd.scratchpad_desc();
    entry->primitive = dnnl::deconvolution_forward(pd);
  }));
  if (entry->weights != entry->user_weights) {
    if (constant_weights) {
      ASSIGN_OR_RETURN(entry->packed_weights,
                       PackWeights(entry->user_weights, constant_weights->raw_data(), entry->weights));
    } else {
      ASSIGN_OR_RETURN(entry->weight_reorder, BuildReorder(entry->user_weights, entry->weights));
    }
  }
  return std::shared_ptr<const DeconvPrimitive>(std::move(entry));
}

// Copies the core [N, M, core...] into `out` [N, M, output...] at `offset`,
// after filling `out` with the bias (or zeros).
template <typename T>
void PlaceCore(const ConvShape& shape, const CoreRegion& core, const T* core_data, const T* bias, T* out) {
  const Window& window = shape.window;
  const size_t rank = window.rank;
  const int64_t out_plane = shape.OutputSize();
  const int64_t core_plane = SpatialSize(core.extent);
  std::vector<int64_t> out_strides = core::RowMajorStrides(window.output);
  // Rows along the last axis of the core.
  std::vector<int64_t> row_dims(core.extent.begin(), core.extent.end() - 1);
  const int64_t row = core.extent.back();
  core::ParallelFor(shape.batch * shape.out_channels, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> index(rank - 1);
    for (int64_t plane = begin; plane < end; ++plane) {
      T* dst = out + plane * out_plane;
      std::fill(dst, dst + out_plane, bias ? bias[plane % shape.out_channels] : T(0));
      if (core.empty) continue;
      const T* src = core_data + plane * core_plane;
      std::fill(index.begin(), index.end(), 0);
      do {
        int64_t offset = core.offset[rank - 1];
        for (size_t a = 0; a + 1 < rank; ++a) offset += (index[a] + core.offset[a]) * out_strides[a];
        std::copy(src, src + row, dst + offset);
        src += row;
      } while (NextIndex(index, row_dims));
    }
  });
}

class ConvTransposeKernel final : public Kernel {
 public:
  ConvTransposeKernel(TransposeAttributes attributes, int64_t group, std::optional<Tensor> weights,
                      std::optional<Tensor> bias)
      : attributes_(std::move(attributes)),
        group_(group),
        constant_weights_(std::move(weights)),
        constant_bias_(std::move(bias)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    ASSIGN_OR_RETURN(const Tensor* w, RequireTensor(context, 1, "W"));
    const Tensor* b = context.input_tensor(2);
    const DataType dtype = x->dtype();
    RETURN_IF_ERROR(CheckFloatConvType("ConvTranspose", dtype));
    if (w->dtype() != dtype || (b && b->dtype() != dtype)) {
      return core::InvalidArgument("X, W and B must share one type; got {} and {}", core::DataTypeName(dtype),
                                   core::DataTypeName(w->dtype() != dtype ? w->dtype() : b->dtype()));
    }
    ASSIGN_OR_RETURN(ConvShape shape, ResolveConvTransposeShape(attributes_, group_, x->shape(), w->shape()));
    if (b && (b->rank() != 1 || b->dim(0) != shape.out_channels)) {
      return core::InvalidArgument("bias B {} must be 1-D with {} values (one per output channel)",
                                   core::ShapeToString(b->shape()), shape.out_channels);
    }
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, dtype, shape.OutputShape()));
    if (y->element_count() == 0) return Status::Ok();
    if (dtype == DataType::kFloat64) {
      ReferenceConvTranspose<double>(shape, x->data<double>(), w->data<double>(), b ? b->data<double>() : nullptr,
                                     y->data<double>());
      return Status::Ok();
    }

    core::Allocator& allocator = context.allocator();
    std::optional<Tensor> x32, w32, b32, y32;
    const bool half = IsHalf(dtype);
    if (half) {
      ASSIGN_OR_RETURN(x32, ToFloat32(*x, allocator));
    }
    const float* xp = half ? x32->data<float>() : x->data<float>();
    const Tensor* weights = w;
    if (constant_weights_) {
      weights = &*constant_weights_;
    } else if (half) {
      ASSIGN_OR_RETURN(w32, ToFloat32(*w, allocator));
      weights = &*w32;
    }
    const float* bp = nullptr;
    if (constant_bias_) {
      bp = constant_bias_->data<float>();
    } else if (b && half) {
      ASSIGN_OR_RETURN(b32, ToFloat32(*b, allocator));
      bp = b32->data<float>();
    } else if (b) {
      bp = b->data<float>();
    }
    if (half) {
      ASSIGN_OR_RETURN(y32, Tensor::Create(DataType::kFloat32, y->shape(), allocator));
    }
    float* yp = half ? y32->data<float>() : y->data<float>();
    if (shape.window.rank <= 3) {
      RETURN_IF_ERROR(RunDnnl(shape, xp, *weights, bp, yp, allocator));
    } else {
      ReferenceConvTranspose<float>(shape, xp, weights->data<float>(), bp, yp);
    }
    if (half) FromFloat32(yp, *y);
    return Status::Ok();
  }

 private:
  Status RunDnnl(const ConvShape& shape, const float* x, const Tensor& weights, const float* bias, float* y,
                 core::Allocator& allocator) const {
    CoreRegion core = FindCore(shape.window);
    if (core.empty || shape.in_channels == 0) {
      PlaceCore<float>(shape, CoreRegion{core.extent, core.offset, false, true}, nullptr, bias, y);
      return Status::Ok();
    }
    const bool constant = constant_weights_.has_value();
    std::vector<int64_t> key = {shape.batch, shape.in_channels, bias != nullptr};
    key.insert(key.end(), shape.window.input.begin(), shape.window.input.end());
    key.insert(key.end(), shape.window.pad_begin.begin(), shape.window.pad_begin.end());
    key.insert(key.end(), shape.window.pad_end.begin(), shape.window.pad_end.end());
    if (!constant) key.insert(key.end(), weights.shape().begin(), weights.shape().end());
    ASSIGN_OR_RETURN(std::shared_ptr<const DeconvPrimitive> entry, cache_.Get(key, [&] {
      return BuildDeconvPrimitive(shape, core, bias != nullptr, constant ? &weights : nullptr);
    }));

    // Weights in the primitive's layout.
    const void* weight_data = weights.raw_data();
    std::shared_ptr<void> reordered;
    if (entry->packed_weights) {
      weight_data = entry->packed_weights.get();
    } else if (entry->weight_reorder) {
      reordered = allocator.Allocate(entry->weights.get_size());
      if (!reordered)
        return core::ResourceExhausted("out of memory for {} bytes of weights", entry->weights.get_size());
      RETURN_IF_ERROR(RunReorder(*entry->weight_reorder, entry->user_weights, weights.raw_data(), entry->weights,
                                 reordered.get(), allocator));
      weight_data = reordered.get();
    }
    // With negative pads the core goes to a scratch tensor first.
    std::optional<Tensor> core_tensor;
    float* dst = y;
    if (!core.whole) {
      core::TensorShape core_shape = {shape.batch, shape.out_channels};
      core_shape.insert(core_shape.end(), core.extent.begin(), core.extent.end());
      ASSIGN_OR_RETURN(core_tensor, Tensor::Create(DataType::kFloat32, core_shape, allocator));
      dst = core_tensor->data<float>();
    }
    const dnnl::engine& engine = dnnl_util::CpuEngine();
    std::unordered_map<int, memory> args;
    RETURN_IF_ERROR(dnnl_util::TryDnnl("transposed convolution arguments", [&] {
      args.emplace(DNNL_ARG_SRC, memory(entry->src, engine, const_cast<float*>(x)));
      args.emplace(DNNL_ARG_WEIGHTS, memory(entry->weights, engine, const_cast<void*>(weight_data)));
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(entry->bias, engine, const_cast<float*>(bias)));
      args.emplace(DNNL_ARG_DST, memory(entry->dst, engine, dst));
    }));
    RETURN_IF_ERROR(dnnl_util::Execute(entry->primitive, std::move(args), entry->scratchpad, allocator));
    if (!core.whole) PlaceCore<float>(shape, core, dst, bias, y);
    return Status::Ok();
  }

  TransposeAttributes attributes_;
  int64_t group_;
  std::optional<Tensor> constant_weights_;  // float32, ONNX layout
  std::optional<Tensor> constant_bias_;     // float32
  ShapeCache<DeconvPrimitive> cache_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> CreateConvTransposeKernel(KernelBuildContext& context) {
  ASSIGN_OR_RETURN(TransposeAttributes attributes, ParseTransposeAttributes(context.node()));
  ASSIGN_OR_RETURN(int64_t group, ParseGroup(context.node()));
  ASSIGN_OR_RETURN(ConstantFloatOperands constants, ConstantFloatWeightsAndBias(context));
  return std::unique_ptr<Kernel>(std::make_unique<ConvTransposeKernel>(
      std::move(attributes), group, std::move(constants.weights), std::move(constants.bias)));
}

Status InferConvTranspose(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const std::optional<core::TensorShape> input_shape = InputShapeOrUnknownOutput(context, dtype);
  if (!input_shape) return Status::Ok();
  const core::TensorShape& x_shape = *input_shape;
  if (x_shape.size() < 3) {
    return core::InvalidArgument("input X {} must have rank 3 or more", core::ShapeToString(x_shape));
  }
  ASSIGN_OR_RETURN(TransposeAttributes attributes, ParseTransposeAttributes(context.node()));
  ASSIGN_OR_RETURN(int64_t group, ParseGroup(context.node()));
  const ValueType& w = context.input_type(1);
  core::TensorShape w_shape(x_shape.size(), -1);
  if (w.is_tensor() && w.has_shape) {
    w_shape = w.Shape();
    if (w_shape.size() != x_shape.size()) {
      return core::InvalidArgument("weights {} must have the rank of X {}", core::ShapeToString(w_shape),
                                   core::ShapeToString(x_shape));
    }
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> kernel, ConvKernelShape(attributes.window, w_shape));
  ASSIGN_OR_RETURN(Window window,
                   ResolveTransposeWindow(attributes, std::span<const int64_t>(x_shape).subspan(2), kernel));
  core::TensorShape out = {x_shape[0], w_shape[1] < 0 ? -1 : w_shape[1] * group};
  out.insert(out.end(), window.output.begin(), window.output.end());
  context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
  return Status::Ok();
}

}  // namespace berth::engine::conv

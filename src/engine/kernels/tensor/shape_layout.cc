// Ops that rearrange elements without computing on them: Transpose, Expand,
// Tile, DepthToSpace and SpaceToDepth. Each describes its output as a strided
// view of the input and hands it to CopyStridedView; a view that turns out to
// be the input's own layout becomes a reshape that copies nothing.
#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/tensor/shape_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

// True when the view reads `input` in its own row-major order (unit axes
// aside), so a reshape of the input is the answer.
bool IsIdentityView(const std::vector<StridedAxis>& axes) {
  int64_t expected = 1;
  for (size_t a = axes.size(); a-- > 0;) {
    if (axes[a].size == 1) continue;
    if (axes[a].stride != expected) return false;
    expected *= axes[a].size;
  }
  return true;
}

// Writes output 0 with `shape` as the view `axes` of `input`.
Status EmitView(KernelContext& context, const Tensor& input, TensorShape shape, const std::vector<StridedAxis>& axes) {
  if (IsIdentityView(axes) && core::ElementCount(shape) == input.element_count()) {
    ASSIGN_OR_RETURN(Tensor view, input.Reshaped(std::move(shape)));
    context.SetOutput(0, std::move(view));
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, input.dtype(), std::move(shape)));
  return CopyStridedView(input.dtype(), input.raw_data(), out->raw_data(), axes);
}

// ----------------------------------------------------------------------------
// Transpose

// The permutation for rank `rank`: the attribute, or reversed axes.
Result<std::vector<int64_t>> TransposePerm(const std::optional<std::vector<int64_t>>& attribute, int64_t rank) {
  std::vector<int64_t> perm;
  if (!attribute) {
    for (int64_t a = rank; a-- > 0;) perm.push_back(a);
    return perm;
  }
  if (static_cast<int64_t>(attribute->size()) != rank) {
    return core::InvalidArgument("perm {} has {} entries for an input of rank {}", core::ShapeToString(*attribute),
                                 attribute->size(), rank);
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t axis : *attribute) {
    if (axis < 0 || axis >= rank || seen[axis]) {
      return core::InvalidArgument("perm {} is not a permutation of 0..{}", core::ShapeToString(*attribute), rank - 1);
    }
    seen[axis] = true;
  }
  return *attribute;
}

std::optional<std::vector<int64_t>> PermAttribute(const Node& node) {
  if (!node.HasAttribute("perm")) return std::nullopt;
  return node.GetInts("perm");
}

Status InferTranspose(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  if (!input) {
    auto perm = PermAttribute(context.node());
    if (perm) {
      context.set_output_type(0, ValueType::TensorOfRank(dtype, static_cast<int64_t>(perm->size())));
    } else {
      SetUnknownShape(context, 0, dtype);
    }
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> perm,
                   TransposePerm(PermAttribute(context.node()), static_cast<int64_t>(input->size())));
  std::vector<Dimension> dims;
  for (int64_t axis : perm) dims.push_back((*input)[axis]);
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateTranspose(KernelBuildContext& build) {
  auto attribute = PermAttribute(build.node());
  if (attribute) RETURN_IF_ERROR(TransposePerm(attribute, static_cast<int64_t>(attribute->size())).status());
  return MakeFunctionKernel([attribute](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(std::vector<int64_t> perm, TransposePerm(attribute, data->rank()));
    const std::vector<StridedAxis> input_axes = ContiguousAxes(data->shape());
    std::vector<StridedAxis> axes;
    TensorShape shape;
    for (int64_t axis : perm) {
      axes.push_back(input_axes[axis]);
      shape.push_back(data->dim(axis));
    }
    return EmitView(context, *data, std::move(shape), axes);
  });
}

// ----------------------------------------------------------------------------
// Expand: bidirectional broadcast of the input to a shape.

Result<TensorShape> ExpandShape(const TensorShape& input, std::span<const int64_t> requested) {
  for (int64_t d : requested) {
    if (d < 0) return core::InvalidArgument("shape {} has a negative dimension", core::ShapeToString(requested));
  }
  return core::BroadcastShapes(input, requested);
}

Status InferExpand(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  auto requested = ConstantInt64s(context, 1);
  if (input && requested) {
    ASSIGN_OR_RETURN(TensorShape shape, ExpandShape(DimsToShape(*input), *requested));
    context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
    return Status::Ok();
  }
  auto shape_dims = InputDims(context, 1);
  if (input && shape_dims && shape_dims->size() == 1 && (*shape_dims)[0].known()) {
    // Only the rank is known, and any input dim above 1 (it cannot change).
    const size_t rank = std::max<size_t>(input->size(), static_cast<size_t>((*shape_dims)[0].value));
    std::vector<Dimension> dims(rank);
    for (size_t i = 0; i < input->size(); ++i) {
      const Dimension& d = (*input)[i];
      if (d.known() && d.value > 1) dims[rank - input->size() + i] = d;
    }
    context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
    return Status::Ok();
  }
  SetUnknownShape(context, 0, dtype);
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateExpand(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* shape_input, RequireTensor(context, 1, "shape"));
    ASSIGN_OR_RETURN(std::vector<int64_t> requested, ReadShapeInput(*shape_input, "shape"));
    ASSIGN_OR_RETURN(TensorShape shape, ExpandShape(data->shape(), requested));
    const size_t offset = shape.size() - data->shape().size();
    const std::vector<StridedAxis> input_axes = ContiguousAxes(data->shape());
    std::vector<StridedAxis> axes;
    for (size_t a = 0; a < shape.size(); ++a) {
      const bool broadcast = a < offset || data->dim(static_cast<int64_t>(a - offset)) == 1;
      axes.push_back({shape[a], broadcast ? 0 : input_axes[a - offset].stride});
    }
    return EmitView(context, *data, std::move(shape), axes);
  });
}

// ----------------------------------------------------------------------------
// Tile: repeats[i] copies of the input along axis i. Tile-1 took a single
// repeat count and an axis as inputs.

Result<TensorShape> TileShape(const TensorShape& input, std::span<const int64_t> repeats) {
  if (repeats.size() != input.size()) {
    return core::InvalidArgument("repeats has {} values for an input of rank {}", repeats.size(), input.size());
  }
  TensorShape shape(input.size());
  for (size_t a = 0; a < input.size(); ++a) {
    if (repeats[a] < 0) return core::InvalidArgument("repeats[{}] is negative ({})", a, repeats[a]);
    ASSIGN_OR_RETURN(shape[a], core::CheckedElementCount(std::vector<int64_t>{input[a], repeats[a]}));
  }
  RETURN_IF_ERROR(core::CheckedElementCount(shape).status());
  return shape;
}

Status InferTile(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  if (!input) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  auto repeats = context.opset() >= 6 ? ConstantInt64s(context, 1) : std::nullopt;
  if (!repeats) {
    context.set_output_type(0, ValueType::TensorOfRank(dtype, static_cast<int64_t>(input->size())));
    return Status::Ok();
  }
  if (repeats->size() != input->size()) {
    return core::InvalidArgument("repeats has {} values for an input of rank {}", repeats->size(), input->size());
  }
  std::vector<Dimension> dims;
  for (size_t a = 0; a < input->size(); ++a) {
    const Dimension& d = (*input)[a];
    const int64_t r = (*repeats)[a];
    if (r < 0) return core::InvalidArgument("repeats[{}] is negative ({})", a, r);
    if (r == 1 || !d.known()) {
      // Once keeps the dim (and its symbol); unknown times r stays unknown.
      dims.push_back(r == 1 ? d : (r == 0 ? KnownDim(0) : Dimension{}));
      continue;
    }
    ASSIGN_OR_RETURN(int64_t tiled, core::CheckedElementCount(std::vector<int64_t>{d.value, r}));
    dims.push_back(KnownDim(tiled));
  }
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateTile(KernelBuildContext& build) {
  return MakeFunctionKernel([opset = build.opset()](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "input"));
    std::vector<int64_t> repeats;
    if (opset < 6) {
      ASSIGN_OR_RETURN(const Tensor* tiles, RequireTensor(context, 1, "tiles"));
      ASSIGN_OR_RETURN(const Tensor* axis_input, RequireTensor(context, 2, "axis"));
      ASSIGN_OR_RETURN(int64_t count, ReadScalarInput(*tiles, "tiles"));
      ASSIGN_OR_RETURN(int64_t axis, ReadScalarInput(*axis_input, "axis"));
      ASSIGN_OR_RETURN(axis, core::NormalizeAxis(axis, data->rank()));
      repeats.assign(static_cast<size_t>(data->rank()), 1);
      repeats[axis] = count;
    } else {
      ASSIGN_OR_RETURN(const Tensor* repeats_input, RequireTensor(context, 1, "repeats"));
      ASSIGN_OR_RETURN(repeats, ReadShapeInput(*repeats_input, "repeats"));
    }
    ASSIGN_OR_RETURN(TensorShape shape, TileShape(data->shape(), repeats));
    // Each axis becomes (repeat, dim): the repeat index has stride 0.
    const std::vector<StridedAxis> input_axes = ContiguousAxes(data->shape());
    std::vector<StridedAxis> axes;
    for (size_t a = 0; a < shape.size(); ++a) {
      axes.push_back({repeats[a], 0});
      axes.push_back(input_axes[a]);
    }
    return EmitView(context, *data, std::move(shape), axes);
  });
}

// ----------------------------------------------------------------------------
// DepthToSpace / SpaceToDepth on NCHW.

enum class DepthMode { kDcr, kCrd };

struct BlockParams {
  int64_t block = 0;
  DepthMode mode = DepthMode::kDcr;
};

Result<BlockParams> ParseBlockParams(const Node& node, int opset, bool depth_to_space) {
  BlockParams params;
  if (!node.HasAttribute("blocksize")) return core::InvalidArgument("missing 'blocksize' attribute");
  params.block = node.GetInt("blocksize", 0);
  if (params.block <= 0) return core::InvalidArgument("blocksize must be positive, got {}", params.block);
  if (depth_to_space && opset >= 11) {
    const std::string mode = node.GetString("mode", "DCR");
    if (mode == "CRD") {
      params.mode = DepthMode::kCrd;
    } else if (mode != "DCR") {
      return core::InvalidArgument("mode '{}' is not DCR or CRD", mode);
    }
  }
  return params;
}

Result<TensorShape> BlockOutputShape(const TensorShape& input, int64_t block, bool depth_to_space) {
  if (input.size() != 4) return core::InvalidArgument("input must be 4-D (NCHW), got {}", core::ShapeToString(input));
  const int64_t n = input[0], c = input[1], h = input[2], w = input[3];
  ASSIGN_OR_RETURN(int64_t area, core::CheckedElementCount(std::vector<int64_t>{block, block}));
  if (depth_to_space) {
    if (c >= 0 && c % area != 0) {
      return core::InvalidArgument("channels {} are not divisible by blocksize^2 = {}", c, area);
    }
    TensorShape shape = {n, c < 0 ? -1 : c / area, -1, -1};
    if (h >= 0) {
      ASSIGN_OR_RETURN(shape[2], core::CheckedElementCount(std::vector<int64_t>{h, block}));
    }
    if (w >= 0) {
      ASSIGN_OR_RETURN(shape[3], core::CheckedElementCount(std::vector<int64_t>{w, block}));
    }
    return shape;
  }
  if ((h >= 0 && h % block != 0) || (w >= 0 && w % block != 0)) {
    return core::InvalidArgument("height {} and width {} must be divisible by blocksize {}", h, w, block);
  }
  int64_t depth = -1;
  if (c >= 0) {
    ASSIGN_OR_RETURN(depth, core::CheckedElementCount(std::vector<int64_t>{c, area}));
  }
  return TensorShape{n, depth, h < 0 ? -1 : h / block, w < 0 ? -1 : w / block};
}

template <bool kDepthToSpace>
Status InferBlock(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  ASSIGN_OR_RETURN(BlockParams params, ParseBlockParams(context.node(), context.opset(), kDepthToSpace));
  auto input = InputDims(context, 0);
  if (!input) {
    context.set_output_type(0, ValueType::TensorOfRank(dtype, 4));
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(TensorShape shape, BlockOutputShape(DimsToShape(*input), params.block, kDepthToSpace));
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  return Status::Ok();
}

template <bool kDepthToSpace>
Result<std::unique_ptr<Kernel>> CreateBlock(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(BlockParams params, ParseBlockParams(build.node(), build.opset(), kDepthToSpace));
  return MakeFunctionKernel([params](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(TensorShape shape, BlockOutputShape(data->shape(), params.block, kDepthToSpace));
    const int64_t b = params.block;
    const int64_t n = data->dim(0), c = data->dim(1), h = data->dim(2), w = data->dim(3);
    const int64_t hw = h * w;
    std::vector<StridedAxis> axes;
    if (kDepthToSpace) {
      // Output [N, C', H, b, W, b] read from input channels split as
      // (b, b, C') in DCR mode or (C', b, b) in CRD mode.
      const int64_t depth = c / (b * b);
      const int64_t row_block = params.mode == DepthMode::kDcr ? b * depth * hw : b * hw;
      const int64_t col_block = params.mode == DepthMode::kDcr ? depth * hw : hw;
      const int64_t channel = params.mode == DepthMode::kDcr ? hw : b * b * hw;
      axes = {{n, c * hw}, {depth, channel}, {h, w}, {b, row_block}, {w, 1}, {b, col_block}};
    } else {
      // Output [N, b, b, C, H', W'] read from input rows split as (H', b)
      // and columns as (W', b).
      axes = {{n, c * hw}, {b, w}, {b, 1}, {c, hw}, {h / b, b * w}, {w / b, b}};
    }
    return EmitView(context, *data, std::move(shape), axes);
  });
}

}  // namespace

void RegisterShapeLayoutKernels(OpRegistry& registry) {
  registry.Register("", "Transpose", {1, 13, 21}, InferTranspose, CreateTranspose);
  registry.Register("", "Expand", {8, 13}, InferExpand, CreateExpand);
  registry.Register("", "Tile", {1, 6, 13}, InferTile, CreateTile);
  registry.Register("", "DepthToSpace", {1, 11, 13}, InferBlock<true>, CreateBlock<true>);
  registry.Register("", "SpaceToDepth", {1, 13}, InferBlock<false>, CreateBlock<false>);
}

}  // namespace berth::engine

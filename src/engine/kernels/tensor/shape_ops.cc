// Shape ops that never touch element data: Reshape, Squeeze, Unsqueeze and
// Flatten return views sharing the input's storage; Shape and Size read only
// the shape. The layout-changing ops live in shape_layout.cc, Slice / Split /
// Concat in shape_slice.cc and Pad in shape_pad.cc.
#include <algorithm>

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

// Reshape's output dims. `input` is empty when its rank is unknown (static
// inference); unknown input dims, and what depends on them, stay unknown.
Result<std::vector<Dimension>> ReshapeDims(const std::optional<std::vector<Dimension>>& input,
                                           std::span<const int64_t> requested, bool allow_zero) {
  std::vector<Dimension> out(requested.size());
  int64_t infer_axis = -1;
  for (size_t i = 0; i < requested.size(); ++i) {
    const int64_t d = requested[i];
    if (d == -1) {
      if (infer_axis >= 0)
        return core::InvalidArgument("shape {} has more than one -1", core::ShapeToString(requested));
      infer_axis = static_cast<int64_t>(i);
    } else if (d < -1) {
      return core::InvalidArgument("shape {} has invalid value {}", core::ShapeToString(requested), d);
    } else if (d == 0 && !allow_zero) {
      // 0 copies the input's dimension at the same index.
      if (input) {
        if (i >= input->size()) {
          return core::InvalidArgument("shape {} copies dimension {} (0) but the input has rank {}",
                                       core::ShapeToString(requested), i, input->size());
        }
        out[i] = (*input)[i];
      }
    } else {
      out[i] = KnownDim(d);
    }
  }
  if (infer_axis >= 0 && input) {
    // -1 takes what the other dims leave, once everything else is known.
    bool known = std::all_of(input->begin(), input->end(), [](const Dimension& d) { return d.known(); });
    std::vector<int64_t> others;
    for (size_t i = 0; i < out.size() && known; ++i) {
      if (static_cast<int64_t>(i) == infer_axis) continue;
      known = out[i].known();
      others.push_back(out[i].value);
    }
    if (known) {
      ASSIGN_OR_RETURN(int64_t total, core::CheckedElementCount(DimsToShape(*input)));
      ASSIGN_OR_RETURN(int64_t rest, core::CheckedElementCount(others));
      if (rest == 0) {
        return core::InvalidArgument("shape {}: the -1 dimension is ambiguous when other dimensions are 0",
                                     core::ShapeToString(requested));
      }
      if (total % rest != 0) {
        return core::InvalidArgument("cannot reshape {} elements to {}", total, core::ShapeToString(requested));
      }
      out[infer_axis] = KnownDim(total / rest);
    }
  }
  return out;
}

bool ReshapeAllowsZero(const Node& node, int opset) { return opset >= 14 && node.GetInt("allowzero", 0) != 0; }

Status InferReshape(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  std::optional<std::vector<int64_t>> requested;
  if (context.opset() < 5) {
    requested = context.node().GetInts("shape");
  } else {
    requested = ConstantInt64s(context, 1);
  }
  if (!requested) {
    // The shape input's length still gives the rank.
    auto shape_dims = InputDims(context, 1);
    if (shape_dims && shape_dims->size() == 1 && (*shape_dims)[0].known()) {
      context.set_output_type(0, ValueType::TensorOfRank(dtype, (*shape_dims)[0].value));
    } else {
      SetUnknownShape(context, 0, dtype);
    }
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<Dimension> dims,
                   ReshapeDims(InputDims(context, 0), *requested, ReshapeAllowsZero(context.node(), context.opset())));
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateReshape(KernelBuildContext& build) {
  const bool allow_zero = ReshapeAllowsZero(build.node(), build.opset());
  std::optional<std::vector<int64_t>> attribute_shape;
  if (build.opset() < 5) {
    if (!build.node().HasAttribute("shape")) return core::InvalidArgument("Reshape-1 needs a 'shape' attribute");
    attribute_shape = build.node().GetInts("shape");
  }
  return MakeFunctionKernel([allow_zero, attribute_shape](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    std::vector<int64_t> requested;
    if (attribute_shape) {
      requested = *attribute_shape;
    } else {
      ASSIGN_OR_RETURN(const Tensor* shape, RequireTensor(context, 1, "shape"));
      ASSIGN_OR_RETURN(requested, ReadShapeInput(*shape, "shape"));
    }
    ASSIGN_OR_RETURN(std::vector<Dimension> dims, ReshapeDims(ShapeToDims(data->shape()), requested, allow_zero));
    ASSIGN_OR_RETURN(Tensor view, data->Reshaped(DimsToShape(dims)));
    context.SetOutput(0, std::move(view));
    return Status::Ok();
  });
}

// ----------------------------------------------------------------------------
// Squeeze / Unsqueeze: axes are an attribute before opset 13, an input after.

Result<std::optional<std::vector<int64_t>>> KernelAxes(KernelContext& context, int input_index,
                                                       const std::optional<std::vector<int64_t>>& attribute) {
  if (attribute) return attribute;
  const Tensor* axes = context.input_tensor(input_index);
  if (!axes) return std::optional<std::vector<int64_t>>();
  ASSIGN_OR_RETURN(std::vector<int64_t> values, ReadShapeInput(*axes, "axes"));
  return std::optional<std::vector<int64_t>>(std::move(values));
}

// Known axes for inference: (known?, axes or nullopt when absent).
std::pair<bool, std::optional<std::vector<int64_t>>> InferAxes(const InferenceContext& context, int input_index) {
  if (context.opset() < 13) {
    if (!context.node().HasAttribute("axes")) return {true, std::nullopt};
    return {true, context.node().GetInts("axes")};
  }
  if (!context.has_input(input_index)) return {true, std::nullopt};
  auto axes = ConstantInt64s(context, input_index);
  if (!axes) return {false, std::nullopt};
  return {true, std::move(axes)};
}

std::optional<std::vector<int64_t>> AttributeAxes(const KernelBuildContext& build) {
  if (build.opset() >= 13 || !build.node().HasAttribute("axes")) return std::nullopt;
  return build.node().GetInts("axes");
}

// Squeeze's output dims; nullopt when they cannot be known statically (no
// axes and an unknown dim that might be 1).
Result<std::optional<std::vector<Dimension>>> SqueezeDims(const std::vector<Dimension>& input,
                                                          const std::optional<std::vector<int64_t>>& axes) {
  std::vector<Dimension> out;
  const int64_t rank = static_cast<int64_t>(input.size());
  if (!axes) {
    for (const Dimension& d : input) {
      if (!d.known()) return std::optional<std::vector<Dimension>>();
      if (d.value != 1) out.push_back(d);
    }
    return std::optional<std::vector<Dimension>>(std::move(out));
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> normalized, NormalizeAxisList(*axes, rank, "axes"));
  std::vector<bool> removed(input.size(), false);
  for (int64_t axis : normalized) {
    if (input[axis].known() && input[axis].value != 1) {
      return core::InvalidArgument("cannot squeeze axis {} of size {}", axis, input[axis].value);
    }
    removed[axis] = true;
  }
  for (size_t a = 0; a < input.size(); ++a) {
    if (!removed[a]) out.push_back(input[a]);
  }
  return std::optional<std::vector<Dimension>>(std::move(out));
}

Result<std::vector<Dimension>> UnsqueezeDims(const std::vector<Dimension>& input, std::span<const int64_t> axes) {
  const int64_t out_rank = static_cast<int64_t>(input.size() + axes.size());
  ASSIGN_OR_RETURN(std::vector<int64_t> normalized, NormalizeAxisList(axes, out_rank, "axes"));
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t axis : normalized) inserted[axis] = true;
  std::vector<Dimension> out;
  out.reserve(static_cast<size_t>(out_rank));
  size_t next = 0;
  for (int64_t a = 0; a < out_rank; ++a) out.push_back(inserted[a] ? KnownDim(1) : input[next++]);
  return out;
}

Status InferSqueeze(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  auto [known, axes] = InferAxes(context, 1);
  if (!input || !known) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(auto dims, SqueezeDims(*input, axes));
  context.set_output_type(0, dims ? ValueType::Tensor(dtype, std::move(*dims)) : ValueType::TensorUnknownShape(dtype));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSqueeze(KernelBuildContext& build) {
  return MakeFunctionKernel([attribute = AttributeAxes(build)](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(auto axes, KernelAxes(context, 1, attribute));
    ASSIGN_OR_RETURN(auto dims, SqueezeDims(ShapeToDims(data->shape()), axes));
    ASSIGN_OR_RETURN(Tensor view, data->Reshaped(DimsToShape(*dims)));
    context.SetOutput(0, std::move(view));
    return Status::Ok();
  });
}

Status InferUnsqueeze(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  auto [known, axes] = InferAxes(context, 1);
  if (!input || !known || !axes) {
    // Without the axes only their count could give the rank; keep it simple.
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<Dimension> dims, UnsqueezeDims(*input, *axes));
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateUnsqueeze(KernelBuildContext& build) {
  auto attribute = AttributeAxes(build);
  if (build.opset() < 13 && !attribute) return core::InvalidArgument("Unsqueeze needs an 'axes' attribute");
  return MakeFunctionKernel([attribute](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(auto axes, KernelAxes(context, 1, attribute));
    if (!axes) return core::InvalidArgument("input 1 (axes) is missing");
    ASSIGN_OR_RETURN(std::vector<Dimension> dims, UnsqueezeDims(ShapeToDims(data->shape()), *axes));
    ASSIGN_OR_RETURN(Tensor view, data->Reshaped(DimsToShape(dims)));
    context.SetOutput(0, std::move(view));
    return Status::Ok();
  });
}

// ----------------------------------------------------------------------------
// Flatten: [d0..d(axis-1)] x [d(axis)..] as a 2-D view.

Result<std::vector<Dimension>> FlattenDims(const std::vector<Dimension>& input, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(input.size());
  if (axis < -rank || axis > rank) return core::InvalidArgument("axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  std::vector<Dimension> out(2, KnownDim(1));
  for (int64_t a = 0; a < rank; ++a) {
    Dimension& target = out[a < axis ? 0 : 1];
    if (!target.known()) continue;
    if (!input[a].known()) {
      target = Dimension{};
    } else {
      ASSIGN_OR_RETURN(target.value, core::CheckedElementCount(std::vector<int64_t>{target.value, input[a].value}));
    }
  }
  // A zero dim makes the product zero even next to unknown dims.
  for (int64_t a = 0; a < rank; ++a) {
    if (input[a].known() && input[a].value == 0) out[a < axis ? 0 : 1] = KnownDim(0);
  }
  return out;
}

Status InferFlatten(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  if (!input) {
    context.set_output_type(0, ValueType::TensorOfRank(dtype, 2));
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::vector<Dimension> dims, FlattenDims(*input, context.node().GetInt("axis", 1)));
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateFlatten(KernelBuildContext& build) {
  return MakeFunctionKernel([axis = build.node().GetInt("axis", 1)](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(std::vector<Dimension> dims, FlattenDims(ShapeToDims(data->shape()), axis));
    ASSIGN_OR_RETURN(Tensor view, data->Reshaped(DimsToShape(dims)));
    context.SetOutput(0, std::move(view));
    return Status::Ok();
  });
}

// ----------------------------------------------------------------------------
// Shape (start/end from opset 15) and Size.

// Shape's start/end attributes (opset 15); end is absent for "to the last".
struct ShapeBounds {
  int64_t start = 0;
  std::optional<int64_t> end;

  static ShapeBounds FromNode(const Node& node, int opset) {
    ShapeBounds bounds;
    if (opset < 15) return bounds;
    bounds.start = node.GetInt("start", 0);
    if (node.HasAttribute("end")) bounds.end = node.GetInt("end", 0);
    return bounds;
  }
  // [start, end) of the dims reported, both clamped into [0, rank].
  std::pair<int64_t, int64_t> Range(int64_t rank) const {
    auto clamp = [rank](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    const int64_t first = clamp(start);
    const int64_t last = end ? clamp(*end) : rank;
    return {first, std::max(first, last)};
  }
};

Status InferShape(InferenceContext& context) {
  auto input = InputDims(context, 0);
  if (!input) {
    context.set_output_type(0, ValueType::TensorOfRank(DataType::kInt64, 1));
    return Status::Ok();
  }
  auto [start, end] = ShapeBounds::FromNode(context.node(), context.opset()).Range(static_cast<int64_t>(input->size()));
  context.set_output_type(0, ValueType::TensorFromShape(DataType::kInt64, {end - start}));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateShape(KernelBuildContext& build) {
  return MakeFunctionKernel(
      [bounds = ShapeBounds::FromNode(build.node(), build.opset())](KernelContext& context) -> Status {
        const core::Value* value = context.input(0);
        if (!value || !value->is_tensor()) return core::InvalidArgument("input 0 (data) is missing or not a tensor");
        const TensorShape& shape = value->tensor().shape();
        auto [start, end] = bounds.Range(static_cast<int64_t>(shape.size()));
        ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kInt64, {end - start}));
        std::copy(shape.begin() + start, shape.begin() + end, out->data<int64_t>());
        return Status::Ok();
      });
}

Status InferSize(InferenceContext& context) {
  context.set_output_type(0, ValueType::TensorFromShape(DataType::kInt64, {}));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSize(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kInt64, {}));
    out->data<int64_t>()[0] = data->element_count();
    return Status::Ok();
  });
}

}  // namespace

void RegisterShapeKernels(OpRegistry& registry) {
  registry.Register("", "Reshape", {1, 5, 13, 14, 19, 21}, InferReshape, CreateReshape);
  registry.Register("", "Squeeze", {1, 11, 13, 21}, InferSqueeze, CreateSqueeze);
  registry.Register("", "Unsqueeze", {1, 11, 13, 21}, InferUnsqueeze, CreateUnsqueeze);
  registry.Register("", "Flatten", {1, 9, 11, 13, 21}, InferFlatten, CreateFlatten);
  registry.Register("", "Shape", {1, 13, 15, 19, 21}, InferShape, CreateShape);
  registry.Register("", "Size", {1, 13, 19, 21}, InferSize, CreateSize);
}

}  // namespace berth::engine

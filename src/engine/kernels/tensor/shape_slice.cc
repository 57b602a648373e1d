// Slice, Split and Concat: ops that cut a tensor into blocks or glue blocks
// together along one axis. Blocks are contiguous runs, copied whole.
#include <numeric>

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

// Product of dims [begin, end) of a validated shape.
int64_t DimProduct(const TensorShape& shape, size_t begin, size_t end) {
  int64_t product = 1;
  for (size_t a = begin; a < end; ++a) product *= shape[a];
  return product;
}

// ----------------------------------------------------------------------------
// Slice: attributes starts/ends/axes before opset 10; inputs starts, ends,
// axes, steps from opset 10.

struct SliceSpec {
  std::vector<int64_t> starts;
  std::vector<int64_t> ends;
  std::optional<std::vector<int64_t>> axes;
  std::optional<std::vector<int64_t>> steps;
};

// Where one sliced axis begins, its step and how many elements it keeps.
struct SliceRange {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
  bool sliced = false;  // named by the slice (else the whole axis)
};

// Clamps start/end into the axis following the ONNX rules (which differ for
// negative steps) and counts the elements kept.
SliceRange ClampSlice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  SliceRange range;
  range.step = step;
  uint64_t distance = 0;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    distance = end > start ? static_cast<uint64_t>(end - start) : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    distance = start > end ? static_cast<uint64_t>(start - end) : 0;
  }
  // |step| as unsigned: step may be INT64_MIN.
  const uint64_t magnitude = step > 0 ? static_cast<uint64_t>(step) : uint64_t{0} - static_cast<uint64_t>(step);
  range.start = std::max<int64_t>(start, 0);
  range.count = distance == 0 ? 0 : static_cast<int64_t>(1 + (distance - 1) / magnitude);
  return range;
}

// Per-axis ranges of the slice of a rank-`rank` tensor; `shape` gives the
// dims (entries may be -1 during inference: those ranges get count -1).
Result<std::vector<SliceRange>> SliceRanges(const SliceSpec& spec, const TensorShape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const size_t n = spec.starts.size();
  if (spec.ends.size() != n) {
    return core::InvalidArgument("starts has {} values but ends has {}", n, spec.ends.size());
  }
  std::vector<int64_t> axes;
  if (spec.axes) {
    if (spec.axes->size() != n) return core::InvalidArgument("axes has {} values, starts {}", spec.axes->size(), n);
    ASSIGN_OR_RETURN(axes, NormalizeAxisList(*spec.axes, rank, "axes"));
  } else {
    if (static_cast<int64_t>(n) > rank) return core::InvalidArgument("{} starts for an input of rank {}", n, rank);
    axes.resize(n);
    std::iota(axes.begin(), axes.end(), 0);
  }
  if (spec.steps && spec.steps->size() != n) {
    return core::InvalidArgument("steps has {} values, starts {}", spec.steps->size(), n);
  }
  std::vector<SliceRange> ranges(static_cast<size_t>(rank));
  for (int64_t a = 0; a < rank; ++a) ranges[a] = {0, 1, shape[a], false};
  for (size_t i = 0; i < n; ++i) {
    const int64_t step = spec.steps ? (*spec.steps)[i] : 1;
    if (step == 0) return core::InvalidArgument("steps[{}] is 0", i);
    const int64_t dim = shape[axes[i]];
    if (dim < 0) {
      ranges[axes[i]] = {0, step, -1, true};
      continue;
    }
    ranges[axes[i]] = ClampSlice(spec.starts[i], spec.ends[i], step, dim);
    ranges[axes[i]].sliced = true;
  }
  return ranges;
}

Status InferSlice(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  if (!input) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  SliceSpec spec;
  if (context.opset() < 10) {
    spec.starts = context.node().GetInts("starts");
    spec.ends = context.node().GetInts("ends");
    if (context.node().HasAttribute("axes")) spec.axes = context.node().GetInts("axes");
  } else {
    auto starts = ConstantInt64s(context, 1);
    auto ends = ConstantInt64s(context, 2);
    auto axes = context.has_input(3) ? ConstantInt64s(context, 3) : std::nullopt;
    auto steps = context.has_input(4) ? ConstantInt64s(context, 4) : std::nullopt;
    if (!starts || !ends || (context.has_input(3) && !axes) || (context.has_input(4) && !steps)) {
      // Axes alone still tell which dims keep their size.
      std::vector<Dimension> dims = *input;
      if (axes) {
        ASSIGN_OR_RETURN(std::vector<int64_t> normalized,
                         NormalizeAxisList(*axes, static_cast<int64_t>(dims.size()), "axes"));
        for (int64_t axis : normalized) dims[axis] = Dimension{};
      } else {
        dims.assign(dims.size(), Dimension{});
      }
      context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
      return Status::Ok();
    }
    spec = {std::move(*starts), std::move(*ends), std::move(axes), std::move(steps)};
  }
  ASSIGN_OR_RETURN(std::vector<SliceRange> ranges, SliceRanges(spec, DimsToShape(*input)));
  std::vector<Dimension> dims = *input;
  for (size_t a = 0; a < dims.size(); ++a) {
    // Axes the slice does not name keep their symbol.
    if (ranges[a].sliced) dims[a] = KnownDim(ranges[a].count);
  }
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSlice(KernelBuildContext& build) {
  std::optional<SliceSpec> attributes;
  if (build.opset() < 10) {
    const Node& node = build.node();
    if (!node.HasAttribute("starts") || !node.HasAttribute("ends")) {
      return core::InvalidArgument("Slice-1 needs 'starts' and 'ends' attributes");
    }
    attributes = SliceSpec{node.GetInts("starts"), node.GetInts("ends"), std::nullopt, std::nullopt};
    if (node.HasAttribute("axes")) attributes->axes = node.GetInts("axes");
  }
  return MakeFunctionKernel([attributes](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    SliceSpec spec;
    if (attributes) {
      spec = *attributes;
    } else {
      ASSIGN_OR_RETURN(const Tensor* starts, RequireTensor(context, 1, "starts"));
      ASSIGN_OR_RETURN(const Tensor* ends, RequireTensor(context, 2, "ends"));
      ASSIGN_OR_RETURN(spec.starts, ReadShapeInput(*starts, "starts"));
      ASSIGN_OR_RETURN(spec.ends, ReadShapeInput(*ends, "ends"));
      if (const Tensor* axes = context.input_tensor(3)) {
        ASSIGN_OR_RETURN(spec.axes, ReadShapeInput(*axes, "axes"));
      }
      if (const Tensor* steps = context.input_tensor(4)) {
        ASSIGN_OR_RETURN(spec.steps, ReadShapeInput(*steps, "steps"));
      }
    }
    ASSIGN_OR_RETURN(std::vector<SliceRange> ranges, SliceRanges(spec, data->shape()));
    TensorShape shape;
    std::vector<StridedAxis> axes;
    const std::vector<StridedAxis> input_axes = ContiguousAxes(data->shape());
    int64_t offset = 0;
    for (size_t a = 0; a < ranges.size(); ++a) {
      shape.push_back(ranges[a].count);
      // With at most one element kept the step never applies (and could overflow).
      const int64_t stride = ranges[a].count > 1 ? input_axes[a].stride * ranges[a].step : input_axes[a].stride;
      axes.push_back({ranges[a].count, stride});
      offset += ranges[a].start * input_axes[a].stride;
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), std::move(shape)));
    if (out->element_count() == 0) return Status::Ok();
    return CopyStridedView(data->dtype(), ElementAddress(*data, offset), out->raw_data(), axes);
  });
}

// ----------------------------------------------------------------------------
// Split: sizes from the 'split' attribute (< 13) or input (>= 13), from
// num_outputs (>= 18), or equal parts.

struct SplitParams {
  int64_t axis = 0;
  std::optional<std::vector<int64_t>> split;  // attribute form
  std::optional<int64_t> num_outputs;
};

Result<SplitParams> ParseSplit(const Node& node, int opset) {
  SplitParams params;
  params.axis = node.GetInt("axis", 0);
  if (opset < 13 && node.HasAttribute("split")) params.split = node.GetInts("split");
  if (opset >= 18 && node.HasAttribute("num_outputs")) {
    params.num_outputs = node.GetInt("num_outputs", 0);
    if (*params.num_outputs <= 0)
      return core::InvalidArgument("num_outputs must be positive, got {}", *params.num_outputs);
  }
  return params;
}

// Sum of split sizes; error for negative sizes or an overflowing sum.
Result<int64_t> SumOfSizes(std::span<const int64_t> sizes) {
  int64_t total = 0;
  for (int64_t size : sizes) {
    if (size < 0) return core::InvalidArgument("split size {} is negative", size);
    if (__builtin_add_overflow(total, size, &total)) return core::InvalidArgument("split sizes overflow");
  }
  return total;
}

// Sizes of the parts along an axis of extent `dim`; an empty `split` counts
// as absent (some exporters write one for "equal parts").
Result<std::vector<int64_t>> SplitSizes(const std::optional<std::vector<int64_t>>& split,
                                        std::optional<int64_t> num_outputs, int64_t outputs, int64_t dim) {
  if (split && !split->empty()) {
    if (static_cast<int64_t>(split->size()) != outputs) {
      return core::InvalidArgument("split has {} sizes for {} outputs", split->size(), outputs);
    }
    ASSIGN_OR_RETURN(int64_t total, SumOfSizes(*split));
    if (total != dim) {
      return core::InvalidArgument("split sizes {} sum to {}, not the dimension {}", core::ShapeToString(*split), total,
                                   dim);
    }
    return *split;
  }
  if (num_outputs) {
    if (*num_outputs != outputs) {
      return core::InvalidArgument("num_outputs is {} but the node has {} outputs", *num_outputs, outputs);
    }
    // Parts of ceil(dim / n); the last one takes what is left.
    const int64_t chunk = (dim + outputs - 1) / outputs;
    const int64_t last = dim - chunk * (outputs - 1);
    if (last < 0) return core::InvalidArgument("dimension {} cannot be split into {} parts", dim, outputs);
    std::vector<int64_t> sizes(static_cast<size_t>(outputs), chunk);
    sizes.back() = last;
    return sizes;
  }
  if (outputs <= 0 || dim % outputs != 0) {
    return core::InvalidArgument("dimension {} cannot be split evenly into {} outputs", dim, outputs);
  }
  return std::vector<int64_t>(static_cast<size_t>(outputs), dim / outputs);
}

Status InferSplit(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  const int outputs = context.output_count();
  if (!input) {
    for (int o = 0; o < outputs; ++o) SetUnknownShape(context, o, dtype);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(SplitParams params, ParseSplit(context.node(), context.opset()));
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(params.axis, static_cast<int64_t>(input->size())));
  std::optional<std::vector<int64_t>> split = params.split;
  bool known = true;
  if (context.opset() >= 13 && context.has_input(1)) {
    split = ConstantInt64s(context, 1);
    known = split.has_value();
  } else if (context.opset() < 2 && context.has_input(1)) {
    split = ConstantInt64s(context, 1);
    known = split.has_value();
  }
  const Dimension& dim = (*input)[axis];
  std::optional<std::vector<int64_t>> sizes;
  if (known && split && !split->empty()) {
    // Explicit sizes need no dim, but must add up to it when it is known.
    ASSIGN_OR_RETURN(int64_t total, SumOfSizes(*split));
    ASSIGN_OR_RETURN(sizes, SplitSizes(split, params.num_outputs, outputs, dim.known() ? dim.value : total));
  } else if (known && dim.known()) {
    ASSIGN_OR_RETURN(sizes, SplitSizes(split, params.num_outputs, outputs, dim.value));
  }
  for (int o = 0; o < outputs; ++o) {
    std::vector<Dimension> dims = *input;
    dims[axis] = sizes ? KnownDim((*sizes)[o]) : Dimension{};
    context.set_output_type(o, ValueType::Tensor(dtype, std::move(dims)));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSplit(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(SplitParams params, ParseSplit(build.node(), build.opset()));
  const bool split_input = build.opset() >= 13 || build.opset() < 2;
  return MakeFunctionKernel([params, split_input](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(params.axis, data->rank()));
    std::optional<std::vector<int64_t>> split = params.split;
    if (split_input) {
      if (const Tensor* split_tensor = context.input_tensor(1)) {
        ASSIGN_OR_RETURN(split, ReadShapeInput(*split_tensor, "split"));
      }
    }
    const int64_t dim = data->dim(axis);
    ASSIGN_OR_RETURN(std::vector<int64_t> sizes, SplitSizes(split, params.num_outputs, context.output_count(), dim));
    const TensorShape& shape = data->shape();
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t inner = DimProduct(shape, axis + 1, shape.size());
    int64_t begin = 0;
    for (int o = 0; o < context.output_count(); ++o) {
      TensorShape part = shape;
      part[axis] = sizes[o];
      const int64_t part_begin = begin;
      begin += sizes[o];
      if (!context.output_wanted(o)) continue;
      ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(o, data->dtype(), std::move(part)));
      if (out->element_count() == 0) continue;
      const std::vector<StridedAxis> axes = {{outer, dim * inner}, {sizes[o] * inner, 1}};
      RETURN_IF_ERROR(CopyStridedView(data->dtype(), ElementAddress(*data, part_begin * inner), out->raw_data(), axes));
    }
    return Status::Ok();
  });
}

// ----------------------------------------------------------------------------
// Concat

Status InferConcat(InferenceContext& context) {
  const int count = context.input_count();
  DataType dtype = DataType::kUndefined;
  std::optional<std::vector<Dimension>> dims;
  for (int i = 0; i < count && !dims; ++i) {
    if (dtype == DataType::kUndefined) dtype = InputDtype(context, i);
    dims = InputDims(context, i);
  }
  for (int i = 0; i < count && dtype == DataType::kUndefined; ++i) dtype = InputDtype(context, i);
  if (!dims) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  const int64_t rank = static_cast<int64_t>(dims->size());
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(context.node().GetInt("axis", 1), rank));
  int64_t total = 0;
  for (int i = 0; i < count; ++i) {
    auto other = InputDims(context, i);
    if (!other) {
      total = -1;
      continue;
    }
    if (static_cast<int64_t>(other->size()) != rank) {
      return core::InvalidArgument("input {} has rank {}, input 0 rank {}", i, other->size(), rank);
    }
    for (int64_t a = 0; a < rank; ++a) {
      if (a != axis && !(*dims)[a].known() && (*other)[a].known()) (*dims)[a] = (*other)[a];
    }
    if (total >= 0 && (!(*other)[axis].known() || __builtin_add_overflow(total, (*other)[axis].value, &total))) {
      total = -1;
    }
  }
  (*dims)[axis] = KnownDim(total);
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(*dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateConcat(KernelBuildContext& build) {
  if (build.opset() >= 4 && !build.node().HasAttribute("axis")) {
    return core::InvalidArgument("Concat needs an 'axis' attribute");
  }
  return MakeFunctionKernel([axis_attribute = build.node().GetInt("axis", 1)](KernelContext& context) -> Status {
    const int count = context.input_count();
    if (count == 0) return core::InvalidArgument("Concat has no inputs");
    std::vector<const Tensor*> inputs;
    for (int i = 0; i < count; ++i) {
      ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, i, "inputs"));
      inputs.push_back(input);
    }
    const Tensor& first = *inputs[0];
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(axis_attribute, first.rank()));
    TensorShape shape = first.shape();
    shape[axis] = 0;
    for (int i = 0; i < count; ++i) {
      const Tensor& input = *inputs[i];
      if (input.dtype() != first.dtype()) {
        return core::InvalidArgument("input {} is {} but input 0 is {}", i, core::DataTypeName(input.dtype()),
                                     core::DataTypeName(first.dtype()));
      }
      bool compatible = input.rank() == first.rank();
      for (int64_t a = 0; compatible && a < first.rank(); ++a) {
        if (a != axis && input.dim(a) != first.dim(a)) compatible = false;
      }
      if (!compatible) {
        return core::InvalidArgument("input {} has shape {}, incompatible with input 0 {} along axis {}", i,
                                     core::ShapeToString(input.shape()), core::ShapeToString(first.shape()), axis);
      }
      shape[axis] += input.dim(axis);
    }
    const int64_t outer = DimProduct(shape, 0, axis);
    const int64_t inner = DimProduct(shape, axis + 1, shape.size());
    const int64_t out_row = shape[axis] * inner;
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, first.dtype(), std::move(shape)));
    if (out->element_count() == 0) return Status::Ok();
    // Where each input's block starts inside an output row.
    std::vector<int64_t> row_offsets(count, 0);
    for (int i = 1; i < count; ++i) row_offsets[i] = row_offsets[i - 1] + inputs[i - 1]->dim(axis) * inner;
    return ForStorageType(first.dtype(), [&]<typename T>() {
      T* dst = out->data<T>();
      const int64_t units = outer * count;
      const int64_t grain = std::max<int64_t>(1, 16384 * count / std::max<int64_t>(out_row, 1));
      core::ParallelFor(units, grain, [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
          const int64_t row = unit / count;
          const int i = static_cast<int>(unit % count);
          const int64_t block = inputs[i]->dim(axis) * inner;
          std::copy_n(inputs[i]->data<T>() + row * block, block, dst + row * out_row + row_offsets[i]);
        }
      });
    });
  });
}

}  // namespace

void RegisterShapeSliceKernels(OpRegistry& registry) {
  registry.Register("", "Slice", {1, 10, 11, 13}, InferSlice, CreateSlice);
  registry.Register("", "Split", {1, 2, 11, 13, 18}, InferSplit, CreateSplit);
  registry.Register("", "Concat", {1, 4, 11, 13}, InferConcat, CreateConcat);
}

}  // namespace berth::engine

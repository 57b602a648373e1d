// Sequence ops: building, reading and editing sequences of tensors, and
// converting between a tensor and a sequence of its slices.
//
// Sequences are immutable values (core::TensorSequence behind a shared
// pointer): an op that "changes" one builds a new sequence sharing the
// element tensors, which are never written after they are made. An empty
// sequence still knows its element type (SequenceEmpty's dtype), so later
// inserts are checked against it.
#include <limits>
#include <optional>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/kernels/control_flow/control_flow_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorSequence;
using core::Value;

// Splitting makes one tensor per part; far more parts than any real model
// uses means a degenerate input (e.g. a huge dim of an empty tensor).
constexpr int64_t kMaxSplitParts = int64_t{1} << 24;

Result<const TensorSequence*> RequireSequence(const KernelContext& context, int index, std::string_view what) {
  const Value* value = context.input(index);
  if (!value) return core::InvalidArgument("input {} ({}) is missing", index, what);
  if (!value->is_sequence()) {
    return core::InvalidArgument("input {} ({}) must be a sequence, got {}", index, what, DescribeValue(*value));
  }
  return &value->sequence();
}

// Maps a position in [-size, size - 1] (or [-size, size] when `allow_end`) to
// an index; ONNX counts negative positions from the back.
Result<size_t> ResolvePosition(const Value* value, size_t size, bool allow_end) {
  ASSIGN_OR_RETURN(int64_t position, ReadScalarInteger(value, "position"));
  const auto n = static_cast<int64_t>(size);
  const int64_t last = allow_end ? n : n - 1;
  if (position < -n || position > last) {
    if (n == 0 && !allow_end) return core::OutOfRange("position {} is out of range: the sequence is empty", position);
    return core::OutOfRange("position {} is out of range [{}, {}] for a sequence of length {}", position, -n, last, n);
  }
  return static_cast<size_t>(position < 0 ? position + n : position);
}

Status CheckElementType(const TensorSequence& sequence, const Tensor& tensor) {
  if (sequence.element_type != DataType::kUndefined && tensor.dtype() != sequence.element_type) {
    return core::InvalidArgument("cannot put a {} tensor into a sequence of {}", core::DataTypeName(tensor.dtype()),
                                 core::DataTypeName(sequence.element_type));
  }
  return Status::Ok();
}

const ValueType& ElementTypeOf(const ValueType& sequence) {
  static const ValueType unknown;
  return sequence.kind == ValueType::Kind::kSequence && sequence.element ? *sequence.element : unknown;
}

// ---------------------------------------------------------------------------
// SequenceEmpty, SequenceConstruct, SequenceLength, SequenceAt, SequenceInsert, SequenceErase

Result<DataType> SequenceEmptyDtype(const Node& node) {
  const int64_t dtype = node.GetInt("dtype", static_cast<int64_t>(DataType::kFloat32));
  std::optional<DataType> parsed;
  if (dtype > 0 && dtype <= std::numeric_limits<int32_t>::max()) {
    parsed = core::DataTypeFromOnnx(static_cast<int32_t>(dtype));
  }
  if (!parsed) return core::InvalidArgument("attribute 'dtype' {} is not a tensor element type", dtype);
  return *parsed;
}

Status InferSequenceEmpty(InferenceContext& context) {
  ASSIGN_OR_RETURN(DataType dtype, SequenceEmptyDtype(context.node()));
  context.set_output_type(0, ValueType::Sequence(ValueType::TensorUnknownShape(dtype)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSequenceEmpty(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(DataType dtype, SequenceEmptyDtype(build.node()));
  return MakeFunctionKernel([dtype](KernelContext& context) -> Status {
    context.SetOutput(0, TensorSequence{dtype, {}});
    return Status::Ok();
  });
}

Status InferSequenceConstruct(InferenceContext& context) {
  if (context.input_count() == 0) return core::InvalidArgument("SequenceConstruct needs at least one input");
  ValueType element = context.input_type(0);
  for (int i = 1; i < context.input_count(); ++i) element = MergeValueTypes(element, context.input_type(i));
  context.set_output_type(0, ValueType::Sequence(std::move(element)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSequenceConstruct(KernelBuildContext& build) {
  if (build.node().inputs.empty()) return core::InvalidArgument("SequenceConstruct needs at least one input");
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    TensorSequence sequence;
    for (int i = 0; i < context.input_count(); ++i) {
      ASSIGN_OR_RETURN(const Tensor* tensor, RequireTensor(context, i, "element"));
      if (i == 0) sequence.element_type = tensor->dtype();
      Status status = CheckElementType(sequence, *tensor);
      if (!status.ok()) return status.WithContext(fmt::format("input {}", i));
      sequence.tensors.push_back(*tensor);
    }
    context.SetOutput(0, std::move(sequence));
    return Status::Ok();
  });
}

Result<std::unique_ptr<Kernel>> CreateSequenceLength(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const TensorSequence* sequence, RequireSequence(context, 0, "input_sequence"));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kInt64, {}));
    out->data<int64_t>()[0] = static_cast<int64_t>(sequence->tensors.size());
    return Status::Ok();
  });
}

Result<std::unique_ptr<Kernel>> CreateSequenceAt(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const TensorSequence* sequence, RequireSequence(context, 0, "input_sequence"));
    ASSIGN_OR_RETURN(size_t index, ResolvePosition(context.input(1), sequence->tensors.size(), false));
    context.SetOutput(0, sequence->tensors[index]);
    return Status::Ok();
  });
}

Status InferSequenceInsert(InferenceContext& context) {
  const ValueType& sequence = context.input_type(0);
  if (sequence.kind != ValueType::Kind::kSequence) {
    context.set_output_type(0, ValueType::Sequence(ValueType{}));
    return Status::Ok();
  }
  ValueType element = ElementTypeOf(sequence);
  // An unknown element type (an undeclared sequence) says nothing about shape.
  if (element.kind == ValueType::Kind::kUnknown) {
    element = ValueType::TensorUnknownShape(InputDtype(context, 1));
  } else {
    element = MergeValueTypes(element, context.input_type(1));
  }
  context.set_output_type(0, ValueType::Sequence(std::move(element)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateSequenceInsert(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const TensorSequence* sequence, RequireSequence(context, 0, "input_sequence"));
    ASSIGN_OR_RETURN(const Tensor* tensor, RequireTensor(context, 1, "tensor"));
    RETURN_IF_ERROR(CheckElementType(*sequence, *tensor));
    size_t index = sequence->tensors.size();
    if (context.input(2)) {
      ASSIGN_OR_RETURN(index, ResolvePosition(context.input(2), sequence->tensors.size(), true));
    }
    TensorSequence out;
    out.element_type = tensor->dtype();
    out.tensors.reserve(sequence->tensors.size() + 1);
    out.tensors.insert(out.tensors.end(), sequence->tensors.begin(), sequence->tensors.begin() + index);
    out.tensors.push_back(*tensor);
    out.tensors.insert(out.tensors.end(), sequence->tensors.begin() + index, sequence->tensors.end());
    context.SetOutput(0, std::move(out));
    return Status::Ok();
  });
}

Result<std::unique_ptr<Kernel>> CreateSequenceErase(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const TensorSequence* sequence, RequireSequence(context, 0, "input_sequence"));
    const size_t size = sequence->tensors.size();
    size_t index;
    if (context.input(1)) {
      ASSIGN_OR_RETURN(index, ResolvePosition(context.input(1), size, false));
    } else {
      if (size == 0) return core::OutOfRange("cannot erase from an empty sequence");
      index = size - 1;
    }
    TensorSequence out = *sequence;
    out.tensors.erase(out.tensors.begin() + static_cast<std::ptrdiff_t>(index));
    context.SetOutput(0, std::move(out));
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------
// SplitToSequence

Status InferSplitToSequence(InferenceContext& context) {
  const ValueType& input = context.input_type(0);
  const DataType dtype = InputDtype(context, 0);
  if (!input.is_tensor() || !input.has_shape) {
    context.set_output_type(0, ValueType::Sequence(ValueType::TensorUnknownShape(dtype)));
    return Status::Ok();
  }
  const auto rank = static_cast<int64_t>(input.dims.size());
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(context.node().GetInt("axis", 0), rank));
  ValueType element = input;
  Dimension& dim = element.dims[static_cast<size_t>(axis)];
  if (!context.has_input(1)) {
    if (context.node().GetInt("keepdims", 1) == 0) {
      element.dims.erase(element.dims.begin() + axis);
    } else {
      dim = Dimension{1, {}};
    }
  } else {
    // Parts have one known length only when every part has the same one.
    Dimension part;
    if (const Tensor* split = context.input_value(1); split && core::IsInteger(split->dtype())) {
      std::vector<int64_t> sizes = ReadInt64s(*split);
      if (split->rank() == 0 && sizes.size() == 1 && dim.known() && sizes[0] > 0 && dim.value % sizes[0] == 0) {
        part.value = sizes[0];
      } else if (split->rank() == 1 && !sizes.empty() &&
                 std::all_of(sizes.begin(), sizes.end(), [&](int64_t s) { return s == sizes[0] && s >= 0; })) {
        part.value = sizes[0];
      }
    }
    dim = part;
  }
  context.set_output_type(0, ValueType::Sequence(std::move(element)));
  return Status::Ok();
}

// Part lengths along the split axis of extent `extent`.
Result<std::vector<int64_t>> SplitLengths(const Tensor* split, int64_t extent) {
  std::vector<int64_t> lengths;
  if (!split) {
    if (extent > kMaxSplitParts) {
      return core::ResourceExhausted("splitting an axis of {} into parts of 1 would make more than {} tensors", extent,
                                     kMaxSplitParts);
    }
    lengths.assign(static_cast<size_t>(extent), 1);
    return lengths;
  }
  if (!core::IsInteger(split->dtype())) {
    return core::InvalidArgument("input 1 (split) must be an integer tensor, got {}", split->DebugString());
  }
  if (split->rank() == 0) {
    const int64_t size = split->IntegerAt(0);
    if (size <= 0) return core::InvalidArgument("split size {} must be positive", size);
    const int64_t parts = extent / size + (extent % size ? 1 : 0);
    if (parts > kMaxSplitParts) {
      return core::ResourceExhausted("splitting an axis of {} into parts of {} would make more than {} tensors", extent,
                                     size, kMaxSplitParts);
    }
    for (int64_t start = 0; start < extent; start += size) lengths.push_back(std::min(size, extent - start));
    return lengths;
  }
  if (split->rank() != 1) {
    return core::InvalidArgument("input 1 (split) must be a scalar or 1-D, got shape {}",
                                 core::ShapeToString(split->shape()));
  }
  lengths = ReadInt64s(*split);
  int64_t total = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] < 0 || lengths[i] > extent - total) {
      return core::InvalidArgument("split {} ({}) is negative or runs past the axis extent {}", i, lengths[i], extent);
    }
    total += lengths[i];
  }
  if (total != extent) {
    return core::InvalidArgument("split lengths sum to {} but the axis has extent {}", total, extent);
  }
  return lengths;
}

Result<std::unique_ptr<Kernel>> CreateSplitToSequence(KernelBuildContext& build) {
  const int64_t axis_attr = build.node().GetInt("axis", 0);
  const int64_t keepdims = build.node().GetInt("keepdims", 1);
  if (keepdims != 0 && keepdims != 1) {
    return core::InvalidArgument("attribute 'keepdims' must be 0 or 1, got {}", keepdims);
  }
  return MakeFunctionKernel([axis_attr, keepdims](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    if (input->rank() == 0) return core::InvalidArgument("cannot split a scalar");
    auto axis_or = core::NormalizeAxis(axis_attr, input->rank());
    if (!axis_or.ok()) return axis_or.status().WithContext("attribute 'axis'");
    const int64_t axis = *axis_or;
    const Tensor* split = context.input_tensor(1);
    const int64_t extent = input->dim(axis);
    ASSIGN_OR_RETURN(std::vector<int64_t> lengths, SplitLengths(split, extent));
    // keepdims only applies to the default split into parts of 1.
    const bool squeeze = !split && keepdims == 0;
    const int64_t outer = core::ElementCount(std::span(input->shape()).first(static_cast<size_t>(axis)));
    const int64_t inner = core::ElementCount(std::span(input->shape()).subspan(static_cast<size_t>(axis) + 1));
    const size_t stride = ElementStride(input->dtype());
    const auto* src = static_cast<const unsigned char*>(input->raw_data());
    TensorSequence out;
    out.element_type = input->dtype();
    out.tensors.reserve(lengths.size());
    int64_t start = 0;
    for (int64_t length : lengths) {
      core::TensorShape shape = input->shape();
      if (squeeze) {
        shape.erase(shape.begin() + axis);
      } else {
        shape[static_cast<size_t>(axis)] = length;
      }
      ASSIGN_OR_RETURN(Tensor part, Tensor::Create(input->dtype(), std::move(shape), context.allocator()));
      auto* dst = static_cast<unsigned char*>(part.raw_data());
      for (int64_t o = 0; o < outer; ++o) {
        core::CopyElements(input->dtype(), src + static_cast<size_t>((o * extent + start) * inner) * stride,
                           dst + static_cast<size_t>(o * length * inner) * stride, length * inner);
      }
      out.tensors.push_back(std::move(part));
      start += length;
    }
    context.SetOutput(0, std::move(out));
    return Status::Ok();
  });
}

// ---------------------------------------------------------------------------
// ConcatFromSequence

Result<int64_t> RequireAxisAttribute(const Node& node) {
  const Attribute* axis = node.FindAttribute("axis");
  if (!axis || axis->type != Attribute::Type::kInt) return core::InvalidArgument("attribute 'axis' is required");
  return axis->i;
}

Status InferConcatFromSequence(InferenceContext& context) {
  const ValueType& element = ElementTypeOf(context.input_type(0));
  const DataType dtype = element.is_tensor() ? element.dtype : DataType::kUndefined;
  ASSIGN_OR_RETURN(int64_t axis, RequireAxisAttribute(context.node()));
  const bool new_axis = context.node().GetInt("new_axis", 0) != 0;
  if (!element.is_tensor() || !element.has_shape) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  ValueType out = element;
  const auto rank = static_cast<int64_t>(out.dims.size()) + (new_axis ? 1 : 0);
  ASSIGN_OR_RETURN(axis, core::NormalizeAxis(axis, rank));
  // The number of elements (and so the concatenated extent) is not static.
  if (new_axis) {
    out.dims.insert(out.dims.begin() + axis, Dimension{});
  } else {
    out.dims[static_cast<size_t>(axis)] = Dimension{};
  }
  context.set_output_type(0, std::move(out));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateConcatFromSequence(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(int64_t axis_attr, RequireAxisAttribute(build.node()));
  const int64_t new_axis_attr = build.node().GetInt("new_axis", 0);
  if (new_axis_attr != 0 && new_axis_attr != 1) {
    return core::InvalidArgument("attribute 'new_axis' must be 0 or 1, got {}", new_axis_attr);
  }
  const bool new_axis = new_axis_attr == 1;
  return MakeFunctionKernel([axis_attr, new_axis](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const TensorSequence* sequence, RequireSequence(context, 0, "input_sequence"));
    const auto& tensors = sequence->tensors;
    if (tensors.empty()) return core::InvalidArgument("cannot concatenate an empty sequence");
    const Tensor& first = tensors[0];
    if (first.rank() == 0 && !new_axis) return core::InvalidArgument("cannot concatenate scalars without new_axis");
    auto axis_or = core::NormalizeAxis(axis_attr, first.rank() + (new_axis ? 1 : 0));
    if (!axis_or.ok()) return axis_or.status().WithContext("attribute 'axis'");
    const int64_t axis = *axis_or;
    int64_t total = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      bool compatible = t.dtype() == first.dtype() && t.rank() == first.rank();
      for (int64_t d = 0; compatible && d < t.rank(); ++d) {
        if (d != axis || new_axis) compatible = t.dim(d) == first.dim(d);
      }
      if (!compatible) {
        return core::InvalidArgument("element {} is {} but element 0 is {}; they must match except on axis {}", i,
                                     t.DebugString(), first.DebugString(), axis);
      }
      const int64_t extent = new_axis ? 1 : t.dim(axis);
      if (__builtin_add_overflow(total, extent, &total)) {
        return core::InvalidArgument("concatenated extent overflows");
      }
    }
    core::TensorShape shape = first.shape();
    if (new_axis) {
      shape.insert(shape.begin() + axis, total);
    } else {
      shape[static_cast<size_t>(axis)] = total;
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, first.dtype(), shape));
    // Every element is [outer, extent_i * inner]; the output interleaves them.
    const int64_t outer = core::ElementCount(std::span(shape).first(static_cast<size_t>(axis)));
    const int64_t inner = core::ElementCount(std::span(shape).subspan(static_cast<size_t>(axis) + 1));
    const size_t stride = ElementStride(first.dtype());
    auto* dst = static_cast<unsigned char*>(out->raw_data());
    for (int64_t o = 0; o < outer; ++o) {
      for (const Tensor& t : tensors) {
        const int64_t chunk = (new_axis ? 1 : t.dim(axis)) * inner;
        const auto* src = static_cast<const unsigned char*>(t.raw_data()) + static_cast<size_t>(o * chunk) * stride;
        core::CopyElements(first.dtype(), src, dst, chunk);
        dst += static_cast<size_t>(chunk) * stride;
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterSequenceKernels(OpRegistry& registry) {
  registry.Register("", "SequenceEmpty", {11}, InferSequenceEmpty, CreateSequenceEmpty);
  registry.Register("", "SequenceConstruct", {11}, InferSequenceConstruct, CreateSequenceConstruct);
  registry.Register(
      "", "SequenceLength", {11},
      [](InferenceContext& context) {
        context.set_output_type(0, ValueType::TensorFromShape(DataType::kInt64, {}));
        return Status::Ok();
      },
      CreateSequenceLength);
  registry.Register(
      "", "SequenceAt", {11},
      [](InferenceContext& context) {
        context.set_output_type(0, ElementTypeOf(context.input_type(0)));
        return Status::Ok();
      },
      CreateSequenceAt);
  registry.Register("", "SequenceInsert", {11}, InferSequenceInsert, CreateSequenceInsert);
  registry.Register("", "SequenceErase", {11}, InferSameAsInput, CreateSequenceErase);
  registry.Register("", "SplitToSequence", {11}, InferSplitToSequence, CreateSplitToSequence);
  registry.Register("", "ConcatFromSequence", {11}, InferConcatFromSequence, CreateConcatFromSequence);
}

}  // namespace berth::engine

#include "engine/kernels/control_flow/control_flow_util.h"

namespace berth::engine {

using core::Result;
using core::Status;
using core::Tensor;

namespace {

bool SameDimension(const Dimension& a, const Dimension& b) { return a.value == b.value && a.symbol == b.symbol; }

// Merge rounds before giving up on shapes: each round either stops or loses
// information, so real bodies settle in two or three.
constexpr int kMaxWideningRounds = 8;

// `type` with every shape forgotten (kinds and dtypes kept).
ValueType ForgetShapes(const ValueType& type) {
  ValueType out = type;
  if (out.kind == ValueType::Kind::kTensor) {
    out.has_shape = false;
    out.dims.clear();
  } else if (out.element) {
    out.element = std::make_shared<ValueType>(ForgetShapes(*out.element));
  }
  return out;
}

}  // namespace

ValueType MergeValueTypes(const ValueType& a, const ValueType& b) {
  if (a.kind != b.kind || a.kind == ValueType::Kind::kUnknown) return ValueType{};
  if (a.kind != ValueType::Kind::kTensor) {
    ValueType out;
    out.kind = a.kind;
    out.element =
        std::make_shared<ValueType>(a.element && b.element ? MergeValueTypes(*a.element, *b.element) : ValueType{});
    return out;
  }
  ValueType out = ValueType::TensorUnknownShape(a.dtype == b.dtype ? a.dtype : core::DataType::kUndefined);
  if (a.has_shape && b.has_shape && a.dims.size() == b.dims.size()) {
    out.has_shape = true;
    for (size_t i = 0; i < a.dims.size(); ++i) {
      const Dimension& x = a.dims[i];
      const Dimension& y = b.dims[i];
      Dimension d;
      if (x.known() && y.known() && x.value == y.value) d.value = x.value;
      if (!x.symbol.empty() && x.symbol == y.symbol) d.symbol = x.symbol;
      out.dims.push_back(std::move(d));
    }
  }
  return out;
}

bool SameValueType(const ValueType& a, const ValueType& b) {
  if (a.kind != b.kind) return false;
  if (a.kind == ValueType::Kind::kTensor) {
    if (a.dtype != b.dtype || a.has_shape != b.has_shape || a.dims.size() != b.dims.size()) return false;
    for (size_t i = 0; i < a.dims.size(); ++i) {
      if (!SameDimension(a.dims[i], b.dims[i])) return false;
    }
    return true;
  }
  if (!a.element || !b.element) return !a.element && !b.element;
  return SameValueType(*a.element, *b.element);
}

std::string DescribeValue(const core::Value& value) {
  switch (value.kind()) {
    case core::Value::Kind::kNone:
      return "an empty optional";
    case core::Value::Kind::kSequence:
      return fmt::format("a sequence of {} {} tensors", value.sequence().tensors.size(),
                         core::DataTypeName(value.sequence().element_type));
    case core::Value::Kind::kTensor:
      break;
  }
  if (!value.tensor().defined()) return "an undefined tensor";
  return "tensor " + value.tensor().DebugString();
}

Result<bool> ReadCondition(const core::Value* value, std::string_view what) {
  if (!value || !value->is_tensor() || value->tensor().dtype() != core::DataType::kBool) {
    return core::InvalidArgument("{} must be a bool tensor, got {}", what, value ? DescribeValue(*value) : "nothing");
  }
  if (value->tensor().element_count() != 1) {
    return core::InvalidArgument("{} must hold one element, got shape {}", what,
                                 core::ShapeToString(value->tensor().shape()));
  }
  return value->tensor().data<bool>()[0];
}

Result<int64_t> ReadScalarInteger(const core::Value* value, std::string_view what) {
  if (!value || !value->is_tensor() || !core::IsInteger(value->tensor().dtype())) {
    return core::InvalidArgument("{} must be an integer tensor, got {}", what,
                                 value ? DescribeValue(*value) : "nothing");
  }
  const Tensor& tensor = value->tensor();
  if (tensor.rank() > 1 || tensor.element_count() != 1) {
    return core::InvalidArgument("{} must be a scalar, got shape {}", what, core::ShapeToString(tensor.shape()));
  }
  if (tensor.dtype() == core::DataType::kUInt64 && tensor.data<uint64_t>()[0] > uint64_t{INT64_MAX}) {
    return core::InvalidArgument("{} {} does not fit in int64", what, tensor.data<uint64_t>()[0]);
  }
  return tensor.IntegerAt(0);
}

Result<LoopBodyTypes> InferLoopBody(InferenceContext& context, const Graph& body, const std::vector<ValueType>& prefix,
                                    std::vector<ValueType> carried, const std::vector<ValueType>& suffix,
                                    size_t carried_output_offset) {
  auto run = [&](const std::vector<ValueType>& state) -> Result<std::vector<ValueType>> {
    std::vector<ValueType> inputs = prefix;
    inputs.insert(inputs.end(), state.begin(), state.end());
    inputs.insert(inputs.end(), suffix.begin(), suffix.end());
    ASSIGN_OR_RETURN(std::vector<ValueType> outputs, context.InferSubgraph(body, inputs));
    outputs.resize(std::max(outputs.size(), carried_output_offset + state.size()));
    return outputs;
  };
  for (int round = 0; round < kMaxWideningRounds; ++round) {
    ASSIGN_OR_RETURN(std::vector<ValueType> outputs, run(carried));
    bool stable = true;
    for (size_t i = 0; i < carried.size(); ++i) {
      ValueType merged = MergeValueTypes(carried[i], outputs[carried_output_offset + i]);
      if (!SameValueType(merged, carried[i])) {
        stable = false;
        carried[i] = std::move(merged);
      }
    }
    if (stable) return LoopBodyTypes{std::move(carried), std::move(outputs)};
  }
  for (auto& type : carried) type = ForgetShapes(type);
  ASSIGN_OR_RETURN(std::vector<ValueType> outputs, run(carried));
  for (size_t i = 0; i < carried.size(); ++i) {
    carried[i] = MergeValueTypes(carried[i], outputs[carried_output_offset + i]);
  }
  return LoopBodyTypes{std::move(carried), std::move(outputs)};
}

ValueType InsertDim(const ValueType& type, int64_t axis, Dimension dim) {
  if (!type.is_tensor() || !type.has_shape) return type.is_tensor() ? type : ValueType{};
  ValueType out = type;
  if (axis < 0 || axis > static_cast<int64_t>(out.dims.size())) return ValueType::TensorUnknownShape(type.dtype);
  out.dims.insert(out.dims.begin() + axis, std::move(dim));
  return out;
}

Result<Tensor> EmptyStack(const ValueType& element, int64_t axis, core::Allocator& allocator, std::string_view what) {
  if (!element.is_tensor() || element.dtype == core::DataType::kUndefined || !element.has_shape) {
    return core::InvalidArgument(
        "{}: no iteration ran and the body's output type {} is not known well enough to "
        "build an empty result",
        what, element.ToString());
  }
  core::TensorShape shape;
  for (const auto& d : element.dims) shape.push_back(d.known() ? d.value : 0);
  if (axis < 0 || axis > static_cast<int64_t>(shape.size())) {
    return core::InvalidArgument("{}: axis {} is out of range for rank {}", what, axis, shape.size() + 1);
  }
  shape.insert(shape.begin() + axis, 0);
  return Tensor::Create(element.dtype, std::move(shape), allocator);
}

size_t ElementStride(core::DataType dtype) {
  return dtype == core::DataType::kString ? sizeof(std::string) : core::DataTypeSize(dtype);
}

Result<Tensor> SliceAlongAxis(const Tensor& tensor, int64_t axis, int64_t index, core::Allocator& allocator) {
  if (axis < 0 || axis >= tensor.rank()) {
    return core::Internal("slice axis {} is out of range for rank {}", axis, tensor.rank());
  }
  const int64_t extent = tensor.dim(axis);
  if (index < 0 || index >= extent) {
    return core::Internal("slice {} is out of range for extent {}", index, extent);
  }
  core::TensorShape shape = tensor.shape();
  shape.erase(shape.begin() + axis);
  ASSIGN_OR_RETURN(Tensor out, Tensor::Create(tensor.dtype(), shape, allocator));
  const int64_t outer = core::ElementCount(std::span(tensor.shape()).first(static_cast<size_t>(axis)));
  const int64_t inner = core::ElementCount(std::span(tensor.shape()).subspan(static_cast<size_t>(axis) + 1));
  const size_t stride = ElementStride(tensor.dtype());
  const auto* src = static_cast<const unsigned char*>(tensor.raw_data());
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    core::CopyElements(tensor.dtype(), src + static_cast<size_t>((o * extent + index) * inner) * stride,
                       dst + static_cast<size_t>(o * inner) * stride, inner);
  }
  return out;
}

Result<Tensor> MoveLeadingAxis(const Tensor& stacked, int64_t axis, core::Allocator& allocator) {
  if (axis == 0) return stacked;
  if (axis < 0 || axis >= stacked.rank()) {
    return core::Internal("axis {} is out of range for rank {}", axis, stacked.rank());
  }
  core::TensorShape shape(stacked.shape().begin() + 1, stacked.shape().end());
  const int64_t count = stacked.dim(0);
  shape.insert(shape.begin() + axis, count);
  ASSIGN_OR_RETURN(Tensor out, Tensor::Create(stacked.dtype(), shape, allocator));
  // stacked is [count, outer..., inner...]; out is [outer..., count, inner...].
  const int64_t outer = core::ElementCount(std::span(shape).first(static_cast<size_t>(axis)));
  const int64_t inner = core::ElementCount(std::span(shape).subspan(static_cast<size_t>(axis) + 1));
  const size_t stride = ElementStride(stacked.dtype());
  const auto* src = static_cast<const unsigned char*>(stacked.raw_data());
  auto* dst = static_cast<unsigned char*>(out.raw_data());
  for (int64_t t = 0; t < count; ++t) {
    for (int64_t o = 0; o < outer; ++o) {
      core::CopyElements(stacked.dtype(), src + static_cast<size_t>((t * outer + o) * inner) * stride,
                         dst + static_cast<size_t>((o * count + t) * inner) * stride, inner);
    }
  }
  return out;
}

}  // namespace berth::engine

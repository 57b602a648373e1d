// Values that pass through or are generated rather than computed from data:
// Identity, Constant, ConstantOfShape, EyeLike, Range, OneHot and Trilu.
#include <cmath>

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

Result<Tensor> ConstantValue(const Node& node) {
  if (const core::Tensor* tensor = node.GetTensor("value")) return *tensor;
  if (const Attribute* attr = node.FindAttribute("value_float")) return core::Tensor::Scalar<float>(attr->f);
  if (const Attribute* attr = node.FindAttribute("value_int")) return core::Tensor::Scalar<int64_t>(attr->i);
  if (const Attribute* attr = node.FindAttribute("value_string")) return core::Tensor::Scalar<std::string>(attr->s);
  if (const Attribute* attr = node.FindAttribute("value_floats")) {
    return core::Tensor::FromVector<float>(attr->floats, {static_cast<int64_t>(attr->floats.size())});
  }
  if (const Attribute* attr = node.FindAttribute("value_ints")) {
    return core::Tensor::FromVector<int64_t>(attr->ints, {static_cast<int64_t>(attr->ints.size())});
  }
  if (const Attribute* attr = node.FindAttribute("value_strings")) {
    return core::Tensor::FromVector<std::string>(attr->strings, {static_cast<int64_t>(attr->strings.size())});
  }
  if (node.HasAttribute("sparse_value")) return core::Unimplemented("Constant with a sparse_value is not supported");
  return core::InvalidArgument("Constant has no value attribute");
}

// Fills `count` elements of storage type T with `value`, in parallel.
template <typename T>
void FillElements(T* out, int64_t count, const T& value) {
  core::ParallelFor(count, 65536, [&](int64_t begin, int64_t end) { std::fill(out + begin, out + end, value); });
}

// ----------------------------------------------------------------------------
// ConstantOfShape: a tensor of the given shape filled with 'value' (a
// one-element tensor; float32 zero when absent).

Result<Tensor> FillValue(const Node& node) {
  const Tensor* value = node.GetTensor("value");
  if (!value) return Tensor::Scalar<float>(0.0f);
  if (value->element_count() != 1) {
    return core::InvalidArgument("'value' must hold one element, got {}", value->DebugString());
  }
  return *value;
}

Status InferConstantOfShape(InferenceContext& context) {
  ASSIGN_OR_RETURN(Tensor value, FillValue(context.node()));
  if (auto shape = ConstantInt64s(context, 0)) {
    context.set_output_type(0, ValueType::TensorFromShape(value.dtype(), *shape));
    return Status::Ok();
  }
  auto shape_dims = InputDims(context, 0);
  if (shape_dims && shape_dims->size() == 1 && (*shape_dims)[0].known()) {
    context.set_output_type(0, ValueType::TensorOfRank(value.dtype(), (*shape_dims)[0].value));
  } else {
    SetUnknownShape(context, 0, value.dtype());
  }
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateConstantOfShape(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(Tensor value, FillValue(build.node()));
  return MakeFunctionKernel([value](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* shape_input, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(TensorShape shape, ReadShapeInput(*shape_input, "input"));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, value.dtype(), std::move(shape)));
    return ForStorageType(value.dtype(), [&]<typename T>() {
      FillElements(out->data<T>(), out->element_count(), LoadElement<T>(value.raw_data()));
    });
  });
}

// ----------------------------------------------------------------------------
// EyeLike: zeros of the input's 2-D shape with ones on diagonal k.

Result<DataType> EyeLikeType(const Node& node, DataType input) {
  if (!node.HasAttribute("dtype")) return input;
  auto dtype = core::DataTypeFromOnnx(static_cast<int32_t>(node.GetInt("dtype", 0)));
  if (!dtype) return core::InvalidArgument("dtype {} is not a known type", node.GetInt("dtype", 0));
  return *dtype;
}

Status InferEyeLike(InferenceContext& context) {
  ASSIGN_OR_RETURN(DataType dtype, EyeLikeType(context.node(), InputDtype(context, 0)));
  auto input = InputDims(context, 0);
  context.set_output_type(0, input ? ValueType::Tensor(dtype, *input) : ValueType::TensorOfRank(dtype, 2));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateEyeLike(KernelBuildContext& build) {
  const Node& node = build.node();
  std::optional<DataType> dtype;
  if (node.HasAttribute("dtype")) {
    ASSIGN_OR_RETURN(dtype, EyeLikeType(node, DataType::kUndefined));
  }
  return MakeFunctionKernel([dtype, k = node.GetInt("k", 0)](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    if (input->rank() != 2) return core::InvalidArgument("input must be 2-D, got {}", input->DebugString());
    const DataType out_type = dtype.value_or(input->dtype());
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, out_type, input->shape()));
    const int64_t rows = input->dim(0);
    const int64_t cols = input->dim(1);
    bool supported = core::VisitNumericOrBoolType(out_type, [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        T* data = out->data<T>();
        FillElements(data, out->element_count(), ConvertElement<T>(0));
        // Row i has its one at column i + k, when that column exists. Beyond
        // +-(rows + cols) every k means the same; clamping avoids overflow.
        const int64_t diagonal = std::clamp<int64_t>(k, -(rows + cols), rows + cols);
        const int64_t first = std::clamp<int64_t>(-diagonal, 0, rows);
        const int64_t last = std::clamp<int64_t>(cols - diagonal, 0, rows);
        for (int64_t i = first; i < last; ++i) data[i * cols + i + diagonal] = ConvertElement<T>(1);
        return true;
      }
    });
    if (!supported) return core::Unimplemented("EyeLike of type {} is not supported", core::DataTypeName(out_type));
    return Status::Ok();
  });
}

// ----------------------------------------------------------------------------
// Range: start, start + delta, ... up to (excluding) limit.

// Element count of the range, or an error for a zero delta / huge result.
template <typename T>
Result<int64_t> RangeCount(T start, T limit, T delta) {
  if constexpr (std::is_integral_v<T>) {
    if (delta == 0) return core::InvalidArgument("delta must not be zero");
    const __int128 span = static_cast<__int128>(limit) - static_cast<__int128>(start);
    const __int128 step = delta;
    if ((span > 0) != (step > 0) || span == 0) return int64_t{0};
    const __int128 count = (span + step + (step > 0 ? -1 : 1)) / step;
    if (count > core::kMaxTensorBytes) return core::InvalidArgument("range has too many elements");
    return static_cast<int64_t>(count);
  } else {
    const double begin = static_cast<double>(start), end = static_cast<double>(limit),
                 step = static_cast<double>(delta);
    if (step == 0.0) return core::InvalidArgument("delta must not be zero");
    const double count = std::ceil((end - begin) / step);
    if (std::isnan(count)) return core::InvalidArgument("range ({}, {}, {}) is not finite", begin, end, step);
    if (count <= 0) return int64_t{0};
    if (count > static_cast<double>(core::kMaxTensorBytes)) return core::InvalidArgument("range has too many elements");
    return static_cast<int64_t>(count);
  }
}

Status InferRange(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const Tensor* start = context.input_value(0);
  const Tensor* limit = context.input_value(1);
  const Tensor* delta = context.input_value(2);
  std::optional<int64_t> count;
  if (start && limit && delta && start->element_count() == 1 && limit->element_count() == 1 &&
      delta->element_count() == 1 && start->dtype() == limit->dtype() && start->dtype() == delta->dtype()) {
    core::VisitNumericType(start->dtype(), [&]<typename T>() {
      if constexpr (!std::is_void_v<T>) {
        auto n = RangeCount<ComputeType<T>>(start->data<T>()[0], limit->data<T>()[0], delta->data<T>()[0]);
        if (n.ok()) count = *n;
      }
    });
  }
  context.set_output_type(0, ValueType::TensorFromShape(dtype, {count.value_or(-1)}));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateRange(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    const Tensor* inputs[3];
    const char* names[3] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; ++i) {
      ASSIGN_OR_RETURN(inputs[i], RequireTensor(context, i, names[i]));
      if (inputs[i]->element_count() != 1) {
        return core::InvalidArgument("{} must be a scalar, got {}", names[i], inputs[i]->DebugString());
      }
      if (inputs[i]->dtype() != inputs[0]->dtype()) {
        return core::InvalidArgument("{} is {} but start is {}", names[i], core::DataTypeName(inputs[i]->dtype()),
                                     core::DataTypeName(inputs[0]->dtype()));
      }
    }
    const DataType dtype = inputs[0]->dtype();
    Status status;
    bool supported = core::VisitNumericType(dtype, [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        using C = ComputeType<T>;
        const C start = inputs[0]->data<T>()[0];
        const C delta = inputs[2]->data<T>()[0];
        Result<int64_t> count = RangeCount<C>(start, inputs[1]->data<T>()[0], delta);
        if (!count.ok()) {
          status = count.status();
          return true;
        }
        Result<Tensor*> out = context.AllocateOutput(0, dtype, {*count});
        if (!out.ok()) {
          status = out.status();
          return true;
        }
        T* data = (*out)->data<T>();
        for (int64_t i = 0; i < *count; ++i) {
          if constexpr (std::is_integral_v<C>) {
            data[i] = static_cast<T>(static_cast<__int128>(start) + static_cast<__int128>(i) * delta);
          } else {
            // In double, so long float ranges do not drift.
            data[i] = static_cast<T>(static_cast<double>(start) + static_cast<double>(i) * static_cast<double>(delta));
          }
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("Range of type {} is not supported", core::DataTypeName(dtype));
    return status;
  });
}

// ----------------------------------------------------------------------------
// OneHot: a new axis of size depth holding values[1] at each index and
// values[0] elsewhere; indices outside [-depth, depth) give all values[0].

Result<int64_t> ReadDepth(const Tensor& depth) {
  if (depth.element_count() != 1 || !core::IsNumeric(depth.dtype())) {
    return core::InvalidArgument("depth must be a single number, got {}", depth.DebugString());
  }
  const double value = depth.NumberAt(0);
  if (!(value >= 0) || value > static_cast<double>(core::kMaxTensorBytes)) {
    return core::InvalidArgument("depth {} is not a valid size", value);
  }
  return static_cast<int64_t>(value);
}

Status InferOneHot(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 2);
  auto indices = InputDims(context, 0);
  if (!indices) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  const int64_t rank = static_cast<int64_t>(indices->size()) + 1;
  int64_t axis = context.node().GetInt("axis", -1);
  if (axis < -rank || axis >= rank) return core::InvalidArgument("axis {} is out of range for rank {}", axis, rank);
  if (axis < 0) axis += rank;
  Dimension depth;
  if (const Tensor* value = context.input_value(1)) {
    ASSIGN_OR_RETURN(int64_t known, ReadDepth(*value));
    depth = KnownDim(known);
  }
  std::vector<Dimension> dims = *indices;
  dims.insert(dims.begin() + axis, depth);
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateOneHot(KernelBuildContext& build) {
  return MakeFunctionKernel([axis_attribute = build.node().GetInt("axis", -1)](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 0, "indices"));
    ASSIGN_OR_RETURN(const Tensor* depth_input, RequireTensor(context, 1, "depth"));
    ASSIGN_OR_RETURN(const Tensor* values, RequireTensor(context, 2, "values"));
    if (values->element_count() != 2) {
      return core::InvalidArgument("values must hold [off_value, on_value], got {}", values->DebugString());
    }
    ASSIGN_OR_RETURN(int64_t depth, ReadDepth(*depth_input));
    const int64_t rank = indices->rank() + 1;
    if (axis_attribute < -rank || axis_attribute >= rank) {
      return core::InvalidArgument("axis {} is out of range for rank {}", axis_attribute, rank);
    }
    const int64_t axis = axis_attribute < 0 ? axis_attribute + rank : axis_attribute;
    TensorShape shape = indices->shape();
    shape.insert(shape.begin() + axis, depth);
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, values->dtype(), shape));
    int64_t outer = 1;
    for (int64_t a = 0; a < axis; ++a) outer *= shape[a];
    const int64_t inner = core::ElementCount(std::span(shape).subspan(axis + 1));
    // Position along the new axis for every index (-1: none), read once.
    std::vector<int64_t> positions(static_cast<size_t>(indices->element_count()));
    bool numeric = core::VisitNumericType(indices->dtype(), [&]<typename I>() -> bool {
      if constexpr (std::is_void_v<I>) {
        return false;
      } else {
        const I* data = indices->data<I>();
        for (size_t i = 0; i < positions.size(); ++i) {
          // Truncated as a cast would, but compared as double first: a NaN
          // or huge float must never reach the cast.
          const double value = std::trunc(static_cast<double>(static_cast<ComputeType<I>>(data[i])));
          const double d = static_cast<double>(depth);
          positions[i] = value >= -d && value < d ? WrapIndex(static_cast<int64_t>(value), depth) : -1;
        }
        return true;
      }
    });
    if (!numeric) return core::InvalidArgument("indices must be numeric, got {}", core::DataTypeName(indices->dtype()));
    return ForStorageType(values->dtype(), [&]<typename T>() {
      const T off = LoadElement<T>(ElementAddress(*values, 0));
      const T on = LoadElement<T>(ElementAddress(*values, 1));
      T* data = out->data<T>();
      FillElements(data, out->element_count(), off);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t position = positions[o * inner + i];
          if (position >= 0) data[(o * depth + position) * inner + i] = on;
        }
      }
    });
  });
}

// ----------------------------------------------------------------------------
// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the
// last two axes and zeroes the rest.

Result<std::unique_ptr<Kernel>> CreateTrilu(KernelBuildContext& build) {
  return MakeFunctionKernel([upper = build.node().GetInt("upper", 1) != 0](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    if (input->rank() < 2) return core::InvalidArgument("input must have rank >= 2, got {}", input->DebugString());
    int64_t k = 0;
    if (const Tensor* k_input = context.input_tensor(1)) {
      ASSIGN_OR_RETURN(k, ReadScalarInput(*k_input, "k"));
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, input->dtype(), input->shape()));
    if (out->element_count() == 0) return Status::Ok();
    const int64_t rows = input->dim(input->rank() - 2);
    const int64_t cols = input->dim(input->rank() - 1);
    // Beyond +-(rows + cols) every k means the same; clamping avoids overflow.
    k = std::clamp<int64_t>(k, -(rows + cols), rows + cols);
    return ForStorageType(input->dtype(), [&]<typename T>() {
      const T* src = input->data<T>();
      T* dst = out->data<T>();
      const T zero{};
      core::ParallelFor(out->element_count() / cols, std::max<int64_t>(1, 16384 / cols),
                        [&](int64_t begin, int64_t end) {
                          for (int64_t row = begin; row < end; ++row) {
                            const int64_t i = row % rows;
                            // Columns [keep_begin, keep_end) survive.
                            const int64_t keep_begin = upper ? std::clamp<int64_t>(i + k, 0, cols) : 0;
                            const int64_t keep_end = upper ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
                            const T* in = src + row * cols;
                            T* o = dst + row * cols;
                            std::fill(o, o + cols, zero);
                            if (keep_begin < keep_end) std::copy(in + keep_begin, in + keep_end, o + keep_begin);
                          }
                        });
    });
  });
}

}  // namespace

void RegisterTensorKernels(OpRegistry& registry) {
  registry.Register("", "Identity", {1, 13, 14, 16, 19, 21}, InferSameAsInput,
                    [](KernelBuildContext&) -> Result<std::unique_ptr<Kernel>> {
                      // Passes the value itself (tensor, sequence or optional): nothing is copied.
                      return MakeFunctionKernel([](KernelContext& context) -> Status {
                        const core::Value* value = context.input(0);
                        if (!value) return core::InvalidArgument("Identity input is missing");
                        context.SetOutput(0, *value);
                        return Status::Ok();
                      });
                    });
  registry.Register(
      "", "Constant", {1, 9, 11, 12, 13, 19, 21},
      [](InferenceContext& context) -> Status {
        ASSIGN_OR_RETURN(core::Tensor value, ConstantValue(context.node()));
        context.set_output_type(0, ValueType::TensorFromShape(value.dtype(), value.shape()));
        return Status::Ok();
      },
      [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        ASSIGN_OR_RETURN(core::Tensor value, ConstantValue(build.node()));
        return MakeFunctionKernel([value](KernelContext& context) -> Status {
          context.SetOutput(0, value);
          return Status::Ok();
        });
      });
  registry.Register("", "ConstantOfShape", {9, 20, 21}, InferConstantOfShape, CreateConstantOfShape);
  registry.Register("", "EyeLike", {9, 22}, InferEyeLike, CreateEyeLike);
  registry.Register("", "Range", {11}, InferRange, CreateRange);
  registry.Register("", "OneHot", {9, 11}, InferOneHot, CreateOneHot);
  registry.Register("", "Trilu", {14}, InferSameAsInput, CreateTrilu);
}

}  // namespace berth::engine

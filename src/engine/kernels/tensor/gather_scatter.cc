// Gather, GatherElements, Scatter and ScatterElements: index-driven reads
// and writes along one axis. Every index is range-checked (negative ones
// count from the end) before any element moves. GatherND / ScatterND live in
// gather_nd.cc; Compress, NonZero, Unique and ReverseSequence in
// gather_select.cc.
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

// ----------------------------------------------------------------------------
// Gather: out = data[:axis] + indices.shape + data[axis+1:].

Status InferGather(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto data = InputDims(context, 0);
  auto indices = InputDims(context, 1);
  if (!data || !indices) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(int64_t axis,
                   core::NormalizeAxis(context.node().GetInt("axis", 0), static_cast<int64_t>(data->size())));
  std::vector<Dimension> dims(data->begin(), data->begin() + axis);
  dims.insert(dims.end(), indices->begin(), indices->end());
  dims.insert(dims.end(), data->begin() + axis + 1, data->end());
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateGather(KernelBuildContext& build) {
  return MakeFunctionKernel([axis_attribute = build.node().GetInt("axis", 0)](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 1, "indices"));
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(axis_attribute, data->rank()));
    const TensorShape& data_shape = data->shape();
    const int64_t dim = data_shape[axis];
    RETURN_IF_ERROR(CheckIndexRange(*indices, dim, "indices"));
    TensorShape shape(data_shape.begin(), data_shape.begin() + axis);
    shape.insert(shape.end(), indices->shape().begin(), indices->shape().end());
    shape.insert(shape.end(), data_shape.begin() + axis + 1, data_shape.end());
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), std::move(shape)));
    if (out->element_count() == 0) return Status::Ok();
    int64_t outer = 1;
    for (int64_t a = 0; a < axis; ++a) outer *= data_shape[a];
    const int64_t inner = data->rank() > axis + 1 ? core::ElementCount(std::span(data_shape).subspan(axis + 1)) : 1;
    const int64_t count = indices->element_count();
    return ForStorageType(data->dtype(), [&]<typename T>() {
      (void)ForIndexType(indices->dtype(), "indices", [&]<typename I>() {
        const T* src = data->data<T>();
        const I* index = indices->data<I>();
        T* dst = out->data<T>();
        // One unit copies the `inner` block selected by one index.
        core::ParallelFor(outer * count, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
          for (int64_t unit = begin; unit < end; ++unit) {
            const int64_t o = unit / count;
            const int64_t i = WrapIndex(static_cast<int64_t>(index[unit % count]), dim);
            std::copy_n(src + (o * dim + i) * inner, inner, dst + unit * inner);
          }
        });
      });
    });
  });
}

// ----------------------------------------------------------------------------
// GatherElements / ScatterElements share the element addressing: indices
// (and updates) have the data's rank and at most its extent on every axis
// but `axis`; element i of indices addresses data at i's position with the
// `axis` coordinate replaced by the index.

Status CheckElementsShapes(const Tensor& data, const Tensor& indices, int64_t axis) {
  if (indices.rank() != data.rank()) {
    return core::InvalidArgument("indices has rank {} but data has rank {}", indices.rank(), data.rank());
  }
  for (int64_t a = 0; a < data.rank(); ++a) {
    if (a != axis && indices.dim(a) > data.dim(a)) {
      return core::InvalidArgument("indices shape {} exceeds data shape {} on axis {}",
                                   core::ShapeToString(indices.shape()), core::ShapeToString(data.shape()), a);
    }
  }
  return CheckIndexRange(indices, data.dim(axis), "indices");
}

// Calls fn(i, data_offset) for elements [begin, end) of `indices` in order,
// where data_offset is where element i points in `data`.
template <typename I, typename Fn>
void ForEachElementIndex(const TensorShape& data_shape, const TensorShape& index_shape, const I* indices, int64_t axis,
                         int64_t begin, int64_t end, Fn&& fn) {
  const size_t rank = index_shape.size();
  const std::vector<int64_t> strides = core::RowMajorStrides(data_shape);
  const int64_t dim = data_shape[axis];
  // Position of element `begin`, and its data offset with the axis coordinate at 0.
  std::vector<int64_t> position(rank, 0);
  int64_t base = 0;
  int64_t rest = begin;
  for (size_t a = rank; a-- > 0;) {
    position[a] = rest % index_shape[a];
    rest /= index_shape[a];
    if (static_cast<int64_t>(a) != axis) base += position[a] * strides[a];
  }
  for (int64_t i = begin; i < end; ++i) {
    fn(i, base + WrapIndex(static_cast<int64_t>(indices[i]), dim) * strides[axis]);
    for (size_t a = rank; a-- > 0;) {
      if (++position[a] < index_shape[a]) {
        if (static_cast<int64_t>(a) != axis) base += strides[a];
        break;
      }
      if (static_cast<int64_t>(a) != axis) base -= (index_shape[a] - 1) * strides[a];
      position[a] = 0;
    }
  }
}

Status InferGatherElements(InferenceContext& context) {
  const ValueType& indices = context.input_type(1);
  if (indices.is_tensor() && indices.has_shape) {
    context.set_output_type(0, ValueType::Tensor(InputDtype(context, 0), indices.dims));
  } else {
    SetUnknownShape(context, 0, InputDtype(context, 0));
  }
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateGatherElements(KernelBuildContext& build) {
  return MakeFunctionKernel([axis_attribute = build.node().GetInt("axis", 0)](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 1, "indices"));
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(axis_attribute, data->rank()));
    RETURN_IF_ERROR(CheckElementsShapes(*data, *indices, axis));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), indices->shape()));
    if (out->element_count() == 0) return Status::Ok();
    // The index type was checked with the indices above.
    return ForStorageType(data->dtype(), [&]<typename T>() {
      (void)ForIndexType(indices->dtype(), "indices", [&]<typename I>() {
        const T* src = data->data<T>();
        T* dst = out->data<T>();
        core::ParallelFor(out->element_count(), 16384, [&](int64_t begin, int64_t end) {
          ForEachElementIndex(data->shape(), indices->shape(), indices->data<I>(), axis, begin, end,
                              [&](int64_t i, int64_t offset) { dst[i] = src[offset]; });
        });
      });
    });
  });
}

// Scatter (opset 9-10, and 11 deprecated) is ScatterElements without a reduction.
Result<std::unique_ptr<Kernel>> CreateScatterElements(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(ScatterReduction reduction, ParseScatterReduction(build.node(), build.opset()));
  const int64_t axis_attribute = build.node().GetInt("axis", 0);
  return MakeFunctionKernel([axis_attribute, reduction](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 1, "indices"));
    ASSIGN_OR_RETURN(const Tensor* updates, RequireTensor(context, 2, "updates"));
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(axis_attribute, data->rank()));
    if (updates->shape() != indices->shape()) {
      return core::InvalidArgument("updates shape {} differs from indices shape {}",
                                   core::ShapeToString(updates->shape()), core::ShapeToString(indices->shape()));
    }
    if (updates->dtype() != data->dtype()) {
      return core::InvalidArgument("updates is {} but data is {}", core::DataTypeName(updates->dtype()),
                                   core::DataTypeName(data->dtype()));
    }
    RETURN_IF_ERROR(CheckElementsShapes(*data, *indices, axis));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), data->shape()));
    core::CopyElements(data->dtype(), data->raw_data(), out->raw_data(), data->element_count());
    // In index order, so repeated indices combine (or overwrite) deterministically.
    return ForScatterUpdate(data->dtype(), reduction, [&]<typename T, typename Update>() {
      (void)ForIndexType(indices->dtype(), "indices", [&]<typename I>() {
        const T* source = updates->data<T>();
        T* dst = out->data<T>();
        ForEachElementIndex(data->shape(), indices->shape(), indices->data<I>(), axis, 0, indices->element_count(),
                            [&](int64_t i, int64_t offset) { Update::Apply(dst[offset], source[i]); });
      });
    });
  });
}

}  // namespace

void RegisterGatherScatterKernels(OpRegistry& registry) {
  registry.Register("", "Gather", {1, 11, 13}, InferGather, CreateGather);
  registry.Register("", "GatherElements", {11, 13}, InferGatherElements, CreateGatherElements);
  registry.Register("", "Scatter", {9, 11}, InferSameAsInput, CreateScatterElements);
  registry.Register("", "ScatterElements", {11, 13, 16, 18}, InferSameAsInput, CreateScatterElements);
}

}  // namespace berth::engine

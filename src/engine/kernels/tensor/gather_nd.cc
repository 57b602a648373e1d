// GatherND and ScatterND: the last axis of `indices` holds k coordinates
// into the data (after `batch_dims` shared leading axes for GatherND); each
// tuple selects a contiguous slice of the remaining axes.
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

// Where each index tuple points: tuples of `k` coordinates into data axes
// [batch_dims, batch_dims + k), grouped by batch.
struct TupleLayout {
  int64_t batch_dims = 0;
  int64_t k = 0;
  int64_t batches = 1;           // product of the shared batch dims
  int64_t per_batch = 1;         // tuples in each batch
  int64_t slice = 1;             // elements each tuple selects
  int64_t batch_stride = 0;      // data elements per batch
  std::vector<int64_t> dims;     // extent of each addressed axis
  std::vector<int64_t> strides;  // data stride of each addressed axis
};

Result<TupleLayout> MakeTupleLayout(const TensorShape& data, const TensorShape& indices, int64_t batch_dims) {
  const int64_t r = static_cast<int64_t>(data.size());
  const int64_t q = static_cast<int64_t>(indices.size());
  if (r < 1 || q < 1) return core::InvalidArgument("data and indices must have rank >= 1 (got {} and {})", r, q);
  if (batch_dims < 0 || batch_dims >= std::min(r, q)) {
    return core::InvalidArgument("batch_dims {} must be below the ranks of data ({}) and indices ({})", batch_dims, r,
                                 q);
  }
  TupleLayout layout;
  layout.batch_dims = batch_dims;
  layout.k = indices.back();
  if (layout.k < 0 || layout.k > r - batch_dims) {
    return core::InvalidArgument("indices' last dimension {} must be at most data rank {} - batch_dims {}", layout.k, r,
                                 batch_dims);
  }
  for (int64_t a = 0; a < batch_dims; ++a) {
    if (data[a] != indices[a]) {
      return core::InvalidArgument("batch dimension {} differs: data {} vs indices {}", a, core::ShapeToString(data),
                                   core::ShapeToString(indices));
    }
    layout.batches *= data[a];
  }
  for (int64_t a = batch_dims; a + 1 < q; ++a) layout.per_batch *= indices[a];
  for (int64_t a = batch_dims + layout.k; a < r; ++a) layout.slice *= data[a];
  const std::vector<int64_t> strides = core::RowMajorStrides(data);
  layout.batch_stride = batch_dims > 0 ? strides[batch_dims - 1] : 0;
  for (int64_t j = 0; j < layout.k; ++j) {
    layout.dims.push_back(data[batch_dims + j]);
    layout.strides.push_back(strides[batch_dims + j]);
  }
  return layout;
}

// Data offsets of every tuple, checked against the addressed dims.
Result<std::vector<int64_t>> TupleOffsets(const TupleLayout& layout, const Tensor& indices) {
  const int64_t tuples = layout.batches * layout.per_batch;
  std::vector<int64_t> offsets(static_cast<size_t>(tuples));
  Status status;
  RETURN_IF_ERROR(ForIndexType(indices.dtype(), "indices", [&]<typename I>() {
    const I* data = indices.data<I>();
    for (int64_t t = 0; t < tuples && status.ok(); ++t) {
      int64_t offset = (t / layout.per_batch) * layout.batch_stride;
      for (int64_t j = 0; j < layout.k; ++j) {
        const int64_t index = static_cast<int64_t>(data[t * layout.k + j]);
        const int64_t dim = layout.dims[j];
        if (index < -dim || index >= dim) {
          status = core::InvalidArgument("indices: index {} (tuple {}, position {}) is out of range for dimension {}",
                                         index, t, j, dim);
          break;
        }
        offset += WrapIndex(index, dim) * layout.strides[j];
      }
      offsets[t] = offset;
    }
  }));
  RETURN_IF_ERROR(status);
  return offsets;
}

Status InferGatherNd(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto data = InputDims(context, 0);
  auto indices = InputDims(context, 1);
  const int64_t batch_dims = context.opset() >= 12 ? context.node().GetInt("batch_dims", 0) : 0;
  if (!data || !indices || indices->empty() || !indices->back().known()) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  const int64_t k = indices->back().value;
  if (batch_dims + k > static_cast<int64_t>(data->size()) || batch_dims < 0) {
    return core::InvalidArgument("indices' last dimension {} is too large for data rank {}", k, data->size());
  }
  std::vector<Dimension> dims(indices->begin(), indices->end() - 1);
  dims.insert(dims.end(), data->begin() + batch_dims + k, data->end());
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateGatherNd(KernelBuildContext& build) {
  const int64_t batch_dims = build.opset() >= 12 ? build.node().GetInt("batch_dims", 0) : 0;
  return MakeFunctionKernel([batch_dims](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 1, "indices"));
    ASSIGN_OR_RETURN(TupleLayout layout, MakeTupleLayout(data->shape(), indices->shape(), batch_dims));
    ASSIGN_OR_RETURN(std::vector<int64_t> offsets, TupleOffsets(layout, *indices));
    TensorShape shape(indices->shape().begin(), indices->shape().end() - 1);
    shape.insert(shape.end(), data->shape().begin() + batch_dims + layout.k, data->shape().end());
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), std::move(shape)));
    if (out->element_count() == 0) return Status::Ok();
    return ForStorageType(data->dtype(), [&]<typename T>() {
      const T* src = data->data<T>();
      T* dst = out->data<T>();
      const int64_t slice = layout.slice;
      core::ParallelFor(static_cast<int64_t>(offsets.size()), std::max<int64_t>(1, 16384 / slice),
                        [&](int64_t begin, int64_t end) {
                          for (int64_t t = begin; t < end; ++t) std::copy_n(src + offsets[t], slice, dst + t * slice);
                        });
    });
  });
}

Result<std::unique_ptr<Kernel>> CreateScatterNd(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(ScatterReduction reduction, ParseScatterReduction(build.node(), build.opset()));
  return MakeFunctionKernel([reduction](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* data, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(const Tensor* indices, RequireTensor(context, 1, "indices"));
    ASSIGN_OR_RETURN(const Tensor* updates, RequireTensor(context, 2, "updates"));
    if (updates->dtype() != data->dtype()) {
      return core::InvalidArgument("updates is {} but data is {}", core::DataTypeName(updates->dtype()),
                                   core::DataTypeName(data->dtype()));
    }
    ASSIGN_OR_RETURN(TupleLayout layout, MakeTupleLayout(data->shape(), indices->shape(), 0));
    TensorShape expected(indices->shape().begin(), indices->shape().end() - 1);
    expected.insert(expected.end(), data->shape().begin() + layout.k, data->shape().end());
    if (updates->shape() != expected) {
      return core::InvalidArgument("updates has shape {}; data {} and indices {} need {}",
                                   core::ShapeToString(updates->shape()), core::ShapeToString(data->shape()),
                                   core::ShapeToString(indices->shape()), core::ShapeToString(expected));
    }
    ASSIGN_OR_RETURN(std::vector<int64_t> offsets, TupleOffsets(layout, *indices));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, data->dtype(), data->shape()));
    core::CopyElements(data->dtype(), data->raw_data(), out->raw_data(), data->element_count());
    // In tuple order, so repeated tuples combine (or overwrite) deterministically.
    return ForScatterUpdate(data->dtype(), reduction, [&]<typename T, typename Update>() {
      const T* source = updates->data<T>();
      T* dst = out->data<T>();
      const int64_t slice = layout.slice;
      for (size_t t = 0; t < offsets.size(); ++t) {
        T* target = dst + offsets[t];
        const T* update = source + static_cast<int64_t>(t) * slice;
        for (int64_t e = 0; e < slice; ++e) Update::Apply(target[e], update[e]);
      }
    });
  });
}

}  // namespace

void RegisterGatherNdKernels(OpRegistry& registry) {
  registry.Register("", "GatherND", {11, 12, 13}, InferGatherNd, CreateGatherNd);
  registry.Register("", "ScatterND", {11, 13, 16, 18}, InferSameAsInput, CreateScatterNd);
}

}  // namespace berth::engine

// Ops whose output size depends on the data: Compress, NonZero and Unique;
// plus ReverseSequence, which reorders by per-batch lengths.
#include <algorithm>
#include <cmath>
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

int64_t Product(const TensorShape& shape, size_t begin, size_t end) {
  int64_t product = 1;
  for (size_t a = begin; a < end; ++a) product *= shape[a];
  return product;
}

// ----------------------------------------------------------------------------
// Compress: keeps the slices along `axis` (or elements of the flattened
// input) whose condition is true; a short condition means false beyond it.

Status InferCompress(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  const Node& node = context.node();
  if (!node.HasAttribute("axis")) {
    context.set_output_type(0, ValueType::TensorOfRank(dtype, 1));
    return Status::Ok();
  }
  auto input = InputDims(context, 0);
  if (!input) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(node.GetInt("axis", 0), static_cast<int64_t>(input->size())));
  (*input)[axis] = Dimension{};
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(*input)));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateCompress(KernelBuildContext& build) {
  std::optional<int64_t> axis_attribute;
  if (build.node().HasAttribute("axis")) axis_attribute = build.node().GetInt("axis", 0);
  return MakeFunctionKernel([axis_attribute](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* condition, RequireTensor(context, 1, "condition"));
    if (condition->dtype() != DataType::kBool || condition->rank() != 1) {
      return core::InvalidArgument("condition must be a 1-D bool tensor, got {}", condition->DebugString());
    }
    // Without an axis the input is read flattened.
    int64_t axis = 0;
    TensorShape input_shape = {input->element_count()};
    if (axis_attribute) {
      ASSIGN_OR_RETURN(axis, core::NormalizeAxis(*axis_attribute, input->rank()));
      input_shape = input->shape();
    }
    const int64_t dim = input_shape[axis];
    const bool* keep = condition->data<bool>();
    std::vector<int64_t> selected;
    for (int64_t i = 0; i < condition->element_count(); ++i) {
      if (!keep[i]) continue;
      if (i >= dim) return core::InvalidArgument("condition is true at {}, beyond dimension {}", i, dim);
      selected.push_back(i);
    }
    TensorShape shape = input_shape;
    shape[axis] = static_cast<int64_t>(selected.size());
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, input->dtype(), std::move(shape)));
    if (out->element_count() == 0) return Status::Ok();
    const int64_t outer = Product(input_shape, 0, axis);
    const int64_t inner = Product(input_shape, axis + 1, input_shape.size());
    const int64_t count = static_cast<int64_t>(selected.size());
    return ForStorageType(input->dtype(), [&]<typename T>() {
      const T* src = input->data<T>();
      T* dst = out->data<T>();
      core::ParallelFor(outer * count, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
          const int64_t o = unit / count;
          std::copy_n(src + (o * dim + selected[unit % count]) * inner, inner, dst + unit * inner);
        }
      });
    });
  });
}

// ----------------------------------------------------------------------------
// NonZero: int64 [rank, count] coordinates of the non-zero elements, in
// row-major order. A scalar reads as a 1-element vector (as numpy does).

template <typename T>
bool IsNonZero(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return !value.empty();
  } else if constexpr (std::is_arithmetic_v<T>) {
    return value != T(0);
  } else {
    return static_cast<float>(value) != 0.0f;
  }
}

Status InferNonZero(InferenceContext& context) {
  auto input = InputDims(context, 0);
  if (!input) {
    context.set_output_type(0, ValueType::TensorOfRank(DataType::kInt64, 2));
    return Status::Ok();
  }
  context.set_output_type(
      0, ValueType::Tensor(DataType::kInt64,
                           {KnownDim(std::max<int64_t>(1, static_cast<int64_t>(input->size()))), Dimension{}}));
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateNonZero(KernelBuildContext&) {
  return MakeFunctionKernel([](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "X"));
    TensorShape shape = input->rank() == 0 ? TensorShape{1} : input->shape();
    const size_t rank = shape.size();
    const int64_t count = input->element_count();
    std::vector<int64_t> positions;
    bool supported = core::VisitAnyType(input->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        const T* data = input->data<T>();
        for (int64_t i = 0; i < count; ++i) {
          if (IsNonZero(data[i])) positions.push_back(i);
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("element type {} is not supported", core::DataTypeName(input->dtype()));
    const int64_t found = static_cast<int64_t>(positions.size());
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kInt64, {static_cast<int64_t>(rank), found}));
    int64_t* coordinates = out->data<int64_t>();
    for (int64_t n = 0; n < found; ++n) {
      int64_t rest = positions[n];
      for (size_t a = rank; a-- > 0;) {
        coordinates[a * found + n] = rest % shape[a];
        rest /= shape[a];
      }
    }
    return Status::Ok();
  });
}

// ----------------------------------------------------------------------------
// Unique: distinct elements (or slices along `axis`), sorted or in order of
// first occurrence, with first-occurrence indices, inverse indices and counts.

// A strict weak order on elements: NaNs sort last and equal each other (as
// numpy's unique treats them), so sorting never sees an inconsistent order.
template <typename T>
int CompareElements(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, std::string> || std::is_integral_v<T>) {
    return a < b ? -1 : (b < a ? 1 : 0);
  } else {
    const auto x = static_cast<ComputeType<T>>(a);
    const auto y = static_cast<ComputeType<T>>(b);
    const bool x_nan = std::isnan(x), y_nan = std::isnan(y);
    if (x_nan || y_nan) return x_nan == y_nan ? 0 : (x_nan ? 1 : -1);
    return x < y ? -1 : (y < x ? 1 : 0);
  }
}

Status InferUnique(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  auto input = InputDims(context, 0);
  const Node& node = context.node();
  if (node.HasAttribute("axis") && input) {
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(node.GetInt("axis", 0), static_cast<int64_t>(input->size())));
    std::vector<Dimension> dims = *input;
    const Dimension along = dims[axis];
    dims[axis] = Dimension{};
    context.set_output_type(0, ValueType::Tensor(dtype, std::move(dims)));
    if (context.output_count() > 2) context.set_output_type(2, ValueType::Tensor(DataType::kInt64, {along}));
  } else {
    context.set_output_type(
        0, node.HasAttribute("axis") ? ValueType::TensorUnknownShape(dtype) : ValueType::TensorOfRank(dtype, 1));
    if (context.output_count() > 2) {
      Dimension total = KnownDim(1);
      if (!input || node.HasAttribute("axis")) total = Dimension{};
      if (input && total.known()) {
        auto count = core::CheckedElementCount(DimsToShape(*input));
        total = count.ok() ? KnownDim(*count) : Dimension{};
      }
      context.set_output_type(2, ValueType::Tensor(DataType::kInt64, {total}));
    }
  }
  if (context.output_count() > 1) context.set_output_type(1, ValueType::TensorOfRank(DataType::kInt64, 1));
  if (context.output_count() > 3) context.set_output_type(3, ValueType::TensorOfRank(DataType::kInt64, 1));
  return Status::Ok();
}

struct UniqueResult {
  std::vector<int64_t> firsts;   // per unique item: its first occurrence
  std::vector<int64_t> inverse;  // per item: index of its unique item
  std::vector<int64_t> counts;
};

// Groups `items` items with `compare(a, b)` (three-way) into unique ones.
template <typename Compare>
UniqueResult GroupUnique(int64_t items, bool sorted, Compare compare) {
  std::vector<int64_t> order(static_cast<size_t>(items));
  std::iota(order.begin(), order.end(), 0);
  // Stable, so the first of each run of equal items is its first occurrence.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return compare(a, b) < 0; });
  std::vector<int64_t> group_of(static_cast<size_t>(items));
  std::vector<int64_t> group_first;
  std::vector<int64_t> group_count;
  for (int64_t n = 0; n < items; ++n) {
    if (n == 0 || compare(order[n - 1], order[n]) != 0) {
      group_first.push_back(order[n]);
      group_count.push_back(0);
    }
    group_of[order[n]] = static_cast<int64_t>(group_first.size()) - 1;
    ++group_count.back();
  }
  // Output position of each group: sorted order, or order of first occurrence.
  const size_t groups = group_first.size();
  std::vector<int64_t> rank(groups);
  std::iota(rank.begin(), rank.end(), 0);
  if (!sorted) {
    std::vector<int64_t> by_first(groups);
    std::iota(by_first.begin(), by_first.end(), 0);
    std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return group_first[a] < group_first[b]; });
    for (size_t i = 0; i < groups; ++i) rank[by_first[i]] = static_cast<int64_t>(i);
  }
  UniqueResult result;
  result.firsts.resize(groups);
  result.counts.resize(groups);
  for (size_t g = 0; g < groups; ++g) {
    result.firsts[rank[g]] = group_first[g];
    result.counts[rank[g]] = group_count[g];
  }
  result.inverse.resize(static_cast<size_t>(items));
  for (int64_t n = 0; n < items; ++n) result.inverse[n] = rank[group_of[n]];
  return result;
}

Status WriteInt64Output(KernelContext& context, int index, const std::vector<int64_t>& values) {
  if (index >= context.output_count() || !context.output_wanted(index)) return Status::Ok();
  ASSIGN_OR_RETURN(Tensor * out,
                   context.AllocateOutput(index, DataType::kInt64, {static_cast<int64_t>(values.size())}));
  std::copy(values.begin(), values.end(), out->data<int64_t>());
  return Status::Ok();
}

Result<std::unique_ptr<Kernel>> CreateUnique(KernelBuildContext& build) {
  const bool sorted = build.node().GetInt("sorted", 1) != 0;
  std::optional<int64_t> axis_attribute;
  if (build.node().HasAttribute("axis")) axis_attribute = build.node().GetInt("axis", 0);
  return MakeFunctionKernel([sorted, axis_attribute](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "X"));
    // Items are slices [outer, 1, inner] along the axis, or single elements.
    TensorShape shape = {input->element_count()};
    int64_t axis = 0;
    if (axis_attribute) {
      ASSIGN_OR_RETURN(axis, core::NormalizeAxis(*axis_attribute, input->rank()));
      shape = input->shape();
    }
    const int64_t items = shape[axis];
    const int64_t outer = Product(shape, 0, axis);
    const int64_t inner = Product(shape, axis + 1, shape.size());
    UniqueResult result;
    Status status;
    bool supported = core::VisitAnyType(input->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        const T* data = input->data<T>();
        result = GroupUnique(items, sorted, [&](int64_t a, int64_t b) {
          for (int64_t o = 0; o < outer; ++o) {
            const T* x = data + (o * items + a) * inner;
            const T* y = data + (o * items + b) * inner;
            for (int64_t i = 0; i < inner; ++i) {
              if (int c = CompareElements(x[i], y[i])) return c;
            }
          }
          return 0;
        });
        TensorShape out_shape = axis_attribute ? input->shape() : TensorShape{0};
        out_shape[axis] = static_cast<int64_t>(result.firsts.size());
        auto out = context.AllocateOutput(0, input->dtype(), out_shape);
        if (!out.ok()) {
          status = out.status();
          return true;
        }
        T* dst = (*out)->data<T>();
        const int64_t unique = static_cast<int64_t>(result.firsts.size());
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t u = 0; u < unique; ++u) {
            std::copy_n(data + (o * items + result.firsts[u]) * inner, inner, dst + (o * unique + u) * inner);
          }
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("element type {} is not supported", core::DataTypeName(input->dtype()));
    RETURN_IF_ERROR(status);
    RETURN_IF_ERROR(WriteInt64Output(context, 1, result.firsts));
    RETURN_IF_ERROR(WriteInt64Output(context, 2, result.inverse));
    return WriteInt64Output(context, 3, result.counts);
  });
}

// ----------------------------------------------------------------------------
// ReverseSequence: reverses the first sequence_lens[b] steps of every batch
// entry b along the time axis; the rest is copied.

struct SequenceAxes {
  int64_t batch = 1;
  int64_t time = 0;
};

Result<SequenceAxes> ParseSequenceAxes(const Node& node) {
  SequenceAxes axes{node.GetInt("batch_axis", 1), node.GetInt("time_axis", 0)};
  if ((axes.batch != 0 && axes.batch != 1) || (axes.time != 0 && axes.time != 1) || axes.batch == axes.time) {
    return core::InvalidArgument("batch_axis ({}) and time_axis ({}) must be 0 and 1 in some order", axes.batch,
                                 axes.time);
  }
  return axes;
}

Result<std::unique_ptr<Kernel>> CreateReverseSequence(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(SequenceAxes axes, ParseSequenceAxes(build.node()));
  return MakeFunctionKernel([axes](KernelContext& context) -> Status {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* lengths_input, RequireTensor(context, 1, "sequence_lens"));
    if (input->rank() < 2) return core::InvalidArgument("input must have rank >= 2, got {}", input->rank());
    const int64_t batches = input->dim(axes.batch);
    const int64_t steps = input->dim(axes.time);
    ASSIGN_OR_RETURN(std::vector<int64_t> lengths, ReadShapeInput(*lengths_input, "sequence_lens"));
    if (static_cast<int64_t>(lengths.size()) != batches) {
      return core::InvalidArgument("sequence_lens has {} values for batch size {}", lengths.size(), batches);
    }
    for (size_t b = 0; b < lengths.size(); ++b) {
      if (lengths[b] < 0 || lengths[b] > steps) {
        return core::InvalidArgument("sequence_lens[{}] = {} is outside [0, {}]", b, lengths[b], steps);
      }
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, input->dtype(), input->shape()));
    if (out->element_count() == 0) return Status::Ok();
    const int64_t inner = Product(input->shape(), 2, input->shape().size());
    const int64_t batch_stride = (axes.batch == 0 ? steps : 1) * inner;
    const int64_t time_stride = (axes.time == 0 ? batches : 1) * inner;
    return ForStorageType(input->dtype(), [&]<typename T>() {
      const T* src = input->data<T>();
      T* dst = out->data<T>();
      core::ParallelFor(batches * steps, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
        for (int64_t unit = begin; unit < end; ++unit) {
          const int64_t b = unit / steps;
          const int64_t t = unit % steps;
          const int64_t from = t < lengths[b] ? lengths[b] - 1 - t : t;
          std::copy_n(src + b * batch_stride + from * time_stride, inner, dst + b * batch_stride + t * time_stride);
        }
      });
    });
  });
}

}  // namespace

void RegisterGatherSelectKernels(OpRegistry& registry) {
  registry.Register("", "Compress", {9, 11}, InferCompress, CreateCompress);
  registry.Register("", "NonZero", {9, 13}, InferNonZero, CreateNonZero);
  registry.Register("", "Unique", {11}, InferUnique, CreateUnique);
  registry.Register("", "ReverseSequence", {10}, InferSameAsInput, CreateReverseSequence);
}

}  // namespace berth::engine

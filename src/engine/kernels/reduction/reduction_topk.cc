// TopK: the k largest (or smallest) elements along an axis, with indices.
//
// Ties keep the smaller index first, as the spec asks; NaN sorts above every
// number (like numpy's sort). Output is always sorted, which also satisfies
// sorted=0 (order unspecified).
#include <algorithm>
#include <optional>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

struct TopKAttributes {
  int64_t axis = -1;
  bool largest = true;
  std::optional<int64_t> k_attribute;  // opset 1 only
};

TopKAttributes ParseTopKAttributes(const Node& node) {
  TopKAttributes attributes;
  attributes.axis = node.GetInt("axis", -1);
  attributes.largest = node.GetInt("largest", 1) != 0;
  if (node.opset < 10) attributes.k_attribute = node.GetInt("k", -1);
  return attributes;
}

Result<int64_t> ReadK(const Tensor* k) {
  if (!k) return core::InvalidArgument("input 1 (K) is missing");
  if (k->dtype() != DataType::kInt64 && k->dtype() != DataType::kInt32) {
    return core::InvalidArgument("K must be int64, got {}", core::DataTypeName(k->dtype()));
  }
  if (k->element_count() != 1 || k->rank() > 1) {
    return core::InvalidArgument("K must hold exactly one value, got shape {}", core::ShapeToString(k->shape()));
  }
  return k->IntegerAt(0);
}

template <typename C>
struct Entry {
  C value;
  int64_t index;
};

// Strict order "a comes before b".
template <bool kLargest, typename C>
inline bool Before(const Entry<C>& a, const Entry<C>& b) {
  if constexpr (std::is_floating_point_v<C>) {
    const bool a_nan = a.value != a.value;
    const bool b_nan = b.value != b.value;
    if (a_nan || b_nan) {
      if (a_nan && b_nan) return a.index < b.index;
      return kLargest ? a_nan : b_nan;  // NaN is the largest value
    }
  }
  if (a.value != b.value) return kLargest ? a.value > b.value : a.value < b.value;
  return a.index < b.index;
}

template <bool kLargest, typename T>
void TopKSlices(const T* x, T* values, int64_t* indices, int64_t outer, int64_t n, int64_t inner, int64_t k) {
  using C = ComputeType<T>;
  const int64_t slices = outer * inner;
  const int64_t cost = n + k * 8;
  core::ParallelFor(slices, std::max<int64_t>(1, 16384 / std::max<int64_t>(cost, 1)), [&](int64_t begin, int64_t end) {
    std::vector<Entry<C>> entries(static_cast<size_t>(n));
    auto before = [](const Entry<C>& a, const Entry<C>& b) { return Before<kLargest>(a, b); };
    for (int64_t s = begin; s < end; ++s) {
      const int64_t o = s / inner;
      const int64_t i = s % inner;
      const T* src = x + o * n * inner + i;
      for (int64_t j = 0; j < n; ++j) entries[j] = Entry<C>{static_cast<C>(src[j * inner]), j};
      if (k == 1) {
        entries[0] = *std::min_element(entries.begin(), entries.end(), before);
      } else if (k < n) {
        std::partial_sort(entries.begin(), entries.begin() + k, entries.end(), before);
      } else {
        std::sort(entries.begin(), entries.end(), before);
      }
      T* value_out = values ? values + o * k * inner + i : nullptr;
      int64_t* index_out = indices ? indices + o * k * inner + i : nullptr;
      for (int64_t j = 0; j < k; ++j) {
        if (value_out) {
          value_out[j * inner] = StoreAs<T>(entries[j].value);
        }
        if (index_out) index_out[j * inner] = entries[j].index;
      }
    }
  });
}

Status InferTopK(InferenceContext& context) {
  const TopKAttributes attributes = ParseTopKAttributes(context.node());
  const DataType dtype = InputDtype(context, 0);
  std::optional<TensorShape> input_shape = InputShapeOrUnknownOutput(context, dtype);
  if (!input_shape) {
    SetUnknownShape(context, 1, DataType::kInt64);
    return Status::Ok();
  }
  TensorShape& shape = *input_shape;
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(attributes.axis, static_cast<int64_t>(shape.size())));
  int64_t k = -1;
  if (attributes.k_attribute) {
    k = *attributes.k_attribute;
  } else if (const Tensor* k_value = context.input_value(1)) {
    ASSIGN_OR_RETURN(k, ReadK(k_value));
  }
  shape[axis] = k >= 0 ? k : -1;
  context.set_output_type(0, ValueType::TensorFromShape(dtype, shape));
  context.set_output_type(1, ValueType::TensorFromShape(DataType::kInt64, shape));
  return Status::Ok();
}

class TopKKernel : public Kernel {
 public:
  explicit TopKKernel(TopKAttributes attributes) : attributes_(attributes) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "X"));
    int64_t k = 0;
    if (attributes_.k_attribute) {
      k = *attributes_.k_attribute;
    } else {
      ASSIGN_OR_RETURN(k, ReadK(context.input_tensor(1)));
    }
    if (x->rank() == 0) return core::InvalidArgument("X must have rank at least 1");
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(attributes_.axis, x->rank()));
    const int64_t n = x->dim(axis);
    if (k < 0 || k > n) return core::InvalidArgument("k = {} is out of range for axis {} of size {}", k, axis, n);
    TensorShape shape = x->shape();
    shape[axis] = k;
    int64_t outer = 1;
    int64_t inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x->dim(d);
    for (int64_t d = axis + 1; d < x->rank(); ++d) inner *= x->dim(d);
    ASSIGN_OR_RETURN(Tensor * values, context.AllocateOutput(0, x->dtype(), shape));
    Tensor* indices = nullptr;
    if (context.output_count() > 1 && context.output_wanted(1)) {
      ASSIGN_OR_RETURN(indices, context.AllocateOutput(1, DataType::kInt64, shape));
    }
    if (values->element_count() == 0) return Status::Ok();
    bool supported = core::VisitNumericType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        int64_t* index_data = indices ? indices->data<int64_t>() : nullptr;
        if (attributes_.largest) {
          TopKSlices<true>(x->data<T>(), values->data<T>(), index_data, outer, n, inner, k);
        } else {
          TopKSlices<false>(x->data<T>(), values->data<T>(), index_data, outer, n, inner, k);
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  TopKAttributes attributes_;
};

}  // namespace

void RegisterReductionTopKKernels(OpRegistry& registry) {
  // 1: k attribute; 10: k input; 11: largest / sorted and more types.
  registry.Register("", "TopK", {1, 10, 11}, InferTopK,
                    [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
                      TopKAttributes attributes = ParseTopKAttributes(build.node());
                      if (attributes.k_attribute && *attributes.k_attribute < 0) {
                        return core::InvalidArgument("attribute k = {} must not be negative", *attributes.k_attribute);
                      }
                      return std::unique_ptr<Kernel>(std::make_unique<TopKKernel>(attributes));
                    });
}

}  // namespace berth::engine

// ArgMax / ArgMin (index of the extreme along one axis) and CumSum.
//
// Both view the input as [outer, n, inner] around their axis. With inner == 1
// each slice is a contiguous scan; otherwise a row of `inner` running values
// is carried along the axis so the innermost loop stays contiguous.
#include <algorithm>
#include <cmath>

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

template <typename C>
bool IsNan(C x) {
  if constexpr (std::is_floating_point_v<C>) {
    return x != x;
  } else {
    return false;
  }
}

// [outer, n, inner] around `axis`.
struct AxisView {
  int64_t outer = 1;
  int64_t n = 1;
  int64_t inner = 1;
};

AxisView ViewAround(const TensorShape& shape, int64_t axis) {
  AxisView view;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) {
      view.outer *= shape[d];
    } else if (d == axis) {
      view.n = shape[d];
    } else {
      view.inner *= shape[d];
    }
  }
  return view;
}

// Splits [outer, inner] work into items of (outer index, inner column chunk)
// so that a tensor with few outer slices still spreads over the threads.
struct ColumnChunks {
  int64_t chunks = 1;
  int64_t width = 1;
  int64_t items = 0;
};

ColumnChunks SplitColumns(const AxisView& view) {
  ColumnChunks split;
  const int64_t threads = core::IntraOpThreads();
  if (view.outer < threads && view.inner > 1) {
    split.chunks = std::clamp<int64_t>((2 * threads + view.outer - 1) / view.outer, 1, (view.inner + 63) / 64);
  }
  split.width = (view.inner + split.chunks - 1) / split.chunks;
  split.items = view.outer * split.chunks;
  return split;
}

// ---------------------------------------------------------------------------
// ArgMax / ArgMin

struct ArgAttributes {
  int64_t axis = 0;
  bool keepdims = true;
  bool select_last_index = false;
};

ArgAttributes ParseArgAttributes(const Node& node) {
  ArgAttributes attributes;
  attributes.axis = node.GetInt("axis", 0);
  attributes.keepdims = node.GetInt("keepdims", 1) != 0;
  attributes.select_last_index = node.GetInt("select_last_index", 0) != 0;
  return attributes;
}

TensorShape ArgOutputShape(const TensorShape& shape, int64_t axis, bool keepdims) {
  TensorShape out;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d != axis) {
      out.push_back(shape[d]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

// NaN ranks above every number for both ops (numpy's argmax/argmin both
// return the first NaN); ties go to the first index unless select_last.
template <bool kMax, bool kLast, typename C>
inline bool Replaces(C candidate, C best) {
  if constexpr (std::is_floating_point_v<C>) {
    if (IsNan(best)) return kLast && IsNan(candidate);
    if (IsNan(candidate)) return true;
  }
  if constexpr (kMax) {
    return kLast ? candidate >= best : candidate > best;
  } else {
    return kLast ? candidate <= best : candidate < best;
  }
}

template <bool kMax, bool kLast, typename T>
void ArgExtreme(const T* x, int64_t* y, const AxisView& view) {
  using C = ComputeType<T>;
  if (view.inner == 1) {
    core::ParallelFor(view.outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(view.n, 1)),
                      [&](int64_t begin, int64_t end) {
                        for (int64_t o = begin; o < end; ++o) {
                          const T* row = x + o * view.n;
                          C best = static_cast<C>(row[0]);
                          int64_t best_index = 0;
                          for (int64_t i = 1; i < view.n; ++i) {
                            C value = static_cast<C>(row[i]);
                            if (Replaces<kMax, kLast>(value, best)) {
                              best = value;
                              best_index = i;
                            }
                          }
                          y[o] = best_index;
                        }
                      });
    return;
  }
  const ColumnChunks split = SplitColumns(view);
  core::ParallelFor(split.items, std::max<int64_t>(1, 32768 / std::max<int64_t>(view.n * split.width, 1)),
                    [&](int64_t begin, int64_t end) {
                      std::vector<C> best(static_cast<size_t>(split.width));
                      for (int64_t item = begin; item < end; ++item) {
                        const int64_t o = item / split.chunks;
                        const int64_t k0 = (item % split.chunks) * split.width;
                        const int64_t count = std::min(view.inner, k0 + split.width) - k0;
                        if (count <= 0) continue;
                        const T* slice = x + o * view.n * view.inner + k0;
                        int64_t* out = y + o * view.inner + k0;
                        for (int64_t k = 0; k < count; ++k) {
                          best[k] = static_cast<C>(slice[k]);
                          out[k] = 0;
                        }
                        for (int64_t i = 1; i < view.n; ++i) {
                          const T* row = slice + i * view.inner;
                          for (int64_t k = 0; k < count; ++k) {
                            C value = static_cast<C>(row[k]);
                            if (Replaces<kMax, kLast>(value, best[k])) {
                              best[k] = value;
                              out[k] = i;
                            }
                          }
                        }
                      }
                    });
}

Status InferArg(InferenceContext& context) {
  const ArgAttributes attributes = ParseArgAttributes(context.node());
  const std::optional<TensorShape> input_shape = InputShapeOrUnknownOutput(context, DataType::kInt64);
  if (!input_shape) return Status::Ok();
  const TensorShape& shape = *input_shape;
  ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(attributes.axis, static_cast<int64_t>(shape.size())));
  context.set_output_type(
      0, ValueType::TensorFromShape(DataType::kInt64, ArgOutputShape(shape, axis, attributes.keepdims)));
  return Status::Ok();
}

template <bool kMax>
class ArgKernel : public Kernel {
 public:
  explicit ArgKernel(ArgAttributes attributes) : attributes_(attributes) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "data"));
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(attributes_.axis, x->rank()));
    const AxisView view = ViewAround(x->shape(), axis);
    if (view.n == 0 && view.outer * view.inner > 0) {
      return core::InvalidArgument("cannot take the index of an extreme along axis {} of size 0 (shape {})", axis,
                                   core::ShapeToString(x->shape()));
    }
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, DataType::kInt64,
                                                        ArgOutputShape(x->shape(), axis, attributes_.keepdims)));
    if (y->element_count() == 0) return Status::Ok();
    bool supported = core::VisitNumericType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        if (attributes_.select_last_index) {
          ArgExtreme<kMax, true>(x->data<T>(), y->data<int64_t>(), view);
        } else {
          ArgExtreme<kMax, false>(x->data<T>(), y->data<int64_t>(), view);
        }
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  ArgAttributes attributes_;
};

// ---------------------------------------------------------------------------
// CumSum

template <typename C>
C AddWrapping(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    using U = std::make_unsigned_t<C>;
    return static_cast<C>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

template <typename T>
void CumulativeSum(const T* x, T* y, const AxisView& view, bool exclusive, bool reverse) {
  using C = ComputeType<T>;
  // Walk the axis forwards or backwards; `step` is in elements.
  const int64_t step = reverse ? -view.inner : view.inner;
  const int64_t first = reverse ? (view.n - 1) * view.inner : 0;
  const ColumnChunks split = SplitColumns(view);
  core::ParallelFor(split.items, std::max<int64_t>(1, 32768 / std::max<int64_t>(view.n * split.width, 1)),
                    [&](int64_t begin, int64_t end) {
                      std::vector<C> running(static_cast<size_t>(split.width));
                      for (int64_t item = begin; item < end; ++item) {
                        const int64_t o = item / split.chunks;
                        const int64_t k0 = (item % split.chunks) * split.width;
                        const int64_t count = std::min(view.inner, k0 + split.width) - k0;
                        if (count <= 0) continue;
                        const int64_t base = o * view.n * view.inner + k0 + first;
                        std::fill(running.begin(), running.begin() + count, C(0));
                        for (int64_t i = 0; i < view.n; ++i) {
                          const T* in = x + base + i * step;
                          T* out = y + base + i * step;
                          if (exclusive) {
                            for (int64_t k = 0; k < count; ++k) {
                              C value = static_cast<C>(in[k]);
                              out[k] = StoreAs<T>(running[k]);
                              running[k] = AddWrapping(running[k], value);
                            }
                          } else {
                            for (int64_t k = 0; k < count; ++k) {
                              running[k] = AddWrapping(running[k], static_cast<C>(in[k]));
                              out[k] = StoreAs<T>(running[k]);
                            }
                          }
                        }
                      }
                    });
}

class CumSumKernel : public Kernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "x"));
    ASSIGN_OR_RETURN(const Tensor* axis_tensor, RequireTensor(context, 1, "axis"));
    if (axis_tensor->dtype() != DataType::kInt32 && axis_tensor->dtype() != DataType::kInt64) {
      return core::InvalidArgument("axis must be int32 or int64, got {}", core::DataTypeName(axis_tensor->dtype()));
    }
    if (axis_tensor->element_count() != 1 || axis_tensor->rank() > 1) {
      return core::InvalidArgument("axis must hold exactly one value, got shape {}",
                                   core::ShapeToString(axis_tensor->shape()));
    }
    if (x->rank() == 0) return core::InvalidArgument("x must have rank at least 1");
    ASSIGN_OR_RETURN(int64_t axis, core::NormalizeAxis(axis_tensor->IntegerAt(0), x->rank()));
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), x->shape()));
    if (y->element_count() == 0) return Status::Ok();
    const AxisView view = ViewAround(x->shape(), axis);
    bool supported = core::VisitNumericType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        CumulativeSum(x->data<T>(), y->data<T>(), view, exclusive_, reverse_);
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  bool exclusive_;
  bool reverse_;
};

}  // namespace

void RegisterReductionIndexKernels(OpRegistry& registry) {
  // 11: negative axis; 12: select_last_index; 13: bfloat16.
  auto make_arg = []<bool kMax>() {
    return [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
      return std::unique_ptr<Kernel>(std::make_unique<ArgKernel<kMax>>(ParseArgAttributes(build.node())));
    };
  };
  registry.Register("", "ArgMax", {1, 11, 12, 13}, InferArg, make_arg.template operator()<true>());
  registry.Register("", "ArgMin", {1, 11, 12, 13}, InferArg, make_arg.template operator()<false>());

  // 14 adds half types.
  registry.Register(
      "", "CumSum", {11, 14}, InferSameAsInput, [](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        const Node& node = build.node();
        return std::unique_ptr<Kernel>(
            std::make_unique<CumSumKernel>(node.GetInt("exclusive", 0) != 0, node.GetInt("reverse", 0) != 0));
      });
}

}  // namespace berth::engine

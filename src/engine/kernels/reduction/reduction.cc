// Reduce* operators (ReduceSum, ReduceMean, ReduceMax, ...).
//
// One engine serves every op: the input is viewed as groups of adjacent axes
// that are either all reduced or all kept (size-1 axes dropped), and each op
// is an accumulator (Init / Add / Merge / Finish). Two layouts cover every
// case with contiguous inner loops:
//   - the innermost group is reduced: each output folds contiguous runs;
//   - the innermost group is kept: each output row is a vector accumulated
//     over the reduced rows.
// Work is split over outputs; when there are too few outputs to keep the
// threads busy (e.g. reduce everything), the reduced elements themselves are
// split and the partial accumulators merged.
#include <algorithm>
#include <cmath>
#include <limits>
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

// What an element is accumulated as: floats in double (long sums stay
// accurate, and reductions are memory-bound so the wider adds cost nothing),
// integers widened to 64 bits (sums wrap like two's complement instead of
// overflowing).
template <typename T>
struct WideComputeTypeOf {
  using type = T;
};
template <>
struct WideComputeTypeOf<float> {
  using type = double;
};
template <>
struct WideComputeTypeOf<core::Float16> {
  using type = double;
};
template <>
struct WideComputeTypeOf<core::BFloat16> {
  using type = double;
};
template <>
struct WideComputeTypeOf<int8_t> {
  using type = int64_t;
};
template <>
struct WideComputeTypeOf<int16_t> {
  using type = int64_t;
};
template <>
struct WideComputeTypeOf<int32_t> {
  using type = int64_t;
};
template <>
struct WideComputeTypeOf<uint8_t> {
  using type = uint64_t;
};
template <>
struct WideComputeTypeOf<uint16_t> {
  using type = uint64_t;
};
template <>
struct WideComputeTypeOf<uint32_t> {
  using type = uint64_t;
};
template <typename T>
using WideComputeType = typename WideComputeTypeOf<T>::type;
// Max and Min need no widening (and their empty-set value is the input
// type's lowest / highest value).
template <typename T>
using NarrowComputeType = std::conditional_t<std::is_same_v<T, bool>, uint8_t, ComputeType<T>>;

// Integer arithmetic that wraps instead of invoking signed-overflow UB.
template <typename C>
C WrapAdd(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    return static_cast<C>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  } else {
    return a + b;
  }
}
template <typename C>
C WrapMul(C a, C b) {
  if constexpr (std::is_integral_v<C>) {
    return static_cast<C>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return a * b;
  }
}
template <typename C>
C Magnitude(C x) {
  if constexpr (std::is_unsigned_v<C>) {
    return x;
  } else if constexpr (std::is_integral_v<C>) {
    return x < 0 ? static_cast<C>(uint64_t{0} - static_cast<uint64_t>(x)) : x;
  } else {
    return std::fabs(x);
  }
}
// Floating results of integer inputs (sqrt, log) are truncated like a Cast.
template <typename C, typename F>
C FloatingResult(F value) {
  if constexpr (std::is_integral_v<C>) {
    if (!(value == value)) return 0;
    if (value >= static_cast<F>(std::numeric_limits<C>::max())) return std::numeric_limits<C>::max();
    if (value <= static_cast<F>(std::numeric_limits<C>::lowest())) return std::numeric_limits<C>::lowest();
    return static_cast<C>(value);
  } else {
    return static_cast<C>(value);
  }
}
template <typename C>
using FloatOf = std::conditional_t<std::is_floating_point_v<C>, C, double>;

// ---------------------------------------------------------------------------
// Accumulators. Each op is a template over the compute type C.

// Sums MapFn(x) with wrapping addition, then FinishFn(sum, count): the family
// of Sum, Mean, L1, L2, SumSquare and LogSum.
template <typename MapFn, typename FinishFn>
struct AdditiveOp {
  static constexpr bool kWiden = true;
  template <typename C>
  struct Impl {
    using Acc = C;
    static Acc Init() { return C(0); }
    static void Add(Acc& a, C x) { a = WrapAdd(a, MapFn::Apply(x)); }
    static void Merge(Acc& a, const Acc& b) { a = WrapAdd(a, b); }
    static C Finish(const Acc& a, int64_t count) { return FinishFn::Apply(a, count); }
  };
};

struct Identity {
  template <typename C>
  static C Apply(C x) {
    return x;
  }
};
struct AbsoluteValue {
  template <typename C>
  static C Apply(C x) {
    return Magnitude(x);
  }
};
struct Square {
  template <typename C>
  static C Apply(C x) {
    return WrapMul(x, x);
  }
};

struct Total {
  template <typename C>
  static C Apply(C sum, int64_t) {
    return sum;
  }
};
struct Average {
  template <typename C>
  static C Apply(C sum, int64_t count) {
    if constexpr (std::is_integral_v<C>) {
      return count > 0 ? static_cast<C>(sum / static_cast<C>(count)) : C(0);
    } else {
      return sum / static_cast<C>(count);  // empty set: 0/0 = NaN
    }
  }
};
struct SquareRoot {
  template <typename C>
  static C Apply(C sum, int64_t) {
    return FloatingResult<C>(std::sqrt(static_cast<FloatOf<C>>(sum)));
  }
};
struct Logarithm {
  template <typename C>
  static C Apply(C sum, int64_t) {
    return FloatingResult<C>(std::log(static_cast<FloatOf<C>>(sum)));
  }
};

using SumOp = AdditiveOp<Identity, Total>;
using MeanOp = AdditiveOp<Identity, Average>;
using L1Op = AdditiveOp<AbsoluteValue, Total>;
using SumSquareOp = AdditiveOp<Square, Total>;
using L2Op = AdditiveOp<Square, SquareRoot>;
using LogSumOp = AdditiveOp<Identity, Logarithm>;

struct ProdOp {
  static constexpr bool kWiden = true;
  template <typename C>
  struct Impl {
    using Acc = C;
    static Acc Init() { return C(1); }
    static void Add(Acc& a, C x) { a = WrapMul(a, x); }
    static void Merge(Acc& a, const Acc& b) { a = WrapMul(a, b); }
    static C Finish(const Acc& a, int64_t) { return a; }
  };
};

// Max (kMax) or Min, exact in the input type. Empty set: -inf / +inf where
// the type has them, else the lowest / highest value. NaN propagates.
template <bool kMax>
struct ExtremumOp {
  static constexpr bool kWiden = false;
  template <typename C>
  struct Impl {
    using Acc = C;
    static Acc Init() {
      if constexpr (std::is_floating_point_v<C>) {
        return kMax ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
      }
      return kMax ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
    static void Add(Acc& a, C x) {
      const bool better = kMax ? x > a : x < a;
      if constexpr (std::is_floating_point_v<C>) {
        if (better || x != x) a = x;
      } else {
        if (better) a = x;
      }
    }
    static void Merge(Acc& a, const Acc& b) { Add(a, b); }
    static C Finish(const Acc& a, int64_t) { return a; }
  };
};

using MaxOp = ExtremumOp<true>;
using MinOp = ExtremumOp<false>;

// log(sum(exp(x))) kept stable as (max m, sum of exp(x - m)).
struct LogSumExpOp {
  static constexpr bool kWiden = true;
  template <typename C>
  struct Impl {
    using F = FloatOf<C>;
    struct Acc {
      F max = -std::numeric_limits<F>::infinity();
      F sum = 0;
    };
    static Acc Init() { return Acc{}; }
    static void Add(Acc& a, C value) {
      F x = static_cast<F>(value);
      if (x > a.max) {
        a.sum = a.sum * std::exp(a.max - x) + F(1);
        a.max = x;
      } else if (x == a.max) {
        a.sum += F(1);  // also covers -inf == -inf and inf == inf
      } else {
        a.sum += std::exp(x - a.max);  // NaN in x or max makes the sum NaN
      }
    }
    static void Merge(Acc& a, const Acc& b) {
      if (b.sum == F(0)) return;
      if (a.sum == F(0)) {
        a = b;
      } else if (a.max == b.max) {
        a.sum += b.sum;
      } else if (a.max > b.max) {
        a.sum += b.sum * std::exp(b.max - a.max);
      } else {
        a.sum = b.sum + a.sum * std::exp(a.max - b.max);
        a.max = b.max;
      }
    }
    static C Finish(const Acc& a, int64_t) {
      if (a.sum == F(0)) return FloatingResult<C>(-std::numeric_limits<F>::infinity());
      return FloatingResult<C>(a.max + std::log(a.sum));
    }
  };
};

// Bool: ReduceMax is "any", ReduceMin is "all" (opset 20).
template <typename Op>
constexpr bool kSupportsBool = std::is_same_v<Op, MaxOp> || std::is_same_v<Op, MinOp>;

// ---------------------------------------------------------------------------
// The engine.

// Adjacent axes merged into groups that are all reduced or all kept.
struct ReduceLayout {
  std::vector<int64_t> dims;
  std::vector<int64_t> strides;
  std::vector<bool> reduced;
  int64_t output_count = 1;
  int64_t reduce_count = 1;  // elements folded into each output
};

ReduceLayout MakeLayout(const TensorShape& shape, const std::vector<bool>& reduce_mask) {
  ReduceLayout layout;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (reduce_mask[axis]) {
      layout.reduce_count *= shape[axis];
    } else {
      layout.output_count *= shape[axis];
    }
    if (shape[axis] == 1) continue;  // contributes nothing to either side
    if (!layout.dims.empty() && layout.reduced.back() == reduce_mask[axis]) {
      layout.dims.back() *= shape[axis];
    } else {
      layout.dims.push_back(shape[axis]);
      layout.reduced.push_back(reduce_mask[axis]);
    }
  }
  layout.strides = core::RowMajorStrides(layout.dims);
  return layout;
}

// Walks a set of (dim, stride) axes in row-major order, tracking the offset.
class Odometer {
 public:
  void AddAxis(int64_t dim, int64_t stride) {
    dims_.push_back(dim);
    strides_.push_back(stride);
    index_.push_back(0);
  }
  int64_t count() const {
    int64_t n = 1;
    for (int64_t d : dims_) n *= d;
    return n;
  }
  int64_t offset() const { return offset_; }
  void Seek(int64_t linear) {
    offset_ = 0;
    for (size_t i = dims_.size(); i-- > 0;) {
      index_[i] = linear % dims_[i];
      linear /= dims_[i];
      offset_ += index_[i] * strides_[i];
    }
  }
  void Next() {
    for (size_t i = dims_.size(); i-- > 0;) {
      offset_ += strides_[i];
      if (++index_[i] < dims_[i]) return;
      offset_ -= index_[i] * strides_[i];
      index_[i] = 0;
    }
  }

 private:
  std::vector<int64_t> dims_, strides_, index_;
  int64_t offset_ = 0;
};

// Folds n contiguous elements into acc; several independent lanes keep the
// loop vectorisable and the float sums more accurate than one running total.
template <typename R, typename C, typename T>
void AccumulateRun(typename R::Acc& acc, const T* x, int64_t n) {
  constexpr int kLanes = 8;
  if (n < 4 * kLanes) {
    for (int64_t i = 0; i < n; ++i) R::Add(acc, static_cast<C>(x[i]));
    return;
  }
  typename R::Acc lanes[kLanes];
  for (auto& lane : lanes) lane = R::Init();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) R::Add(lanes[j], static_cast<C>(x[i + j]));
  }
  for (int j = 0; i < n; ++i, ++j) R::Add(lanes[j], static_cast<C>(x[i]));
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) R::Merge(lanes[j], lanes[j + width]);
  }
  R::Merge(acc, lanes[0]);
}

// Innermost group reduced: each output folds reduce_count elements made of
// runs of `run` contiguous elements.
template <typename R, typename T, typename C>
void ReduceInnermost(const ReduceLayout& layout, const T* x, T* y) {
  using Acc = typename R::Acc;
  const int64_t run = layout.dims.back();
  Odometer kept, outer_reduced;
  for (size_t g = 0; g + 1 < layout.dims.size(); ++g) {
    (layout.reduced[g] ? outer_reduced : kept).AddAxis(layout.dims[g], layout.strides[g]);
  }
  const int64_t outputs = layout.output_count;
  const int64_t runs = outer_reduced.count();
  const int64_t per_output = runs * run;
  const int threads = core::IntraOpThreads();

  if (outputs >= 2 * threads || per_output * outputs < 65536) {
    core::ParallelFor(outputs, std::max<int64_t>(1, 32768 / std::max<int64_t>(per_output, 1)),
                      [&](int64_t begin, int64_t end) {
                        Odometer out_index = kept;
                        Odometer reduce_index = outer_reduced;
                        out_index.Seek(begin);
                        for (int64_t o = begin; o < end; ++o, out_index.Next()) {
                          Acc acc = R::Init();
                          reduce_index.Seek(0);
                          for (int64_t r = 0; r < runs; ++r, reduce_index.Next()) {
                            AccumulateRun<R, C>(acc, x + out_index.offset() + reduce_index.offset(), run);
                          }
                          y[o] = StoreAs<T>(R::Finish(acc, per_output));
                        }
                      });
    return;
  }

  // Few outputs, many elements each: split the flattened (output, element)
  // space into one piece per thread, each with its own partial results.
  const int64_t pieces = threads;
  const int64_t total = outputs * per_output;
  std::vector<Acc> partial(static_cast<size_t>(pieces * outputs), R::Init());
  core::ParallelFor(pieces, 1, [&](int64_t begin, int64_t end) {
    Odometer out_index = kept;
    Odometer reduce_index = outer_reduced;
    for (int64_t piece = begin; piece < end; ++piece) {
      Acc* acc = partial.data() + piece * outputs;
      int64_t position = total * piece / pieces;
      const int64_t stop = total * (piece + 1) / pieces;
      while (position < stop) {
        const int64_t o = position / per_output;
        const int64_t within = position % per_output;
        const int64_t r = within / run;
        const int64_t start = within % run;
        const int64_t n = std::min(run - start, stop - position);
        out_index.Seek(o);
        reduce_index.Seek(r);
        AccumulateRun<R, C>(acc[o], x + out_index.offset() + reduce_index.offset() + start, n);
        position += n;
      }
    }
  });
  for (int64_t o = 0; o < outputs; ++o) {
    Acc acc = partial[static_cast<size_t>(o)];
    for (int64_t piece = 1; piece < pieces; ++piece) R::Merge(acc, partial[static_cast<size_t>(piece * outputs + o)]);
    y[o] = StoreAs<T>(R::Finish(acc, per_output));
  }
}

// Innermost group kept (length `width`): each output row accumulates the
// matching contiguous row of every reduced position.
template <typename R, typename T, typename C>
void ReduceToRows(const ReduceLayout& layout, const T* x, T* y) {
  using Acc = typename R::Acc;
  const int64_t width = layout.dims.back();
  Odometer kept, reduced;
  for (size_t g = 0; g + 1 < layout.dims.size(); ++g) {
    (layout.reduced[g] ? reduced : kept).AddAxis(layout.dims[g], layout.strides[g]);
  }
  const int64_t rows = kept.count();
  const int64_t reduce_rows = reduced.count();
  // Split rows into column chunks when there are fewer rows than threads.
  const int64_t threads = core::IntraOpThreads();
  int64_t chunks = 1;
  if (rows < threads) chunks = std::clamp<int64_t>((2 * threads + rows - 1) / rows, 1, (width + 63) / 64);
  const int64_t chunk_width = (width + chunks - 1) / chunks;
  const int64_t items = rows * chunks;
  const int64_t cost = reduce_rows * chunk_width;
  core::ParallelFor(items, std::max<int64_t>(1, 32768 / std::max<int64_t>(cost, 1)), [&](int64_t begin, int64_t end) {
    std::vector<Acc> acc(static_cast<size_t>(chunk_width));
    Odometer row_index = kept;
    Odometer reduce_index = reduced;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row = item / chunks;
      const int64_t k0 = (item % chunks) * chunk_width;
      const int64_t n = std::min(width, k0 + chunk_width) - k0;
      if (n <= 0) continue;
      row_index.Seek(row);
      std::fill(acc.begin(), acc.begin() + n, R::Init());
      reduce_index.Seek(0);
      for (int64_t r = 0; r < reduce_rows; ++r, reduce_index.Next()) {
        const T* src = x + row_index.offset() + reduce_index.offset() + k0;
        for (int64_t k = 0; k < n; ++k) R::Add(acc[k], static_cast<C>(src[k]));
      }
      T* dst = y + row * width + k0;
      for (int64_t k = 0; k < n; ++k) dst[k] = StoreAs<T>(R::Finish(acc[k], reduce_rows));
    }
  });
}

template <typename Op, typename T>
void RunReduce(const ReduceLayout& layout, const T* x, T* y) {
  using C = std::conditional_t<Op::kWiden, WideComputeType<T>, NarrowComputeType<T>>;
  using R = typename Op::template Impl<C>;
  const int64_t outputs = layout.output_count;
  if (outputs == 0) return;
  if (layout.reduce_count == 0) {  // reduction over an empty set
    const T value = StoreAs<T>(R::Finish(R::Init(), 0));
    std::fill(y, y + outputs, value);
    return;
  }
  bool any_reduced = std::find(layout.reduced.begin(), layout.reduced.end(), true) != layout.reduced.end();
  if (!any_reduced) {  // every reduced axis has size 1: one element per output
    core::ParallelFor(outputs, 16384, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        typename R::Acc acc = R::Init();
        R::Add(acc, static_cast<C>(x[i]));
        y[i] = StoreAs<T>(R::Finish(acc, 1));
      }
    });
    return;
  }
  if (layout.reduced.back()) {
    ReduceInnermost<R, T, C>(layout, x, y);
  } else {
    ReduceToRows<R, T, C>(layout, x, y);
  }
}

// ---------------------------------------------------------------------------
// Axes, shapes and the kernel.

struct ReduceAttributes {
  bool keepdims = true;
  bool noop_with_empty_axes = false;
  bool axes_from_input = false;                        // opset >= 13 (Sum) / 18 (others)
  std::optional<std::vector<int64_t>> attribute_axes;  // older opsets
};

ReduceAttributes ParseAttributes(const Node& node, int axes_input_since) {
  ReduceAttributes attributes;
  attributes.keepdims = node.GetInt("keepdims", 1) != 0;
  attributes.axes_from_input = node.opset >= axes_input_since;
  if (attributes.axes_from_input) {
    attributes.noop_with_empty_axes = node.GetInt("noop_with_empty_axes", 0) != 0;
  } else if (node.HasAttribute("axes")) {
    attributes.attribute_axes = node.GetInts("axes");
  }
  return attributes;
}

// Which axes are reduced. Empty `axes` means all of them, or none with
// noop_with_empty_axes.
Result<std::vector<bool>> ReduceMask(const std::vector<int64_t>& axes, int64_t rank, bool noop_with_empty_axes) {
  std::vector<bool> mask(static_cast<size_t>(rank), axes.empty() && !noop_with_empty_axes);
  for (int64_t axis : axes) {
    ASSIGN_OR_RETURN(int64_t normalized, core::NormalizeAxis(axis, rank));
    if (mask[static_cast<size_t>(normalized)]) return core::InvalidArgument("axis {} is listed twice in axes", axis);
    mask[static_cast<size_t>(normalized)] = true;
  }
  return mask;
}

// Reads the optional axes input (opsets with axes as an input).
Result<std::vector<int64_t>> AxesFromInput(const Tensor* axes) {
  if (!axes) return std::vector<int64_t>{};
  if (axes->dtype() != DataType::kInt64 && axes->dtype() != DataType::kInt32) {
    return core::InvalidArgument("axes must be int64, got {}", core::DataTypeName(axes->dtype()));
  }
  if (axes->rank() > 1) return core::InvalidArgument("axes must be 1-D, got rank {}", axes->rank());
  return axes->ToInt64Vector();
}

TensorShape ReducedShape(const TensorShape& shape, const std::vector<bool>& mask, bool keepdims) {
  TensorShape out;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (!mask[axis]) {
      out.push_back(shape[axis]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

Status InferReduce(InferenceContext& context, int axes_input_since) {
  const ReduceAttributes attributes = ParseAttributes(context.node(), axes_input_since);
  const DataType dtype = InputDtype(context, 0);
  const std::optional<TensorShape> input_shape = InputShapeOrUnknownOutput(context, dtype);
  if (!input_shape) return Status::Ok();
  const TensorShape& shape = *input_shape;
  const int64_t rank = static_cast<int64_t>(shape.size());
  std::optional<std::vector<int64_t>> axes;
  if (!attributes.axes_from_input) {
    axes = attributes.attribute_axes.value_or(std::vector<int64_t>{});
  } else if (!context.has_input(1)) {
    axes = std::vector<int64_t>{};
  } else if (const Tensor* value = context.input_value(1)) {
    ASSIGN_OR_RETURN(axes, AxesFromInput(value));
  } else {
    const ValueType& axes_type = context.input_type(1);
    int64_t axes_count =
        axes_type.is_tensor() && axes_type.has_shape && axes_type.dims.size() == 1 ? axes_type.dims[0].value : -1;
    if (axes_count == 0) {
      axes = std::vector<int64_t>{};
    } else if (attributes.keepdims) {
      // Same rank; a dim of 1 stays 1 whether or not it is reduced.
      TensorShape out(shape.size(), -1);
      for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) out[d] = 1;
      }
      context.set_output_type(0, ValueType::TensorFromShape(dtype, out));
      return Status::Ok();
    } else if (axes_count > 0 && axes_count <= rank) {
      context.set_output_type(0, ValueType::TensorOfRank(dtype, rank - axes_count));
      return Status::Ok();
    } else {
      SetUnknownShape(context, 0, dtype);
      return Status::Ok();
    }
  }
  ASSIGN_OR_RETURN(std::vector<bool> mask, ReduceMask(*axes, rank, attributes.noop_with_empty_axes));
  context.set_output_type(0, ValueType::TensorFromShape(dtype, ReducedShape(shape, mask, attributes.keepdims)));
  return Status::Ok();
}

template <typename Op>
class ReduceKernel : public Kernel {
 public:
  explicit ReduceKernel(ReduceAttributes attributes) : attributes_(std::move(attributes)) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* x, RequireTensor(context, 0, "data"));
    std::vector<int64_t> axes;
    if (attributes_.axes_from_input) {
      ASSIGN_OR_RETURN(axes, AxesFromInput(context.input_tensor(1)));
    } else if (attributes_.attribute_axes) {
      axes = *attributes_.attribute_axes;
    }
    ASSIGN_OR_RETURN(std::vector<bool> mask, ReduceMask(axes, x->rank(), attributes_.noop_with_empty_axes));
    TensorShape out_shape = ReducedShape(x->shape(), mask, attributes_.keepdims);
    const ReduceLayout layout = MakeLayout(x->shape(), mask);
    ASSIGN_OR_RETURN(Tensor * y, context.AllocateOutput(0, x->dtype(), std::move(out_shape)));
    bool supported = core::VisitNumericOrBoolType(x->dtype(), [&]<typename T>() -> bool {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else if constexpr (std::is_same_v<T, bool> && !kSupportsBool<Op>) {
        return false;
      } else {
        RunReduce<Op, T>(layout, x->data<T>(), y->data<T>());
        return true;
      }
    });
    if (!supported) return core::Unimplemented("type {} is not supported", core::DataTypeName(x->dtype()));
    return Status::Ok();
  }

 private:
  ReduceAttributes attributes_;
};

template <typename Op>
void RegisterReduce(OpRegistry& registry, std::string_view name, std::initializer_list<int> versions,
                    int axes_input_since) {
  registry.Register(
      "", name, versions,
      [axes_input_since](InferenceContext& context) { return InferReduce(context, axes_input_since); },
      [axes_input_since](KernelBuildContext& build) -> Result<std::unique_ptr<Kernel>> {
        return std::unique_ptr<Kernel>(
            std::make_unique<ReduceKernel<Op>>(ParseAttributes(build.node(), axes_input_since)));
      });
}

}  // namespace

void RegisterReductionKernels(OpRegistry& registry) {
  // Versions: 11 allows negative axes, 12/13 widen types, ReduceSum takes
  // axes as an input from 13 and the others from 18; Max/Min accept bool at 20.
  RegisterReduce<SumOp>(registry, "ReduceSum", {1, 11, 13}, 13);
  RegisterReduce<MeanOp>(registry, "ReduceMean", {1, 11, 13, 18}, 18);
  RegisterReduce<MaxOp>(registry, "ReduceMax", {1, 11, 12, 13, 18, 20}, 18);
  RegisterReduce<MinOp>(registry, "ReduceMin", {1, 11, 12, 13, 18, 20}, 18);
  RegisterReduce<ProdOp>(registry, "ReduceProd", {1, 11, 13, 18}, 18);
  RegisterReduce<L1Op>(registry, "ReduceL1", {1, 11, 13, 18}, 18);
  RegisterReduce<L2Op>(registry, "ReduceL2", {1, 11, 13, 18}, 18);
  RegisterReduce<LogSumOp>(registry, "ReduceLogSum", {1, 11, 13, 18}, 18);
  RegisterReduce<LogSumExpOp>(registry, "ReduceLogSumExp", {1, 11, 13, 18}, 18);
  RegisterReduce<SumSquareOp>(registry, "ReduceSumSquare", {1, 11, 13, 18}, 18);
}

}  // namespace berth::engine

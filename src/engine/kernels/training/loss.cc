// Classification losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
//
// Both take scores of shape (N, C, d1..dk) and integer targets (N, d1..dk).
// Internally the scores are viewed as [N, C, D] with D = d1*...*dk, so one
// code path serves every rank. SoftmaxCrossEntropyLoss is a log-softmax over
// C followed by the same weighted gather and reduction as NLL.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/kernel_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

enum class Reduction { kNone, kSum, kMean };

struct LossAttributes {
  Reduction reduction = Reduction::kMean;
  bool has_ignore_index = false;
  int64_t ignore_index = 0;
};

Result<LossAttributes> ParseLossAttributes(const Node& node) {
  LossAttributes attributes;
  std::string reduction = node.GetString("reduction", "mean");
  if (reduction == "none") {
    attributes.reduction = Reduction::kNone;
  } else if (reduction == "sum") {
    attributes.reduction = Reduction::kSum;
  } else if (reduction == "mean") {
    attributes.reduction = Reduction::kMean;
  } else {
    return core::InvalidArgument("reduction '{}' is not one of none, sum, mean", reduction);
  }
  // ignore_index has no default: without it every target must be a class.
  if (const Attribute* attr = node.FindAttribute("ignore_index")) {
    attributes.has_ignore_index = true;
    attributes.ignore_index = attr->i;
  }
  return attributes;
}

// Output 0: the target's shape for reduction "none", a scalar otherwise;
// output 1 (SoftmaxCrossEntropyLoss's log_prob): the scores' type.
Status InferLoss(InferenceContext& context) {
  const Node& node = context.node();
  DataType dtype = InputDtype(context, 0);
  if (node.GetString("reduction", "mean") == "none") {
    const ValueType& target = context.input_type(1);
    if (target.is_tensor() && target.has_shape) {
      context.set_output_type(0, ValueType::Tensor(dtype, target.dims));
    } else {
      SetUnknownShape(context, 0, dtype);
    }
  } else {
    context.set_output_type(0, ValueType::TensorFromShape(dtype, {}));
  }
  if (context.output_count() > 1) {
    const ValueType& scores = context.input_type(0);
    context.set_output_type(1, scores.is_tensor() ? scores : ValueType::TensorUnknownShape(dtype));
  }
  return Status::Ok();
}

// The [N, C, D] view of validated scores/target/weight.
struct LossShape {
  int64_t batch = 0;    // N
  int64_t classes = 0;  // C
  int64_t inner = 0;    // D = d1 * ... * dk
};

Result<LossShape> CheckLossInputs(const Tensor& scores, const Tensor& target, const Tensor* weight) {
  if (scores.rank() < 2) {
    return core::InvalidArgument("scores must have rank >= 2 (N, C, ...), got shape {}",
                                 core::ShapeToString(scores.shape()));
  }
  if (target.rank() != scores.rank() - 1) {
    return core::InvalidArgument("target shape {} must have rank {} to match scores shape {}",
                                 core::ShapeToString(target.shape()), scores.rank() - 1,
                                 core::ShapeToString(scores.shape()));
  }
  for (int64_t axis = 0; axis < target.rank(); ++axis) {
    int64_t expected = scores.dim(axis == 0 ? 0 : axis + 1);
    if (target.dim(axis) != expected) {
      return core::InvalidArgument("target shape {} does not match scores shape {} (target dim {} should be {})",
                                   core::ShapeToString(target.shape()), core::ShapeToString(scores.shape()), axis,
                                   expected);
    }
  }
  if (target.dtype() != DataType::kInt32 && target.dtype() != DataType::kInt64) {
    return core::InvalidArgument("target must be int32 or int64, got {}", core::DataTypeName(target.dtype()));
  }
  LossShape shape;
  shape.batch = scores.dim(0);
  shape.classes = scores.dim(1);
  shape.inner = core::ElementCount(std::span<const int64_t>(scores.shape()).subspan(2));
  if (weight) {
    if (weight->dtype() != scores.dtype()) {
      return core::InvalidArgument("weight type {} differs from scores type {}", core::DataTypeName(weight->dtype()),
                                   core::DataTypeName(scores.dtype()));
    }
    if (weight->rank() != 1 || weight->dim(0) != shape.classes) {
      return core::InvalidArgument("weight must have shape [{}] (one per class), got {}", shape.classes,
                                   core::ShapeToString(weight->shape()));
    }
  }
  return shape;
}

// Converts a whole tensor of T to the compute type once (no per-element dispatch later).
template <typename T, typename C>
std::vector<C> ToCompute(const Tensor& tensor) {
  std::vector<C> out(static_cast<size_t>(tensor.element_count()));
  const T* in = tensor.data<T>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<C>(in[i]);
  return out;
}

// Per-position losses and applied weights, then the reduction. `log_prob`
// is [N, C, D] in compute type; targets are read as Index.
template <typename T, typename Index>
Status GatherAndReduce(const LossAttributes& attributes, const LossShape& shape, const FloatOrDouble<T>* log_prob,
                       const Index* target, const Tensor* weight, KernelContext& context,
                       const core::TensorShape& target_shape) {
  using C = FloatOrDouble<T>;
  const int64_t positions = shape.batch * shape.inner;
  std::vector<C> weights;
  if (weight) weights = ToCompute<T, C>(*weight);
  std::vector<C> losses(static_cast<size_t>(positions));
  std::vector<C> applied(static_cast<size_t>(positions));
  // First bad target seen by any thread; reported after the loop.
  std::atomic<int64_t> bad_position{-1};
  core::ParallelFor(positions, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t label = static_cast<int64_t>(target[p]);
      if (attributes.has_ignore_index && label == attributes.ignore_index) {
        losses[p] = C(0);
        applied[p] = C(0);
        continue;
      }
      if (label < 0 || label >= shape.classes) {
        int64_t expected = -1;
        bad_position.compare_exchange_strong(expected, p);
        losses[p] = C(0);
        applied[p] = C(0);
        continue;
      }
      const int64_t n = p / shape.inner;
      const int64_t d = p % shape.inner;
      const C w = weight ? weights[label] : C(1);
      losses[p] = -log_prob[(n * shape.classes + label) * shape.inner + d] * w;
      applied[p] = w;
    }
  });
  if (int64_t p = bad_position.load(); p >= 0) {
    return core::InvalidArgument("target value {} at flat index {} is outside the class range [0, {})",
                                 static_cast<int64_t>(target[p]), p, shape.classes);
  }
  if (attributes.reduction == Reduction::kNone) {
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, core::DataTypeOf<T>::value, target_shape));
    T* po = out->data<T>();
    for (int64_t p = 0; p < positions; ++p) po[p] = static_cast<T>(losses[p]);
    return Status::Ok();
  }
  // Accumulate in double: the sums can run over millions of positions.
  double loss_sum = 0;
  double weight_sum = 0;
  for (int64_t p = 0; p < positions; ++p) {
    loss_sum += static_cast<double>(losses[p]);
    weight_sum += static_cast<double>(applied[p]);
  }
  // Mean is weighted: sum of losses over the sum of the weights that applied
  // (0/0 = NaN when every target is ignored, as in the reference).
  double result = attributes.reduction == Reduction::kSum ? loss_sum : loss_sum / weight_sum;
  ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, core::DataTypeOf<T>::value, {}));
  out->data<T>()[0] = static_cast<T>(static_cast<C>(result));
  return Status::Ok();
}

template <typename T>
Status DispatchTarget(const LossAttributes& attributes, const LossShape& shape, const FloatOrDouble<T>* log_prob,
                      const Tensor& target, const Tensor* weight, KernelContext& context) {
  if (target.dtype() == DataType::kInt32) {
    return GatherAndReduce<T, int32_t>(attributes, shape, log_prob, target.data<int32_t>(), weight, context,
                                       target.shape());
  }
  return GatherAndReduce<T, int64_t>(attributes, shape, log_prob, target.data<int64_t>(), weight, context,
                                     target.shape());
}

// Runs `fn.template operator()<T>()` for the float types the losses accept.
template <typename Fn>
Status VisitLossType(DataType dtype, Fn&& fn) {
  return core::VisitFloatType(dtype, [&]<typename T>() -> Status {
    if constexpr (std::is_void_v<T>) {
      return core::Unimplemented("scores type {} is not supported (expected a float type)", core::DataTypeName(dtype));
    } else {
      return fn.template operator()<T>();
    }
  });
}

class NegativeLogLikelihoodLossKernel : public Kernel {
 public:
  explicit NegativeLogLikelihoodLossKernel(LossAttributes attributes) : attributes_(attributes) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* input, RequireTensor(context, 0, "input"));
    ASSIGN_OR_RETURN(const Tensor* target, RequireTensor(context, 1, "target"));
    const Tensor* weight = context.input_tensor(2);
    ASSIGN_OR_RETURN(LossShape shape, CheckLossInputs(*input, *target, weight));
    return VisitLossType(input->dtype(), [&]<typename T>() -> Status {
      using C = FloatOrDouble<T>;
      if constexpr (std::is_same_v<T, C>) {
        return DispatchTarget<T>(attributes_, shape, input->data<T>(), *target, weight, context);
      } else {
        std::vector<C> converted = ToCompute<T, C>(*input);
        return DispatchTarget<T>(attributes_, shape, converted.data(), *target, weight, context);
      }
    });
  }

 private:
  LossAttributes attributes_;
};

// log_softmax over the class axis of [N, C, D], written to `out` ([N, C, D]).
// Works on tiles of up to kTile inner positions so that the class loop reads
// contiguous memory and every position of a tile is reduced together.
template <typename T, typename C>
void LogSoftmaxOverClasses(const T* scores, const LossShape& shape, C* out) {
  constexpr int64_t kTile = 256;
  const int64_t tiles_per_batch = (shape.inner + kTile - 1) / kTile;
  const int64_t tasks = shape.batch * tiles_per_batch;
  core::ParallelFor(tasks, std::max<int64_t>(1, 8192 / std::max<int64_t>(shape.classes * kTile, 1)),
                    [&](int64_t begin, int64_t end) {
                      C max_value[kTile];
                      C sum[kTile];
                      for (int64_t task = begin; task < end; ++task) {
                        const int64_t n = task / tiles_per_batch;
                        const int64_t d0 = (task % tiles_per_batch) * kTile;
                        const int64_t width = std::min(kTile, shape.inner - d0);
                        const int64_t base = n * shape.classes * shape.inner + d0;
                        for (int64_t j = 0; j < width; ++j) {
                          max_value[j] = -std::numeric_limits<C>::infinity();
                          sum[j] = C(0);
                        }
                        for (int64_t c = 0; c < shape.classes; ++c) {
                          const T* row = scores + base + c * shape.inner;
                          for (int64_t j = 0; j < width; ++j) {
                            max_value[j] = std::max(max_value[j], static_cast<C>(row[j]));
                          }
                        }
                        for (int64_t c = 0; c < shape.classes; ++c) {
                          const T* row = scores + base + c * shape.inner;
                          for (int64_t j = 0; j < width; ++j) sum[j] += std::exp(static_cast<C>(row[j]) - max_value[j]);
                        }
                        for (int64_t j = 0; j < width; ++j) sum[j] = max_value[j] + std::log(sum[j]);
                        for (int64_t c = 0; c < shape.classes; ++c) {
                          const T* row = scores + base + c * shape.inner;
                          C* out_row = out + base + c * shape.inner;
                          for (int64_t j = 0; j < width; ++j) out_row[j] = static_cast<C>(row[j]) - sum[j];
                        }
                      }
                    });
}

class SoftmaxCrossEntropyLossKernel : public Kernel {
 public:
  explicit SoftmaxCrossEntropyLossKernel(LossAttributes attributes) : attributes_(attributes) {}

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* scores, RequireTensor(context, 0, "scores"));
    ASSIGN_OR_RETURN(const Tensor* labels, RequireTensor(context, 1, "labels"));
    const Tensor* weight = context.input_tensor(2);
    ASSIGN_OR_RETURN(LossShape shape, CheckLossInputs(*scores, *labels, weight));
    return VisitLossType(scores->dtype(), [&]<typename T>() -> Status {
      using C = FloatOrDouble<T>;
      std::vector<C> log_prob(static_cast<size_t>(scores->element_count()));
      LogSoftmaxOverClasses<T, C>(scores->data<T>(), shape, log_prob.data());
      if (context.output_count() > 1 && context.output_wanted(1)) {
        ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(1, scores->dtype(), scores->shape()));
        T* po = out->data<T>();
        for (size_t i = 0; i < log_prob.size(); ++i) po[i] = static_cast<T>(log_prob[i]);
      }
      return DispatchTarget<T>(attributes_, shape, log_prob.data(), *labels, weight, context);
    });
  }

 private:
  LossAttributes attributes_;
};

template <typename KernelType>
Result<std::unique_ptr<Kernel>> CreateLossKernel(KernelBuildContext& build) {
  ASSIGN_OR_RETURN(LossAttributes attributes, ParseLossAttributes(build.node()));
  return std::unique_ptr<Kernel>(std::make_unique<KernelType>(attributes));
}

}  // namespace

void RegisterLossKernels(OpRegistry& registry) {
  // 12 -> 13 only widened the accepted types; the semantics are the same.
  registry.Register("", "NegativeLogLikelihoodLoss", {12, 13}, InferLoss,
                    CreateLossKernel<NegativeLogLikelihoodLossKernel>);
  registry.Register("", "SoftmaxCrossEntropyLoss", {12, 13}, InferLoss,
                    CreateLossKernel<SoftmaxCrossEntropyLossKernel>);
}

}  // namespace berth::engine

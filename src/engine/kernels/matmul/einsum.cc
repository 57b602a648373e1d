// Einsum: any equation, including ellipsis (broadcast), repeated labels
// (diagonals, traces) and implicit outputs. Each operand first loses its
// repeated labels (diagonal) and the labels nobody else needs (summed); then
// operands are combined left to right, each pair as one batched matrix
// product after a transpose into [batch, kept, contracted] order; the result
// is finally summed and transposed into the output order.
#include <algorithm>
#include <cstring>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/matmul/matmul_common.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

constexpr int kEllipsisToken = -1;
constexpr int kLetterCount = 52;  // 'A'-'Z' then 'a'-'z': label order is ASCII order

struct Equation {
  std::string text;
  std::vector<std::vector<int>> inputs;  // letters (0..51) and kEllipsisToken
  std::vector<int> output;
  bool explicit_output = false;
};

Result<std::vector<int>> ParseTerm(const Equation& eq, std::string_view term) {
  std::vector<int> tokens;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (c == ' ') continue;
    if (c >= 'A' && c <= 'Z') {
      tokens.push_back(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      tokens.push_back(26 + (c - 'a'));
    } else if (c == '.' && term.substr(i, 3) == "..." && !ellipsis) {
      tokens.push_back(kEllipsisToken);
      ellipsis = true;
      i += 2;
    } else {
      return core::InvalidArgument("Einsum equation '{}': unexpected '{}' in term '{}'", eq.text, c, term);
    }
  }
  return tokens;
}

Result<Equation> ParseEquation(const std::string& text, size_t input_count) {
  Equation eq;
  eq.text = text;
  std::string_view view(text);
  std::string_view lhs = view;
  const size_t arrow = view.find("->");
  if (arrow != std::string_view::npos) {
    lhs = view.substr(0, arrow);
    eq.explicit_output = true;
    ASSIGN_OR_RETURN(eq.output, ParseTerm(eq, view.substr(arrow + 2)));
  }
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    ASSIGN_OR_RETURN(std::vector<int> term, ParseTerm(eq, lhs.substr(start, comma - start)));
    eq.inputs.push_back(std::move(term));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (eq.inputs.size() != input_count) {
    return core::InvalidArgument("Einsum equation '{}' has {} input terms for {} inputs", text, eq.inputs.size(),
                                 input_count);
  }
  if (eq.explicit_output) {
    std::vector<bool> seen(kLetterCount, false);
    for (int token : eq.output) {
      if (token == kEllipsisToken) continue;
      if (seen[token]) return core::InvalidArgument("Einsum equation '{}' repeats an output label", text);
      seen[token] = true;
      bool in_input = false;
      for (const auto& term : eq.inputs) in_input |= std::find(term.begin(), term.end(), token) != term.end();
      if (!in_input) return core::InvalidArgument("Einsum equation '{}': output label not among the inputs", text);
    }
  }
  return eq;
}

// Labels once ranks are known: letters keep their ids, the E broadcast
// (ellipsis) dims get kLetterCount + j, aligned to the right like numpy.
struct Labels {
  std::vector<std::vector<int>> inputs;
  std::vector<int> output;
  int label_count = kLetterCount;
};

Result<Labels> ExpandLabels(const Equation& eq, const std::vector<int64_t>& ranks) {
  int64_t ellipsis_rank = 0;
  std::vector<int64_t> own_ellipsis(ranks.size(), 0);
  for (size_t i = 0; i < ranks.size(); ++i) {
    const auto& term = eq.inputs[i];
    const bool has_ellipsis = std::find(term.begin(), term.end(), kEllipsisToken) != term.end();
    const int64_t letters = static_cast<int64_t>(term.size()) - (has_ellipsis ? 1 : 0);
    if (has_ellipsis ? ranks[i] < letters : ranks[i] != letters) {
      return core::InvalidArgument("Einsum equation '{}': input {} has rank {}, its term names {} dims", eq.text, i,
                                   ranks[i], letters);
    }
    own_ellipsis[i] = ranks[i] - letters;
    ellipsis_rank = std::max(ellipsis_rank, own_ellipsis[i]);
  }
  Labels labels;
  labels.label_count = kLetterCount + static_cast<int>(ellipsis_rank);
  auto expand = [&](const std::vector<int>& term, int64_t own) {
    std::vector<int> out;
    for (int token : term) {
      if (token != kEllipsisToken) {
        out.push_back(token);
        continue;
      }
      for (int64_t j = ellipsis_rank - own; j < ellipsis_rank; ++j) out.push_back(kLetterCount + static_cast<int>(j));
    }
    return out;
  };
  for (size_t i = 0; i < ranks.size(); ++i) labels.inputs.push_back(expand(eq.inputs[i], own_ellipsis[i]));
  if (eq.explicit_output) {
    labels.output = expand(eq.output, ellipsis_rank);
  } else {
    // numpy's implicit output: broadcast dims, then labels used exactly once, sorted.
    for (int j = 0; j < ellipsis_rank; ++j) labels.output.push_back(kLetterCount + j);
    std::vector<int> uses(kLetterCount, 0);
    for (const auto& term : eq.inputs) {
      for (int token : term) {
        if (token != kEllipsisToken) ++uses[token];
      }
    }
    for (int label = 0; label < kLetterCount; ++label) {
      if (uses[label] == 1) labels.output.push_back(label);
    }
  }
  return labels;
}

// One operand while the equation is evaluated: row-major data of compute type C.
template <typename C>
struct Operand {
  std::vector<int> labels;
  TensorShape shape;
  const C* data = nullptr;
  Tensor storage;  // owns `data` when this step produced it
};

// out[i] = sum over `sum_shape` of in[offset(i) + sum offset], where an output
// index's offset uses `out_strides` (per output axis, into `in`). Covers
// transposes, diagonals (strides summed) and reductions in one walk.
template <typename C>
void StridedSumCopy(const C* in, const TensorShape& out_shape, const std::vector<int64_t>& out_strides,
                    const TensorShape& sum_shape, const std::vector<int64_t>& sum_strides, C* out) {
  using Acc = MatMulAccumulator<C>;
  const int64_t count = core::ElementCount(out_shape);
  const int64_t sum_count = core::ElementCount(sum_shape);
  const size_t rank = out_shape.size();
  const size_t sum_rank = sum_shape.size();
  core::ParallelFor(count, std::max<int64_t>(1, 16384 / std::max<int64_t>(sum_count, 1)),
                    [&](int64_t begin, int64_t end) {
                      std::vector<int64_t> index(rank, 0);
                      std::vector<int64_t> sum_index(sum_rank, 0);
                      int64_t offset = 0;
                      int64_t rest = begin;
                      for (size_t axis = rank; axis-- > 0;) {
                        index[axis] = rest % out_shape[axis];
                        rest /= out_shape[axis];
                        offset += index[axis] * out_strides[axis];
                      }
                      for (int64_t i = begin; i < end; ++i) {
                        if (sum_rank == 0) {
                          out[i] = in[offset];
                        } else {
                          Acc acc = Acc(0);
                          int64_t sum_offset = 0;
                          for (int64_t j = 0; j < sum_count; ++j) {
                            acc += static_cast<Acc>(in[offset + sum_offset]);
                            for (size_t axis = sum_rank; axis-- > 0;) {
                              sum_offset += sum_strides[axis];
                              if (++sum_index[axis] < sum_shape[axis]) break;
                              sum_offset -= sum_strides[axis] * sum_shape[axis];
                              sum_index[axis] = 0;
                            }
                          }
                          out[i] = static_cast<C>(acc);
                        }
                        for (size_t axis = rank; axis-- > 0;) {
                          offset += out_strides[axis];
                          if (++index[axis] < out_shape[axis]) break;
                          offset -= out_strides[axis] * out_shape[axis];
                          index[axis] = 0;
                        }
                      }
                    });
}

template <typename C>
class Evaluator {
 public:
  Evaluator(const Equation& eq, const DnnlShapeCache<DnnlMatMulPlan>& plans, core::Allocator& allocator)
      : eq_(eq), plans_(plans), allocator_(allocator) {}

  // Replaces `op` by a new tensor with axes (labels, shape), element i read
  // from op at `strides` and summed over the `sum_*` axes.
  Status Restride(Operand<C>& op, std::vector<int> labels, TensorShape shape, const std::vector<int64_t>& strides,
                  const TensorShape& sum_shape, const std::vector<int64_t>& sum_strides) {
    ASSIGN_OR_RETURN(Tensor storage, Tensor::Create(core::DataTypeOf<C>::value, shape, allocator_));
    if (storage.element_count() > 0) {
      if (core::ElementCount(sum_shape) == 0) {
        std::memset(storage.raw_data(), 0, storage.byte_size());
      } else {
        StridedSumCopy<C>(op.data, shape, strides, sum_shape, sum_strides, storage.data<C>());
      }
    }
    op.labels = std::move(labels);
    op.shape = std::move(shape);
    op.storage = std::move(storage);
    op.data = op.storage.template data<C>();
    return Status::Ok();
  }

  // Takes the diagonal over repeated labels, then sums the labels `keep` rejects.
  template <typename Keep>
  Status Reduce(Operand<C>& op, Keep&& keep) {
    const std::vector<int64_t> strides = core::RowMajorStrides(op.shape);
    std::vector<int> labels;
    TensorShape shape, sum_shape;
    std::vector<int64_t> out_strides, sum_strides;
    for (size_t axis = 0; axis < op.labels.size(); ++axis) {
      const int label = op.labels[axis];
      auto first = std::find(op.labels.begin(), op.labels.end(), label) - op.labels.begin();
      if (static_cast<size_t>(first) != axis) {  // repeated: walk the diagonal
        if (op.shape[first] != op.shape[axis]) {
          return core::InvalidArgument("Einsum equation '{}': a repeated label has sizes {} and {}", eq_.text,
                                       op.shape[first], op.shape[axis]);
        }
        continue;
      }
      int64_t stride = 0;
      for (size_t other = axis; other < op.labels.size(); ++other) {
        if (op.labels[other] == label) stride += strides[other];
      }
      if (keep(label)) {
        labels.push_back(label);
        shape.push_back(op.shape[axis]);
        out_strides.push_back(stride);
      } else {
        sum_shape.push_back(op.shape[axis]);
        sum_strides.push_back(stride);
      }
    }
    if (labels == op.labels) return Status::Ok();
    return Restride(op, std::move(labels), std::move(shape), out_strides, sum_shape, sum_strides);
  }

  Status Permute(Operand<C>& op, const std::vector<int>& order) {
    if (order == op.labels) return Status::Ok();
    const std::vector<int64_t> strides = core::RowMajorStrides(op.shape);
    TensorShape shape;
    std::vector<int64_t> out_strides;
    for (int label : order) {
      const size_t axis = std::find(op.labels.begin(), op.labels.end(), label) - op.labels.begin();
      shape.push_back(op.shape[axis]);
      out_strides.push_back(strides[axis]);
    }
    return Restride(op, order, std::move(shape), out_strides, {}, {});
  }

  // x <- x (*) y, keeping the labels `needed` says later steps use.
  template <typename Needed>
  Status Contract(Operand<C>& x, Operand<C>& y, Needed&& needed) {
    auto has = [](const Operand<C>& op, int label) {
      return std::find(op.labels.begin(), op.labels.end(), label) != op.labels.end();
    };
    RETURN_IF_ERROR(Reduce(x, [&](int label) { return needed(label) || has(y, label); }));
    RETURN_IF_ERROR(Reduce(y, [&](int label) { return needed(label) || has(x, label); }));
    auto dim = [](const Operand<C>& op, int label) {
      return op.shape[std::find(op.labels.begin(), op.labels.end(), label) - op.labels.begin()];
    };
    // A contracted label of size 1 on one side multiplies the other side's sum.
    for (int label : std::vector<int>(x.labels)) {
      if (!has(y, label) || needed(label) || dim(x, label) == dim(y, label)) continue;
      Operand<C>& wide = dim(x, label) == 1 ? y : x;
      Operand<C>& narrow = dim(x, label) == 1 ? x : y;
      if (dim(narrow, label) != 1) {
        return core::InvalidArgument("Einsum equation '{}': a label has sizes {} and {}", eq_.text, dim(x, label),
                                     dim(y, label));
      }
      RETURN_IF_ERROR(Reduce(wide, [&](int l) { return l != label; }));
      const size_t axis = std::find(narrow.labels.begin(), narrow.labels.end(), label) - narrow.labels.begin();
      narrow.labels.erase(narrow.labels.begin() + axis);
      narrow.shape.erase(narrow.shape.begin() + axis);
    }
    std::vector<int> batch, contracted, x_kept, y_kept;
    for (int label : x.labels) {
      if (!has(y, label)) {
        x_kept.push_back(label);
      } else if (needed(label)) {
        batch.push_back(label);
      } else {
        contracted.push_back(label);
      }
    }
    for (int label : y.labels) {
      if (!has(x, label)) y_kept.push_back(label);
    }
    auto concat = [](std::initializer_list<const std::vector<int>*> parts) {
      std::vector<int> out;
      for (const auto* part : parts) out.insert(out.end(), part->begin(), part->end());
      return out;
    };
    RETURN_IF_ERROR(Permute(x, concat({&batch, &x_kept, &contracted})));
    RETURN_IF_ERROR(Permute(y, concat({&batch, &contracted, &y_kept})));

    MatMulShapes s;
    TensorShape out_shape;
    bool same_batch = true;
    for (int label : batch) {
      s.a_batch.push_back(dim(x, label));
      s.b_batch.push_back(dim(y, label));
      s.batch.push_back(std::max(dim(x, label), dim(y, label)));
      same_batch &= dim(x, label) == dim(y, label);
      if (s.a_batch.back() != s.b_batch.back() && s.a_batch.back() != 1 && s.b_batch.back() != 1) {
        return core::InvalidArgument("Einsum equation '{}': dims {} and {} do not broadcast", eq_.text,
                                     s.a_batch.back(), s.b_batch.back());
      }
    }
    out_shape = s.batch;
    if (same_batch && s.batch.size() > 1) {  // one flat batch keeps the product simple
      const int64_t count = core::ElementCount(s.batch);
      s.a_batch = s.b_batch = s.batch = {count};
    }
    s.m = s.k = s.n = 1;
    for (int label : x_kept) {
      s.m *= dim(x, label);
      out_shape.push_back(dim(x, label));
    }
    for (int label : contracted) s.k *= dim(x, label);
    for (int label : y_kept) {
      s.n *= dim(y, label);
      out_shape.push_back(dim(y, label));
    }
    ASSIGN_OR_RETURN(Tensor storage, Tensor::Create(core::DataTypeOf<C>::value, out_shape, allocator_));
    if (storage.element_count() > 0) {
      if (s.k == 0) {
        std::memset(storage.raw_data(), 0, storage.byte_size());
      } else if constexpr (std::is_same_v<C, float>) {
        RETURN_IF_ERROR(FloatMatMul(s, x.data, y.data, storage.template data<float>(), plans_, allocator_));
      } else {
        ReferenceMatMul<C>(s, x.data, y.data, storage.template data<C>());
      }
    }
    x.labels = concat({&batch, &x_kept, &y_kept});
    x.shape = std::move(out_shape);
    x.storage = std::move(storage);
    x.data = x.storage.template data<C>();
    return Status::Ok();
  }

  Result<Operand<C>> Run(std::vector<Operand<C>> operands, const Labels& labels) {
    auto in_output = [&](int label) {
      return std::find(labels.output.begin(), labels.output.end(), label) != labels.output.end();
    };
    Operand<C> result = std::move(operands[0]);
    for (size_t i = 1; i < operands.size(); ++i) {
      auto needed = [&](int label) {
        if (in_output(label)) return true;
        for (size_t j = i + 1; j < operands.size(); ++j) {
          const auto& l = operands[j].labels;
          if (std::find(l.begin(), l.end(), label) != l.end()) return true;
        }
        return false;
      };
      RETURN_IF_ERROR(Contract(result, operands[i], needed));
    }
    RETURN_IF_ERROR(Reduce(result, in_output));
    RETURN_IF_ERROR(Permute(result, labels.output));
    return result;
  }

 private:
  const Equation& eq_;
  const DnnlShapeCache<DnnlMatMulPlan>& plans_;
  core::Allocator& allocator_;
};

class EinsumKernel final : public Kernel {
 public:
  explicit EinsumKernel(Equation eq) : eq_(std::move(eq)) {}

  Status Compute(KernelContext& context) const override {
    std::vector<const Tensor*> inputs;
    std::vector<int64_t> ranks;
    for (int i = 0; i < context.input_count(); ++i) {
      ASSIGN_OR_RETURN(const Tensor* t, RequireTensor(context, i, "Inputs"));
      if (!inputs.empty() && t->dtype() != inputs[0]->dtype()) {
        return core::InvalidArgument("Einsum inputs have different types {} and {}",
                                     core::DataTypeName(inputs[0]->dtype()), core::DataTypeName(t->dtype()));
      }
      inputs.push_back(t);
      ranks.push_back(t->rank());
    }
    if (inputs.empty()) return core::InvalidArgument("Einsum needs at least one input");
    ASSIGN_OR_RETURN(Labels labels, ExpandLabels(eq_, ranks));
    Status status = core::Unimplemented("Einsum does not support type {}", core::DataTypeName(inputs[0]->dtype()));
    core::VisitNumericType(inputs[0]->dtype(), [&]<typename T>() {
      if constexpr (!std::is_void_v<T>) status = Evaluate<T>(context, inputs, labels);
      return true;
    });
    return status;
  }

 private:
  template <typename T>
  Status Evaluate(KernelContext& context, const std::vector<const Tensor*>& inputs, const Labels& labels) const {
    using C = ComputeType<T>;
    std::vector<Operand<C>> operands(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      Operand<C>& op = operands[i];
      op.labels = labels.inputs[i];
      op.shape = inputs[i]->shape();
      if constexpr (std::is_same_v<C, T>) {
        op.data = inputs[i]->data<T>();
      } else {
        ASSIGN_OR_RETURN(op.storage, Tensor::Create(core::DataTypeOf<C>::value, op.shape, context.allocator()));
        const T* src = inputs[i]->data<T>();
        C* dst = op.storage.template data<C>();
        for (int64_t j = 0; j < inputs[i]->element_count(); ++j) dst[j] = static_cast<C>(src[j]);
        op.data = dst;
      }
    }
    // Broadcast dims must agree across operands before any work is done.
    std::vector<int64_t> sizes(static_cast<size_t>(labels.label_count), -1);
    for (const auto& op : operands) {
      for (size_t axis = 0; axis < op.labels.size(); ++axis) {
        int64_t& size = sizes[op.labels[axis]];
        const int64_t dim = op.shape[axis];
        if (size == -1 || size == 1) {
          size = dim;
        } else if (dim != 1 && dim != size) {
          return core::InvalidArgument("Einsum equation '{}': a label has sizes {} and {}", eq_.text, size, dim);
        }
      }
    }
    Evaluator<C> evaluator(eq_, plans_, context.allocator());
    ASSIGN_OR_RETURN(Operand<C> result, evaluator.Run(std::move(operands), labels));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, inputs[0]->dtype(), result.shape));
    T* dst = out->data<T>();
    for (int64_t j = 0; j < out->element_count(); ++j) dst[j] = StoreAs<T>(result.data[j]);
    return Status::Ok();
  }

  Equation eq_;
  DnnlShapeCache<DnnlMatMulPlan> plans_;  // float32 contractions, by shape
};

Result<std::unique_ptr<Kernel>> CreateEinsum(KernelBuildContext& build) {
  const Node& node = build.node();
  if (!node.HasAttribute("equation")) return core::InvalidArgument("Einsum needs an 'equation' attribute");
  ASSIGN_OR_RETURN(Equation eq, ParseEquation(node.GetString("equation"), node.inputs.size()));
  return std::unique_ptr<Kernel>(std::make_unique<EinsumKernel>(std::move(eq)));
}

Status InferEinsum(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  ASSIGN_OR_RETURN(Equation eq,
                   ParseEquation(context.node().GetString("equation"), static_cast<size_t>(context.input_count())));
  std::vector<int64_t> ranks;
  for (int i = 0; i < context.input_count(); ++i) {
    const ValueType& type = context.input_type(i);
    if (!type.is_tensor() || !type.has_shape) {
      SetUnknownShape(context, 0, dtype);
      return Status::Ok();
    }
    ranks.push_back(static_cast<int64_t>(type.dims.size()));
  }
  ASSIGN_OR_RETURN(Labels labels, ExpandLabels(eq, ranks));
  // A label's size: a known dim other than 1 wins; 1 only when every use is 1.
  std::vector<Dimension> sizes(static_cast<size_t>(labels.label_count));
  std::vector<bool> all_one(static_cast<size_t>(labels.label_count), true);
  for (int i = 0; i < context.input_count(); ++i) {
    const auto& dims = context.input_type(i).dims;
    for (size_t axis = 0; axis < dims.size(); ++axis) {
      const int label = labels.inputs[i][axis];
      const Dimension& d = dims[axis];
      if (!(d.known() && d.value == 1)) all_one[label] = false;
      if (d.known() && d.value != 1) sizes[label] = d;
      if (!d.known() && !sizes[label].known() && sizes[label].symbol.empty()) sizes[label] = d;
    }
  }
  std::vector<Dimension> out;
  for (int label : labels.output) out.push_back(all_one[label] ? Dimension{1, {}} : sizes[label]);
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(out)));
  return Status::Ok();
}

}  // namespace

void RegisterEinsumKernels(OpRegistry& registry) { registry.Register("", "Einsum", {12}, InferEinsum, CreateEinsum); }

}  // namespace berth::engine

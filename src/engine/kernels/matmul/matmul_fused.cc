// berth.FusedMatMul: a matrix product with what surrounds it in transformer
// and MLP graphs folded in, made by optimizer/fuse_matmul.cc.
//
//   Y  = act( scale * (A' x B') + bias + addend )     (or addend after act)
//   A' = Transpose(A, perm_a), B' = Transpose(B, perm_b)  (views: strides only)
//   out = Transpose(Y, perm_y)                             (written by strides)
//
// Inputs: A, B, bias (optional, N values broadcast along the last axis),
// addend (optional, unidirectionally broadcast to Y: a residual or a mask).
// Attributes: perm_a, perm_b, perm_y (ints; absent = identity), scale
// (float, default 1), activation / activation_alpha / activation_beta,
// activation_first (int). float32 runs as one oneDNN matmul with bias,
// output scale and post-ops; a constant B without batch dims is prepacked.
#include <cstring>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/dnnl_util.h"
#include "engine/kernels/matmul/matmul_common.h"
#include "engine/kernels/tensor/shape_util.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {
namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;
using core::TensorShape;

struct FusedMatMulAttributes {
  std::vector<int64_t> perm_a, perm_b, perm_y;
  float scale = 1.0f;
  FusedActivation activation;
  bool activation_first = false;
};

// Logical dims and element strides of Transpose(tensor, perm) as a view.
struct StridedView {
  TensorShape dims;
  std::vector<int64_t> strides;
};

StridedView PermutedView(const TensorShape& shape, const std::vector<int64_t>& perm) {
  StridedView view;
  std::vector<int64_t> strides = core::RowMajorStrides(shape);
  if (perm.empty()) return {shape, strides};
  for (int64_t axis : perm) {
    view.dims.push_back(shape[static_cast<size_t>(axis)]);
    view.strides.push_back(strides[static_cast<size_t>(axis)]);
  }
  return view;
}

bool IsContiguous(const StridedView& view) { return view.strides == core::RowMajorStrides(view.dims); }

Status CheckPermutation(const std::vector<int64_t>& perm, size_t rank, const char* name) {
  if (perm.empty()) return Status::Ok();
  if (perm.size() != rank) return core::InvalidArgument("{} has {} axes for rank {}", name, perm.size(), rank);
  std::vector<bool> seen(rank, false);
  for (int64_t axis : perm) {
    if (axis < 0 || axis >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(axis)]) {
      return core::InvalidArgument("{} is not a permutation of {} axes", name, rank);
    }
    seen[static_cast<size_t>(axis)] = true;
  }
  return Status::Ok();
}

// Everything about one set of input shapes.
struct FusedEntry {
  MatMulShapes shapes;
  TensorShape stored_output;                   // Transpose(Y, perm_y)
  std::vector<int64_t> y_strides;              // strides of logical Y in the output
  StridedView a, b;                            // logical operand views
  std::shared_ptr<const DnnlMatMulPlan> plan;  // null: the plain path
};

dnnl::memory::desc StridedDesc(const TensorShape& dims, const std::vector<int64_t>& strides) {
  return dnnl::memory::desc(dnnl::memory::dims(dims.begin(), dims.end()), dnnl::memory::data_type::f32,
                            dnnl::memory::dims(strides.begin(), strides.end()));
}

// `view` with leading unit dims so that it has `rank` axes.
StridedView PadLeft(const StridedView& view, size_t rank) {
  StridedView out;
  const size_t pad = rank - view.dims.size();
  out.dims.assign(pad, 1);
  out.strides.assign(pad, view.dims.empty() ? 1 : view.strides.front() * std::max<int64_t>(view.dims.front(), 1));
  out.dims.insert(out.dims.end(), view.dims.begin(), view.dims.end());
  out.strides.insert(out.strides.end(), view.strides.begin(), view.strides.end());
  return out;
}

class FusedMatMulKernel final : public Kernel {
 public:
  FusedMatMulKernel(FusedMatMulAttributes attributes, const Tensor* constant_b) : attributes_(std::move(attributes)) {
    // A constant B that is one matrix (the weights of a Linear layer) is
    // prepacked once; its view may be transposed (Gemm's transB).
    if (!constant_b || constant_b->dtype() != DataType::kFloat32 || constant_b->element_count() == 0) return;
    StridedView b = PermutedView(constant_b->shape(), attributes_.perm_b);
    if (b.dims.size() < 2) return;
    for (size_t i = 0; i + 2 < b.dims.size(); ++i) {
      if (b.dims[i] != 1) return;
    }
    const size_t r = b.dims.size();
    packed_b_ = std::make_unique<PackedWeights>(
        *constant_b, StridedDesc({b.dims[r - 2], b.dims[r - 1]}, {b.strides[r - 2], b.strides[r - 1]}));
  }

  bool KeepsConstantInput(int index) const override { return index == 1 && packed_b_; }

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireTensor(context, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, MatMulInputB(context, packed_b_.get()));
    const Tensor* bias = context.input_tensor(2);
    const Tensor* addend = context.input_tensor(3);
    if (a->dtype() != DataType::kFloat32 || b->dtype() != DataType::kFloat32 ||
        (bias && bias->dtype() != DataType::kFloat32) || (addend && addend->dtype() != DataType::kFloat32)) {
      return core::Unimplemented("FusedMatMul runs on float32 only, got {} x {}", core::DataTypeName(a->dtype()),
                                 core::DataTypeName(b->dtype()));
    }
    const bool packed = packed_b_ != nullptr;
    DnnlShapeKey key;
    key.Add(a->shape());
    key.Add(-1);
    key.Add(b->shape());
    key.Add(-1);
    if (addend) key.Add(addend->shape());
    key.Add({bias ? 1 : 0, addend ? 1 : 0, packed ? 1 : 0});
    std::shared_ptr<const FusedEntry> entry = entries_.Find(key);
    if (!entry) {
      ASSIGN_OR_RETURN(entry, BuildEntry(*a, *b, bias, addend, packed));
      entry = entries_.Insert(key, std::move(entry));
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kFloat32, entry->stored_output));
    if (out->element_count() == 0) return Status::Ok();
    if (entry->plan) {
      return RunDnnlMatMulPlan(*entry->plan, a->data<float>(), b->data<float>(), bias ? bias->data<float>() : nullptr,
                               out->data<float>(), context.allocator(), addend ? addend->data<float>() : nullptr);
    }
    if (!packed) return RunPlain(*entry, *a, *b, bias, addend, *out, context.allocator());
    ASSIGN_OR_RETURN(Tensor plain_b, packed_b_->PlainTensor());
    return RunPlain(*entry, *a, plain_b, bias, addend, *out, context.allocator());
  }

 private:
  Result<std::shared_ptr<const FusedEntry>> BuildEntry(const Tensor& a, const Tensor& b, const Tensor* bias,
                                                       const Tensor* addend, bool packed) const {
    auto entry = std::make_shared<FusedEntry>();
    RETURN_IF_ERROR(CheckPermutation(attributes_.perm_a, a.shape().size(), "perm_a"));
    RETURN_IF_ERROR(CheckPermutation(attributes_.perm_b, b.shape().size(), "perm_b"));
    entry->a = PermutedView(a.shape(), attributes_.perm_a);
    entry->b = PermutedView(b.shape(), attributes_.perm_b);
    if (entry->a.dims.size() < 2 || entry->b.dims.size() < 2) {
      return core::InvalidArgument("FusedMatMul needs operands of rank >= 2, got {} and {}",
                                   core::ShapeToString(entry->a.dims), core::ShapeToString(entry->b.dims));
    }
    ASSIGN_OR_RETURN(entry->shapes, ComputeMatMulShapes(entry->a.dims, entry->b.dims));
    const MatMulShapes& s = entry->shapes;
    const TensorShape& y = s.output;
    RETURN_IF_ERROR(CheckPermutation(attributes_.perm_y, y.size(), "perm_y"));
    if (bias && bias->element_count() != s.n) {
      return core::InvalidArgument("bias {} must have {} values (one per output column)", bias->DebugString(), s.n);
    }
    if (addend) {
      if (addend->rank() > static_cast<int64_t>(y.size())) {
        return core::InvalidArgument("addend {} does not broadcast to the product {}", addend->DebugString(),
                                     core::ShapeToString(y));
      }
      const size_t offset = y.size() - addend->shape().size();
      for (size_t i = 0; i < addend->shape().size(); ++i) {
        if (addend->shape()[i] != 1 && addend->shape()[i] != y[offset + i]) {
          return core::InvalidArgument("addend {} does not broadcast to the product {}", addend->DebugString(),
                                       core::ShapeToString(y));
        }
      }
    }
    // Output storage: Transpose(Y, perm_y), row-major; Y's strides into it.
    entry->y_strides = core::RowMajorStrides(y);
    entry->stored_output = y;
    if (!attributes_.perm_y.empty()) {
      entry->stored_output.clear();
      for (int64_t axis : attributes_.perm_y) entry->stored_output.push_back(y[static_cast<size_t>(axis)]);
      std::vector<int64_t> stored_strides = core::RowMajorStrides(entry->stored_output);
      for (size_t i = 0; i < attributes_.perm_y.size(); ++i) {
        entry->y_strides[static_cast<size_t>(attributes_.perm_y[i])] = stored_strides[i];
      }
    }
    RETURN_IF_ERROR(core::CheckedElementCount(entry->stored_output, sizeof(float)).status());
    if (core::ElementCount(y) > 0 && s.k > 0) {
      auto problem = MakeProblem(*entry, bias != nullptr, addend, packed);
      if (problem.ok()) {
        auto plan = BuildDnnlMatMulPlan(*problem, packed ? packed_b_.get() : nullptr);
        if (plan.ok()) entry->plan = std::move(plan).value();  // else the plain path
      }
    }
    return std::shared_ptr<const FusedEntry>(std::move(entry));
  }

  Result<DnnlMatMulProblem> MakeProblem(const FusedEntry& entry, bool has_bias, const Tensor* addend,
                                        bool packed) const {
    const MatMulShapes& s = entry.shapes;
    DnnlMatMulProblem problem;
    problem.output_scale = attributes_.scale;
    problem.activation = attributes_.activation;
    problem.activation_first = attributes_.activation_first;
    bool b_has_batch = false;
    for (int64_t d : s.b_batch) b_has_batch |= d != 1;
    const int64_t rows = core::ElementCount(s.a_batch) * s.m;
    const size_t br = entry.b.dims.size();
    const StridedView b_matrix{{s.k, s.n}, {entry.b.strides[br - 2], entry.b.strides[br - 1]}};
    // The addend, when present, either covers all of Y or only its last axis.
    bool addend_whole = false, addend_row = false;
    if (addend) {
      addend_whole = addend->shape() == s.output;
      addend_row = addend->element_count() == s.n && (addend->rank() == 0 || addend->shape().back() == s.n);
    }
    // One 2-D product when A's batch folds into rows: contiguous A, B without
    // batch, Y stored as is, and an addend that folds too.
    if (!b_has_batch && IsContiguous(entry.a) && attributes_.perm_y.empty() &&
        (!addend || addend_whole || addend_row)) {
      problem.src = RowMajorF32Desc({rows, s.k});
      problem.weights = StridedDesc(b_matrix.dims, b_matrix.strides);
      problem.dst = RowMajorF32Desc({rows, s.n});
      if (has_bias) problem.bias = RowMajorF32Desc({1, s.n});
      if (addend) problem.addend = addend_whole ? RowMajorF32Desc({rows, s.n}) : RowMajorF32Desc({1, s.n});
      return problem;
    }
    if (packed) return core::Unimplemented("prepacked weights need the folded product");
    const size_t rank = s.batch.size() + 2;
    if (rank > DNNL_MAX_NDIMS) return core::Unimplemented("oneDNN matmul takes at most {} dims", DNNL_MAX_NDIMS);
    StridedView a = PadLeft(entry.a, rank);
    StridedView b = PadLeft(entry.b, rank);
    problem.src = StridedDesc(a.dims, a.strides);
    problem.weights = StridedDesc(b.dims, b.strides);
    problem.dst = StridedDesc(s.output, entry.y_strides);
    if (has_bias) {
      TensorShape bias_dims(rank, 1);
      bias_dims.back() = s.n;
      problem.bias = RowMajorF32Desc(dnnl::memory::dims(bias_dims.begin(), bias_dims.end()));
    }
    if (addend) {
      TensorShape dims(rank - addend->shape().size(), 1);
      dims.insert(dims.end(), addend->shape().begin(), addend->shape().end());
      problem.addend = RowMajorF32Desc(dnnl::memory::dims(dims.begin(), dims.end()));
    }
    return problem;
  }

  // Materialises the operand views, multiplies, applies the fusion and
  // writes through perm_y: for shapes oneDNN declines.
  Status RunPlain(const FusedEntry& entry, const Tensor& a, const Tensor& b, const Tensor* bias, const Tensor* addend,
                  Tensor& out, core::Allocator& allocator) const {
    const MatMulShapes& s = entry.shapes;
    auto contiguous = [&](const Tensor& source, const StridedView& view) -> Result<Tensor> {
      ASSIGN_OR_RETURN(Tensor copy, Tensor::Create(DataType::kFloat32, view.dims, allocator));
      std::vector<StridedAxis> axes;
      for (size_t i = 0; i < view.dims.size(); ++i) axes.push_back({view.dims[i], view.strides[i]});
      RETURN_IF_ERROR(CopyStridedView(DataType::kFloat32, source.raw_data(), copy.raw_data(), axes));
      return copy;
    };
    ASSIGN_OR_RETURN(Tensor a_copy, contiguous(a, entry.a));
    ASSIGN_OR_RETURN(Tensor b_copy, contiguous(b, entry.b));
    ASSIGN_OR_RETURN(Tensor y, Tensor::Create(DataType::kFloat32, s.output, allocator));
    ReferenceMatMul<float>(s, a_copy.data<float>(), b_copy.data<float>(), y.data<float>());
    float* yp = y.data<float>();
    const int64_t count = y.element_count();
    const std::vector<int64_t> addend_strides =
        addend ? BroadcastStrides(addend->shape(), s.output.size()) : std::vector<int64_t>{};
    const std::vector<int64_t> y_dims_strides = core::RowMajorStrides(s.output);
    const FusedActivation& activation = attributes_.activation;
    for (int64_t i = 0; i < count; ++i) {
      float v = attributes_.scale * (yp[i] + (bias ? bias->data<float>()[i % s.n] : 0.0f));
      if (attributes_.activation_first) v = activation.Apply(v);
      if (addend) {
        int64_t offset = 0;
        int64_t rest = i;
        for (size_t axis = 0; axis < s.output.size(); ++axis) {
          offset += (rest / y_dims_strides[axis]) * addend_strides[axis];
          rest %= y_dims_strides[axis];
        }
        v += addend->data<float>()[offset];
      }
      if (!attributes_.activation_first) v = activation.Apply(v);
      yp[i] = v;
    }
    // Y (row-major) into the output through perm_y.
    if (attributes_.perm_y.empty()) {
      std::memcpy(out.raw_data(), y.raw_data(), y.byte_size());
      return Status::Ok();
    }
    std::vector<StridedAxis> axes;
    for (int64_t axis : attributes_.perm_y) {
      axes.push_back({s.output[static_cast<size_t>(axis)], y_dims_strides[static_cast<size_t>(axis)]});
    }
    return CopyStridedView(DataType::kFloat32, y.raw_data(), out.raw_data(), axes);
  }

  FusedMatMulAttributes attributes_;
  std::unique_ptr<PackedWeights> packed_b_;
  DnnlShapeCache<FusedEntry> entries_;
};

Result<std::unique_ptr<Kernel>> CreateFusedMatMul(KernelBuildContext& build) {
  const Node& node = build.node();
  FusedMatMulAttributes attributes;
  attributes.perm_a = node.GetInts("perm_a");
  attributes.perm_b = node.GetInts("perm_b");
  attributes.perm_y = node.GetInts("perm_y");
  attributes.scale = node.GetFloat("scale", 1.0f);
  attributes.activation_first = node.GetInt("activation_first", 0) != 0;
  ASSIGN_OR_RETURN(attributes.activation, FusedActivation::FromNode(node));
  if (!std::isfinite(attributes.scale)) return core::InvalidArgument("scale must be finite");
  return std::unique_ptr<Kernel>(std::make_unique<FusedMatMulKernel>(std::move(attributes), build.constant_input(1)));
}

std::vector<Dimension> PermuteDims(const std::vector<Dimension>& dims, const std::vector<int64_t>& perm) {
  if (perm.empty() || perm.size() != dims.size()) return dims;
  std::vector<Dimension> out;
  for (int64_t axis : perm) {
    if (axis < 0 || axis >= static_cast<int64_t>(dims.size())) return dims;
    out.push_back(dims[static_cast<size_t>(axis)]);
  }
  return out;
}

Status InferFusedMatMul(InferenceContext& context) {
  const Node& node = context.node();
  const ValueType& a = context.input_type(0);
  const ValueType& b = context.input_type(1);
  if (!a.is_tensor() || !b.is_tensor() || !a.has_shape || !b.has_shape || a.dims.size() < 2 || b.dims.size() < 2) {
    SetUnknownShape(context, 0, DataType::kFloat32);
    return Status::Ok();
  }
  // Reuse the matmul rule on the permuted operands through a shim context.
  std::vector<Dimension> ad = PermuteDims(a.dims, node.GetInts("perm_a"));
  std::vector<Dimension> bd = PermuteDims(b.dims, node.GetInts("perm_b"));
  const size_t a_batch = ad.size() - 2, b_batch = bd.size() - 2;
  const size_t rank = std::max(a_batch, b_batch);
  std::vector<Dimension> out;
  for (size_t i = 0; i < rank; ++i) {
    const Dimension one{1, {}};
    const Dimension& da = i < rank - a_batch ? one : ad[i - (rank - a_batch)];
    const Dimension& db = i < rank - b_batch ? one : bd[i - (rank - b_batch)];
    if (da.known() && da.value == 1) {
      out.push_back(db);
    } else if (db.known() && db.value == 1) {
      out.push_back(da);
    } else {
      out.push_back(da.known() ? da : db);
    }
  }
  out.push_back(ad[ad.size() - 2]);
  out.push_back(bd.back());
  context.set_output_type(0, ValueType::Tensor(DataType::kFloat32, PermuteDims(out, node.GetInts("perm_y"))));
  return Status::Ok();
}

}  // namespace

void RegisterFusedMatMulKernels(OpRegistry& registry) {
  registry.Register(std::string(kBerthDomain), "FusedMatMul", {1}, InferFusedMatMul, CreateFusedMatMul);
}

}  // namespace berth::engine

// MatMul and Gemm. float32 runs on oneDNN: a primitive per input shape is
// built on first use and cached, and a constant weight operand is reordered
// once into the primitive's preferred layout, so steady-state runs allocate
// only their output. Other types use the plain products of matmul_common.h.
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/kernels/builtin_kernels.h"
#include "engine/kernels/common/dnnl_shape_cache.h"
#include "engine/kernels/matmul/matmul_common.h"
#include "engine/ops/op_registry.h"

namespace berth::engine {

namespace {

using core::DataType;
using core::Result;
using core::Status;
using core::Tensor;

Status UnsupportedType(std::string_view op, DataType dtype) {
  return core::Unimplemented("{} does not support type {}", op, core::DataTypeName(dtype));
}

// ---------------------------------------------------------------------------
// MatMul

// What a float32 MatMul needs for one pair of input shapes.
struct MatMulEntry {
  MatMulShapes shapes;
  std::shared_ptr<const DnnlMatMulPlan> plan;  // null: the plain product (empty, or oneDNN declined)
};

template <typename T>
void PlainMatMul(const MatMulShapes& shapes, const Tensor& a, const Tensor& b, Tensor& out) {
  if (out.element_count() == 0) return;
  if (shapes.k == 0) {  // empty sums; all-zero bytes are zero in every numeric type
    std::memset(out.raw_data(), 0, out.byte_size());
    return;
  }
  ReferenceMatMul<T>(shapes, a.data<T>(), b.data<T>(), out.data<T>());
}

class MatMulKernel final : public Kernel {
 public:
  explicit MatMulKernel(const Tensor* constant_b) {
    // Prepack a constant float32 B that is one matrix (any batch dims are 1),
    // the shape of every Linear layer; A's batch then folds into rows.
    if (!constant_b || constant_b->dtype() != DataType::kFloat32 || constant_b->rank() == 0 ||
        constant_b->element_count() == 0) {
      return;
    }
    const core::TensorShape& shape = constant_b->shape();
    for (size_t i = 0; i + 2 < shape.size(); ++i) {
      if (shape[i] != 1) return;
    }
    const int64_t k = shape.size() == 1 ? shape[0] : shape[shape.size() - 2];
    const int64_t n = shape.size() == 1 ? 1 : shape.back();
    packed_b_ = std::make_unique<PackedWeights>(*constant_b, RowMajorF32Desc({k, n}));
  }

  bool KeepsConstantInput(int index) const override { return index == 1 && packed_b_; }

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireTensor(context, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, MatMulInputB(context, packed_b_.get()));
    if (a->dtype() != b->dtype()) {
      return core::InvalidArgument("MatMul inputs have different types {} and {}", core::DataTypeName(a->dtype()),
                                   core::DataTypeName(b->dtype()));
    }
    if (a->dtype() == DataType::kFloat32) return ComputeFloat(context, *a, *b);
    ASSIGN_OR_RETURN(MatMulShapes shapes, ComputeMatMulShapes(a->shape(), b->shape()));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, a->dtype(), shapes.output));
    bool supported = core::VisitNumericType(a->dtype(), [&]<typename T>() {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        PlainMatMul<T>(shapes, *a, *b, *out);
        return true;
      }
    });
    return supported ? Status::Ok() : UnsupportedType("MatMul", a->dtype());
  }

 private:
  // Steady state: one cache lookup, the output allocation, one oneDNN call.
  Status ComputeFloat(KernelContext& context, const Tensor& a, const Tensor& b) const {
    const bool packed = packed_b_ != nullptr;
    DnnlShapeKey key;
    key.Add(a.shape());
    key.Add(-1);
    key.Add(b.shape());
    key.Add(packed ? 1 : 0);
    std::shared_ptr<const MatMulEntry> entry = entries_.Find(key);
    if (!entry) {
      ASSIGN_OR_RETURN(entry, BuildEntry(a, b, packed));
      entry = entries_.Insert(key, std::move(entry));
    }
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kFloat32, entry->shapes.output));
    if (!entry->plan) {
      if (!packed) {
        PlainMatMul<float>(entry->shapes, a, b, *out);
        return Status::Ok();
      }
      ASSIGN_OR_RETURN(Tensor plain_b, packed_b_->PlainTensor());
      PlainMatMul<float>(entry->shapes, a, plain_b, *out);
      return Status::Ok();
    }
    return RunDnnlMatMulPlan(*entry->plan, a.data<float>(), b.data<float>(), nullptr, out->data<float>(),
                             context.allocator());
  }

  Result<std::shared_ptr<const MatMulEntry>> BuildEntry(const Tensor& a, const Tensor& b, bool packed) const {
    auto entry = std::make_shared<MatMulEntry>();
    ASSIGN_OR_RETURN(entry->shapes, ComputeMatMulShapes(a.shape(), b.shape()));
    if (core::ElementCount(entry->shapes.output) > 0 && entry->shapes.k > 0) {
      auto problem = MakeDnnlMatMulProblem(entry->shapes);
      if (problem.ok()) {
        auto plan = BuildDnnlMatMulPlan(*problem, packed ? packed_b_.get() : nullptr);
        if (plan.ok()) entry->plan = std::move(plan).value();  // else the plain product
      }
    }
    return std::shared_ptr<const MatMulEntry>(std::move(entry));
  }

  std::unique_ptr<PackedWeights> packed_b_;
  DnnlShapeCache<MatMulEntry> entries_;
};

Result<std::unique_ptr<Kernel>> CreateMatMul(KernelBuildContext& build) {
  return std::unique_ptr<Kernel>(std::make_unique<MatMulKernel>(build.constant_input(1)));
}

Status InferMatMul(InferenceContext& context) { return InferMatMulLike(context, 0, 1, InputDtype(context, 0)); }

// ---------------------------------------------------------------------------
// Gemm: Y = alpha * A' x B' + beta * C, with A' = transA ? A^T : A (likewise
// B') and C unidirectionally broadcast to [M, N].

struct GemmAttributes {
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.0f;
  float beta = 1.0f;
};

struct GemmDims {
  int64_t m = 0, k = 0, n = 0;
  // C as [c_rows, c_cols] with each 1 or the full extent; 0 when C is absent.
  int64_t c_rows = 0, c_cols = 0;
};

Result<GemmDims> ComputeGemmDims(const GemmAttributes& attrs, const Tensor& a, const Tensor& b, const Tensor* c) {
  if (a.rank() != 2 || b.rank() != 2) {
    return core::InvalidArgument("Gemm takes 2-D A and B, got {} and {}", core::ShapeToString(a.shape()),
                                 core::ShapeToString(b.shape()));
  }
  GemmDims d;
  d.m = attrs.trans_a ? a.dim(1) : a.dim(0);
  d.k = attrs.trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = attrs.trans_b ? b.dim(1) : b.dim(0);
  d.n = attrs.trans_b ? b.dim(0) : b.dim(1);
  if (d.k != kb) {
    return core::InvalidArgument("Gemm inner dims differ: A' is [{},{}], B' is [{},{}]", d.m, d.k, kb, d.n);
  }
  if (c) {
    if (c->rank() > 2) return core::InvalidArgument("Gemm C must have rank <= 2, got {}", c->DebugString());
    d.c_rows = c->rank() == 2 ? c->dim(0) : 1;
    d.c_cols = c->rank() >= 1 ? c->dim(c->rank() - 1) : 1;
    if ((d.c_rows != 1 && d.c_rows != d.m) || (d.c_cols != 1 && d.c_cols != d.n)) {
      return core::InvalidArgument("Gemm C {} does not broadcast to [{},{}]", core::ShapeToString(c->shape()), d.m,
                                   d.n);
    }
  }
  return d;
}

// Float to integer without undefined behaviour: saturates, NaN gives 0.
template <typename T>
T SaturateToInteger(double value) {
  if (std::isnan(value)) return T(0);
  if (value <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (value >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(value);
}

template <typename T>
void ReferenceGemm(const GemmAttributes& attrs, const GemmDims& d, const T* a, const T* b, const T* c, T* out) {
  const int64_t a_rs = attrs.trans_a ? 1 : d.k;
  const int64_t a_cs = attrs.trans_a ? d.m : 1;
  const int64_t b_rs = attrs.trans_b ? 1 : d.n;
  const int64_t b_cs = attrs.trans_b ? d.k : 1;
  StridedMatMul<T>(a, a_rs, a_cs, b, b_rs, b_cs, out, d.m, d.k, d.n);
  const bool add_c = c != nullptr && attrs.beta != 0.0f;
  if (attrs.alpha == 1.0f && !add_c) return;
  const int64_t c_rs = d.c_rows == 1 ? 0 : d.c_cols;
  const int64_t c_cs = d.c_cols == 1 ? 0 : 1;
  core::ParallelFor(d.m, std::max<int64_t>(1, 16384 / std::max<int64_t>(d.n, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      T* row = out + m * d.n;
      for (int64_t n = 0; n < d.n; ++n) {
        if constexpr (std::is_integral_v<T>) {
          using Acc = MatMulAccumulator<T>;
          if (attrs.alpha == 1.0f && attrs.beta == 1.0f) {  // exact integer arithmetic, wrapping
            row[n] = static_cast<T>(static_cast<Acc>(row[n]) + static_cast<Acc>(c[m * c_rs + n * c_cs]));
          } else {
            double v = static_cast<double>(attrs.alpha) * static_cast<double>(row[n]);
            if (add_c) v += static_cast<double>(attrs.beta) * static_cast<double>(c[m * c_rs + n * c_cs]);
            row[n] = SaturateToInteger<T>(v);
          }
        } else {
          using C = ComputeType<T>;
          C v = static_cast<C>(attrs.alpha) * static_cast<C>(row[n]);
          if (add_c) v += static_cast<C>(attrs.beta) * static_cast<C>(c[m * c_rs + n * c_cs]);
          row[n] = StoreAs<T>(v);
        }
      }
    }
  });
}

dnnl::memory::desc StridedF32Desc(int64_t rows, int64_t cols, bool transposed) {
  // A transposed operand is stored [cols, rows]: element (r, c) is at c * rows + r.
  return dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::f32,
                            transposed ? dnnl::memory::dims{1, rows} : dnnl::memory::dims{cols, 1});
}

// What a float32 Gemm needs for one set of input shapes.
struct GemmEntry {
  GemmDims dims;
  std::shared_ptr<const DnnlMatMulPlan> plan;  // null: the plain product
};

class GemmKernel final : public Kernel {
 public:
  GemmKernel(GemmAttributes attrs, const Tensor* constant_b, const Tensor* constant_c) : attrs_(attrs) {
    if (constant_b && constant_b->dtype() == DataType::kFloat32 && constant_b->rank() == 2 &&
        constant_b->element_count() > 0) {
      const int64_t k = attrs.trans_b ? constant_b->dim(1) : constant_b->dim(0);
      const int64_t n = attrs.trans_b ? constant_b->dim(0) : constant_b->dim(1);
      packed_b_ = std::make_unique<PackedWeights>(*constant_b, StridedF32Desc(k, n, attrs.trans_b));
    }
    // oneDNN adds the bias before the output scale (alpha), so the bias it
    // gets is C * beta / alpha; prepared once when C is constant.
    if (constant_c && constant_c->dtype() == DataType::kFloat32 && NeedsScaledBias()) {
      auto scaled = Tensor::Create(DataType::kFloat32, constant_c->shape());
      if (scaled.ok()) {
        ScaleBias(constant_c->data<float>(), scaled->data<float>(), constant_c->element_count());
        scaled_c_ = std::move(scaled).value();
        constant_c_ = *constant_c;
      }
    }
  }

  bool KeepsConstantInput(int index) const override { return index == 1 && packed_b_; }

  Status Compute(KernelContext& context) const override {
    ASSIGN_OR_RETURN(const Tensor* a, RequireTensor(context, 0, "A"));
    ASSIGN_OR_RETURN(const Tensor* b, MatMulInputB(context, packed_b_.get()));
    const Tensor* c = context.input_tensor(2);
    if (a->dtype() != b->dtype() || (c && c->dtype() != a->dtype())) {
      return core::InvalidArgument("Gemm inputs have different types {}, {}{}", core::DataTypeName(a->dtype()),
                                   core::DataTypeName(b->dtype()),
                                   c ? ", " + std::string(core::DataTypeName(c->dtype())) : std::string());
    }
    if (a->dtype() == DataType::kFloat32) return ComputeFloat(context, *a, *b, c);
    ASSIGN_OR_RETURN(GemmDims d, ComputeGemmDims(attrs_, *a, *b, c));
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, a->dtype(), {d.m, d.n}));
    if (out->element_count() == 0) return Status::Ok();
    bool supported = core::VisitNumericType(a->dtype(), [&]<typename T>() {
      if constexpr (std::is_void_v<T>) {
        return false;
      } else {
        ReferenceGemm<T>(attrs_, d, a->data<T>(), b->data<T>(), c ? c->data<T>() : nullptr, out->data<T>());
        return true;
      }
    });
    return supported ? Status::Ok() : UnsupportedType("Gemm", a->dtype());
  }

 private:
  bool NeedsScaledBias() const { return attrs_.alpha != 1.0f || attrs_.beta != 1.0f; }
  void ScaleBias(const float* c, float* out, int64_t count) const {
    const float factor = attrs_.beta / attrs_.alpha;
    for (int64_t i = 0; i < count; ++i) out[i] = c[i] * factor;
  }

  Status ComputeFloat(KernelContext& context, const Tensor& a, const Tensor& b, const Tensor* c) const {
    const bool packed = packed_b_ != nullptr;
    DnnlShapeKey key;
    key.Add(a.shape());
    key.Add(-1);
    key.Add(b.shape());
    key.Add(-1);
    if (c) key.Add(c->shape());
    key.Add({c ? 1 : 0, packed ? 1 : 0});
    std::shared_ptr<const GemmEntry> entry = entries_.Find(key);
    if (!entry) {
      ASSIGN_OR_RETURN(entry, BuildEntry(a, b, c, packed));
      entry = entries_.Insert(key, std::move(entry));
    }
    const GemmDims& d = entry->dims;
    ASSIGN_OR_RETURN(Tensor * out, context.AllocateOutput(0, DataType::kFloat32, {d.m, d.n}));
    if (out->element_count() == 0) return Status::Ok();
    if (!entry->plan) {
      Tensor plain_b;
      if (packed) {
        ASSIGN_OR_RETURN(plain_b, packed_b_->PlainTensor());
      }
      ReferenceGemm<float>(attrs_, d, a.data<float>(), (packed ? plain_b : b).data<float>(),
                           c ? c->data<float>() : nullptr, out->data<float>());
      return Status::Ok();
    }
    const float* bias = nullptr;
    Tensor scaled;
    if (!entry->plan->bias.is_zero()) {
      if (!NeedsScaledBias()) {
        bias = c->data<float>();
      } else if (scaled_c_.defined() && c->raw_data() == constant_c_.raw_data()) {
        bias = scaled_c_.data<float>();
      } else {
        ASSIGN_OR_RETURN(scaled, Tensor::Create(DataType::kFloat32, c->shape(), context.allocator()));
        ScaleBias(c->data<float>(), scaled.data<float>(), c->element_count());
        bias = scaled.data<float>();
      }
    }
    return RunDnnlMatMulPlan(*entry->plan, a.data<float>(), b.data<float>(), bias, out->data<float>(),
                             context.allocator());
  }

  Result<std::shared_ptr<const GemmEntry>> BuildEntry(const Tensor& a, const Tensor& b, const Tensor* c,
                                                      bool packed) const {
    auto entry = std::make_shared<GemmEntry>();
    ASSIGN_OR_RETURN(entry->dims, ComputeGemmDims(attrs_, a, b, c));
    const GemmDims& d = entry->dims;
    const bool has_bias = c && attrs_.beta != 0.0f;
    // Products of nothing, or scaled by zero, and a beta/alpha that does not
    // survive as a float (the bias is pre-divided by alpha) take the plain path.
    const float bias_factor = attrs_.beta / attrs_.alpha;
    const bool bias_factor_ok = !has_bias || (std::isfinite(bias_factor) && bias_factor != 0.0f);
    if (d.m > 0 && d.n > 0 && d.k > 0 && attrs_.alpha != 0.0f && bias_factor_ok) {
      DnnlMatMulProblem problem;
      problem.src = StridedF32Desc(d.m, d.k, attrs_.trans_a);
      problem.weights = StridedF32Desc(d.k, d.n, attrs_.trans_b);
      problem.dst = RowMajorF32Desc({d.m, d.n});
      if (has_bias) problem.bias = RowMajorF32Desc({d.c_rows, d.c_cols});
      problem.output_scale = attrs_.alpha;
      auto plan = BuildDnnlMatMulPlan(problem, packed ? packed_b_.get() : nullptr);
      if (plan.ok()) entry->plan = std::move(plan).value();
    }
    return std::shared_ptr<const GemmEntry>(std::move(entry));
  }

  GemmAttributes attrs_;
  std::unique_ptr<PackedWeights> packed_b_;
  Tensor constant_c_;  // the constant C scaled_c_ was made from
  Tensor scaled_c_;
  DnnlShapeCache<GemmEntry> entries_;
};

GemmAttributes ReadGemmAttributes(const Node& node) {
  GemmAttributes attrs;
  attrs.trans_a = node.GetInt("transA", 0) != 0;
  attrs.trans_b = node.GetInt("transB", 0) != 0;
  attrs.alpha = node.GetFloat("alpha", 1.0f);
  attrs.beta = node.GetFloat("beta", 1.0f);
  return attrs;
}

Result<std::unique_ptr<Kernel>> CreateGemm(KernelBuildContext& build) {
  GemmAttributes attrs = ReadGemmAttributes(build.node());
  return std::unique_ptr<Kernel>(std::make_unique<GemmKernel>(attrs, build.constant_input(1), build.constant_input(2)));
}

Status InferGemm(InferenceContext& context) {
  const DataType dtype = InputDtype(context, 0);
  GemmAttributes attrs = ReadGemmAttributes(context.node());
  const ValueType& a = context.input_type(0);
  const ValueType& b = context.input_type(1);
  Dimension m, n;
  if (a.is_tensor() && a.has_shape) {
    if (a.dims.size() != 2) return core::InvalidArgument("Gemm takes a 2-D A, got {}", a.ToString());
    m = a.dims[attrs.trans_a ? 1 : 0];
  }
  if (b.is_tensor() && b.has_shape) {
    if (b.dims.size() != 2) return core::InvalidArgument("Gemm takes a 2-D B, got {}", b.ToString());
    n = b.dims[attrs.trans_b ? 0 : 1];
  }
  context.set_output_type(0, ValueType::Tensor(dtype, {m, n}));
  return Status::Ok();
}

}  // namespace

void RegisterMatMulKernels(OpRegistry& registry) {
  registry.Register("", "MatMul", {1, 9, 13}, InferMatMul, CreateMatMul);
  // 7: unidirectional broadcast of C replaced the `broadcast` attribute (C is
  // always broadcast here, which covers both); 11: C optional.
  registry.Register("", "Gemm", {1, 6, 7, 9, 11, 13}, InferGemm, CreateGemm);
}

}  // namespace berth::engine

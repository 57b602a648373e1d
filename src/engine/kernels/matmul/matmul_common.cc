#include "engine/kernels/matmul/matmul_common.h"

#include <array>
#include <atomic>
#include <new>

#include "engine/kernels/common/dnnl_util.h"

namespace berth::engine {

using core::Result;
using core::Status;
using core::TensorShape;

Result<MatMulShapes> ComputeMatMulShapes(const TensorShape& a, const TensorShape& b) {
  if (a.empty() || b.empty()) {
    return core::InvalidArgument("MatMul operands must have rank >= 1, got {} and {}", core::ShapeToString(a),
                                 core::ShapeToString(b));
  }
  MatMulShapes s;
  const size_t a_rank = a.size();
  const size_t b_rank = b.size();
  s.m = a_rank == 1 ? 1 : a[a_rank - 2];
  s.k = a[a_rank - 1];
  const int64_t kb = b_rank == 1 ? b[0] : b[b_rank - 2];
  s.n = b_rank == 1 ? 1 : b[b_rank - 1];
  if (s.k != kb) {
    return core::InvalidArgument("MatMul inner dims differ: A is {}, B is {}", core::ShapeToString(a),
                                 core::ShapeToString(b));
  }
  const size_t a_batch_rank = a_rank > 2 ? a_rank - 2 : 0;
  const size_t b_batch_rank = b_rank > 2 ? b_rank - 2 : 0;
  std::span<const int64_t> a_batch(a.data(), a_batch_rank);
  std::span<const int64_t> b_batch(b.data(), b_batch_rank);
  auto batch = core::BroadcastShapes(a_batch, b_batch);
  if (!batch.ok()) {
    return core::InvalidArgument("MatMul batch dims do not broadcast: A is {}, B is {}", core::ShapeToString(a),
                                 core::ShapeToString(b));
  }
  s.batch = std::move(batch).value();
  const size_t rank = s.batch.size();
  s.a_batch.assign(rank - a_batch_rank, 1);
  s.a_batch.insert(s.a_batch.end(), a_batch.begin(), a_batch.end());
  s.b_batch.assign(rank - b_batch_rank, 1);
  s.b_batch.insert(s.b_batch.end(), b_batch.begin(), b_batch.end());
  s.output = s.batch;
  if (a_rank > 1) s.output.push_back(s.m);
  if (b_rank > 1) s.output.push_back(s.n);
  return s;
}

namespace {
// Broadcast of two static dims, keeping a symbolic name where it is certain.
Result<Dimension> BroadcastDimension(const Dimension& a, const Dimension& b) {
  if (a.known() && a.value == 1) return b;
  if (b.known() && b.value == 1) return a;
  if (a.known() && b.known()) {
    if (a.value != b.value) return core::InvalidArgument("dims {} and {} do not broadcast", a.value, b.value);
    return a;
  }
  if (a.known()) return a;  // b is unknown: it must be 1 or a.value
  if (b.known()) return b;
  if (!a.symbol.empty() && a.symbol == b.symbol) return a;
  return Dimension{};
}
}  // namespace

Status InferMatMulLike(InferenceContext& context, int a_index, int b_index, core::DataType dtype) {
  const ValueType& a = context.input_type(a_index);
  const ValueType& b = context.input_type(b_index);
  if (!a.is_tensor() || !b.is_tensor() || !a.has_shape || !b.has_shape) {
    SetUnknownShape(context, 0, dtype);
    return Status::Ok();
  }
  const std::vector<Dimension>& ad = a.dims;
  const std::vector<Dimension>& bd = b.dims;
  if (ad.empty() || bd.empty()) {
    return core::InvalidArgument("matrix product operands must have rank >= 1, got {} and {}", a.ToString(),
                                 b.ToString());
  }
  const Dimension& ka = ad.back();
  const Dimension& kb = bd.size() == 1 ? bd[0] : bd[bd.size() - 2];
  if (ka.known() && kb.known() && ka.value != kb.value) {
    return core::InvalidArgument("matrix product inner dims differ: {} and {}", a.ToString(), b.ToString());
  }
  const size_t a_batch = ad.size() > 2 ? ad.size() - 2 : 0;
  const size_t b_batch = bd.size() > 2 ? bd.size() - 2 : 0;
  const size_t rank = std::max(a_batch, b_batch);
  std::vector<Dimension> out;
  for (size_t i = 0; i < rank; ++i) {
    const Dimension one{1, {}};
    const Dimension& da = i < rank - a_batch ? one : ad[i - (rank - a_batch)];
    const Dimension& db = i < rank - b_batch ? one : bd[i - (rank - b_batch)];
    auto dim = BroadcastDimension(da, db);
    if (!dim.ok()) {
      return core::InvalidArgument("matrix product batch dims do not broadcast: {} and {}", a.ToString(), b.ToString());
    }
    out.push_back(std::move(dim).value());
  }
  if (ad.size() > 1) out.push_back(ad[ad.size() - 2]);
  if (bd.size() > 1) out.push_back(bd.back());
  context.set_output_type(0, ValueType::Tensor(dtype, std::move(out)));
  return Status::Ok();
}

void MatMulBatchOffsets(const MatMulShapes& shapes, std::vector<int64_t>* a_offsets, std::vector<int64_t>* b_offsets) {
  const size_t rank = shapes.batch.size();
  const int64_t count = shapes.batch_count();
  a_offsets->assign(static_cast<size_t>(count), 0);
  b_offsets->assign(static_cast<size_t>(count), 0);
  if (rank == 0 || count == 0) return;
  std::vector<int64_t> a_strides = BroadcastStrides(shapes.a_batch, rank);
  std::vector<int64_t> b_strides = BroadcastStrides(shapes.b_batch, rank);
  std::vector<int64_t> index(rank, 0);
  int64_t a_offset = 0;
  int64_t b_offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    (*a_offsets)[i] = a_offset * shapes.m * shapes.k;
    (*b_offsets)[i] = b_offset * shapes.k * shapes.n;
    for (size_t axis = rank; axis-- > 0;) {
      a_offset += a_strides[axis];
      b_offset += b_strides[axis];
      if (++index[axis] < shapes.batch[axis]) break;
      a_offset -= a_strides[axis] * index[axis];
      b_offset -= b_strides[axis] * index[axis];
      index[axis] = 0;
    }
  }
}

// ---------------------------------------------------------------------------

Result<std::shared_ptr<const DnnlMatMulPlan>> BuildDnnlMatMulPlan(const DnnlMatMulProblem& problem,
                                                                  PackedWeights* packed) {
  auto plan = std::make_shared<DnnlMatMulPlan>();
  dnnl::matmul::primitive_desc pd;
  RETURN_IF_ERROR(dnnl_util::TryDnnl("matmul primitive", [&] {
    dnnl::memory::desc weights = problem.weights;
    // Constant weights: let the primitive choose their layout.
    if (packed) {
      weights = dnnl::memory::desc(problem.weights.dims(), dnnl::memory::data_type::f32, dnnl::memory::format_tag::any);
    }
    dnnl::primitive_attr attr = dnnl_util::DefaultAttr();
    if (problem.output_scale != 1.0f) attr.set_output_scales(0, {problem.output_scale});
    const bool has_addend = !problem.addend.is_zero();
    if (has_addend || problem.activation.active()) {
      dnnl::post_ops ops;
      if (problem.activation_first) problem.activation.AppendTo(ops);
      if (has_addend) {
        plan->addend_post_op = ops.len();
        ops.append_binary(dnnl::algorithm::binary_add, problem.addend);
      }
      if (!problem.activation_first) problem.activation.AppendTo(ops);
      attr.set_post_ops(ops);
    }
    dnnl::matmul::desc desc = problem.bias.is_zero()
                                  ? dnnl::matmul::desc(problem.src, weights, problem.dst)
                                  : dnnl::matmul::desc(problem.src, weights, problem.bias, problem.dst);
    pd = dnnl::matmul::primitive_desc(desc, attr, dnnl_util::CpuEngine());
    plan->primitive = dnnl::matmul(pd);
    plan->src = pd.src_desc();
    plan->weights = pd.weights_desc();
    plan->bias = problem.bias;
    plan->addend = problem.addend;
    plan->dst = pd.dst_desc();
    plan->scratchpad = pd.scratchpad_desc();
    plan->arguments.Add(DNNL_ARG_SRC, plan->src);
    plan->arguments.Add(DNNL_ARG_WEIGHTS, plan->weights);
    plan->arguments.Add(DNNL_ARG_DST, plan->dst);
    if (!plan->bias.is_zero()) plan->arguments.Add(DNNL_ARG_BIAS, plan->bias);
    if (has_addend)
      plan->arguments.Add(DNNL_ARG_ATTR_MULTIPLE_POST_OP(plan->addend_post_op) | DNNL_ARG_SRC_1, plan->addend);
    if (plan->scratchpad.get_size() > 0) plan->arguments.Add(DNNL_ARG_SCRATCHPAD, plan->scratchpad);
  }));
  if (packed) {
    ASSIGN_OR_RETURN(plan->packed_weights, packed->Get(plan->weights));
  }
  return std::shared_ptr<const DnnlMatMulPlan>(std::move(plan));
}

Status RunDnnlMatMulPlan(const DnnlMatMulPlan& plan, const float* src, const float* weights, const float* bias,
                         float* dst, core::Allocator& allocator, const float* addend) {
  // dnnl_util::Execute would rebuild the memory objects and the argument map
  // on every call, which dominates small products.
  return dnnl_util::ExecuteWithThreadArguments(
      "matmul", plan.primitive, plan.arguments, plan.scratchpad, allocator,
      [&](std::unordered_map<int, dnnl::memory>& args) {
        args[DNNL_ARG_SRC].set_data_handle(const_cast<float*>(src));
        args[DNNL_ARG_DST].set_data_handle(dst);
        args[DNNL_ARG_WEIGHTS].set_data_handle(plan.packed_weights ? plan.packed_weights.get_data_handle()
                                                                   : const_cast<float*>(weights));
        if (!plan.bias.is_zero()) args[DNNL_ARG_BIAS].set_data_handle(const_cast<float*>(bias));
        if (!plan.addend.is_zero()) {
          args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(plan.addend_post_op) | DNNL_ARG_SRC_1].set_data_handle(
              const_cast<float*>(addend));
        }
      });
}

dnnl::memory::desc RowMajorF32Desc(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * std::max<int64_t>(dims[i], 1);
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

Result<DnnlMatMulProblem> MakeDnnlMatMulProblem(const MatMulShapes& shapes) {
  DnnlMatMulProblem problem;
  bool b_has_batch = false;
  for (int64_t d : shapes.b_batch) b_has_batch |= d != 1;
  if (!b_has_batch) {
    // One 2-D product: A's batches are consecutive rows.
    const int64_t rows = core::ElementCount(shapes.a_batch) * shapes.m;
    problem.src = RowMajorF32Desc({rows, shapes.k});
    problem.weights = RowMajorF32Desc({shapes.k, shapes.n});
    problem.dst = RowMajorF32Desc({rows, shapes.n});
    // A broadcast against B's unit batch dims still yields output rows in A's batch order.
    return problem;
  }
  const size_t rank = shapes.batch.size() + 2;
  if (rank > DNNL_MAX_NDIMS) {
    return core::Unimplemented("oneDNN matmul takes at most {} dims, got {}", DNNL_MAX_NDIMS, rank);
  }
  dnnl::memory::dims src(shapes.a_batch.begin(), shapes.a_batch.end());
  src.insert(src.end(), {shapes.m, shapes.k});
  dnnl::memory::dims weights(shapes.b_batch.begin(), shapes.b_batch.end());
  weights.insert(weights.end(), {shapes.k, shapes.n});
  dnnl::memory::dims dst(shapes.batch.begin(), shapes.batch.end());
  dst.insert(dst.end(), {shapes.m, shapes.n});
  problem.src = RowMajorF32Desc(src);
  problem.weights = RowMajorF32Desc(weights);
  problem.dst = RowMajorF32Desc(dst);
  return problem;
}

Status FloatMatMul(const MatMulShapes& shapes, const float* a, const float* b, float* out,
                   const DnnlShapeCache<DnnlMatMulPlan>& plans, core::Allocator& allocator) {
  DnnlShapeKey key;
  key.Add(shapes.a_batch);
  key.Add(-1);
  key.Add(shapes.b_batch);
  key.Add({shapes.m, shapes.k, shapes.n});
  auto plan = plans.GetOrBuild(key, [&]() -> Result<std::shared_ptr<const DnnlMatMulPlan>> {
    ASSIGN_OR_RETURN(DnnlMatMulProblem problem, MakeDnnlMatMulProblem(shapes));
    return BuildDnnlMatMulPlan(problem, nullptr);
  });
  if (plan.ok()) return RunDnnlMatMulPlan(**plan, a, b, nullptr, out, allocator);
  ReferenceMatMul<float>(shapes, a, b, out);  // oneDNN declined the shape
  return Status::Ok();
}

}  // namespace berth::engine

// MatMul, Gemm, MatMulInteger, QLinearMatMul and Einsum beyond what the ONNX
// backend suite covers: 1-D operands, batch broadcasting, non-float types,
// empty dims, prepacked constant weights with changing input shapes, bad
// shapes, and the float32 oneDNN path checked against a plain reference.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "core/tensor_compare.h"
#include "engine/kernels/matmul/matmul_common.h"
#include "engine/onnx/model_loader.h"
#include "engine/session.h"
#include "single_node_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;
using core::TensorShape;

// A loaded one-node model, for tests that edit it before making a session.
std::shared_ptr<Model> BuildModel(const std::string& op, const std::vector<TestInput>& inputs, int outputs,
                                  const std::vector<onnx::AttributeProto>& attributes, int opset) {
  auto loaded = SingleNode(op, inputs, attributes, outputs, opset).LoadModel();
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  return loaded.ok() ? *loaded : nullptr;
}

std::vector<double> RandomValues(int64_t count, uint32_t seed, int lo = -3, int hi = 3) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(count));
  for (auto& x : v) x = dist(rng) * 0.5;  // small halves: exact in every float type
  return v;
}

std::vector<double> RandomIntegers(int64_t count, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(count));
  for (auto& x : v) x = dist(rng);
  return v;
}

// Values every T holds exactly: small halves for floats, small integers
// (non-negative for unsigned types) for integers.
template <typename T>
std::vector<double> ValuesFor(int64_t count, uint32_t seed) {
  if constexpr (std::is_integral_v<T>) {
    return RandomIntegers(count, seed, std::is_signed_v<T> ? -3 : 0, 3);
  } else {
    return RandomValues(count, seed);
  }
}

std::vector<double> ToDoubles(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.element_count(); ++i) out.push_back(t.NumberAt(i));
  return out;
}

// numpy matmul in double, for checking.
std::vector<double> ReferenceMatMul(const TensorShape& a_shape, const std::vector<double>& a,
                                    const TensorShape& b_shape, const std::vector<double>& b, TensorShape* out_shape) {
  TensorShape as = a_shape, bs = b_shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  TensorShape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  auto batch = core::BroadcastShapes(a_batch, b_batch);
  EXPECT_TRUE(batch.ok());
  const size_t rank = batch->size();
  a_batch.insert(a_batch.begin(), rank - a_batch.size(), 1);
  b_batch.insert(b_batch.begin(), rank - b_batch.size(), 1);
  const int64_t count = core::ElementCount(*batch);
  std::vector<double> out;
  for (int64_t i = 0; i < count; ++i) {
    int64_t rest = i, a_index = 0, b_index = 0, a_mul = 1, b_mul = 1;
    for (size_t d = rank; d-- > 0;) {
      const int64_t idx = rest % (*batch)[d];
      rest /= (*batch)[d];
      a_index += (a_batch[d] == 1 ? 0 : idx) * a_mul;
      b_index += (b_batch[d] == 1 ? 0 : idx) * b_mul;
      a_mul *= a_batch[d];
      b_mul *= b_batch[d];
    }
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t c = 0; c < n; ++c) {
        double sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += a[a_index * m * k + r * k + j] * b[b_index * k * n + j * n + c];
        out.push_back(sum);
      }
    }
  }
  *out_shape = *batch;
  if (a_shape.size() > 1) out_shape->push_back(m);
  if (b_shape.size() > 1) out_shape->push_back(n);
  return out;
}

void ExpectNear(const std::vector<double>& expected, const Tensor& actual, double tolerance = 1e-4) {
  ASSERT_EQ(static_cast<int64_t>(expected.size()), actual.element_count());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(expected[i], actual.NumberAt(static_cast<int64_t>(i)), tolerance * (1 + std::abs(expected[i])))
        << "element " << i;
  }
}

template <typename T>
void CheckMatMul(const TensorShape& a_shape, const TensorShape& b_shape, bool constant_b = false) {
  const auto a = ValuesFor<T>(core::ElementCount(a_shape), 1);
  const auto b = ValuesFor<T>(core::ElementCount(b_shape), 2);
  TensorShape expected_shape;
  const auto expected = ReferenceMatMul(a_shape, a, b_shape, b, &expected_shape);
  auto out = RunNode("MatMul", {{"a", Make<T>(a_shape, a)}, {"b", Make<T>(b_shape, b), constant_b}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& y = (*out)[0].tensor();
  EXPECT_EQ(y.dtype(), core::DataTypeOf<T>::value);
  EXPECT_EQ(y.shape(), expected_shape) << core::ShapeToString(y.shape());
  ExpectNear(expected, y);
}

// ---------------------------------------------------------------------------
// MatMul

TEST(MatMulKernel, OneDimensionalOperands) {
  CheckMatMul<float>({4}, {4});        // dot product: scalar
  CheckMatMul<float>({4}, {4, 3});     // [3]
  CheckMatMul<float>({2, 5, 4}, {4});  // [2,5]
  CheckMatMul<float>({4}, {3, 4, 2});  // [3,2]
  CheckMatMul<double>({4}, {4});
  CheckMatMul<int64_t>({3}, {2, 3, 5});
}

TEST(MatMulKernel, BroadcastsBatchDimsBothWays) {
  CheckMatMul<float>({2, 1, 3, 4}, {5, 4, 2});
  CheckMatMul<float>({1, 3, 4}, {6, 4, 2});
  CheckMatMul<float>({6, 3, 4}, {1, 4, 2});
  CheckMatMul<float>({2, 3, 4}, {4, 5}, /*constant_b=*/true);
  CheckMatMul<int32_t>({2, 1, 3, 4}, {5, 4, 2});
  CheckMatMul<uint64_t>({3, 2, 2}, {2, 2});
}

TEST(MatMulKernel, SupportsEveryNumericType) {
  CheckMatMul<double>({3, 7}, {7, 5});
  CheckMatMul<core::Float16>({2, 3, 4}, {4, 5});
  CheckMatMul<core::BFloat16>({3, 4}, {2, 4, 5});
  CheckMatMul<int32_t>({3, 4}, {4, 5});
  CheckMatMul<int64_t>({3, 4}, {4, 5});
  CheckMatMul<uint32_t>({3, 4}, {4, 5});
  CheckMatMul<int8_t>({3, 4}, {4, 5});
}

TEST(MatMulKernel, IntegerOverflowWraps) {
  Tensor a = Tensor::FromVector<int32_t>({1 << 30, 1 << 30}, {1, 2});
  Tensor b = Tensor::FromVector<int32_t>({4, 1}, {2, 1});
  auto out = RunNode("MatMul", {{"a", a}, {"b", b}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // 2^32 + 2^30 wraps to 2^30 in 32 bits.
  EXPECT_EQ((*out)[0].tensor().data<int32_t>()[0], 1 << 30);
}

TEST(MatMulKernel, EmptyDims) {
  // K = 0: every output is an empty sum.
  auto out = RunNode("MatMul", {{"a", Make<float>({3, 0}, {})}, {"b", Make<float>({0, 2}, {})}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].tensor().shape(), (TensorShape{3, 2}));
  for (double v : ToDoubles((*out)[0].tensor())) EXPECT_EQ(v, 0.0);
  // M = 0 and a zero batch: empty outputs.
  out = RunNode("MatMul", {{"a", Make<float>({0, 4}, {})}, {"b", Make<float>({4, 2}, RandomValues(8, 3))}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].tensor().shape(), (TensorShape{0, 2}));
  out = RunNode("MatMul", {{"a", Make<int64_t>({0, 2, 3}, {})}, {"b", Make<int64_t>({3, 2}, RandomValues(6, 3))}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].tensor().shape(), (TensorShape{0, 2, 2}));
}

TEST(MatMulKernel, RejectsBadShapesWithAClearMessage) {
  auto out = RunNode("MatMul",
                     {{"a", Make<float>({2, 3}, RandomValues(6, 1))}, {"b", Make<float>({4, 2}, RandomValues(8, 1))}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("inner dims differ"), std::string::npos) << out.status().message();
  out = RunNode("MatMul", {{"a", Make<float>({2, 2, 3}, RandomValues(12, 1))},
                           {"b", Make<float>({3, 3, 2}, RandomValues(18, 1))}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("broadcast"), std::string::npos) << out.status().message();
}

// The float32 path against the plain reference on sizes where oneDNN blocks.
TEST(MatMulKernel, FloatMatchesReferenceOnLargerShapes) {
  CheckMatMul<float>({37, 129}, {129, 65});
  CheckMatMul<float>({2, 3, 33, 64}, {2, 3, 64, 17});
  CheckMatMul<float>({1, 784}, {784, 512}, /*constant_b=*/true);
}

// A prepacked constant B serves inputs of changing shape, from several threads.
TEST(MatMulKernel, PrepackedWeightsServeManyShapesConcurrently) {
  const TensorShape b_shape{64, 48};
  const auto b = RandomValues(core::ElementCount(b_shape), 9);
  auto model = BuildModel(
      "MatMul", {{"a", Make<float>({1, 64}, RandomValues(64, 1))}, {"b", Make<float>(b_shape, b), true}}, 1, {}, 17);
  ASSERT_TRUE(model);
  // The declared input shape [1,64] would reject other batches: declare it free.
  model->graph.inputs[0].type.dims[0] = Dimension{};
  auto session = Session::Create(model, {.intra_op_threads = 1});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int iteration = 0; iteration < 20; ++iteration) {
        const int64_t rows = 1 + (t * 7 + iteration) % 9;
        const auto a = RandomValues(rows * 64, static_cast<uint32_t>(t * 100 + iteration));
        TensorShape expected_shape;
        const auto expected = ReferenceMatMul({rows, 64}, a, b_shape, b, &expected_shape);
        auto out = (*session)->Run({{"a", Make<float>({rows, 64}, a)}});
        if (!out.ok() || (*out)[0].tensor().shape() != expected_shape) {
          ++failures;
          continue;
        }
        for (size_t i = 0; i < expected.size(); ++i) {
          if (std::abs(expected[i] - (*out)[0].tensor().data<float>()[i]) > 1e-3) {
            ++failures;
            break;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
}

// The prepacked weights are the only copy: the session drops the initializer
// once every reader keeps its own, and results stay exact across shapes.
TEST(MatMulKernel, PrepackedWeightsAreHeldOnce) {
  const TensorShape b_shape{96, 40};
  const auto b = RandomValues(core::ElementCount(b_shape), 21);
  auto model = BuildModel(
      "MatMul", {{"a", Make<float>({2, 96}, RandomValues(192, 2))}, {"b", Make<float>(b_shape, b), true}}, 1, {}, 17);
  ASSERT_TRUE(model);
  model->graph.inputs[0].type.dims[0] = Dimension{};
  auto session = Session::Create(model, {.intra_op_threads = 1});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_FALSE((*session)->model().graph.IsInitializer("b"));
  for (int64_t rows : {2, 1, 7, 2}) {
    const auto a = RandomValues(rows * 96, static_cast<uint32_t>(rows));
    TensorShape expected_shape;
    const auto expected = ReferenceMatMul({rows, 96}, a, b_shape, b, &expected_shape);
    auto out = (*session)->Run({{"a", Make<float>({rows, 96}, a)}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectNear(expected, (*out)[0].tensor());
  }
}

// A constant that something else reads (here: a graph output) stays.
TEST(MatMulKernel, SharedWeightsAreKept) {
  const TensorShape b_shape{8, 4};
  const auto b = RandomValues(32, 5);
  auto model = BuildModel(
      "MatMul", {{"a", Make<float>({1, 8}, RandomValues(8, 6))}, {"b", Make<float>(b_shape, b), true}}, 1, {}, 17);
  ASSERT_TRUE(model);
  ValueInfo b_output;
  b_output.name = "b";
  b_output.type = ValueType::Tensor(DataType::kFloat32, {Dimension{8, ""}, Dimension{4, ""}});
  model->graph.outputs.push_back(b_output);
  auto session = Session::Create(model, {.intra_op_threads = 1});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_TRUE((*session)->model().graph.IsInitializer("b"));
  auto out = (*session)->Run({{"a", Make<float>({1, 8}, RandomValues(8, 6))}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 2u);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_EQ((*out)[1].tensor().data<float>()[i], b[i]);
}

// Paths that take no packed weights get the plain ones back, rebuilt from the
// packed copy (a transposed view included) once the plain copy is gone.
TEST(PackedWeights, PlainTensorIsRebuiltFromThePackedCopy) {
  const int64_t k = 64, n = 48;
  const auto values = RandomValues(k * n, 17);
  for (bool transposed : {false, true}) {
    Tensor weights = Make<float>(transposed ? TensorShape{n, k} : TensorShape{k, n}, values);
    const dnnl::memory::dims strides = transposed ? dnnl::memory::dims{1, k} : dnnl::memory::dims{n, 1};
    PackedWeights packed(weights, dnnl::memory::desc({k, n}, dnnl::memory::data_type::f32, strides));
    weights = Tensor();  // the packed weights hold the only reference now
    const dnnl::memory::desc blocked({k, n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::BA16a64b);
    ASSERT_TRUE(packed.Get(blocked).ok());
    auto plain = packed.PlainTensor();
    ASSERT_TRUE(plain.ok()) << plain.status().ToString();
    ASSERT_EQ(plain->shape(), packed.operand().shape());
    for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(plain->data<float>()[i], values[i]) << i;
    EXPECT_EQ(packed.operand().raw_data(), nullptr);
  }
}

// Convolution weights: a Winograd-transformed copy cannot be reordered back,
// so it never replaces the plain weights, and one asked for after a blocked
// copy has replaced them is made from that copy (through the plain layout).
TEST(PackedWeights, WinogradCopyAfterThePlainWeightsAreGone) {
  using dnnl::memory;
  const memory::dims dims = {32, 32, 3, 3};
  const auto values = RandomValues(32 * 32 * 9, 23);
  const memory::desc plain_desc(dims, memory::data_type::f32, memory::format_tag::oihw);
  memory::desc winograd;
  try {
    const memory::desc act({1, 32, 14, 14}, memory::data_type::f32, memory::format_tag::nChw16c);
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd, act,
                                         memory::desc(dims, memory::data_type::f32, memory::format_tag::any), act,
                                         {1, 1}, {1, 1}, {1, 1});
    winograd = dnnl::convolution_forward::primitive_desc(desc, dnnl::engine(dnnl::engine::kind::cpu, 0)).weights_desc();
  } catch (const dnnl::error&) {
    GTEST_SKIP() << "oneDNN has no Winograd convolution on this CPU";
  }
  Tensor weights = Make<float>({32, 32, 3, 3}, values);
  // What a Winograd copy made straight from the plain weights holds.
  std::vector<char> expected(winograd.get_size());
  {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    memory from(plain_desc, engine, weights.raw_data()), to(winograd, engine, expected.data());
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
  }
  PackedWeights packed(weights, plain_desc);
  weights = Tensor();
  ASSERT_TRUE(packed.Get(memory::desc(dims, memory::data_type::f32, memory::format_tag::OIhw16i16o)).ok());
  auto made = packed.Get(winograd);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(std::memcmp(made->get_data_handle(), expected.data(), expected.size()), 0);
  // The blocked copy still stands for the weights.
  auto plain = packed.PlainTensor();
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(plain->data<float>()[i], values[i]) << i;

  // Winograd first: the plain weights stay, a blocked copy comes from them.
  PackedWeights first(Make<float>({32, 32, 3, 3}, values), plain_desc);
  ASSERT_TRUE(first.Get(winograd).ok());
  auto again = first.PlainTensor();
  ASSERT_TRUE(again.ok() && again->raw_data()) << again.status().ToString();
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(again->data<float>()[i], values[i]) << i;
}

// ---------------------------------------------------------------------------
// Gemm

template <typename T>
void CheckGemm(int64_t m, int64_t k, int64_t n, bool trans_a, bool trans_b, float alpha, float beta,
               const TensorShape& c_shape, bool constant_b, bool constant_c, bool has_c = true) {
  const TensorShape a_shape = trans_a ? TensorShape{k, m} : TensorShape{m, k};
  const TensorShape b_shape = trans_b ? TensorShape{n, k} : TensorShape{k, n};
  const auto a = ValuesFor<T>(m * k, 11);
  const auto b = ValuesFor<T>(k * n, 12);
  const auto c = ValuesFor<T>(core::ElementCount(c_shape), 13);
  std::vector<double> expected(static_cast<size_t>(m * n));
  const int64_t c_rows = c_shape.size() == 2 ? c_shape[0] : 1;
  const int64_t c_cols = c_shape.empty() ? 1 : c_shape.back();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += a[trans_a ? p * m + i : i * k + p] * b[trans_b ? j * k + p : p * n + j];
      double v = alpha * sum;
      if (has_c) v += beta * c[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
      expected[i * n + j] = v;
    }
  }
  std::vector<TestInput> inputs = {{"a", Make<T>(a_shape, a)}, {"b", Make<T>(b_shape, b), constant_b}};
  if (has_c) inputs.push_back({"c", Make<T>(c_shape, c), constant_c});
  auto out = RunNode("Gemm", inputs,
                     {Int("transA", trans_a), Int("transB", trans_b), Float("alpha", alpha), Float("beta", beta)}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0].tensor().shape(), (TensorShape{m, n}));
  ExpectNear(expected, (*out)[0].tensor());
}

TEST(GemmKernel, TransposesScalesAndBroadcastsC) {
  for (bool constant : {false, true}) {
    CheckGemm<float>(5, 7, 3, true, true, 0.5f, 2.0f, {5, 1}, constant, constant);
    CheckGemm<float>(5, 7, 3, false, true, 1.0f, 1.0f, {3}, constant, constant);
    CheckGemm<float>(5, 7, 3, true, false, 2.0f, 1.0f, {}, constant, constant);
    CheckGemm<float>(5, 7, 3, false, false, 1.0f, -0.5f, {5, 3}, constant, constant);
    CheckGemm<float>(4, 6, 8, false, true, 1.0f, 1.0f, {1, 8}, constant, !constant);
  }
  CheckGemm<float>(3, 4, 5, false, false, 1.0f, 1.0f, {}, false, false, /*has_c=*/false);
  CheckGemm<float>(3, 4, 5, false, false, 0.0f, 1.0f, {3, 5}, false, false);
  CheckGemm<float>(3, 0, 5, false, false, 1.0f, 2.0f, {5}, false, false);
}

TEST(GemmKernel, OtherTypes) {
  CheckGemm<double>(4, 5, 6, true, true, 0.25f, 3.0f, {6}, false, false);
  CheckGemm<core::Float16>(4, 5, 6, false, true, 1.0f, 1.0f, {4, 1}, true, true);
  CheckGemm<int32_t>(4, 5, 6, false, false, 1.0f, 1.0f, {6}, false, false);
  CheckGemm<int64_t>(4, 5, 6, true, false, 2.0f, 3.0f, {4, 6}, false, false);
  CheckGemm<uint32_t>(2, 3, 2, false, false, 1.0f, 1.0f, {}, false, false, /*has_c=*/false);
}

TEST(GemmKernel, RejectsCThatDoesNotBroadcast) {
  auto out = RunNode("Gemm",
                     {{"a", Make<float>({2, 3}, RandomValues(6, 1))},
                      {"b", Make<float>({3, 4}, RandomValues(12, 1))},
                      {"c", Make<float>({3, 4}, RandomValues(12, 1))}},
                     {}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("does not broadcast"), std::string::npos) << out.status().message();
}

// ---------------------------------------------------------------------------
// MatMulInteger / QLinearMatMul

TEST(MatMulIntegerKernel, PerRowAndPerColumnZeroPointsWithBatches) {
  const TensorShape a_shape{2, 3, 4}, b_shape{4, 2};
  const std::vector<double> a = RandomIntegers(24, 5, 0, 255), b = RandomIntegers(8, 6, -128, 127);
  const std::vector<double> a_zero = {3, 1, 2}, b_zero = {-2, 5};
  auto out = RunNode("MatMulInteger",
                     {{"a", Make<uint8_t>(a_shape, a)},
                      {"b", Make<int8_t>(b_shape, b)},
                      {"az", Make<uint8_t>({3}, a_zero)},
                      {"bz", Make<int8_t>({2}, b_zero)}},
                     {}, 10);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& y = (*out)[0].tensor();
  ASSERT_EQ(y.dtype(), DataType::kInt32);
  ASSERT_EQ(y.shape(), (TensorShape{2, 3, 2}));
  for (int64_t batch = 0; batch < 2; ++batch) {
    for (int64_t m = 0; m < 3; ++m) {
      for (int64_t n = 0; n < 2; ++n) {
        double sum = 0;
        for (int64_t k = 0; k < 4; ++k) sum += (a[(batch * 3 + m) * 4 + k] - a_zero[m]) * (b[k * 2 + n] - b_zero[n]);
        EXPECT_EQ(y.data<int32_t>()[(batch * 3 + m) * 2 + n], static_cast<int32_t>(sum));
      }
    }
  }
}

TEST(MatMulIntegerKernel, RejectsZeroPointOfWrongLength) {
  auto out = RunNode("MatMulInteger",
                     {{"a", Make<uint8_t>({2, 3}, RandomIntegers(6, 1, 0, 6))},
                      {"b", Make<uint8_t>({3, 2}, RandomIntegers(6, 1, 0, 6))},
                      {"az", Make<uint8_t>({4}, {1, 2, 3, 4})}},
                     {}, 10);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("a_zero_point"), std::string::npos) << out.status().message();
}

TEST(QLinearMatMulKernel, RoundsHalfToEvenAndSaturates) {
  // 1x1 products: y = round(a * b * scale / y_scale) + y_zero.
  auto run = [](double a, double b, float y_scale, double y_zero) {
    auto out = RunNode("QLinearMatMul",
                       {{"a", Make<uint8_t>({1, 1}, {a})},
                        {"as", Make<float>({}, {1.0})},
                        {"az", Make<uint8_t>({}, {0})},
                        {"b", Make<uint8_t>({1, 1}, {b})},
                        {"bs", Make<float>({}, {1.0})},
                        {"bz", Make<uint8_t>({}, {0})},
                        {"ys", Make<float>({}, {y_scale})},
                        {"yz", Make<uint8_t>({}, {y_zero})}},
                       {}, 10);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? (*out)[0].tensor().data<uint8_t>()[0] : 0;
  };
  EXPECT_EQ(run(5, 1, 2.0f, 0), 2);         // 2.5 -> 2
  EXPECT_EQ(run(7, 1, 2.0f, 0), 4);         // 3.5 -> 4
  EXPECT_EQ(run(200, 200, 1.0f, 10), 255);  // saturates
}

// ---------------------------------------------------------------------------
// Einsum, against a direct evaluation of the sum.

struct EinsumCase {
  std::string equation;
  std::vector<TensorShape> shapes;
  TensorShape expected_shape;
};

// Evaluates an explicit-output equation without ellipsis by brute force.
std::vector<double> BruteForceEinsum(const std::string& equation, const std::vector<TensorShape>& shapes,
                                     const std::vector<std::vector<double>>& values, const TensorShape& out_shape) {
  const size_t arrow = equation.find("->");
  std::vector<std::string> terms;
  std::string lhs = equation.substr(0, arrow);
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const std::string out_term = equation.substr(arrow + 2);
  std::map<char, int64_t> sizes;
  for (size_t i = 0; i < terms.size(); ++i) {
    for (size_t j = 0; j < terms[i].size(); ++j) sizes[terms[i][j]] = std::max(sizes[terms[i][j]], shapes[i][j]);
  }
  std::vector<char> letters;
  for (auto& [c, s] : sizes) letters.push_back(c);
  std::vector<double> out(static_cast<size_t>(core::ElementCount(out_shape)), 0.0);
  std::map<char, int64_t> index;
  std::function<void(size_t)> visit = [&](size_t depth) {
    if (depth == letters.size()) {
      double product = 1;
      for (size_t i = 0; i < terms.size(); ++i) {
        int64_t offset = 0;
        for (size_t j = 0; j < terms[i].size(); ++j) {
          offset = offset * shapes[i][j] + (shapes[i][j] == 1 ? 0 : index[terms[i][j]]);
        }
        product *= values[i][offset];
      }
      int64_t offset = 0;
      for (size_t j = 0; j < out_term.size(); ++j) offset = offset * out_shape[j] + index[out_term[j]];
      out[offset] += product;
      return;
    }
    for (int64_t v = 0; v < sizes[letters[depth]]; ++v) {
      index[letters[depth]] = v;
      visit(depth + 1);
    }
  };
  visit(0);
  return out;
}

template <typename T>
void CheckEinsum(const std::string& equation, const std::vector<TensorShape>& shapes, const TensorShape& out_shape,
                 const std::string& brute_equation = "") {
  std::vector<std::vector<double>> values;
  std::vector<TestInput> inputs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    values.push_back(ValuesFor<T>(core::ElementCount(shapes[i]), static_cast<uint32_t>(20 + i)));
    inputs.push_back({"x" + std::to_string(i), Make<T>(shapes[i], values.back())});
  }
  auto out = RunNode("Einsum", inputs, {String("equation", equation)}, 12);
  ASSERT_TRUE(out.ok()) << equation << ": " << out.status().ToString();
  const Tensor& y = (*out)[0].tensor();
  EXPECT_EQ(y.shape(), out_shape) << equation << " gave " << core::ShapeToString(y.shape());
  const auto expected = BruteForceEinsum(brute_equation.empty() ? equation : brute_equation, shapes, values, out_shape);
  ExpectNear(expected, y);
}

TEST(EinsumKernel, ContractionsTransposesAndReductions) {
  CheckEinsum<float>("ij,jk->ik", {{3, 4}, {4, 5}}, {3, 5});
  CheckEinsum<float>("bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}, {2, 3, 5});
  CheckEinsum<float>("bhqd,bhkd->bhqk", {{2, 3, 4, 5}, {2, 3, 6, 5}}, {2, 3, 4, 6});
  CheckEinsum<float>("ij->ji", {{3, 4}}, {4, 3});
  CheckEinsum<float>("ij->", {{3, 4}}, {});
  CheckEinsum<float>("ijk->ki", {{2, 3, 4}}, {4, 2});
  CheckEinsum<float>("i,i->", {{5}, {5}}, {});
  CheckEinsum<float>("i,j->ij", {{3}, {4}}, {3, 4});
  CheckEinsum<float>("ij,ij->ij", {{3, 4}, {3, 4}}, {3, 4});
  CheckEinsum<float>("abc,cd,de->abe", {{2, 3, 4}, {4, 5}, {5, 2}}, {2, 3, 2});
  CheckEinsum<float>("ab,cd->", {{2, 3}, {4, 5}}, {});
  CheckEinsum<double>("ik,kj->ij", {{3, 4}, {4, 2}}, {3, 2});
  CheckEinsum<int64_t>("ij,jk->ki", {{3, 4}, {4, 2}}, {2, 3});
  CheckEinsum<core::Float16>("ij,jk->ik", {{2, 3}, {3, 2}}, {2, 2});
}

TEST(EinsumKernel, DiagonalsAndTraces) {
  CheckEinsum<float>("ii->i", {{4, 4}}, {4});
  CheckEinsum<float>("ii->", {{4, 4}}, {});
  CheckEinsum<float>("bii->bi", {{2, 3, 3}}, {2, 3});
  CheckEinsum<float>("iij->j", {{3, 3, 2}}, {2});
  CheckEinsum<float>("ij,jj->i", {{2, 3}, {3, 3}}, {2});
  CheckEinsum<int32_t>("ii", {{3, 3}}, {}, "ii->");
}

TEST(EinsumKernel, ImplicitOutputAndEllipsis) {
  CheckEinsum<float>("ij,jk", {{3, 4}, {4, 5}}, {3, 5}, "ij,jk->ik");
  CheckEinsum<float>("ba", {{3, 4}}, {4, 3}, "ba->ab");
  CheckEinsum<float>("Ab,bA", {{2, 3}, {3, 2}}, {}, "Ab,bA->");
  // Ellipsis dims broadcast like numpy (here a: [2,1], b: [3]).
  CheckEinsum<float>("...ij,...jk->...ik", {{2, 1, 3, 4}, {3, 4, 5}}, {2, 3, 3, 5}, "abij,bjk->abik");
  CheckEinsum<float>("...ii->...i", {{2, 3, 3}}, {2, 3}, "aii->ai");
  CheckEinsum<float>("i...->...", {{3, 2}}, {2}, "ia->a");
  CheckEinsum<float>(" ... i j , ... j k -> ... i k ", {{3, 4}, {4, 2}}, {3, 2}, "ij,jk->ik");
}

TEST(EinsumKernel, RejectsBadEquations) {
  for (const char* equation :
       {"ij,jk->ik,", "ij,jk->i$", "ij,jk->iz", "ij,jk->ii", "ijk,jk->i", "ij,jk,kl->il", "i.j,jk"}) {
    auto out = RunNode("Einsum", {{"x0", Make<float>({2, 2}, {1, 2, 3, 4})}, {"x1", Make<float>({2, 2}, {1, 2, 3, 4})}},
                       {String("equation", equation)}, 12);
    EXPECT_FALSE(out.ok()) << equation;
  }
  // Sizes that do not agree.
  auto out = RunNode("Einsum",
                     {{"x0", Make<float>({2, 3}, RandomValues(6, 1))}, {"x1", Make<float>({4, 2}, RandomValues(8, 1))}},
                     {String("equation", "ij,jk->ik")}, 12);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("sizes"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace berth::engine::testing

// Element-wise kernels: edge cases the ONNX conformance suite does not cover
// (integer semantics, rounding, string casts, broadcasting layouts, legacy
// opsets, errors), and the vectorised math against libm.
#include "engine/kernels/elementwise/elementwise.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <variant>
#include <vector>

#include "core/cpu_features.h"
#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;

struct Attr {
  std::string name;
  std::variant<int64_t, float, std::string, std::vector<int64_t>> value;
};

// A model of one node `op_type` whose inputs are graph inputs i0, i1, ...
// declared without a shape (an undefined tensor leaves that optional input
// out); outputs o0, o1, ...
OpTestModel ElementwiseModel(const std::string& op_type, int opset, const std::vector<Tensor>& inputs,
                             const std::vector<Attr>& attrs, int outputs) {
  OpTestModel model(op_type, opset);
  model.DeclareShapes(OpTestModel::Shapes::kUnknown);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined()) {
      model.Input("i" + std::to_string(i), inputs[i]);
    } else {
      model.Absent();
    }
  }
  for (int o = 0; o < outputs; ++o) model.Output("o" + std::to_string(o));
  for (const Attr& attr : attrs) {
    if (auto* i = std::get_if<int64_t>(&attr.value)) {
      model.Int(attr.name, *i);
    } else if (auto* f = std::get_if<float>(&attr.value)) {
      model.Float(attr.name, *f);
    } else if (auto* text = std::get_if<std::string>(&attr.value)) {
      model.String(attr.name, *text);
    } else {
      model.Ints(attr.name, std::get<std::vector<int64_t>>(attr.value));
    }
  }
  return model;
}

core::Result<std::unique_ptr<Session>> MakeSession(const std::string& op_type, int opset,
                                                   const std::vector<Tensor>& inputs, const std::vector<Attr>& attrs,
                                                   int outputs) {
  return ElementwiseModel(op_type, opset, inputs, attrs, outputs).Load({.intra_op_threads = 2});
}

core::Result<std::vector<core::Value>> RunOp(const std::string& op_type, int opset, const std::vector<Tensor>& inputs,
                                             const std::vector<Attr>& attrs = {}, int outputs = 1) {
  return ElementwiseModel(op_type, opset, inputs, attrs, outputs).Run({.intra_op_threads = 2});
}

// Runs a one-output op and returns its tensor (failing the test on error).
Tensor Run1(const std::string& op_type, int opset, const std::vector<Tensor>& inputs,
            const std::vector<Attr>& attrs = {}) {
  auto outputs = RunOp(op_type, opset, inputs, attrs);
  EXPECT_TRUE(outputs.ok()) << op_type << ": " << outputs.status().ToString();
  if (!outputs.ok()) return Tensor();
  return (*outputs)[0].tensor();
}

template <typename T>
Tensor Vec(std::vector<T> values, core::TensorShape shape = {}) {
  if (shape.empty() && values.size() != 1) shape = {static_cast<int64_t>(values.size())};
  return Tensor::FromVector<T>(values, shape);
}

template <typename T>
std::vector<T> Values(const Tensor& tensor) {
  if (!tensor.defined()) return {};
  return std::vector<T>(tensor.data<T>(), tensor.data<T>() + tensor.element_count());
}

std::vector<float> HalfValues(const Tensor& tensor) {
  std::vector<float> out;
  for (int64_t i = 0; i < tensor.element_count(); ++i) out.push_back(static_cast<float>(tensor.NumberAt(i)));
  return out;
}

// ---------------------------------------------------------------------------
// Broadcasting: every layout against a plain reference.

TEST(ElementwiseBroadcast, MatchesReferenceForManyShapes) {
  std::mt19937 rng(7);
  const std::vector<core::TensorShape> shapes = {{},           {1},          {5},       {4, 1},    {1, 5},
                                                 {4, 5},       {3, 1, 5},    {3, 4, 1}, {1, 4, 5}, {3, 4, 5},
                                                 {2, 1, 4, 1}, {2, 3, 4, 5}, {1, 1, 1}};
  for (const auto& a_shape : shapes) {
    for (const auto& b_shape : shapes) {
      auto out_shape = core::BroadcastShapes(a_shape, b_shape);
      if (!out_shape.ok()) continue;
      std::vector<float> a(core::ElementCount(a_shape)), b(core::ElementCount(b_shape));
      for (auto& v : a) v = static_cast<float>(rng() % 100);
      for (auto& v : b) v = static_cast<float>(rng() % 100);
      std::vector<float> out(core::ElementCount(*out_shape));
      BinaryMap<float, float, float>(a.data(), a_shape, b.data(), b_shape, out.data(), *out_shape,
                                     [](float x, float y) { return x * 1000 + y; });
      // Reference: decompose each output index.
      const size_t rank = out_shape->size();
      auto a_strides = BroadcastStrides(a_shape, rank);
      auto b_strides = BroadcastStrides(b_shape, rank);
      for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
        int64_t rest = i, ai = 0, bi = 0;
        for (size_t axis = rank; axis-- > 0;) {
          int64_t index = rest % (*out_shape)[axis];
          rest /= (*out_shape)[axis];
          ai += index * a_strides[axis];
          bi += index * b_strides[axis];
        }
        ASSERT_EQ(out[i], a[ai] * 1000 + b[bi])
            << core::ShapeToString(a_shape) << " x " << core::ShapeToString(b_shape) << " at " << i;
      }
    }
  }
}

TEST(ElementwiseBroadcast, CollapsesAxesThatBroadcastAlike) {
  core::TensorShape out = {8, 16, 64}, a = {8, 16, 64}, b = {64};
  auto layout = CollapseBroadcast<2>(out, {&a, &b});
  EXPECT_EQ(layout.out, (core::TensorShape{128, 64}));
  core::TensorShape nchw = {2, 3, 4, 5}, bias = {1, 3, 1, 1};
  layout = CollapseBroadcast<2>(nchw, {&nchw, &bias});
  EXPECT_EQ(layout.out, (core::TensorShape{2, 3, 20}));
  EXPECT_EQ(layout.strides[1], (std::vector<int64_t>{0, 1, 0}));
}

TEST(ElementwiseBroadcast, EmptyAndIncompatibleShapes) {
  Tensor empty = Tensor::FromVector<float>({}, {0, 3});
  Tensor row = Vec<float>({1, 2, 3});
  Tensor out = Run1("Add", 17, {empty, row});
  EXPECT_EQ(out.shape(), (core::TensorShape{0, 3}));
  auto bad = RunOp("Add", 17, {Vec<float>({1, 2}), row});
  ASSERT_FALSE(bad.ok());
}

TEST(ElementwiseBroadcast, LegacyBroadcastWithAxis) {
  // Opset 6: B [3] aligned to axis 1 of A [2,3,2].
  Tensor a = Tensor::FromVector<float>({0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}, {2, 3, 2});
  Tensor b = Vec<float>({10, 20, 30});
  Tensor out = Run1("Add", 6, {a, b}, {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}});
  EXPECT_EQ(Values<float>(out), (std::vector<float>{10, 10, 20, 20, 30, 30, 11, 11, 21, 21, 31, 31}));
  // Without an axis B aligns right.
  Tensor b2 = Vec<float>({1, 2});
  out = Run1("Mul", 6, {a, b2}, {{"broadcast", int64_t{1}}});
  EXPECT_EQ(Values<float>(out), (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 2, 1, 2, 1, 2}));
  auto bad = RunOp("Add", 6, {a, Vec<float>({1, 2, 3, 4})}, {{"broadcast", int64_t{1}}, {"axis", int64_t{1}}});
  EXPECT_FALSE(bad.ok());
}

// ---------------------------------------------------------------------------
// Integer arithmetic.

TEST(ElementwiseInteger, DivTruncatesAndDivisionByZeroIsZero) {
  Tensor a = Vec<int32_t>({7, -7, 7, -7, 5, INT32_MIN});
  Tensor b = Vec<int32_t>({2, 2, -2, -2, 0, -1});
  EXPECT_EQ(Values<int32_t>(Run1("Div", 14, {a, b})), (std::vector<int32_t>{3, -3, -3, 3, 0, INT32_MIN}));
}

TEST(ElementwiseInteger, ArithmeticWrapsAround) {
  Tensor a = Vec<int32_t>({INT32_MAX, INT32_MIN});
  Tensor b = Vec<int32_t>({1, 1});
  EXPECT_EQ(Values<int32_t>(Run1("Add", 14, {a, b})), (std::vector<int32_t>{INT32_MIN, INT32_MIN + 1}));
  Tensor c = Vec<uint16_t>({65535});
  EXPECT_EQ(Values<uint16_t>(Run1("Mul", 14, {c, c})), (std::vector<uint16_t>{1}));
}

TEST(ElementwiseInteger, ModFollowsTheDivisorOrTheDividend) {
  Tensor a = Vec<int32_t>({-4, 7, -3, 5, 4});
  Tensor b = Vec<int32_t>({3, -3, -3, 0, -1});
  EXPECT_EQ(Values<int32_t>(Run1("Mod", 13, {a, b})), (std::vector<int32_t>{2, -2, 0, 0, 0}));
  EXPECT_EQ(Values<int32_t>(Run1("Mod", 13, {a, b}, {{"fmod", int64_t{1}}})), (std::vector<int32_t>{-1, 1, 0, 0, 0}));
  auto floats = RunOp("Mod", 13, {Vec<float>({1.5f}), Vec<float>({1.0f})});
  ASSERT_FALSE(floats.ok());
  EXPECT_NE(floats.status().message().find("fmod=1"), std::string::npos) << floats.status().message();
}

TEST(ElementwiseInteger, IntegerPowIsExact) {
  Tensor base = Vec<int64_t>({2, -2, 3, 2, -1, 1, 0});
  Tensor exponent = Vec<int64_t>({62, 3, 0, -1, -3, -5, 0});
  EXPECT_EQ(Values<int64_t>(Run1("Pow", 15, {base, exponent})),
            (std::vector<int64_t>{int64_t{1} << 62, -8, 1, 0, -1, 1, 1}));
  // Integer base, float exponent: truncated; out-of-range saturates.
  EXPECT_EQ(Values<int32_t>(Run1("Pow", 15, {Vec<int32_t>({2, 4, 10}), Vec<float>({0.5f, 0.5f, 20.0f})})),
            (std::vector<int32_t>{1, 2, INT32_MAX}));
  // Float base, integer exponent.
  EXPECT_EQ(Values<float>(Run1("Pow", 15, {Vec<float>({1.5f, -2.0f}), Vec<int8_t>({2, 3})})),
            (std::vector<float>{2.25f, -8.0f}));
  auto bad = RunOp("Pow", 15, {Vec<uint8_t>({2}), Vec<uint8_t>({2})});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), core::StatusCode::kUnimplemented);
}

TEST(ElementwiseInteger, BitShiftBeyondWidthIsZero) {
  Tensor a = Vec<uint8_t>({1, 128, 255});
  Tensor b = Vec<uint8_t>({7, 8, 200});
  EXPECT_EQ(Values<uint8_t>(Run1("BitShift", 11, {a, b}, {{"direction", std::string("LEFT")}})),
            (std::vector<uint8_t>{128, 0, 0}));
  EXPECT_EQ(Values<uint8_t>(Run1("BitShift", 11, {a, b}, {{"direction", std::string("RIGHT")}})),
            (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_FALSE(RunOp("BitShift", 11, {a, b}, {{"direction", std::string("UP")}}).ok());
}

TEST(ElementwiseInteger, BitwiseOps) {
  Tensor a = Vec<int16_t>({0x0f0f, -1});
  Tensor b = Vec<int16_t>({0x00ff, 0x1234});
  EXPECT_EQ(Values<int16_t>(Run1("BitwiseAnd", 18, {a, b})), (std::vector<int16_t>{0x000f, 0x1234}));
  EXPECT_EQ(Values<int16_t>(Run1("BitwiseOr", 18, {a, b})), (std::vector<int16_t>{0x0fff, -1}));
  EXPECT_EQ(Values<int16_t>(Run1("BitwiseXor", 18, {a, b})), (std::vector<int16_t>{0x0ff0, ~0x1234}));
  EXPECT_EQ(Values<int16_t>(Run1("BitwiseNot", 18, {a})), (std::vector<int16_t>{~0x0f0f, 0}));
}

TEST(ElementwiseInteger, AbsNegAndSignOfIntegers) {
  Tensor a = Vec<int8_t>({-128, -3, 0, 5});
  EXPECT_EQ(Values<int8_t>(Run1("Abs", 13, {a})), (std::vector<int8_t>{-128, 3, 0, 5}));
  EXPECT_EQ(Values<int8_t>(Run1("Neg", 13, {a})), (std::vector<int8_t>{-128, 3, 0, -5}));
  EXPECT_EQ(Values<int8_t>(Run1("Sign", 13, {a})), (std::vector<int8_t>{-1, -1, 0, 1}));
  EXPECT_EQ(Values<int8_t>(Run1("Relu", 14, {a})), (std::vector<int8_t>{0, 0, 0, 5}));
}

// ---------------------------------------------------------------------------
// Floating point details.

TEST(ElementwiseFloat, RoundHalfToEven) {
  Tensor x = Vec<float>({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4999998f, 3.5f});
  EXPECT_EQ(Values<float>(Run1("Round", 11, {x})), (std::vector<float>{0, 2, 2, -0.0f, -2, 2, 4}));
}

TEST(ElementwiseFloat, MaxMinPropagateNaNAndBroadcast) {
  Tensor a = Vec<float>({NAN, 1, 5});
  Tensor b = Vec<float>({0, NAN, 2});
  Tensor c = Tensor::FromVector<float>({3}, {1, 1});
  Tensor out = Run1("Max", 13, {a, b, c});
  EXPECT_EQ(out.shape(), (core::TensorShape{1, 3}));
  auto v = Values<float>(out);
  EXPECT_TRUE(std::isnan(v[0]) && std::isnan(v[1]));
  EXPECT_EQ(v[2], 5);
  auto mean = Values<float>(Run1("Mean", 13, {Vec<float>({1, 2}), Vec<float>({3}), Vec<float>({5, 7})}));
  EXPECT_EQ(mean, (std::vector<float>{3, 4}));
}

TEST(ElementwiseFloat, ClipBoundsNaNAndInvertedRange) {
  Tensor x = Vec<float>({-5, 0, 5, NAN});
  auto out = Values<float>(Run1("Clip", 13, {x, Vec<float>({-1}), Vec<float>({1})}));
  EXPECT_EQ(out[0], -1);
  EXPECT_EQ(out[2], 1);
  EXPECT_TRUE(std::isnan(out[3]));
  // min > max: everything becomes max.
  out = Values<float>(Run1("Clip", 13, {Vec<float>({-5, 0, 5}), Vec<float>({2}), Vec<float>({1})}));
  EXPECT_EQ(out, (std::vector<float>{1, 1, 1}));
  // Only max given.
  out = Values<float>(Run1("Clip", 13, {Vec<float>({-5, 5}), Tensor(), Vec<float>({1})}));
  EXPECT_EQ(out, (std::vector<float>{-5, 1}));
  // Opset 6: attributes.
  out = Values<float>(Run1("Clip", 6, {Vec<float>({-5, 5})}, {{"min", -2.0f}, {"max", 2.0f}}));
  EXPECT_EQ(out, (std::vector<float>{-2, 2}));
  auto bad = RunOp("Clip", 13, {x, Vec<float>({-1, 0})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("scalar"), std::string::npos);
}

TEST(ElementwiseFloat, Float16ComputesInFloat) {
  Tensor a = Tensor::FromVector<core::Float16>({core::Float16(1.5f), core::Float16(-2.0f)}, {2});
  Tensor out = Run1("Mul", 14, {a, a});
  EXPECT_EQ(HalfValues(out), (std::vector<float>{2.25f, 4.0f}));
  out = Run1("Sigmoid", 13, {a});
  EXPECT_NEAR(HalfValues(out)[0], 1 / (1 + std::exp(-1.5f)), 1e-3);
}

TEST(ElementwiseFloat, SoftplusDoesNotOverflow) {
  auto out = Values<float>(Run1("Softplus", 1, {Vec<float>({100.0f, -100.0f, 0.0f})}));
  EXPECT_FLOAT_EQ(out[0], 100.0f);
  EXPECT_NEAR(out[1], std::exp(-100.0f), 1e-45);
  EXPECT_FLOAT_EQ(out[2], std::log(2.0f));
}

TEST(ElementwiseFloat, GeluBothForms) {
  Tensor x = Vec<float>({-3, -1, 0, 0.5f, 2});
  auto exact = Values<float>(Run1("Gelu", 20, {x}));
  auto tanh = Values<float>(Run1("Gelu", 20, {x}, {{"approximate", std::string("tanh")}}));
  for (size_t i = 0; i < exact.size(); ++i) {
    double v = Values<float>(x)[i];
    EXPECT_NEAR(exact[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6);
    EXPECT_NEAR(tanh[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 1e-6);
  }
  EXPECT_FALSE(RunOp("Gelu", 20, {x}, {{"approximate", std::string("fast")}}).ok());
}

TEST(ElementwiseFloat, MishAndIsInfFlags) {
  auto mish = Values<float>(Run1("Mish", 18, {Vec<float>({1.0f})}));
  EXPECT_NEAR(mish[0], std::tanh(std::log1p(std::exp(1.0))), 1e-6);
  Tensor x = Vec<float>({INFINITY, -INFINITY, 1});
  EXPECT_EQ(Values<bool>(Run1("IsInf", 10, {x}, {{"detect_negative", int64_t{0}}})),
            (std::vector<bool>{true, false, false}));
}

TEST(ElementwiseFloat, UnsupportedTypeIsUnimplemented) {
  auto out = RunOp("Sqrt", 13, {Vec<int32_t>({4})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), core::StatusCode::kUnimplemented) << out.status().ToString();
  auto mixed = RunOp("Add", 14, {Vec<float>({1}), Vec<double>({1})});
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("different types"), std::string::npos);
}

// The vectorised float32 functions against double-precision libm.
TEST(ElementwiseFloat, VectorMathIsAccurate) {
  auto ulps = [](float got, double want) {
    float w = static_cast<float>(want);
    if (w == 0) return std::fabs(got) < 1e-37 ? 0.0 : 1e9;
    double ulp = std::nextafter(std::fabs(w), INFINITY) - std::fabs(w);
    return std::fabs(got - want) / ulp;
  };
  double worst_exp = 0, worst_tanh = 0, worst_erf = 0, worst_sigmoid = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
    worst_exp = std::max(worst_exp, ulps(VectorExp(x), std::exp(double(x))));
    worst_sigmoid = std::max(worst_sigmoid, ulps(VectorSigmoid(x), 1 / (1 + std::exp(-double(x)))));
  }
  for (float x = -10.0f; x < 10.0f; x += 0.00071f) {
    worst_tanh = std::max(worst_tanh, ulps(VectorTanh(x), std::tanh(double(x))));
    worst_erf = std::max(worst_erf, ulps(VectorErf(x), std::erf(double(x))));
  }
  EXPECT_LE(worst_exp, 2);
  EXPECT_LE(worst_sigmoid, 3);
  EXPECT_LE(worst_tanh, 3);
  EXPECT_LE(worst_erf, 3);
  EXPECT_TRUE(std::isnan(VectorExp(NAN)) && std::isnan(VectorTanh(NAN)) && std::isnan(VectorErf(NAN)));
  EXPECT_EQ(VectorExp(100.0f), INFINITY);
  EXPECT_EQ(VectorExp(-200.0f), 0.0f);
  EXPECT_EQ(VectorExp(-INFINITY), 0.0f);
  EXPECT_EQ(VectorTanh(-INFINITY), -1.0f);
  EXPECT_EQ(VectorErf(INFINITY), 1.0f);
  EXPECT_EQ(VectorTanh(1e-30f), 1e-30f);
}

// Both versions of the vectorised loops (baseline x86-64, which a CPU
// without AVX2 or BERTH_MAX_CPU_ISA=sse41 runs, and x86-64-v3, whose fused
// multiply-adds round differently) meet the accuracy bounds above, keep the
// special values, and handle the tail that is not a whole vector.
TEST(ElementwiseFloat, BaselineAndX86_64V3LoopsAreBothAccurate) {
  std::vector<FloatLoopIsa> isas = {FloatLoopIsa::kBaseline};
  if (core::DetectCpuFeatures().x86_64_v3()) isas.push_back(FloatLoopIsa::kX86_64V3);
  auto ulps = [](float got, double want) {
    float w = static_cast<float>(want);
    if (w == 0) return std::fabs(got) < 1e-37 ? 0.0 : 1e9;
    double ulp = std::nextafter(std::fabs(w), INFINITY) - std::fabs(w);
    return std::fabs(got - want) / ulp;
  };
  std::vector<float> wide, narrow;
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) wide.push_back(x);
  for (float x = -10.0f; x < 10.0f; x += 0.00071f) narrow.push_back(x);
  narrow.push_back(0.5f);  // an odd count: a tail after the last whole vector
  const std::vector<float> special = {INFINITY, -INFINITY, NAN, 100.0f, -200.0f};
  for (FloatLoopIsa isa : isas) {
    const char* isa_name = isa == FloatLoopIsa::kBaseline ? "baseline" : "x86-64-v3";
    auto map = [&](const std::vector<float>& in, auto op) {
      std::vector<float> out(in.size());
      MapFloat32(in.data(), out.data(), static_cast<int64_t>(in.size()), op, isa);
      return out;
    };
    auto worst = [&](const std::vector<float>& in, auto op, auto reference) {
      std::vector<float> out = map(in, op);
      double largest = 0;
      for (size_t i = 0; i < in.size(); ++i) largest = std::max(largest, ulps(out[i], reference(double(in[i]))));
      return largest;
    };
    EXPECT_LE(worst(
                  wide, [](float x) { return VectorExp(x); }, [](double x) { return std::exp(x); }),
              2)
        << isa_name;
    EXPECT_LE(worst(
                  wide, [](float x) { return VectorSigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }),
              3)
        << isa_name;
    EXPECT_LE(worst(
                  narrow, [](float x) { return VectorTanh(x); }, [](double x) { return std::tanh(x); }),
              3)
        << isa_name;
    EXPECT_LE(worst(
                  narrow, [](float x) { return VectorErf(x); }, [](double x) { return std::erf(x); }),
              3)
        << isa_name;
    // GELU's 1 + erf cancels for negative x: bounded in absolute terms.
    std::vector<float> gelu = map(narrow, [](float x) { return VectorGeluErf(x); });
    std::vector<float> gelu_tanh = map(narrow, [](float x) { return VectorGeluTanh(x); });
    for (size_t i = 0; i < narrow.size(); ++i) {
      const double x = narrow[i];
      const double scale = std::max(1.0, std::fabs(x));
      ASSERT_NEAR(gelu[i], 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))), 1e-6 * scale) << isa_name << " x=" << x;
      ASSERT_NEAR(gelu_tanh[i], 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))),
                  1e-6 * scale)
          << isa_name << " x=" << x;
    }
    std::vector<float> exp = map(special, [](float x) { return VectorExp(x); });
    std::vector<float> tanh = map(special, [](float x) { return VectorTanh(x); });
    std::vector<float> erf = map(special, [](float x) { return VectorErf(x); });
    EXPECT_EQ(exp[0], INFINITY) << isa_name;
    EXPECT_EQ(exp[1], 0.0f) << isa_name;
    EXPECT_TRUE(std::isnan(exp[2]) && std::isnan(tanh[2]) && std::isnan(erf[2])) << isa_name;
    EXPECT_EQ(exp[3], INFINITY) << isa_name;
    EXPECT_EQ(exp[4], 0.0f) << isa_name;
    EXPECT_EQ(tanh[1], -1.0f) << isa_name;
    EXPECT_EQ(erf[0], 1.0f) << isa_name;
  }
}

// ---------------------------------------------------------------------------
// Comparisons, logic, Where.

TEST(ElementwiseLogic, ComparisonsOnStringsAndNaN) {
  Tensor a = Vec<std::string>({"a", "b"});
  Tensor b = Vec<std::string>({"a"});
  EXPECT_EQ(Values<bool>(Run1("Equal", 19, {a, b})), (std::vector<bool>{true, false}));
  Tensor x = Vec<float>({NAN, 1});
  EXPECT_EQ(Values<bool>(Run1("Equal", 13, {x, x})), (std::vector<bool>{false, true}));
  EXPECT_EQ(Values<bool>(Run1("GreaterOrEqual", 16, {x, Vec<float>({1})})), (std::vector<bool>{false, true}));
}

TEST(ElementwiseLogic, WhereBroadcastsThreeWaysAndCopiesStrings) {
  Tensor condition = Tensor::FromVector<bool>({true, false}, {2, 1});
  Tensor x = Vec<std::string>({"x1", "x2", "x3"});
  Tensor y = Vec<std::string>({"y"});
  Tensor out = Run1("Where", 16, {condition, x, y});
  EXPECT_EQ(out.shape(), (core::TensorShape{2, 3}));
  EXPECT_EQ(Values<std::string>(out), (std::vector<std::string>{"x1", "x2", "x3", "y", "y", "y"}));
  EXPECT_FALSE(RunOp("Where", 16, {Vec<int32_t>({1}), x, y}).ok());
}

// ---------------------------------------------------------------------------
// Cast.

TEST(ElementwiseCast, DoubleToFloat16RoundsOnce) {
  // 1 + 2^-11 + 2^-40: via float it becomes 1 + 2^-11 (a tie) and then 1;
  // rounded directly it is just above the tie and becomes 1 + 2^-10.
  const double value = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  Tensor out = Run1("Cast", 13, {Vec<double>({value, 65519.0, 65520.0, -1e-9, std::ldexp(1.0, -25) * 1.5})},
                    {{"to", int64_t{10}}});
  auto v = HalfValues(out);
  EXPECT_EQ(v[0], 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(v[1], 65504.0f);
  EXPECT_EQ(v[2], INFINITY);
  EXPECT_EQ(v[3], 0.0f);
  EXPECT_EQ(v[4], std::ldexp(1.0f, -24));  // a subnormal half
}

TEST(ElementwiseCast, FloatToIntegerTruncatesAndSaturates) {
  Tensor x = Vec<float>({-1.7f, 2.9f, NAN, 1e20f, -1e20f, 300.0f});
  EXPECT_EQ(Values<int32_t>(Run1("Cast", 13, {x}, {{"to", int64_t{6}}})),
            (std::vector<int32_t>{-1, 2, 0, INT32_MAX, INT32_MIN, 300}));
  EXPECT_EQ(Values<uint8_t>(Run1("Cast", 13, {x}, {{"to", int64_t{2}}})), (std::vector<uint8_t>{0, 2, 0, 255, 0, 255}));
  EXPECT_EQ(Values<bool>(Run1("Cast", 13, {x}, {{"to", int64_t{9}}})),
            (std::vector<bool>{true, true, true, true, true, true}));
}

TEST(ElementwiseCast, NumbersToStringsLikeNumpy) {
  Tensor x = Vec<float>({0.1f, 1e-5f, 123456.0f, 1e16f, -0.0f, NAN, -INFINITY, 0.0001f, 1.5e-4f});
  EXPECT_EQ(Values<std::string>(Run1("Cast", 13, {x}, {{"to", int64_t{8}}})),
            (std::vector<std::string>{"0.1", "1e-05", "123456.0", "1e+16", "-0.0", "NaN", "-INF", "1e-04", "0.00015"}));
  EXPECT_EQ(Values<std::string>(Run1("Cast", 13, {Vec<int64_t>({-42, INT64_MAX})}, {{"to", int64_t{8}}})),
            (std::vector<std::string>{"-42", "9223372036854775807"}));
  EXPECT_EQ(Values<std::string>(Run1("Cast", 13, {Vec<bool>({true, false})}, {{"to", int64_t{8}}})),
            (std::vector<std::string>{"True", "False"}));
  Tensor half = Tensor::FromVector<core::Float16>({core::Float16(0.1f)}, {1});
  EXPECT_EQ(Values<std::string>(Run1("Cast", 13, {half}, {{"to", int64_t{8}}})), (std::vector<std::string>{"0.1"}));
}

TEST(ElementwiseCast, StringsToNumbers) {
  Tensor s = Vec<std::string>({" 1.5", "+INF", "-inf", "nan", "1e3", "-0"});
  auto f = Values<float>(Run1("Cast", 13, {s}, {{"to", int64_t{1}}}));
  EXPECT_EQ(f[0], 1.5f);
  EXPECT_EQ(f[1], INFINITY);
  EXPECT_EQ(f[2], -INFINITY);
  EXPECT_TRUE(std::isnan(f[3]));
  EXPECT_EQ(f[4], 1000.0f);
  EXPECT_EQ(Values<int64_t>(Run1("Cast", 13, {Vec<std::string>({"42", "-7", "+3", "2.9"})}, {{"to", int64_t{7}}})),
            (std::vector<int64_t>{42, -7, 3, 2}));
  EXPECT_EQ(Values<bool>(Run1("Cast", 13, {Vec<std::string>({"True", "false", "0", "2"})}, {{"to", int64_t{9}}})),
            (std::vector<bool>{true, false, false, true}));
  auto bad = RunOp("Cast", 13, {Vec<std::string>({"1", "one"})}, {{"to", int64_t{1}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'one'"), std::string::npos) << bad.status().message();
}

TEST(ElementwiseCast, Opset1TypeNamesAndCastLike) {
  EXPECT_EQ(Values<int32_t>(Run1("Cast", 1, {Vec<float>({2.5f})}, {{"to", std::string("INT32")}})),
            (std::vector<int32_t>{2}));
  Tensor out = Run1("CastLike", 15, {Vec<int32_t>({3}), Vec<double>({0})});
  EXPECT_EQ(out.dtype(), DataType::kFloat64);
  EXPECT_FALSE(RunOp("Cast", 13, {Vec<float>({1})}, {{"to", int64_t{14}}}).ok());  // complex64
}

// ---------------------------------------------------------------------------
// Quantization.

TEST(ElementwiseQuantize, RoundsHalfToEvenAndSaturates) {
  Tensor x = Vec<float>({0.5f, 1.5f, 2.5f, -2.5f, 1000.0f, -1000.0f, NAN});
  Tensor out = Run1("QuantizeLinear", 13, {x, Vec<float>({1.0f}), Vec<int8_t>({0})});
  EXPECT_EQ(Values<int8_t>(out), (std::vector<int8_t>{0, 2, 2, -2, 127, -128, 0}));
  out = Run1("QuantizeLinear", 13, {x, Vec<float>({1.0f})});
  EXPECT_EQ(out.dtype(), DataType::kUInt8);
  EXPECT_EQ(Values<uint8_t>(out), (std::vector<uint8_t>{0, 2, 2, 0, 255, 0, 0}));
}

TEST(ElementwiseQuantize, PerAxisAndBlocked) {
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  Tensor q = Run1("QuantizeLinear", 13, {x, Vec<float>({1, 2, 4, 8}), Vec<uint8_t>({0, 10, 20, 30})});
  EXPECT_EQ(Values<uint8_t>(q), (std::vector<uint8_t>{1, 11, 21, 30, 5, 13, 22, 31}));
  // Axis 0: one scale per row.
  q = Run1("QuantizeLinear", 13, {x, Vec<float>({1, 2})}, {{"axis", int64_t{0}}});
  EXPECT_EQ(Values<uint8_t>(q), (std::vector<uint8_t>{1, 2, 3, 4, 2, 3, 4, 4}));
  // Opset 21 blocks of 2 along axis 1: scale [2,2].
  Tensor block_scale = Tensor::FromVector<float>({1, 2, 4, 8}, {2, 2});
  q = Run1("QuantizeLinear", 21, {x, block_scale}, {{"axis", int64_t{1}}, {"block_size", int64_t{2}}});
  EXPECT_EQ(Values<uint8_t>(q), (std::vector<uint8_t>{1, 2, 2, 2, 1, 2, 1, 1}));
  Tensor back = Run1("DequantizeLinear", 21, {q, block_scale}, {{"axis", int64_t{1}}, {"block_size", int64_t{2}}});
  EXPECT_EQ(Values<float>(back), (std::vector<float>{1, 2, 4, 4, 4, 8, 8, 8}));
  auto bad = RunOp("QuantizeLinear", 13, {x, Vec<float>({1, 2, 3})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("per-axis scale"), std::string::npos) << bad.status().message();
}

TEST(ElementwiseQuantize, DequantizeTypes) {
  Tensor x = Vec<int32_t>({-5, 100});
  EXPECT_EQ(Values<float>(Run1("DequantizeLinear", 13, {x, Vec<float>({0.5f})})), (std::vector<float>{-2.5f, 50}));
  Tensor scale = Tensor::FromVector<core::Float16>({core::Float16(0.5f)}, {});
  Tensor out = Run1("DequantizeLinear", 19, {Vec<uint8_t>({0, 255}), scale, Tensor::Scalar<uint8_t>(128)});
  EXPECT_EQ(out.dtype(), DataType::kFloat16);
  EXPECT_EQ(HalfValues(out), (std::vector<float>{-64.0f, 63.5f}));
}

TEST(ElementwiseQuantize, DynamicQuantizeOfZeros) {
  auto outputs = RunOp("DynamicQuantizeLinear", 11, {Vec<float>({0, 0, 0})}, {}, 3);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  EXPECT_EQ(Values<uint8_t>((*outputs)[0].tensor()), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_EQ(Values<float>((*outputs)[1].tensor()), (std::vector<float>{0}));
  EXPECT_EQ(Values<uint8_t>((*outputs)[2].tensor()), (std::vector<uint8_t>{0}));
}

// ---------------------------------------------------------------------------
// Dropout and random generators.

TEST(ElementwiseRandom, DropoutIsIdentityUnlessTraining) {
  Tensor x = Vec<float>({1, 2, 3});
  auto outputs = RunOp("Dropout", 13, {x, Vec<float>({0.5f})}, {}, 2);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  EXPECT_EQ(Values<float>((*outputs)[0].tensor()), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(Values<bool>((*outputs)[1].tensor()), (std::vector<bool>{true, true, true}));
  // Opset 7: mask of the data's type.
  outputs = RunOp("Dropout", 7, {x}, {{"ratio", 0.3f}}, 2);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  EXPECT_EQ((*outputs)[1].tensor().dtype(), DataType::kFloat32);
}

TEST(ElementwiseRandom, DropoutTrainingDropsAndScales) {
  std::vector<float> ones(10000, 1.0f);
  Tensor x = Vec<float>(ones);
  std::vector<Tensor> inputs = {x, Tensor::Scalar<float>(0.25f), Tensor::Scalar<bool>(true)};
  auto outputs = RunOp("Dropout", 13, inputs, {{"seed", int64_t{3}}}, 2);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  auto y = Values<float>((*outputs)[0].tensor());
  auto mask = Values<bool>((*outputs)[1].tensor());
  int kept = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_TRUE(mask[i] ? std::fabs(y[i] - 1.0f / 0.75f) < 1e-6f : y[i] == 0.0f);
    kept += mask[i];
  }
  EXPECT_NEAR(kept, 7500, 300);
  EXPECT_FALSE(RunOp("Dropout", 13, {x, Tensor::Scalar<float>(1.5f), Tensor::Scalar<bool>(true)}).ok());
}

TEST(ElementwiseRandom, SeededGeneratorsRepeatAcrossSessions) {
  std::vector<Attr> attrs = {{"shape", std::vector<int64_t>{1000}}, {"seed", 5.0f}, {"low", -2.0f}, {"high", 3.0f}};
  auto first = RunOp("RandomUniform", 1, {}, attrs);
  auto second = RunOp("RandomUniform", 1, {}, attrs);
  ASSERT_TRUE(first.ok() && second.ok()) << first.status().ToString();
  auto a = Values<float>((*first)[0].tensor());
  EXPECT_EQ(a, Values<float>((*second)[0].tensor()));
  double sum = 0;
  for (float v : a) {
    ASSERT_TRUE(v >= -2.0f && v < 3.0f);
    sum += v;
  }
  EXPECT_NEAR(sum / a.size(), 0.5, 0.15);

  auto normal =
      RunOp("RandomNormal", 1, {},
            {{"shape", std::vector<int64_t>{20000}}, {"mean", 1.0f}, {"scale", 2.0f}, {"dtype", int64_t{11}}});
  ASSERT_TRUE(normal.ok()) << normal.status().ToString();
  auto n = Values<double>((*normal)[0].tensor());
  double mean = 0, var = 0;
  for (double v : n) mean += v;
  mean /= n.size();
  for (double v : n) var += (v - mean) * (v - mean);
  EXPECT_NEAR(mean, 1.0, 0.06);
  EXPECT_NEAR(std::sqrt(var / n.size()), 2.0, 0.06);
  EXPECT_FALSE(RunOp("RandomNormal", 1, {}, {{"shape", std::vector<int64_t>{-1}}}).ok());
}

TEST(ElementwiseRandom, BernoulliGivesZerosAndOnes) {
  Tensor p = Vec<double>({0.0, 1.0, 0.5, 0.5});
  auto out = Values<int32_t>(Run1("Bernoulli", 15, {p}, {{"dtype", int64_t{6}}, {"seed", 1.0f}}));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 1);
  EXPECT_TRUE(out[2] == 0 || out[2] == 1);
}

// ---------------------------------------------------------------------------
// Static inference.

TEST(ElementwiseInference, OutputTypes) {
  auto session = MakeSession("Less", 13, {Vec<float>({1}), Vec<float>({1})}, {}, 1);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.dtype, DataType::kBool);
  session = MakeSession("Cast", 13, {Vec<float>({1})}, {{"to", int64_t{7}}}, 1);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.dtype, DataType::kInt64);
  session = MakeSession("RandomUniform", 1, {}, {{"shape", std::vector<int64_t>{2, 3}}, {"dtype", int64_t{11}}}, 1);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.ToString(), "float64[2,3]");
}

}  // namespace
}  // namespace berth::engine::testing

// Reduce*, ArgMax/ArgMin, CumSum, TopK and Det: edge cases the ONNX backend
// tests leave out (layouts, empty sets, integer types, NaN, ties, errors,
// inference with constant and unknown axes), plus a differential test of the
// reduction engine against a plain reference over many axis sets.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;

// ---------------------------------------------------------------------------
// Differential test: every axis subset of a 4-D tensor, keepdims 0/1, against
// a naive double-precision reference.

std::vector<double> NaiveReduce(const std::vector<float>& x, const core::TensorShape& shape,
                                const std::vector<bool>& reduced, const std::string& op) {
  core::TensorShape out_shape;
  for (size_t d = 0; d < shape.size(); ++d) out_shape.push_back(reduced[d] ? 1 : shape[d]);
  const int64_t out_count = core::ElementCount(out_shape);
  std::vector<double> acc(static_cast<size_t>(out_count), op == "ReduceMax" ? -INFINITY : 0.0);
  std::vector<int64_t> counts(static_cast<size_t>(out_count), 0);
  std::vector<int64_t> out_strides = core::RowMajorStrides(out_shape);
  std::vector<int64_t> index(shape.size(), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t rest = static_cast<int64_t>(i);
    int64_t o = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      index[d] = rest % shape[d];
      rest /= shape[d];
      if (!reduced[d]) o += index[d] * out_strides[d];
    }
    const double v = x[i];
    if (op == "ReduceMax") {
      acc[o] = std::max(acc[o], v);
    } else if (op == "ReduceSumSquare") {
      acc[o] += v * v;
    } else {
      acc[o] += v;
    }
    ++counts[o];
  }
  if (op == "ReduceMean") {
    for (size_t o = 0; o < acc.size(); ++o) acc[o] /= static_cast<double>(counts[o]);
  }
  return acc;
}

class ReduceLayouts : public ::testing::TestWithParam<std::string> {};

TEST_P(ReduceLayouts, MatchesNaiveReferenceForEveryAxisSet) {
  const std::string op = GetParam();
  const core::TensorShape shape = {3, 1, 5, 7};
  std::mt19937 random(42);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  std::vector<float> values(3 * 5 * 7);
  for (float& v : values) v = uniform(random);
  for (int mask = 0; mask < 16; ++mask) {
    for (int keepdims = 0; keepdims < 2; ++keepdims) {
      std::vector<int64_t> axes;
      std::vector<bool> reduced(4, false);
      for (int d = 0; d < 4; ++d) {
        if (mask & (1 << d)) {
          axes.push_back(d - 4 * (d % 2));  // mix negative and positive axes
          reduced[d] = true;
        }
      }
      if (axes.empty()) std::fill(reduced.begin(), reduced.end(), true);  // empty axes: reduce all
      OpTestModel model(op, 18);
      model.Input("x", Floats(values, shape)).Initializer("axes", Int64s(axes, {static_cast<int64_t>(axes.size())}));
      model.Output("y").Int("keepdims", keepdims);
      Tensor y = RunOne(model);
      std::vector<double> expected = NaiveReduce(values, shape, reduced, op);
      ASSERT_EQ(y.element_count(), static_cast<int64_t>(expected.size())) << "mask " << mask;
      core::TensorShape expected_shape;
      for (int d = 0; d < 4; ++d) {
        if (!reduced[d]) {
          expected_shape.push_back(shape[d]);
        } else if (keepdims) {
          expected_shape.push_back(1);
        }
      }
      EXPECT_EQ(y.shape(), expected_shape) << "mask " << mask;
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_NEAR(y.data<float>()[i], expected[i], 1e-4 * (1 + std::fabs(expected[i])))
            << op << " mask " << mask << " element " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, ReduceLayouts,
                         ::testing::Values("ReduceSum", "ReduceMean", "ReduceMax", "ReduceSumSquare"));

// Few outputs over many elements: the work is split inside each reduction.
TEST(Reduce, LargeReductionsSplitAcrossThreadsStayAccurate) {
  const int64_t n = 300001;
  std::vector<float> values(static_cast<size_t>(3 * n));
  for (int64_t i = 0; i < 3 * n; ++i) values[i] = static_cast<float>((i % 1000) * 0.001);
  // Axis 1 of [3, n]: three long rows.
  OpTestModel rows("ReduceSum", 13);
  rows.Input("x", Floats(values, {3, n})).Initializer("axes", Int64s({1}, {1})).Output("y").Int("keepdims", 0);
  Tensor y = RunOne(rows);
  ASSERT_EQ(y.shape(), (core::TensorShape{3}));
  for (int r = 0; r < 3; ++r) {
    double expected = 0;
    for (int64_t i = 0; i < n; ++i) expected += values[r * n + i];
    EXPECT_NEAR(y.data<float>()[r], expected, 1e-5 * expected) << "row " << r;
  }
  // Everything into one value.
  OpTestModel all("ReduceMean", 13);
  all.Input("x", Floats(values, {3, n})).Output("y");
  Tensor mean = RunOne(all);
  double expected = 0;
  for (float v : values) expected += v;
  expected /= static_cast<double>(values.size());
  ASSERT_EQ(mean.shape(), (core::TensorShape{1, 1}));
  EXPECT_NEAR(mean.data<float>()[0], expected, 1e-5);
  // Axis 0 of [n, 3]: the kept axis is short, the reduced one long.
  OpTestModel columns("ReduceMax", 13);
  columns.Input("x", Floats(values, {n, 3})).Ints("axes", {0}).Output("y");
  Tensor max = RunOne(columns);
  ASSERT_EQ(max.shape(), (core::TensorShape{1, 3}));
  for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(max.data<float>()[c], 0.999f);
}

TEST(Reduce, EveryOpOnASmallExample) {
  const Tensor x = Floats({1, 2, 3, 4, 5, 6}, {2, 3});
  struct Case {
    const char* op;
    std::vector<float> expected;
  };
  const Case cases[] = {
      {"ReduceSum", {6, 15}},
      {"ReduceMean", {2, 5}},
      {"ReduceMax", {3, 6}},
      {"ReduceMin", {1, 4}},
      {"ReduceProd", {6, 120}},
      {"ReduceL1", {6, 15}},
      {"ReduceL2", {std::sqrt(14.0f), std::sqrt(77.0f)}},
      {"ReduceSumSquare", {14, 77}},
      {"ReduceLogSum", {std::log(6.0f), std::log(15.0f)}},
      {"ReduceLogSumExp",
       {std::log(std::exp(1.0f) + std::exp(2.0f) + std::exp(3.0f)),
        std::log(std::exp(4.0f) + std::exp(5.0f) + std::exp(6.0f))}},
  };
  for (const Case& c : cases) {
    // ReduceSum takes axes as an input from opset 13, the others as an attribute.
    OpTestModel model(c.op, 13);
    model.Input("x", x);
    if (std::string(c.op) == "ReduceSum") {
      model.Initializer("axes", Int64s({1}, {1}));
    } else {
      model.Ints("axes", {1});
    }
    model.Output("y").Int("keepdims", 0);
    SCOPED_TRACE(c.op);
    ExpectTensor(Floats(c.expected, {2}), RunOne(model));
  }
}

TEST(Reduce, LogSumExpIsStableForLargeValues) {
  OpTestModel model("ReduceLogSumExp", 13);
  model.Input("x", Floats({1000, 1000, -INFINITY, -INFINITY}, {2, 2})).Output("y").Ints("axes", {1});
  Tensor y = RunOne(model);
  EXPECT_NEAR(y.data<float>()[0], 1000.0f + std::log(2.0f), 1e-3);
  EXPECT_EQ(y.data<float>()[1], -INFINITY);
}

TEST(Reduce, EmptySetsGiveTheIdentityOfEachOp) {
  const Tensor x = Floats({}, {2, 0, 3});
  struct Case {
    const char* op;
    float expected;
  };
  const Case cases[] = {
      {"ReduceSum", 0.0f},       {"ReduceProd", 1.0f},        {"ReduceMax", -INFINITY},
      {"ReduceMin", INFINITY},   {"ReduceL1", 0.0f},          {"ReduceL2", 0.0f},
      {"ReduceSumSquare", 0.0f}, {"ReduceLogSum", -INFINITY}, {"ReduceLogSumExp", -INFINITY},
      {"ReduceMean", NAN},
  };
  for (const Case& c : cases) {
    OpTestModel model(c.op, 18);
    model.Input("x", x).Initializer("axes", Int64s({1}, {1})).Output("y");
    SCOPED_TRACE(c.op);
    ExpectTensor(Floats(std::vector<float>(6, c.expected), {2, 1, 3}), RunOne(model));
  }
  OpTestModel integers("ReduceMax", 18);
  integers.Input("x", Tensor::FromVector<int32_t>({}, {0, 2})).Initializer("axes", Int64s({0}, {1})).Output("y");
  ExpectTensor(Tensor::FromVector<int32_t>({INT32_MIN, INT32_MIN}, {1, 2}), RunOne(integers));
}

TEST(Reduce, NoopWithEmptyAxesAppliesTheElementwisePart) {
  OpTestModel model("ReduceSumSquare", 18);
  model.Input("x", Floats({1, -2, 3}, {3})).Initializer("axes", Int64s({}, {0})).Output("y");
  model.Int("noop_with_empty_axes", 1);
  ExpectTensor(Floats({1, 4, 9}, {3}), RunOne(model));
  // Absent axes input: same.
  OpTestModel absent("ReduceL1", 18);
  absent.Input("x", Floats({1, -2, 3}, {3})).Output("y").Int("noop_with_empty_axes", 1);
  ExpectTensor(Floats({1, 2, 3}, {3}), RunOne(absent));
}

TEST(Reduce, IntegerTypes) {
  OpTestModel sum("ReduceSum", 13);
  sum.Input("x", Tensor::FromVector<int32_t>({INT32_MAX, 1, 5, 7}, {2, 2})).Output("y");
  sum.Initializer("axes", Int64s({1}, {1})).Int("keepdims", 0);
  ExpectTensor(Tensor::FromVector<int32_t>({INT32_MIN, 12}, {2}), RunOne(sum));  // wraps like two's complement

  OpTestModel mean("ReduceMean", 13);
  mean.Input("x", Tensor::FromVector<int64_t>({1, 2, 4, -7}, {4})).Output("y").Int("keepdims", 0);
  ExpectTensor(Tensor::FromVector<int64_t>({0}, {}), RunOne(mean));

  OpTestModel max("ReduceMax", 13);
  max.Input("x", Tensor::FromVector<uint8_t>({1, 200, 3, 4}, {2, 2})).Output("y").Ints("axes", {0});
  ExpectTensor(Tensor::FromVector<uint8_t>({3, 200}, {1, 2}), RunOne(max));

  OpTestModel l1("ReduceL1", 13);
  l1.Input("x", Tensor::FromVector<int8_t>({-128, 1, -3}, {3})).Output("y");
  // 132 does not fit int8: wraps to -124 like a numpy int8 sum.
  ExpectTensor(Tensor::FromVector<int8_t>({-124}, {1}), RunOne(l1));
}

TEST(Reduce, BoolMaxAndMinAtOpset20) {
  const Tensor x = Tensor::FromVector<bool>({true, false, false, false}, {2, 2});
  OpTestModel any("ReduceMax", 20);
  any.Input("x", x).Initializer("axes", Int64s({1}, {1})).Output("y").Int("keepdims", 0);
  ExpectTensor(Tensor::FromVector<bool>({true, false}, {2}), RunOne(any));
  OpTestModel all("ReduceMin", 20);
  all.Input("x", x).Initializer("axes", Int64s({0}, {1})).Output("y").Int("keepdims", 0);
  ExpectTensor(Tensor::FromVector<bool>({false, false}, {2}), RunOne(all));
}

TEST(Reduce, NanPropagatesThroughMaxAndMin) {
  OpTestModel max("ReduceMax", 13);
  max.Input("x", Floats({1, NAN, 3, 2, 5, 4}, {2, 3})).Output("y").Ints("axes", {1});
  ExpectTensor(Floats({NAN, 5}, {2, 1}), RunOne(max));
  OpTestModel min("ReduceMin", 13);
  min.Input("x", Floats({NAN, 1, 3, 2, 5, 4}, {2, 3})).Output("y").Ints("axes", {1});
  ExpectTensor(Floats({NAN, 2}, {2, 1}), RunOne(min));
}

TEST(Reduce, HalfTypesComputeInFloat) {
  std::vector<core::Float16> values;
  for (int i = 0; i < 4096; ++i) values.emplace_back(1.0f);
  OpTestModel model("ReduceSum", 13);
  model.Input("x", Tensor::FromVector<core::Float16>(values, {4096})).Output("y").Int("keepdims", 0);
  Tensor y = RunOne(model);
  ASSERT_EQ(y.dtype(), DataType::kFloat16);
  EXPECT_EQ(static_cast<float>(y.data<core::Float16>()[0]), 4096.0f);  // a float16 accumulator stalls at 2048
}

TEST(Reduce, RejectsBadAxes) {
  OpTestModel out_of_range("ReduceSum", 13);
  out_of_range.Input("x", Floats({1, 2}, {2})).Input("axes", Int64s({1}, {1})).Output("y");
  auto result = out_of_range.Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("out of range"), std::string::npos) << result.status().message();

  OpTestModel repeated("ReduceMean", 13);
  repeated.Input("x", Floats({1, 2}, {1, 2})).Output("y").Ints("axes", {1, -1});
  auto repeated_result = repeated.Run();
  ASSERT_FALSE(repeated_result.ok());
  EXPECT_NE(repeated_result.status().message().find("twice"), std::string::npos);
}

TEST(Reduce, InfersShapesFromConstantAndUnknownAxes) {
  OpTestModel constant("ReduceMean", 18);
  constant.Input("x", Floats(std::vector<float>(24), {2, 3, 4})).Initializer("axes", Int64s({-1, 0}, {2}));
  constant.Output("y").Int("keepdims", 0);
  auto session = constant.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ((*session)->outputs()[0].type.ToString(), "float32[3]");

  OpTestModel unknown("ReduceSum", 13);
  unknown.Input("x", Floats(std::vector<float>(6), {1, 6})).Input("axes", Int64s({1}, {1})).Output("y");
  auto unknown_session = unknown.Load();
  ASSERT_TRUE(unknown_session.ok());
  // keepdims: same rank, and the size-1 axis stays 1 whichever axes are reduced.
  const ValueType& type = (*unknown_session)->outputs()[0].type;
  ASSERT_TRUE(type.has_shape);
  ASSERT_EQ(type.dims.size(), 2u);
  EXPECT_EQ(type.dims[0].value, 1);
  EXPECT_FALSE(type.dims[1].known());
}

// ---------------------------------------------------------------------------
// ArgMax / ArgMin

TEST(ArgMax, NanWinsAndTiesFollowSelectLastIndex) {
  OpTestModel first("ArgMax", 13);
  first.Input("x", Floats({1, 3, 3, 2, NAN, 0}, {2, 3})).Output("y").Int("axis", 1).Int("keepdims", 0);
  ExpectTensor(Int64s({1, 1}, {2}), RunOne(first));
  OpTestModel last("ArgMax", 13);
  last.Input("x", Floats({1, 3, 3, 2, NAN, 0}, {2, 3})).Output("y").Int("axis", 1).Int("select_last_index", 1);
  ExpectTensor(Int64s({2, 1}, {2, 1}), RunOne(last));
}

TEST(ArgMin, AlongALeadingAxisOfIntegers) {
  // Axis 0 of [3, 2, 2]: a running minimum per (j, k) column.
  OpTestModel model("ArgMin", 13);
  model.Input("x", Tensor::FromVector<int32_t>({5, 1, 7, 7, 5, 0, 7, 9, 2, 0, 7, 9}, {3, 2, 2})).Output("y");
  model.Int("select_last_index", 1).Int("keepdims", 0);
  ExpectTensor(Int64s({2, 2, 2, 0}, {2, 2}), RunOne(model));
}

TEST(ArgMax, RejectsAnEmptyAxis) {
  OpTestModel model("ArgMax", 13);
  model.Input("x", Floats({}, {2, 0})).Output("y").Int("axis", 1);
  EXPECT_FALSE(model.Run().ok());
}

// ---------------------------------------------------------------------------
// CumSum

TEST(CumSum, ReverseExclusiveAlongTheFirstAxis) {
  OpTestModel model("CumSum", 14);
  model.Input("x", Floats({1, 2, 3, 4, 5, 6}, {3, 2})).Initializer("axis", Tensor::Scalar<int32_t>(0)).Output("y");
  model.Int("reverse", 1).Int("exclusive", 1);
  ExpectTensor(Floats({8, 10, 5, 6, 0, 0}, {3, 2}), RunOne(model));
}

TEST(CumSum, IntegersAndHalfTypes) {
  OpTestModel ints("CumSum", 14);
  ints.Input("x", Int64s({1, 2, 3, 4}, {2, 2})).Input("axis", Int64s({-1}, {1})).Output("y");
  ExpectTensor(Int64s({1, 3, 3, 7}, {2, 2}), RunOne(ints));
  std::vector<core::BFloat16> halves = {core::BFloat16(1.5f), core::BFloat16(2.0f), core::BFloat16(-0.5f)};
  OpTestModel bf16("CumSum", 14);
  bf16.Input("x", Tensor::FromVector<core::BFloat16>(halves, {3})).Input("axis", Int64s({0}, {})).Output("y");
  Tensor y = RunOne(bf16);
  ASSERT_EQ(y.dtype(), DataType::kBFloat16);
  EXPECT_EQ(static_cast<float>(y.data<core::BFloat16>()[2]), 3.0f);
}

TEST(CumSum, RejectsABadAxis) {
  OpTestModel model("CumSum", 14);
  model.Input("x", Floats({1, 2}, {2})).Input("axis", Int64s({1}, {})).Output("y");
  EXPECT_FALSE(model.Run().ok());
  OpTestModel two("CumSum", 14);
  two.Input("x", Floats({1, 2}, {2})).Input("axis", Int64s({0, 0}, {2})).Output("y");
  EXPECT_FALSE(two.Run().ok());
}

// ---------------------------------------------------------------------------
// TopK

TEST(TopK, TiesKeepTheSmallerIndexFirstAndNanIsLargest) {
  OpTestModel largest("TopK", 11);
  largest.Input("x", Floats({2, NAN, 5, 5, 1, 5}, {6})).Initializer("k", Int64s({4}, {1}));
  largest.Output("values").Output("indices");
  auto outputs = largest.Run();
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor(Floats({NAN, 5, 5, 5}, {4}), (*outputs)[0].tensor());
  ExpectTensor(Int64s({1, 2, 3, 5}, {4}), (*outputs)[1].tensor());

  OpTestModel smallest("TopK", 11);
  smallest.Input("x", Floats({2, NAN, 5, 5, 1, 5}, {6})).Initializer("k", Int64s({3}, {1})).Int("largest", 0);
  smallest.Output("values").Output("indices");
  auto small = smallest.Run();
  ASSERT_TRUE(small.ok());
  ExpectTensor(Floats({1, 2, 5}, {3}), (*small)[0].tensor());
  ExpectTensor(Int64s({4, 0, 2}, {3}), (*small)[1].tensor());
}

TEST(TopK, AlongTheFirstAxisWithKAsAttribute) {
  OpTestModel model("TopK", 1);
  model.Input("x", Tensor::FromVector<int32_t>({1, 9, 8, 2, 5, 5}, {3, 2})).Output("values").Output("indices");
  model.Int("k", 2).Int("axis", 0);
  auto outputs = model.Run();
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor(Tensor::FromVector<int32_t>({8, 9, 5, 5}, {2, 2}), (*outputs)[0].tensor());
  ExpectTensor(Int64s({1, 0, 2, 2}, {2, 2}), (*outputs)[1].tensor());
}

TEST(TopK, ZeroAndOutOfRangeK) {
  OpTestModel zero("TopK", 11);
  zero.Input("x", Floats({1, 2}, {2})).Input("k", Int64s({0}, {1})).Output("values").Output("indices");
  auto outputs = zero.Run();
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  EXPECT_EQ((*outputs)[0].tensor().shape(), (core::TensorShape{0}));

  OpTestModel big("TopK", 11);
  big.Input("x", Floats({1, 2}, {2})).Input("k", Int64s({3}, {1})).Output("values").Output("indices");
  auto result = big.Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("out of range"), std::string::npos);
}

TEST(TopK, InfersKFromAConstant) {
  OpTestModel model("TopK", 11);
  model.Input("x", Floats(std::vector<float>(12), {3, 4})).Initializer("k", Int64s({2}, {1}));
  model.Output("values").Output("indices");
  auto session = model.Load();
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.ToString(), "float32[3,2]");
  EXPECT_EQ((*session)->outputs()[1].type.ToString(), "int64[3,2]");
}

// ---------------------------------------------------------------------------
// Det

TEST(Det, PivotsSingularAndBatched) {
  OpTestModel model("Det", 11);
  // [[0, 1], [1, 0]] needs a row swap, [[1, 2], [2, 4]] is singular.
  model.Input("x", Floats({0, 1, 1, 0, 1, 2, 2, 4, 3, 1, 2, 5}, {3, 2, 2})).Output("y");
  ExpectTensor(Floats({-1, 0, 13}, {3}), RunOne(model));

  OpTestModel three("Det", 11);
  three.Input("x", Tensor::FromVector<double>({2, -3, 1, 2, 0, -1, 1, 4, 5}, {3, 3})).Output("y");
  ExpectTensor(Tensor::FromVector<double>({49}, {}), RunOne(three));
}

TEST(Det, RejectsNonSquareMatrices) {
  OpTestModel model("Det", 11);
  model.Input("x", Floats({1, 2, 3, 4, 5, 6}, {2, 3})).Output("y");
  EXPECT_FALSE(model.Run().ok());
}

}  // namespace
}  // namespace berth::engine::testing

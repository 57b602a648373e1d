// Shape and data-movement ops: edge cases the ONNX conformance suite does
// not cover (views, strings, validation errors, static inference with
// unknown dims), and a differential test of the strided copy against a
// plain index-by-index reference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/tensor_compare.h"
#include "engine/kernels/tensor/shape_util.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;

Tensor Iota(core::TensorShape shape) {
  std::vector<float> values(static_cast<size_t>(core::ElementCount(shape)));
  std::iota(values.begin(), values.end(), 0.0f);
  return Tensor::FromVector(values, std::move(shape));
}

// Runs the model; expects failure and returns the message.
std::string RunError(OpTestModel& model) {
  auto outputs = model.Run();
  EXPECT_FALSE(outputs.ok());
  return outputs.ok() ? "" : outputs.status().message();
}

// The statically inferred type of graph output `index`.
ValueType InferredOutput(OpTestModel& model, size_t index = 0) {
  auto session = model.Load();
  EXPECT_TRUE(session.ok()) << session.status().ToString();
  if (!session.ok()) return {};
  return (*session)->outputs()[index].type;
}

// Makes dim `dim` of graph input `input` symbolic (unknown size).
void MakeDimSymbolic(OpTestModel& model, int input, int dim, const std::string& symbol) {
  auto* shape = model.graph()->mutable_input(input)->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->mutable_dim(dim)->set_dim_param(symbol);
}

// ---------------------------------------------------------------------------
// Views: these ops must not copy.

TEST(ShapeOpsViews, ReshapeSqueezeUnsqueezeFlattenIdentityShareStorage) {
  const Tensor x = Iota({2, 1, 3});
  struct Case {
    std::string op;
    int opset;
  };
  for (const Case& c :
       std::vector<Case>{{"Reshape", 14}, {"Squeeze", 13}, {"Unsqueeze", 13}, {"Flatten", 13}, {"Identity", 16}}) {
    OpTestModel model(c.op, c.opset);
    model.Input("x", x);
    if (c.op == "Reshape") model.Initializer("shape", Int64s({3, -1}));
    if (c.op == "Unsqueeze") model.Initializer("axes", Int64s({0}));
    model.Output("y");
    Tensor y = RunOne(model);
    EXPECT_EQ(y.raw_data(), x.raw_data()) << c.op << " copied its input";
  }
}

TEST(ShapeOpsViews, TransposeThatKeepsOrderIsAView) {
  const Tensor x = Iota({2, 1, 3});
  OpTestModel model("Transpose", 13);
  model.Input("x", x).Output("y").Ints("perm", {1, 0, 2});
  Tensor y = RunOne(model);
  EXPECT_EQ(y.shape(), (core::TensorShape{1, 2, 3}));
  EXPECT_EQ(y.raw_data(), x.raw_data());
}

// ---------------------------------------------------------------------------
// Strided copy: every path (rows, broadcast, tiles, reversed) against a plain
// reference, for every storage width and strings.

template <typename T>
void CheckStridedCopy(DataType dtype, const std::vector<StridedAxis>& axes, int64_t source_size, int64_t base) {
  std::vector<T> source(static_cast<size_t>(source_size));
  for (int64_t i = 0; i < source_size; ++i) {
    if constexpr (std::is_same_v<T, std::string>) {
      source[i] = "s" + std::to_string(i);
    } else {
      std::memset(&source[i], 0, sizeof(T));
      std::memcpy(&source[i], &i, std::min(sizeof(T), sizeof(i)));
    }
  }
  int64_t count = 1;
  for (const StridedAxis& axis : axes) count *= axis.size;
  std::vector<T> actual(static_cast<size_t>(count));
  ASSERT_TRUE(CopyStridedView(dtype, source.data() + base, actual.data(), axes).ok());
  std::vector<int64_t> index(axes.size(), 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t offset = base;
    for (size_t a = 0; a < axes.size(); ++a) offset += index[a] * axes[a].stride;
    ASSERT_EQ(0, std::memcmp(&actual[i], &source[offset], std::is_same_v<T, std::string> ? 0 : sizeof(T)))
        << "element " << i;
    if constexpr (std::is_same_v<T, std::string>) {
      ASSERT_EQ(actual[i], source[offset]) << "element " << i;
    }
    for (size_t a = axes.size(); a-- > 0;) {
      if (++index[a] < axes[a].size) break;
      index[a] = 0;
    }
  }
}

TEST(ShapeOpsStridedCopy, MatchesReferenceForPermutationsBroadcastsAndSteps) {
  std::mt19937 random(7);
  for (int trial = 0; trial < 60; ++trial) {
    // A random shape of rank 1..5 and a random permutation of it.
    const int rank = 1 + static_cast<int>(random() % 5);
    core::TensorShape shape;
    for (int a = 0; a < rank; ++a) shape.push_back(1 + static_cast<int64_t>(random() % (a == rank - 1 ? 40 : 9)));
    std::vector<StridedAxis> source_axes = ContiguousAxes(shape);
    std::vector<int> perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), random);
    std::vector<StridedAxis> axes;
    for (int a : perm) axes.push_back(source_axes[a]);
    if (trial % 3 == 1) axes.insert(axes.begin() + random() % (axes.size() + 1), StridedAxis{3, 0});  // broadcast
    int64_t base = 0;
    if (trial % 3 == 2) {
      // Walk one axis backwards, as a negative-step slice does.
      StridedAxis& axis = axes[random() % axes.size()];
      base = (axis.size - 1) * axis.stride;
      axis.stride = -axis.stride;
    }
    const int64_t size = core::ElementCount(shape);
    SCOPED_TRACE("trial " + std::to_string(trial));
    CheckStridedCopy<uint8_t>(DataType::kUInt8, axes, size, base);
    CheckStridedCopy<uint16_t>(DataType::kFloat16, axes, size, base);
    CheckStridedCopy<uint32_t>(DataType::kFloat32, axes, size, base);
    CheckStridedCopy<uint64_t>(DataType::kInt64, axes, size, base);
    CheckStridedCopy<std::string>(DataType::kString, axes, size, base);
  }
}

TEST(ShapeOpsStridedCopy, LargeTransposesUseFullAndPartialTiles) {
  // 2-D and NCHW -> NHWC shapes big enough for whole tiles plus ragged edges.
  for (core::TensorShape shape : {core::TensorShape{37, 53}, core::TensorShape{2, 3, 17, 19}, core::TensorShape{64, 64},
                                  core::TensorShape{3, 19, 2}}) {
    std::vector<StridedAxis> source = ContiguousAxes(shape);
    std::vector<StridedAxis> axes = source;
    std::rotate(axes.begin() + (shape.size() == 4 ? 1 : 0), axes.begin() + (shape.size() == 4 ? 2 : 1), axes.end());
    CheckStridedCopy<uint32_t>(DataType::kFloat32, axes, core::ElementCount(shape), 0);
    CheckStridedCopy<uint8_t>(DataType::kBool, axes, core::ElementCount(shape), 0);
    CheckStridedCopy<uint16_t>(DataType::kBFloat16, axes, core::ElementCount(shape), 0);
    CheckStridedCopy<std::string>(DataType::kString, axes, core::ElementCount(shape), 0);
  }
}

// ---------------------------------------------------------------------------
// Reshape

TEST(ShapeOpsReshape, RejectsBadShapes) {
  struct Case {
    std::vector<int64_t> shape;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{{{-1, -1}, "more than one -1"},
                                         {{2, -2}, "invalid value -2"},
                                         {{0, 0, 0, 0}, "copies dimension 2"},
                                         {{4, -1}, "cannot reshape"},
                                         {{7}, "cannot reshape"}}) {
    OpTestModel model("Reshape", 14);
    model.Input("x", Iota({2, 3})).Input("shape", Int64s(c.shape)).Output("y");
    EXPECT_NE(RunError(model).find(c.message), std::string::npos) << core::ShapeToString(c.shape);
  }
}

TEST(ShapeOpsReshape, AllowZeroKeepsZeroAndRejectsAmbiguousMinusOne) {
  OpTestModel model("Reshape", 14);
  model.Input("x", Iota({0, 3})).Input("shape", Int64s({0, -1})).Output("y").Int("allowzero", 1);
  EXPECT_NE(RunError(model).find("ambiguous"), std::string::npos);

  OpTestModel copy("Reshape", 14);
  copy.Input("x", Iota({2, 3})).Input("shape", Int64s({0, 3})).Output("y");
  EXPECT_EQ(RunOne(copy).shape(), (core::TensorShape{2, 3}));
}

TEST(ShapeOpsReshape, InfersWithUnknownDims) {
  // x: [N, 2, 3]; shape [0, -1] gives [N, 6] only when N is known; here the
  // copied dim stays symbolic and -1 stays unknown.
  OpTestModel model("Reshape", 14);
  model.Input("x", Iota({4, 2, 3})).Initializer("shape", Int64s({0, -1})).Output("y");
  MakeDimSymbolic(model, 0, 0, "N");
  ValueType type = InferredOutput(model);
  ASSERT_TRUE(type.has_shape);
  ASSERT_EQ(type.dims.size(), 2u);
  EXPECT_FALSE(type.dims[0].known());
  EXPECT_EQ(type.dims[0].symbol, "N");
  EXPECT_FALSE(type.dims[1].known());
}

TEST(ShapeOpsReshape, InfersFullyKnownShapes) {
  OpTestModel model("Reshape", 14);
  model.Input("x", Iota({4, 2, 3})).Initializer("shape", Int64s({-1, 0, 2})).Output("y");
  EXPECT_EQ(InferredOutput(model).Shape(), (core::TensorShape{6, 2, 2}));
}

// ---------------------------------------------------------------------------
// Squeeze / Unsqueeze / Flatten

TEST(ShapeOpsSqueeze, RejectsNonUnitAxisAndRepeatedAxes) {
  OpTestModel model("Squeeze", 13);
  model.Input("x", Iota({1, 3})).Input("axes", Int64s({1})).Output("y");
  EXPECT_NE(RunError(model).find("cannot squeeze axis 1 of size 3"), std::string::npos);

  OpTestModel repeated("Unsqueeze", 13);
  repeated.Input("x", Iota({3})).Input("axes", Int64s({0, -3})).Output("y");
  EXPECT_NE(RunError(repeated).find("repeated"), std::string::npos);
}

TEST(ShapeOpsSqueeze, UnknownDimsWithoutAxesLeaveTheRankUnknown) {
  OpTestModel model("Squeeze", 13);
  model.Input("x", Iota({1, 3})).Output("y");
  MakeDimSymbolic(model, 0, 1, "M");
  EXPECT_FALSE(InferredOutput(model).has_shape);
}

TEST(ShapeOpsFlatten, AxisEqualToRankAndErrors) {
  OpTestModel model("Flatten", 13);
  model.Input("x", Iota({2, 3})).Output("y").Int("axis", 2);
  EXPECT_EQ(RunOne(model).shape(), (core::TensorShape{6, 1}));

  OpTestModel bad("Flatten", 13);
  bad.Input("x", Iota({2, 3})).Output("y").Int("axis", 3);
  EXPECT_NE(RunError(bad).find("out of range"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Transpose / Concat / Split / Slice

TEST(ShapeOpsTranspose, StringsAndInferenceKeepSymbols) {
  OpTestModel model("Transpose", 13);
  model.Input("x", Strings({"a", "b", "c", "d", "e", "f"}, {2, 3})).Output("y");
  ExpectTensor(Strings({"a", "d", "b", "e", "c", "f"}, {3, 2}), RunOne(model));

  OpTestModel symbolic("Transpose", 13);
  symbolic.Input("x", Iota({2, 3, 4})).Output("y").Ints("perm", {2, 0, 1});
  MakeDimSymbolic(symbolic, 0, 0, "batch");
  ValueType type = InferredOutput(symbolic);
  ASSERT_EQ(type.dims.size(), 3u);
  EXPECT_EQ(type.dims[0].value, 4);
  EXPECT_EQ(type.dims[1].symbol, "batch");
}

TEST(ShapeOpsTranspose, RejectsBadPermutations) {
  OpTestModel model("Transpose", 13);
  model.Input("x", Iota({2, 3})).Output("y").Ints("perm", {0, 0});
  EXPECT_FALSE(model.Load().ok());

  OpTestModel wrong_rank("Transpose", 13);
  wrong_rank.Input("x", Iota({2, 3})).Output("y").Ints("perm", {2, 0, 1});
  EXPECT_NE(RunError(wrong_rank).find("rank 2"), std::string::npos);
}

TEST(ShapeOpsConcat, RejectsMismatchedShapesAndTypes) {
  OpTestModel model("Concat", 13);
  model.Input("a", Iota({2, 3})).Input("b", Iota({3, 3})).Output("y").Int("axis", 1);
  EXPECT_NE(RunError(model).find("incompatible"), std::string::npos);

  OpTestModel types("Concat", 13);
  types.Input("a", Iota({2})).Input("b", Int64s({1, 2})).Output("y").Int("axis", 0);
  EXPECT_NE(RunError(types).find("int64"), std::string::npos);
}

TEST(ShapeOpsConcat, InfersSumOfKnownDims) {
  OpTestModel model("Concat", 13);
  model.Input("a", Iota({2, 3})).Input("b", Iota({2, 5})).Output("y").Int("axis", -1);
  MakeDimSymbolic(model, 0, 0, "N");
  ValueType type = InferredOutput(model);
  ASSERT_EQ(type.dims.size(), 2u);
  EXPECT_EQ(type.dims[0].value, 2);  // known from input b
  EXPECT_EQ(type.dims[1].value, 8);
}

TEST(ShapeOpsSplit, RejectsSizesThatDoNotAddUp) {
  OpTestModel model("Split", 13);
  model.Input("x", Iota({6})).Input("split", Int64s({2, 3})).Output("a").Output("b");
  EXPECT_NE(RunError(model).find("sum to 5"), std::string::npos);

  OpTestModel uneven("Split", 13);
  uneven.Input("x", Iota({5})).Output("a").Output("b");
  EXPECT_NE(RunError(uneven).find("evenly"), std::string::npos);

  OpTestModel too_many("Split", 18);
  too_many.Input("x", Iota({5})).Output("a").Output("b").Output("c").Output("d").Int("num_outputs", 4);
  EXPECT_NE(RunError(too_many).find("cannot be split"), std::string::npos);
}

TEST(ShapeOpsSplit, EmptySplitInputMeansEqualParts) {
  OpTestModel model("Split", 13);
  model.Input("x", Iota({4})).Input("split", Int64s({})).Output("a").Output("b");
  auto outputs = model.Run();
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor(Floats({2, 3}, {2}), (*outputs)[1].tensor());
}

TEST(ShapeOpsSplit, NumOutputsGivesSmallerLastChunk) {
  OpTestModel model("Split", 18);
  model.Input("x", Iota({7})).Output("a").Output("b").Output("c").Int("num_outputs", 3);
  auto outputs = model.Run();
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor(Floats({0, 1, 2}, {3}), (*outputs)[0].tensor());
  ExpectTensor(Floats({3, 4, 5}, {3}), (*outputs)[1].tensor());
  ExpectTensor(Floats({6}, {1}), (*outputs)[2].tensor());
}

TEST(ShapeOpsSlice, ExtremeStartsEndsAndSteps) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  struct Case {
    std::vector<int64_t> starts, ends, steps;
    std::vector<float> expected;
  };
  for (const Case& c : std::vector<Case>{{{kMax}, {kMin}, {-1}, {4, 3, 2, 1, 0}},
                                         {{kMin}, {kMax}, {kMax}, {0}},
                                         {{kMax}, {kMin}, {kMin}, {4}},
                                         {{-2}, {kMin}, {-2}, {3, 1}},
                                         {{3}, {1}, {1}, {}}}) {
    OpTestModel model("Slice", 13);
    model.Input("x", Iota({5}))
        .Input("starts", Int64s(c.starts))
        .Input("ends", Int64s(c.ends))
        .Input("axes", Int64s({0}))
        .Input("steps", Int64s(c.steps))
        .Output("y");
    ExpectTensor(Floats(c.expected, {static_cast<int64_t>(c.expected.size())}), RunOne(model));
  }
}

TEST(ShapeOpsSlice, RejectsZeroStepAndRepeatedAxes) {
  OpTestModel model("Slice", 13);
  model.Input("x", Iota({5}))
      .Input("starts", Int64s({0}))
      .Input("ends", Int64s({5}))
      .Absent()
      .Input("steps", Int64s({0}));
  model.Output("y");
  EXPECT_NE(RunError(model).find("steps[0] is 0"), std::string::npos);

  OpTestModel repeated("Slice", 13);
  repeated.Input("x", Iota({5, 2}))
      .Input("starts", Int64s({0, 1}))
      .Input("ends", Int64s({5, 2}))
      .Input("axes", Int64s({1, -1}))
      .Output("y");
  EXPECT_NE(RunError(repeated).find("repeated"), std::string::npos);

  OpTestModel float_starts("Slice", 13);
  float_starts.Input("x", Iota({5})).Input("starts", Floats({0}, {1})).Input("ends", Int64s({5})).Output("y");
  EXPECT_NE(RunError(float_starts).find("starts must be int64"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Gather / Scatter family: index validation.

TEST(ShapeOpsGather, RejectsOutOfRangeIndicesAndWrapsNegativeOnes) {
  OpTestModel model("Gather", 13);
  model.Input("x", Iota({3, 2})).Input("i", Int64s({0, 3})).Output("y");
  EXPECT_NE(RunError(model).find("index 3 (element 1) is out of range for dimension 3"), std::string::npos);

  OpTestModel negative("Gather", 13);
  negative.Input("x", Strings({"a", "b", "c"}, {3})).Input("i", Int64s({-1, -3}, {2})).Output("y");
  ExpectTensor(Strings({"c", "a"}, {2}), RunOne(negative));

  OpTestModel float_indices("Gather", 13);
  float_indices.Input("x", Iota({3})).Input("i", Floats({1}, {1})).Output("y");
  EXPECT_NE(RunError(float_indices).find("int32 or int64"), std::string::npos);
}

TEST(ShapeOpsGatherElements, RejectsOutOfRangeAndOversizedIndices) {
  OpTestModel model("GatherElements", 13);
  model.Input("x", Iota({2, 2})).Input("i", Int64s({0, -3}, {1, 2})).Output("y").Int("axis", 0);
  EXPECT_NE(RunError(model).find("out of range"), std::string::npos);

  OpTestModel oversized("GatherElements", 13);
  oversized.Input("x", Iota({2, 2})).Input("i", Int64s({0, 0, 0}, {1, 3})).Output("y").Int("axis", 0);
  EXPECT_NE(RunError(oversized).find("exceeds data shape"), std::string::npos);
}

TEST(ShapeOpsGatherNd, RejectsOutOfRangeTuples) {
  OpTestModel model("GatherND", 13);
  model.Input("x", Iota({2, 3})).Input("i", Int64s({1, 3}, {1, 2})).Output("y");
  EXPECT_NE(RunError(model).find("out of range for dimension 3"), std::string::npos);

  OpTestModel too_long("GatherND", 13);
  too_long.Input("x", Iota({2, 3})).Input("i", Int64s({1, 1, 1}, {1, 3})).Output("y");
  EXPECT_NE(RunError(too_long).find("last dimension 3"), std::string::npos);
}

TEST(ShapeOpsScatterNd, RejectsBadUpdatesAndIndices) {
  OpTestModel shape("ScatterND", 16);
  shape.Input("x", Iota({2, 3})).Input("i", Int64s({1}, {1, 1})).Input("u", Iota({1, 2})).Output("y");
  EXPECT_NE(RunError(shape).find("need [1,3]"), std::string::npos);

  OpTestModel range("ScatterND", 16);
  range.Input("x", Iota({2, 3})).Input("i", Int64s({2}, {1, 1})).Input("u", Iota({1, 3})).Output("y");
  EXPECT_NE(RunError(range).find("out of range"), std::string::npos);
}

TEST(ShapeOpsScatterElements, ReductionsCombineRepeatedIndicesInOrder) {
  OpTestModel model("ScatterElements", 18);
  model.Input("x", Floats({1, 5}, {2}))
      .Input("i", Int64s({0, 0, -1}, {3}))
      .Input("u", Floats({4, 2, 3}, {3}))
      .Output("y")
      .String("reduction", "max");
  ExpectTensor(Floats({4, 5}, {2}), RunOne(model));

  OpTestModel strings("ScatterElements", 16);
  strings.Input("x", Strings({"a", "b"}, {2}))
      .Input("i", Int64s({1}, {1}))
      .Input("u", Strings({"z"}, {1}))
      .Output("y")
      .String("reduction", "add");
  auto outputs = strings.Run();
  ASSERT_FALSE(outputs.ok());
  EXPECT_EQ(outputs.status().code(), core::StatusCode::kUnimplemented);

  OpTestModel old_opset("ScatterElements", 16);
  old_opset.Input("x", Floats({1}, {1})).Input("i", Int64s({0}, {1})).Input("u", Floats({1}, {1})).Output("y");
  old_opset.String("reduction", "max");
  EXPECT_FALSE(old_opset.Load().ok());
}

// ---------------------------------------------------------------------------
// Pad / Expand / Tile

TEST(ShapeOpsPad, ReflectBeyondTheEdgeRepeatsTheReflection) {
  // numpy.pad([0, 1, 2], (5, 5), 'reflect')
  OpTestModel model("Pad", 13);
  model.Input("x", Iota({3})).Input("pads", Int64s({5, 5})).Output("y").String("mode", "reflect");
  ExpectTensor(Floats({1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1}, {13}), RunOne(model));
}

TEST(ShapeOpsPad, WrapIsPeriodicAndNegativePadsCrop) {
  OpTestModel model("Pad", 19);
  model.Input("x", Iota({3})).Input("pads", Int64s({4, 3})).Output("y").String("mode", "wrap");
  ExpectTensor(Floats({2, 0, 1, 2, 0, 1, 2, 0, 1, 2}, {10}), RunOne(model));

  OpTestModel crop("Pad", 13);
  crop.Input("x", Iota({5})).Input("pads", Int64s({-1, 2})).Output("y").String("mode", "edge");
  ExpectTensor(Floats({1, 2, 3, 4, 4, 4}, {6}), RunOne(crop));
}

TEST(ShapeOpsPad, RejectsBadPads) {
  OpTestModel too_negative("Pad", 13);
  too_negative.Input("x", Iota({2})).Input("pads", Int64s({-2, -1})).Output("y");
  EXPECT_NE(RunError(too_negative).find("remove more than"), std::string::npos);

  OpTestModel wrong_length("Pad", 13);
  wrong_length.Input("x", Iota({2, 2})).Input("pads", Int64s({1, 1})).Output("y");
  EXPECT_NE(RunError(wrong_length).find("needs 4"), std::string::npos);

  OpTestModel empty_edge("Pad", 13);
  empty_edge.Input("x", Iota({0})).Input("pads", Int64s({1, 0})).Output("y").String("mode", "edge");
  EXPECT_NE(RunError(empty_edge).find("non-empty axis"), std::string::npos);

  OpTestModel bad_value("Pad", 13);
  bad_value.Input("x", Iota({2})).Input("pads", Int64s({1, 0})).Input("v", Int64s({1}, {})).Output("y");
  EXPECT_NE(RunError(bad_value).find("constant_value is int64"), std::string::npos);
}

TEST(ShapeOpsPad, RejectsExtremePadsWithoutOverflow) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  for (std::vector<int64_t> pads : {std::vector<int64_t>{kMin, kMax}, {kMax, kMin}, {kMax, kMax}, {-3, 1}}) {
    OpTestModel model("Pad", 13);
    model.Input("x", Iota({2})).Input("pads", Int64s(pads)).Output("y").String("mode", "reflect");
    EXPECT_FALSE(model.Run().ok()) << core::ShapeToString(pads);
  }
}

TEST(ShapeOpsExpand, RejectsIncompatibleShapesAndInfersFromConstants) {
  OpTestModel model("Expand", 13);
  model.Input("x", Iota({3, 2})).Input("shape", Int64s({4, 2})).Output("y");
  EXPECT_NE(RunError(model).find("cannot be broadcast"), std::string::npos);

  OpTestModel inferred("Expand", 13);
  inferred.Input("x", Iota({3, 1})).Initializer("shape", Int64s({2, 1, 5})).Output("y");
  EXPECT_EQ(InferredOutput(inferred).Shape(), (core::TensorShape{2, 3, 5}));
}

TEST(ShapeOpsTile, RejectsNegativeRepeatsAndWrongLength) {
  OpTestModel model("Tile", 13);
  model.Input("x", Iota({2})).Input("r", Int64s({-1})).Output("y");
  EXPECT_NE(RunError(model).find("negative"), std::string::npos);

  OpTestModel length("Tile", 13);
  length.Input("x", Iota({2})).Input("r", Int64s({1, 2})).Output("y");
  EXPECT_NE(RunError(length).find("rank 1"), std::string::npos);

  OpTestModel huge("Tile", 13);
  huge.Input("x", Iota({2})).Input("r", Int64s({std::numeric_limits<int64_t>::max()})).Output("y");
  EXPECT_FALSE(huge.Run().ok());
}

// ---------------------------------------------------------------------------
// Generators and data-dependent shapes

TEST(ShapeOpsRange, RejectsZeroDeltaAndHugeCounts) {
  OpTestModel zero("Range", 11);
  zero.Input("s", Int64s({0}, {})).Input("l", Int64s({5}, {})).Input("d", Int64s({0}, {})).Output("y");
  EXPECT_NE(RunError(zero).find("delta must not be zero"), std::string::npos);

  OpTestModel huge("Range", 11);
  huge.Input("s", Int64s({std::numeric_limits<int64_t>::min()}, {}))
      .Input("l", Int64s({std::numeric_limits<int64_t>::max()}, {}))
      .Input("d", Int64s({1}, {}))
      .Output("y");
  EXPECT_NE(RunError(huge).find("too many"), std::string::npos);

  OpTestModel nan("Range", 11);
  nan.Input("s", Floats({0}, {})).Input("l", Floats({NAN}, {})).Input("d", Floats({1}, {})).Output("y");
  EXPECT_NE(RunError(nan).find("not finite"), std::string::npos);
}

TEST(ShapeOpsConstantOfShape, RejectsNegativeDims) {
  OpTestModel model("ConstantOfShape", 9);
  model.Input("shape", Int64s({2, -1})).Output("y");
  EXPECT_NE(RunError(model).find("negative dimension"), std::string::npos);
}

TEST(ShapeOpsOneHot, OutOfRangeAndNanIndicesGiveAllOff) {
  OpTestModel model("OneHot", 11);
  model.Input("i", Floats({NAN, 5, -4, 1}, {4}))
      .Input("depth", Floats({3}, {}))
      .Input("values", Int64s({0, 1}))
      .Output("y");
  ExpectTensor(Int64s({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, {4, 3}), RunOne(model));

  OpTestModel bad_values("OneHot", 11);
  bad_values.Input("i", Int64s({0})).Input("depth", Int64s({3}, {})).Input("values", Int64s({0, 1, 2})).Output("y");
  EXPECT_NE(RunError(bad_values).find("off_value, on_value"), std::string::npos);
}

TEST(ShapeOpsOneHot, FractionalIndicesTruncateLikeACast) {
  // -3.5 truncates to -3, which wraps to 0 for depth 3.
  OpTestModel model("OneHot", 11);
  model.Input("i", Floats({-3.5f, 1.9f}, {2}))
      .Input("depth", Int64s({3}, {}))
      .Input("values", Int64s({0, 1}))
      .Output("y");
  ExpectTensor(Int64s({1, 0, 0, 0, 1, 0}, {2, 3}), RunOne(model));
}

TEST(ShapeOpsEyeLike, ExtremeDiagonalsGiveZeros) {
  for (int64_t k : {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    OpTestModel model("EyeLike", 9);
    model.Input("x", Iota({2, 3})).Output("y").Int("k", k);
    ExpectTensor(Floats({0, 0, 0, 0, 0, 0}, {2, 3}), RunOne(model));
  }
}

TEST(ShapeOpsNonZero, ScalarsReadAsOneElementVectors) {
  OpTestModel model("NonZero", 13);
  model.Input("x", Floats({3}, {})).Output("y");
  ExpectTensor(Int64s({0}, {1, 1}), RunOne(model));
}

TEST(ShapeOpsUnique, NanValuesFormOneGroupAndSortLast) {
  OpTestModel model("Unique", 11);
  model.Input("x", Floats({NAN, 2, NAN, 1}, {4})).Output("y").Output("indices").Output("inverse").Output("counts");
  auto outputs = model.Run();
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ExpectTensor(Floats({1, 2, NAN}, {3}), (*outputs)[0].tensor());
  ExpectTensor(Int64s({3, 1, 0}), (*outputs)[1].tensor());
  ExpectTensor(Int64s({2, 1, 2, 0}), (*outputs)[2].tensor());
  ExpectTensor(Int64s({1, 1, 2}), (*outputs)[3].tensor());
}

TEST(ShapeOpsTrilu, HugeKAndStrings) {
  OpTestModel model("Trilu", 14);
  model.Input("x", Iota({2, 2})).Input("k", Int64s({std::numeric_limits<int64_t>::min()}, {})).Output("y");
  ExpectTensor(Iota({2, 2}), RunOne(model));

  OpTestModel lower("Trilu", 14);
  lower.Input("x", Strings({"a", "b", "c", "d"}, {2, 2})).Output("y").Int("upper", 0);
  ExpectTensor(Strings({"a", "", "c", "d"}, {2, 2}), RunOne(lower));
}

TEST(ShapeOpsCompress, RejectsConditionBeyondTheAxis) {
  OpTestModel model("Compress", 11);
  model.Input("x", Iota({2})).Input("c", Tensor::FromVector<bool>({false, false, true}, {3})).Output("y");
  EXPECT_NE(RunError(model).find("beyond dimension 2"), std::string::npos);
}

TEST(ShapeOpsReverseSequence, RejectsLengthsBeyondTheTimeAxis) {
  OpTestModel model("ReverseSequence", 10);
  model.Input("x", Iota({2, 2})).Input("lens", Int64s({3, 1})).Output("y");
  EXPECT_NE(RunError(model).find("outside [0, 2]"), std::string::npos);
}

TEST(ShapeOpsShape, InfersLengthFromRankWithUnknownDims) {
  OpTestModel model("Shape", 15);
  model.Input("x", Iota({2, 3, 4})).Output("y").Int("start", -2);
  MakeDimSymbolic(model, 0, 2, "T");
  EXPECT_EQ(InferredOutput(model).Shape(), (core::TensorShape{2}));
}

}  // namespace
}  // namespace berth::engine::testing

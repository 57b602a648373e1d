// Resize, Upsample and GridSample beyond the ONNX backend tests: opset 18/19
// features (antialias, axes, keep_aspect_ratio_policy, half_pixel_symmetric),
// the opset 10 form, non-float types, crops, errors and shape inference.
// Expected values for the opset 18/19 cases come from the ONNX reference
// implementation's formulas (evaluated offline in double).
#include <gtest/gtest.h>

#include <cmath>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;

// Interpolated values are compared within 1e-4 (relative).
void ExpectClose(const Tensor& expected, const Tensor& actual) { ExpectTensor(expected, actual, {1e-4, 1e-5}); }

Tensor Counting(core::TensorShape shape, float first = 1.0f) {
  std::vector<float> values(static_cast<size_t>(core::ElementCount(shape)));
  for (size_t i = 0; i < values.size(); ++i) values[i] = first + static_cast<float>(i);
  return Floats(values, shape);
}

// Resize-13+ with scales: inputs X, roi (absent), scales.
OpTestModel ResizeWithScales(int opset, const Tensor& x, const std::vector<float>& scales, const std::string& mode) {
  OpTestModel model("Resize", opset);
  model.Input("x", x).Absent().Initializer("scales", Floats(scales, {static_cast<int64_t>(scales.size())}));
  model.Output("y").String("mode", mode);
  return model;
}

TEST(Resize, AntialiasedLinearDownsampling) {
  OpTestModel model = ResizeWithScales(18, Counting({1, 1, 4, 4}), {1, 1, 0.6f, 0.6f}, "linear");
  model.Int("antialias", 1);
  ExpectClose(Floats({2.875f, 4.5f, 9.375f, 11.0f}, {1, 1, 2, 2}), RunOne(model));
}

TEST(Resize, AntialiasedCubicDownsampling) {
  OpTestModel model = ResizeWithScales(18, Counting({1, 1, 4, 4}), {1, 1, 0.6f, 0.6f}, "cubic");
  model.Int("antialias", 1);
  ExpectClose(Floats({2.5180723f, 4.2858864f, 9.5893287f, 11.357143f}, {1, 1, 2, 2}), RunOne(model));
}

TEST(Resize, AntialiasWithSizesAndExcludeOutside) {
  std::vector<float> values(16);
  for (int i = 0; i < 16; ++i) values[i] = std::pow(static_cast<float>(i), 1.5f);
  OpTestModel linear("Resize", 18);
  linear.Input("x", Floats(values, {16})).Absent().Absent().Initializer("sizes", Int64s({5}, {1}));
  linear.Output("y").String("mode", "linear").Int("antialias", 1);
  ExpectClose(Floats({1.8213962f, 9.3014374f, 20.778990f, 35.082103f, 51.154508f}, {5}), RunOne(linear));

  OpTestModel cubic("Resize", 18);
  cubic.Input("x", Floats(values, {16})).Absent().Absent().Initializer("sizes", Int64s({5}, {1}));
  cubic.Output("y").String("mode", "cubic").Int("antialias", 1).Int("exclude_outside", 1);
  cubic.Float("cubic_coeff_a", -0.5f);
  ExpectClose(Floats({1.4598504f, 8.7666975f, 20.533884f, 35.365007f, 51.456386f}, {5}), RunOne(cubic));
}

TEST(Resize, KeepAspectRatioPolicies) {
  for (const char* policy : {"not_larger", "not_smaller"}) {
    OpTestModel model("Resize", 18);
    model.Input("x", Counting({1, 1, 4, 4})).Absent().Absent().Initializer("sizes", Int64s({3, 2}, {2}));
    model.Output("y").String("mode", "linear").Ints("axes", {2, 3}).String("keep_aspect_ratio_policy", policy);
    SCOPED_TRACE(policy);
    if (std::string(policy) == "not_larger") {
      ExpectClose(Floats({3.5f, 5.5f, 11.5f, 13.5f}, {1, 1, 2, 2}), RunOne(model));
    } else {
      ExpectClose(Floats({1.8333333f, 3.1666667f, 4.5f, 7.1666667f, 8.5f, 9.8333333f, 12.5f, 13.833333f, 15.166667f},
                         {1, 1, 3, 3}),
                  RunOne(model));
    }
  }
}

TEST(Resize, AxesSelectWhichScalesApply) {
  OpTestModel model("Resize", 18);
  model.Input("x", Counting({1, 2, 2})).Absent().Initializer("scales", Floats({2.0f}, {1}));
  model.Output("y").String("mode", "nearest").Ints("axes", {-1});
  ExpectClose(Floats({1, 1, 2, 2, 3, 3, 4, 4}, {1, 2, 4}), RunOne(model));
  auto session = model.Load();
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.ToString(), "float32[1,2,4]");
}

TEST(Resize, HalfPixelSymmetricAtOpset19) {
  OpTestModel model = ResizeWithScales(19, Counting({1, 1, 2, 2}), {1, 1, 2.3f, 2.94f}, "linear");
  model.String("coordinate_transformation_mode", "half_pixel_symmetric");
  ExpectClose(Floats({1.0f,       1.1598639f, 1.5f,       1.8401361f, 2.0f,       1.5652174f, 1.7250813f,
                      2.0652174f, 2.4053534f, 2.5652174f, 2.4347826f, 2.5946466f, 2.9347826f, 3.2749187f,
                      3.4347826f, 3.0f,       3.1598639f, 3.5f,       3.8401361f, 4.0f},
                     {1, 1, 4, 5}),
              RunOne(model));
  OpTestModel old = ResizeWithScales(13, Counting({1, 1, 2, 2}), {1, 1, 2, 2}, "linear");
  old.String("coordinate_transformation_mode", "half_pixel_symmetric");
  EXPECT_FALSE(old.Load().ok());  // not a mode before opset 19
}

TEST(Resize, Opset10UsesAsymmetricCoordinates) {
  OpTestModel model("Resize", 10);
  model.Input("x", Counting({1, 1, 2, 4})).Initializer("scales", Floats({1, 1, 0.6f, 0.6f}, {4}));
  model.Output("y").String("mode", "nearest");
  ExpectClose(Floats({1, 3}, {1, 1, 1, 2}), RunOne(model));
}

TEST(Upsample, BilinearWithScalesAttribute) {
  OpTestModel model("Upsample", 7);
  model.Input("x", Counting({1, 1, 2, 2})).Output("y").String("mode", "linear").Floats("scales", {1, 1, 2, 2});
  ExpectClose(Floats({1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4}, {1, 1, 4, 4}), RunOne(model));
}

TEST(Resize, NearestWorksOnAnyElementType) {
  OpTestModel strings = ResizeWithScales(13, Tensor::FromVector<std::string>({"a", "b"}, {1, 2}), {2, 1}, "nearest");
  Tensor y = RunOne(strings);
  ASSERT_EQ(y.dtype(), DataType::kString);
  ASSERT_EQ(y.shape(), (core::TensorShape{2, 2}));
  EXPECT_EQ(y.data<std::string>()[3], "b");

  OpTestModel flags = ResizeWithScales(13, Tensor::FromVector<bool>({true, false}, {2}), {1.5f}, "nearest");
  // Positions -0.17, 0.5 (rounds down) and 1.17.
  ExpectClose(Tensor::FromVector<bool>({true, true, false}, {3}), RunOne(flags));
}

TEST(Resize, LinearOnIntegersRoundsAndSaturates) {
  // Cubic overshoots to -26.9 and 290.9 here: those saturate instead of wrapping.
  OpTestModel model = ResizeWithScales(13, Tensor::FromVector<uint8_t>({0, 255, 255, 0}, {4}), {2.0f}, "cubic");
  ExpectClose(Tensor::FromVector<uint8_t>({0, 58, 197, 255, 255, 197, 58, 0}, {8}), RunOne(model));
  OpTestModel linear = ResizeWithScales(13, Tensor::FromVector<int32_t>({0, 3}, {2}), {2.0f}, "linear");
  linear.String("coordinate_transformation_mode", "align_corners");
  // Positions 0, 1/3, 2/3, 1 of [0, 3]: 0, 1, 2, 3.
  ExpectClose(Tensor::FromVector<int32_t>({0, 1, 2, 3}, {4}), RunOne(linear));
}

TEST(Resize, CropWithExtrapolationOnTwoAxes) {
  OpTestModel model("Resize", 13);
  model.Input("x", Counting({2, 2})).Initializer("roi", Floats({0, 0.5f, 1, 1.5f}, {4}));
  model.Absent().Initializer("sizes", Int64s({3, 3}, {2}));
  model.Output("y").String("mode", "nearest").String("coordinate_transformation_mode", "tf_crop_and_resize");
  model.Float("extrapolation_value", -1.0f);
  // Rows map to 0, 0.5, 1 and columns to 0.5, 1, 1.5 (outside the image);
  // 0.5 rounds down.
  ExpectClose(Floats({1, 2, -1, 1, 2, -1, 3, 4, -1}, {3, 3}), RunOne(model));
}

TEST(Resize, RejectsBadScalesAndSizes) {
  OpTestModel negative = ResizeWithScales(13, Counting({2, 2}), {1, -2}, "nearest");
  auto result = negative.Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("positive"), std::string::npos) << result.status().message();

  OpTestModel short_scales = ResizeWithScales(13, Counting({2, 2}), {2}, "nearest");
  EXPECT_FALSE(short_scales.Run().ok());

  OpTestModel both("Resize", 13);
  both.Input("x", Counting({2, 2})).Absent().Initializer("scales", Floats({1, 1}, {2}));
  both.Initializer("sizes", Int64s({2, 2}, {2})).Output("y");
  EXPECT_FALSE(both.Run().ok());

  OpTestModel bad_mode = ResizeWithScales(13, Counting({2, 2}), {1, 1}, "bicubic");
  EXPECT_FALSE(bad_mode.Load().ok());
}

TEST(Resize, InfersShapesFromConstantScalesAndSizes) {
  OpTestModel scales = ResizeWithScales(13, Counting({1, 3, 5, 7}), {1, 1, 0.5f, 2.0f}, "linear");
  auto session = scales.Load();
  ASSERT_TRUE(session.ok());
  EXPECT_EQ((*session)->outputs()[0].type.ToString(), "float32[1,3,2,14]");

  // A dynamic batch: the constant scales still fix the other axes.
  OpTestModel dynamic = ResizeWithScales(13, Counting({1, 3, 5, 7}), {1, 1, 0.5f, 2.0f}, "linear");
  dynamic.graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_param("N");
  auto dynamic_session = dynamic.Load();
  ASSERT_TRUE(dynamic_session.ok()) << dynamic_session.status().ToString();
  const ValueType& dynamic_type = (*dynamic_session)->outputs()[0].type;
  ASSERT_EQ(dynamic_type.dims.size(), 4u);
  EXPECT_FALSE(dynamic_type.dims[0].known());
  EXPECT_EQ(dynamic_type.Shape(), (core::TensorShape{-1, 3, 2, 14}));

  OpTestModel sizes("Resize", 13);
  sizes.Input("x", Counting({1, 3, 5, 7})).Absent().Absent().Input("sizes", Int64s({1, 3, 9, 9}, {4})).Output("y");
  auto unknown = sizes.Load();
  ASSERT_TRUE(unknown.ok());
  const ValueType& type = (*unknown)->outputs()[0].type;
  ASSERT_TRUE(type.has_shape);
  EXPECT_EQ(type.dims.size(), 4u);
  EXPECT_FALSE(type.dims[2].known());
}

// ---------------------------------------------------------------------------
// GridSample

TEST(GridSample, VolumetricLinearAtOpset20) {
  // A 2x2x2 volume sampled at its corners (align_corners) and its centre.
  OpTestModel model("GridSample", 20);
  Tensor grid = Floats({-1, -1, -1, 1, 1, 1, 1, -1, -1, 0, 0, 0}, {1, 1, 1, 4, 3});
  model.Input("x", Counting({1, 1, 2, 2, 2})).Input("grid", grid).Output("y");
  model.String("mode", "linear").Int("align_corners", 1);
  ExpectClose(Floats({1, 8, 2, 4.5f}, {1, 1, 1, 1, 4}), RunOne(model));
}

TEST(GridSample, ZeroPaddingOutsideAndBorderClamp) {
  Tensor grid = Floats({-3, 0, 3, 0}, {1, 1, 2, 2});
  OpTestModel zeros("GridSample", 16);
  zeros.Input("x", Counting({1, 1, 2, 2})).Input("grid", grid).Output("y").String("padding_mode", "zeros");
  ExpectClose(Floats({0, 0}, {1, 1, 1, 2}), RunOne(zeros));
  OpTestModel border("GridSample", 16);
  border.Input("x", Counting({1, 1, 2, 2})).Input("grid", grid).Output("y").String("padding_mode", "border");
  // x clamps to the first / last column, y = 0 is halfway between the rows.
  ExpectClose(Floats({2, 3}, {1, 1, 1, 2}), RunOne(border));
}

TEST(GridSample, RejectsMismatchedGrid) {
  OpTestModel model("GridSample", 16);
  model.Input("x", Counting({1, 1, 2, 2})).Input("grid", Floats({0, 0, 0}, {1, 1, 1, 3})).Output("y");
  EXPECT_FALSE(model.Run().ok());
  OpTestModel volumetric("GridSample", 16);
  volumetric.Input("x", Counting({1, 1, 2, 2, 2})).Input("grid", Floats({0, 0, 0}, {1, 1, 1, 1, 3})).Output("y");
  EXPECT_FALSE(volumetric.Run().ok());  // 5-D input needs opset 20
}

}  // namespace
}  // namespace berth::engine::testing

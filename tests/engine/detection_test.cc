// NonMaxSuppression and RoiAlign beyond the ONNX backend tests: optional
// inputs, output ordering over batches and classes, the max pooling mode,
// the opset 10 coordinate convention and argument errors.
#include <gtest/gtest.h>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::Tensor;

// Three boxes: 0 and 1 overlap heavily (IoU 0.81), 2 is apart.
const std::vector<float> kBoxes = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 2, 1, 3};

TEST(NonMaxSuppression, DefaultsSelectNothing) {
  OpTestModel model("NonMaxSuppression", 11);
  model.Input("boxes", Floats(kBoxes, {1, 3, 4})).Input("scores", Floats({0.9f, 0.8f, 0.7f}, {1, 1, 3}));
  model.Output("selected");
  EXPECT_EQ(RunOne(model).shape(), (core::TensorShape{0, 3}));  // max_output_boxes_per_class defaults to 0
}

TEST(NonMaxSuppression, OrdersByBatchThenClassThenScore) {
  OpTestModel model("NonMaxSuppression", 11);
  std::vector<float> boxes = kBoxes;
  boxes.insert(boxes.end(), kBoxes.begin(), kBoxes.end());
  // Batch 0: class 0 prefers box 2, class 1 box 1. Batch 1: equal scores keep index order.
  model.Input("boxes", Floats(boxes, {2, 3, 4}));
  model.Input("scores", Floats({0.1f, 0.2f, 0.9f, 0.3f, 0.8f, 0.7f, 0.5f, 0.5f, 0.5f, 0, 0, 0}, {2, 2, 3}));
  model.Input("max", Int64s({5}, {1})).Input("iou", Floats({0.5f}, {1})).Input("score", Floats({0.05f}, {1}));
  model.Output("selected");
  ExpectTensor(Int64s({0, 0, 2, 0, 0, 1, 0, 1, 1, 0, 1, 2, 1, 0, 0, 1, 0, 2}, {6, 3}), RunOne(model));
}

TEST(NonMaxSuppression, WithoutScoreThresholdKeepsZeroScores) {
  OpTestModel model("NonMaxSuppression", 11);
  model.Input("boxes", Floats(kBoxes, {1, 3, 4})).Input("scores", Floats({0, 0, 0}, {1, 1, 3}));
  model.Input("max", Int64s({3}, {1})).Output("selected");
  // iou_threshold 0: any overlap suppresses, so box 1 goes.
  ExpectTensor(Int64s({0, 0, 0, 0, 0, 2}, {2, 3}), RunOne(model));
}

TEST(NonMaxSuppression, RejectsMismatchedShapes) {
  OpTestModel model("NonMaxSuppression", 11);
  model.Input("boxes", Floats(kBoxes, {1, 3, 4})).Input("scores", Floats({1, 1}, {1, 1, 2}));
  model.Input("max", Int64s({3}, {1})).Output("selected");
  EXPECT_FALSE(model.Run().ok());
  OpTestModel threshold("NonMaxSuppression", 11);
  threshold.Input("boxes", Floats(kBoxes, {1, 3, 4})).Input("scores", Floats({1, 1, 1}, {1, 1, 3}));
  threshold.Input("max", Int64s({3}, {1})).Input("iou", Floats({1.5f}, {1})).Output("selected");
  EXPECT_FALSE(threshold.Run().ok());
}

Tensor Ones(core::TensorShape shape) {
  return Floats(std::vector<float>(static_cast<size_t>(core::ElementCount(shape)), 1.0f), shape);
}

TEST(RoiAlign, AverageOfAConstantMapIsTheConstant) {
  OpTestModel model("RoiAlign", 16);
  model.Input("x", Ones({2, 3, 8, 8})).Input("rois", Floats({1, 1, 5, 6, 0, 0, 8, 8}, {2, 4}));
  model.Input("batch", Int64s({1, 0}, {2})).Output("y").Int("output_height", 2).Int("output_width", 3);
  Tensor y = RunOne(model);
  ASSERT_EQ(y.shape(), (core::TensorShape{2, 3, 2, 3}));
  for (float value : y.values<float>()) EXPECT_NEAR(value, 1.0f, 1e-6);
}

TEST(RoiAlign, MaxModeTakesTheLargestWeightedCorner) {
  // One sample at (1.5, 1.5): four corners of weight 0.25 each. Like ONNX
  // Runtime and the ONNX reference, max mode keeps the largest weighted corner.
  OpTestModel model("RoiAlign", 16);
  model.Input("x", Ones({1, 1, 8, 8})).Input("rois", Floats({0, 0, 4, 4}, {1, 4}));
  model.Input("batch", Int64s({0}, {1})).Output("y").String("mode", "max").Int("sampling_ratio", 1);
  ExpectTensor(Floats({0.25f}, {1, 1, 1, 1}), RunOne(model));
}

TEST(RoiAlign, Opset10UsesOutputHalfPixel) {
  // Without the half-pixel shift the single sample of [0, 0, 2, 2] lands on
  // pixel (1, 1) exactly.
  std::vector<float> values(16);
  for (int i = 0; i < 16; ++i) values[i] = static_cast<float>(i);
  OpTestModel model("RoiAlign", 10);
  model.Input("x", Floats(values, {1, 1, 4, 4})).Input("rois", Floats({0, 0, 2, 2}, {1, 4}));
  model.Input("batch", Int64s({0}, {1})).Output("y").Int("sampling_ratio", 1);
  ExpectTensor(Floats({5}, {1, 1, 1, 1}), RunOne(model));
}

TEST(RoiAlign, RejectsBadBatchIndices) {
  OpTestModel model("RoiAlign", 16);
  model.Input("x", Ones({1, 1, 4, 4})).Input("rois", Floats({0, 0, 2, 2}, {1, 4}));
  model.Input("batch", Int64s({1}, {1})).Output("y");
  auto result = model.Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("out of range"), std::string::npos) << result.status().message();
}

}  // namespace
}  // namespace berth::engine::testing

#include "core/tensor.h"

#include <gtest/gtest.h>

#include "core/float16.h"
#include "core/npy_file.h"
#include "core/tensor_compare.h"

namespace berth::core {
namespace {

TEST(TensorShape, RejectsNegativeAndOverflowingDims) {
  EXPECT_FALSE(CheckedElementCount(std::vector<int64_t>{2, -1}).ok());
  EXPECT_FALSE(CheckedElementCount(std::vector<int64_t>{int64_t{1} << 62, 4}).ok());
  EXPECT_FALSE(CheckedElementCount(std::vector<int64_t>{16, 1152921504606846978}, 4).ok());
  auto count = CheckedElementCount(std::vector<int64_t>{2, 3, 4});
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 24);
  EXPECT_EQ(*CheckedElementCount(std::vector<int64_t>{0, 5}), 0);
}

TEST(TensorShape, Broadcasts) {
  auto shape = BroadcastShapes(std::vector<int64_t>{2, 1, 4}, std::vector<int64_t>{3, 1});
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(*shape, (TensorShape{2, 3, 4}));
  EXPECT_FALSE(BroadcastShapes(std::vector<int64_t>{2, 3}, std::vector<int64_t>{4}).ok());
}

TEST(Tensor, CreateIsAligned) {
  auto tensor = Tensor::Create(DataType::kFloat32, {3, 5});
  ASSERT_TRUE(tensor.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor->raw_data()) % kTensorAlignment, 0u);
  EXPECT_EQ(tensor->byte_size(), 60u);
}

TEST(Tensor, CreateRefusesHugeShapesBeforeAllocating) {
  auto tensor = Tensor::Create(DataType::kFloat32, {int64_t{1} << 62, 4});
  EXPECT_FALSE(tensor.ok());
}

TEST(Float16, RoundTripsAndRounds) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(static_cast<float>(Float16(v)), v) << v;
  }
  EXPECT_TRUE(std::isinf(static_cast<float>(Float16(1e6f))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16(std::nanf("")))));
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f)), 1.0f);
}

TEST(Npy, RoundTrips) {
  Tensor tensor = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto bytes = SerializeNpy(tensor);
  ASSERT_TRUE(bytes.ok());
  auto parsed = ParseNpy(*bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(CompareTensors(tensor, *parsed).ok());
}

TEST(Npy, RejectsTruncatedData) {
  Tensor tensor = Tensor::FromVector<int64_t>({1, 2, 3}, {3});
  auto bytes = SerializeNpy(tensor);
  ASSERT_TRUE(bytes.ok());
  std::string truncated = bytes->substr(0, bytes->size() - 4);
  EXPECT_FALSE(ParseNpy(truncated).ok());
}

TEST(Compare, FloatTolerance) {
  Tensor a = Tensor::FromVector<float>({1.0f, 2.0f}, {2});
  Tensor b = Tensor::FromVector<float>({1.0005f, 2.0f}, {2});
  Tensor c = Tensor::FromVector<float>({1.1f, 2.0f}, {2});
  EXPECT_TRUE(CompareTensors(a, b).ok());
  EXPECT_FALSE(CompareTensors(a, c).ok());
}

}  // namespace
}  // namespace berth::core

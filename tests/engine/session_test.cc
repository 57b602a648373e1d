#include "engine/session.h"

#include <gtest/gtest.h>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

TEST(Session, RunsASingleAdd) {
  core::Tensor x = core::Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  core::Tensor y = core::Tensor::FromVector<float>({10, 20, 30, 40, 50, 60}, {2, 3});
  OpTestModel model("Add", 17);
  model.Input("x", x).Input("y", y).Output("z");
  auto session = model.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto outputs = (*session)->Run({{"x", x}, {"y", y}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  core::Tensor expected = core::Tensor::FromVector<float>({11, 22, 33, 44, 55, 66}, {2, 3});
  EXPECT_TRUE(core::CompareTensors(expected, (*outputs)[0].tensor()).ok());
}

TEST(Session, RejectsWrongInputShapeWithAClearMessage) {
  OpTestModel model("Relu", 17);
  model.Input("x", core::Tensor::FromVector<float>(std::vector<float>(6), {2, 3})).Output("z");
  auto session = model.Load();
  ASSERT_TRUE(session.ok());
  core::Tensor x = core::Tensor::FromVector<float>({1, 2, 3}, {1, 3});
  auto outputs = (*session)->Run({{"x", x}});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("input 'x' expects float32[2,3]"), std::string::npos)
      << outputs.status().message();
}

TEST(Session, ChargesEveryTensorOfARunToItsMemoryAccount) {
  OpTestModel model("Expand", 13);
  model.DeclareShapes(OpTestModel::Shapes::kSymbolic);
  model.Input("x", core::Tensor::FromVector<float>({2}, {1}))
      .Input("shape", core::Tensor::FromVector<int64_t>({2, 3}, {2}))
      .Output("y");
  auto session = model.Load();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  core::MemoryBudget budget(1 << 20);
  RunOptions options;
  options.memory = std::make_shared<core::MemoryAccount>(&budget, 64 << 10);
  core::Tensor x = core::Tensor::FromVector<float>({2}, {1});
  {
    auto outputs = (*session)->Run({{"x", x}, {"shape", core::Tensor::FromVector<int64_t>({2, 3}, {2})}}, {}, options);
    ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
    EXPECT_EQ(options.memory->in_use(), 24u);  // the 2x3 float output, while it lives
  }
  EXPECT_EQ(options.memory->in_use(), 0u);
  // 16 GB asked for by a 16-byte input: refused before it is allocated.
  auto huge =
      (*session)->Run({{"x", x}, {"shape", core::Tensor::FromVector<int64_t>({4000, 1000000}, {2})}}, {}, options);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), core::StatusCode::kRequestTooLarge);
  EXPECT_NE(huge.status().message().find("--max-request-memory"), std::string::npos) << huge.status().message();
  EXPECT_NE(huge.status().message().find("node_under_test"), std::string::npos) << huge.status().message();
  EXPECT_EQ(budget.in_use(), 0u);
  EXPECT_EQ(budget.request_refusals(), 1u);
}

}  // namespace
}  // namespace berth::engine::testing

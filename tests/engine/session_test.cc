#include "engine/session.h"

#include <gtest/gtest.h>

#include "core/tensor_compare.h"
#include "engine/onnx/model_loader.h"
#include "test_models.h"

namespace berth::engine {
namespace {

TEST(Session, RunsASingleAdd) {
  auto model = LoadModelFromBytes(testing::Serialize(testing::SingleNodeModel("Add", true)), {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = Session::Create(*model);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  core::Tensor x = core::Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  core::Tensor y = core::Tensor::FromVector<float>({10, 20, 30, 40, 50, 60}, {2, 3});
  auto outputs = (*session)->Run({{"x", x}, {"y", y}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  core::Tensor expected = core::Tensor::FromVector<float>({11, 22, 33, 44, 55, 66}, {2, 3});
  EXPECT_TRUE(core::CompareTensors(expected, (*outputs)[0].tensor()).ok());
}

TEST(Session, RejectsWrongInputShapeWithAClearMessage) {
  auto model = LoadModelFromBytes(testing::Serialize(testing::SingleNodeModel("Relu", false)), {});
  ASSERT_TRUE(model.ok());
  auto session = Session::Create(*model);
  ASSERT_TRUE(session.ok());
  core::Tensor x = core::Tensor::FromVector<float>({1, 2, 3}, {1, 3});
  auto outputs = (*session)->Run({{"x", x}});
  ASSERT_FALSE(outputs.ok());
  EXPECT_NE(outputs.status().message().find("input 'x' expects float32[2,3]"), std::string::npos)
      << outputs.status().message();
}

}  // namespace
}  // namespace berth::engine

// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: the weighted mean,
// ignore_index, int32 targets, other float types, large inputs that cross the
// kernel's tiles, numerical stability, inferred types, and clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/tensor_compare.h"
#include "op_test_model.h"

namespace berth::engine::testing {
namespace {

using core::Tensor;

// scores [N, C, D] (flattened), labels [N, D]; reduction and weights as the spec says.
std::vector<double> ReferenceLosses(const std::vector<float>& log_prob, const std::vector<int64_t>& labels, int64_t n,
                                    int64_t c, int64_t d, const std::vector<float>& weights, bool has_ignore,
                                    int64_t ignore, std::vector<double>* applied) {
  std::vector<double> losses(static_cast<size_t>(n * d), 0.0);
  applied->assign(losses.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t label = labels[i * d + j];
      if (has_ignore && label == ignore) continue;
      const double w = weights.empty() ? 1.0 : weights[label];
      losses[i * d + j] = -log_prob[(i * c + label) * d + j] * w;
      (*applied)[i * d + j] = w;
    }
  }
  return losses;
}

std::vector<float> LogSoftmax(const std::vector<float>& scores, int64_t n, int64_t c, int64_t d) {
  std::vector<float> out(scores.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      double max_value = -INFINITY;
      for (int64_t k = 0; k < c; ++k) max_value = std::max<double>(max_value, scores[(i * c + k) * d + j]);
      double sum = 0;
      for (int64_t k = 0; k < c; ++k) sum += std::exp(scores[(i * c + k) * d + j] - max_value);
      for (int64_t k = 0; k < c; ++k) {
        out[(i * c + k) * d + j] = static_cast<float>(scores[(i * c + k) * d + j] - max_value - std::log(sum));
      }
    }
  }
  return out;
}

TEST(NegativeLogLikelihoodLoss, WeightedMeanWithIgnoreIndexAndInt32Targets) {
  // N=2, C=3, d1=2.
  std::vector<float> input = {1, 2, 2, 2, 3, 2, 0, 1, 2, 2, 1, 2};
  Tensor target = Tensor::FromVector<int32_t>({2, 1, 0, 2}, {2, 2});
  Tensor weight = Tensor::FromVector<float>({0.2f, 0.3f, 0.1f}, {3});
  OpTestModel model("NegativeLogLikelihoodLoss", 13);
  model.Input("input", Tensor::FromVector<float>(input, {2, 3, 2})).Input("target", target).Input("weight", weight);
  model.Output("loss").String("reduction", "mean").Int("ignore_index", 1);
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  // Positions: (0,0) c=2 -> -3*0.1; (0,1) ignored; (1,0) c=0 -> -0*0.2; (1,1) c=2 -> -2*0.1.
  const double expected = (-0.3 - 0.0 - 0.2) / (0.1 + 0.2 + 0.1);
  EXPECT_NEAR((*result)[0].tensor().data<float>()[0], expected, 1e-6);
  EXPECT_EQ((*result)[0].tensor().shape(), core::TensorShape{});
}

TEST(NegativeLogLikelihoodLoss, AllIgnoredMeanIsNaN) {
  OpTestModel model("NegativeLogLikelihoodLoss", 13);
  model.Input("input", Tensor::FromVector<float>({-1, -2, -3, -4}, {2, 2}));
  model.Input("target", Tensor::FromVector<int64_t>({-100, -100}, {2})).Output("loss").Int("ignore_index", -100);
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_TRUE(std::isnan((*result)[0].tensor().data<float>()[0]));
}

TEST(NegativeLogLikelihoodLoss, NoneKeepsTargetShapeAndSumAddsUp) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-3, 0);
  const int64_t n = 2, c = 4, d1 = 3, d2 = 5;
  std::vector<float> input(static_cast<size_t>(n * c * d1 * d2));
  for (float& v : input) v = dist(rng);
  std::vector<int64_t> labels(static_cast<size_t>(n * d1 * d2));
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % c);
  std::vector<double> applied;
  std::vector<double> expected = ReferenceLosses(input, labels, n, c, d1 * d2, {}, false, 0, &applied);
  for (const char* reduction : {"none", "sum"}) {
    OpTestModel model("NegativeLogLikelihoodLoss", 12);
    model.Input("input", Tensor::FromVector<float>(input, {n, c, d1, d2}));
    model.Input("target", Tensor::FromVector<int64_t>(labels, {n, d1, d2}))
        .Output("loss")
        .String("reduction", reduction);
    auto session = model.Load();
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    auto result = model.Run(**session);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    const Tensor& loss = (*result)[0].tensor();
    EXPECT_EQ((*session)->outputs()[0].type.Shape(), loss.shape());
    if (std::string(reduction) == "none") {
      ASSERT_EQ(loss.shape(), (core::TensorShape{n, d1, d2}));
      for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(loss.data<float>()[i], expected[i], 1e-6);
    } else {
      double sum = 0;
      for (double v : expected) sum += v;
      EXPECT_NEAR(loss.data<float>()[0], sum, 1e-4);
    }
  }
}

TEST(NegativeLogLikelihoodLoss, ClearErrors) {
  auto run = [](const Tensor& input, const Tensor& target, const Tensor* weight, const std::string& reduction) {
    OpTestModel model("NegativeLogLikelihoodLoss", 13);
    model.Input("input", input).Input("target", target);
    if (weight) model.Input("weight", *weight);
    model.Output("loss").String("reduction", reduction);
    return model.Run();
  };
  Tensor input = Tensor::FromVector<float>({-1, -2, -3, -4, -5, -6}, {2, 3});
  auto out_of_range = run(input, Tensor::FromVector<int64_t>({0, 3}, {2}), nullptr, "mean");
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("target value 3"), std::string::npos)
      << out_of_range.status().message();
  auto negative = run(input, Tensor::FromVector<int64_t>({-1, 0}, {2}), nullptr, "mean");
  EXPECT_FALSE(negative.ok());
  Tensor bad_weight = Tensor::FromVector<float>({1, 1}, {2});
  auto weight = run(input, Tensor::FromVector<int64_t>({0, 1}, {2}), &bad_weight, "mean");
  ASSERT_FALSE(weight.ok());
  EXPECT_NE(weight.status().message().find("weight must have shape [3]"), std::string::npos);
  auto shape = run(input, Tensor::FromVector<int64_t>({0, 1, 2}, {3}), nullptr, "mean");
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.status().message().find("does not match"), std::string::npos) << shape.status().message();
  auto reduction = run(input, Tensor::FromVector<int64_t>({0, 1}, {2}), nullptr, "max");
  ASSERT_FALSE(reduction.ok());
  EXPECT_NE(reduction.status().message().find("reduction 'max'"), std::string::npos);
}

// One batch entry with many positions: crosses the kernel's 256-position tiles.
TEST(SoftmaxCrossEntropyLoss, ManyPositionsMatchReference) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-4, 4);
  const int64_t n = 2, c = 5, d = 700;
  std::vector<float> scores(static_cast<size_t>(n * c * d));
  for (float& v : scores) v = dist(rng);
  std::vector<int64_t> labels(static_cast<size_t>(n * d));
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>((i * 7) % (c + 1)) - 1;  // some -1
  std::vector<float> weights = {0.5f, 1.0f, 2.0f, 0.25f, 1.5f};
  std::vector<float> log_prob = LogSoftmax(scores, n, c, d);
  std::vector<double> applied;
  std::vector<double> losses = ReferenceLosses(log_prob, labels, n, c, d, weights, true, -1, &applied);
  double loss_sum = 0, weight_sum = 0;
  for (size_t i = 0; i < losses.size(); ++i) {
    loss_sum += losses[i];
    weight_sum += applied[i];
  }
  OpTestModel model("SoftmaxCrossEntropyLoss", 13);
  model.Input("scores", Tensor::FromVector<float>(scores, {n, c, d}));
  model.Input("labels", Tensor::FromVector<int64_t>(labels, {n, d}));
  model.Input("weights", Tensor::FromVector<float>(weights, {c}));
  model.Output("loss").Output("log_prob").Int("ignore_index", -1);
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_NEAR((*result)[0].tensor().data<float>()[0], loss_sum / weight_sum, 1e-5);
  EXPECT_TRUE(core::CompareTensors(Tensor::FromVector<float>(log_prob, {n, c, d}), (*result)[1].tensor()).ok());
}

TEST(SoftmaxCrossEntropyLoss, LargeScoresStayFinite) {
  OpTestModel model("SoftmaxCrossEntropyLoss", 13);
  model.Input("scores", Tensor::FromVector<float>({1000, 0, -1000, 1000}, {2, 2}));
  model.Input("labels", Tensor::FromVector<int64_t>({1, 0}, {2})).Output("loss").String("reduction", "none");
  auto result = model.Run();
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const float* loss = (*result)[0].tensor().data<float>();
  EXPECT_FLOAT_EQ(loss[0], 1000.0f);
  EXPECT_FLOAT_EQ(loss[1], 2000.0f);
}

TEST(SoftmaxCrossEntropyLoss, DoubleAndFloat16) {
  std::vector<float> scores = {0.1f, 0.2f, 0.7f, -1.0f, 2.0f, 0.5f};
  std::vector<float> log_prob = LogSoftmax(scores, 2, 3, 1);
  const double expected = -(log_prob[2] + log_prob[3]) / 2;  // labels 2 and 0
  {
    OpTestModel model("SoftmaxCrossEntropyLoss", 13);
    std::vector<double> doubles(scores.begin(), scores.end());
    model.Input("scores", Tensor::FromVector<double>(doubles, {2, 3}));
    model.Input("labels", Tensor::FromVector<int32_t>({2, 0}, {2})).Output("loss");
    auto result = model.Run();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ((*result)[0].tensor().dtype(), core::DataType::kFloat64);
    EXPECT_NEAR((*result)[0].tensor().data<double>()[0], expected, 1e-6);
  }
  {
    OpTestModel model("SoftmaxCrossEntropyLoss", 13);
    std::vector<core::Float16> halves;
    for (float v : scores) halves.emplace_back(v);
    model.Input("scores", Tensor::FromVector<core::Float16>(halves, {2, 3}));
    model.Input("labels", Tensor::FromVector<int64_t>({2, 0}, {2})).Output("loss");
    auto result = model.Run();
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_NEAR(static_cast<float>((*result)[0].tensor().data<core::Float16>()[0]), expected, 2e-3);
  }
}

TEST(SoftmaxCrossEntropyLoss, RejectsIntegerScores) {
  OpTestModel model("SoftmaxCrossEntropyLoss", 13);
  model.Input("scores", Tensor::FromVector<int32_t>({1, 2, 3, 4}, {2, 2}));
  model.Input("labels", Tensor::FromVector<int64_t>({1, 0}, {2})).Output("loss");
  auto result = model.Run();
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("int32"), std::string::npos) << result.status().message();
}

}  // namespace
}  // namespace berth::engine::testing

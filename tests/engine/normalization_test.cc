// BatchNormalization, InstanceNormalization, LayerNormalization,
// GroupNormalization, LRN, MeanVarianceNormalization, Softmax, LogSoftmax and
// Hardmax beyond the ONNX backend suite: other float types, old-opset
// semantics, broadcast parameters, statistics outputs, and the float32
// oneDNN paths checked against plain double references.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <span>

#include "core/tensor_compare.h"
#include "engine/onnx/model_loader.h"
#include "engine/session.h"
#include "single_node_model.h"

namespace berth::engine::testing {
namespace {

using core::DataType;
using core::Tensor;
using core::TensorShape;

// Values exactly representable in float16 and bfloat16 (multiples of 1/8).
std::vector<double> RandomValues(int64_t count, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-24, 24);
  std::vector<double> v(static_cast<size_t>(count));
  for (auto& x : v) x = dist(rng) / 8.0 * scale;
  return v;
}

void ExpectNear(const std::vector<double>& expected, const Tensor& actual, double tolerance) {
  ASSERT_EQ(static_cast<int64_t>(expected.size()), actual.element_count());
  int reported = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double a = actual.NumberAt(static_cast<int64_t>(i));
    if (std::abs(expected[i] - a) > tolerance * (1 + std::abs(expected[i])) && reported++ < 5) {
      ADD_FAILURE() << "element " << i << ": expected " << expected[i] << ", got " << a;
    }
  }
}

// Tolerance that fits T's precision.
template <typename T>
double ToleranceFor() {
  if constexpr (std::is_same_v<T, core::Float16>) return 4e-3;
  if constexpr (std::is_same_v<T, core::BFloat16>) return 2e-2;
  if constexpr (std::is_same_v<T, float>) return 1e-5;
  return 1e-12;
}

// ---------------------------------------------------------------------------
// BatchNormalization

// Reference over [N, channels, inner] with per-channel (or per-element) parameters.
std::vector<double> BatchNormReference(const std::vector<double>& x, int64_t n, int64_t channels, int64_t inner,
                                       const std::vector<double>& scale, const std::vector<double>& bias,
                                       const std::vector<double>& mean, const std::vector<double>& var, double eps) {
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t s = 0; s < inner; ++s) {
        const int64_t o = (i * channels + c) * inner + s;
        y[o] = (x[o] - mean[c]) / std::sqrt(var[c] + eps) * scale[c] + bias[c];
      }
    }
  }
  return y;
}

template <typename T>
void CheckBatchNormInference(const TensorShape& shape, int opset = 15) {
  const int64_t channels = shape[1];
  const int64_t inner = core::ElementCount(std::span<const int64_t>(shape).subspan(2));
  const auto x = RandomValues(core::ElementCount(shape), 1);
  const auto scale = RandomValues(channels, 2), bias = RandomValues(channels, 3), mean = RandomValues(channels, 4);
  std::vector<double> var = RandomValues(channels, 5);
  for (auto& v : var) v = std::abs(v) + 0.5;
  auto out = RunNode("BatchNormalization",
                     {{"x", Make<T>(shape, x)},
                      {"s", Make<T>({channels}, scale)},
                      {"b", Make<T>({channels}, bias)},
                      {"m", Make<T>({channels}, mean)},
                      {"v", Make<T>({channels}, var)}},
                     {Float("epsilon", 1e-3f)}, opset);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const auto expected = BatchNormReference(x, shape[0], channels, inner, scale, bias, mean, var, 1e-3);
  ExpectNear(expected, (*out)[0].tensor(), std::max(ToleranceFor<T>(), 1e-6) * 4);
}

TEST(BatchNormalizationKernel, InferenceInEveryFloatTypeAndRank) {
  CheckBatchNormInference<float>({2, 3, 4, 5});
  CheckBatchNormInference<float>({4, 3});              // [N, C]
  CheckBatchNormInference<float>({2, 3, 2, 2, 2});     // 3-D spatial
  CheckBatchNormInference<float>({1, 2, 2, 1, 2, 2});  // rank 6: plain path
  CheckBatchNormInference<double>({2, 3, 4});
  CheckBatchNormInference<core::Float16>({2, 3, 4, 5});
  CheckBatchNormInference<core::BFloat16>({2, 3, 4});
  CheckBatchNormInference<float>({2, 3, 4, 5}, /*opset=*/9);
}

// Opset 15 lets the statistics be of another type than X.
TEST(BatchNormalizationKernel, MixedParameterTypes) {
  const TensorShape shape{2, 2, 3};
  const auto x = RandomValues(12, 1);
  auto out = RunNode("BatchNormalization",
                     {{"x", Make<core::Float16>(shape, x)},
                      {"s", Make<float>({2}, {1, 2})},
                      {"b", Make<float>({2}, {0, 1})},
                      {"m", Make<double>({2}, {0.5, -1})},
                      {"v", Make<double>({2}, {1, 4})}},
                     {}, 15);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNear(BatchNormReference(x, 2, 2, 3, {1, 2}, {0, 1}, {0.5, -1}, {1, 4}, 1e-5), (*out)[0].tensor(), 4e-3);
}

template <typename T>
void CheckBatchNormTraining() {
  const TensorShape shape{3, 2, 5};
  const auto x = RandomValues(30, 7);
  const std::vector<double> scale = {1.5, -0.5}, bias = {0.25, 1}, mean = {0.5, -0.5}, var = {1, 2};
  const double momentum = 0.8, eps = 1e-2;
  auto out = RunNode("BatchNormalization",
                     {{"x", Make<T>(shape, x)},
                      {"s", Make<T>({2}, scale)},
                      {"b", Make<T>({2}, bias)},
                      {"m", Make<T>({2}, mean)},
                      {"v", Make<T>({2}, var)}},
                     {Int("training_mode", 1), Float("momentum", momentum), Float("epsilon", eps)}, 15, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::vector<double> batch_mean(2, 0), batch_var(2, 0), running_mean(2), running_var(2);
  for (int64_t c = 0; c < 2; ++c) {
    for (int64_t n = 0; n < 3; ++n) {
      for (int64_t s = 0; s < 5; ++s) batch_mean[c] += x[(n * 2 + c) * 5 + s] / 15.0;
    }
    for (int64_t n = 0; n < 3; ++n) {
      for (int64_t s = 0; s < 5; ++s) batch_var[c] += std::pow(x[(n * 2 + c) * 5 + s] - batch_mean[c], 2) / 15.0;
    }
    running_mean[c] = mean[c] * momentum + batch_mean[c] * (1 - momentum);
    running_var[c] = var[c] * momentum + batch_var[c] * (1 - momentum);
  }
  const double tolerance = std::max(ToleranceFor<T>(), 1e-6) * 4;
  ExpectNear(BatchNormReference(x, 3, 2, 5, scale, bias, batch_mean, batch_var, eps), (*out)[0].tensor(), tolerance);
  ExpectNear(running_mean, (*out)[1].tensor(), tolerance);
  ExpectNear(running_var, (*out)[2].tensor(), tolerance);
}

TEST(BatchNormalizationKernel, TrainingModeOutputsRunningStatistics) {
  CheckBatchNormTraining<float>();
  CheckBatchNormTraining<double>();
  CheckBatchNormTraining<core::Float16>();
}

// Before opset 9, spatial=0 gives every element of a sample its own parameters.
TEST(BatchNormalizationKernel, NonSpatialBeforeOpset9) {
  const TensorShape shape{2, 2, 3};
  const auto x = RandomValues(12, 1);
  const auto scale = RandomValues(6, 2), bias = RandomValues(6, 3), mean = RandomValues(6, 4);
  std::vector<double> var(6, 1.5);
  auto out = RunNode("BatchNormalization",
                     {{"x", Make<float>(shape, x)},
                      {"s", Make<float>({2, 3}, scale)},
                      {"b", Make<float>({2, 3}, bias)},
                      {"m", Make<float>({2, 3}, mean)},
                      {"v", Make<float>({2, 3}, var)}},
                     {Int("spatial", 0)}, 7);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNear(BatchNormReference(x, 2, 6, 1, scale, bias, mean, var, 1e-5), (*out)[0].tensor(), 1e-5);
}

TEST(BatchNormalizationKernel, RejectsParametersOfWrongLength) {
  auto out = RunNode("BatchNormalization",
                     {{"x", Make<float>({1, 3, 2}, RandomValues(6, 1))},
                      {"s", Make<float>({2}, {1, 1})},
                      {"b", Make<float>({3}, {0, 0, 0})},
                      {"m", Make<float>({3}, {0, 0, 0})},
                      {"v", Make<float>({3}, {1, 1, 1})}},
                     {}, 15);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("scale has 2 values for 3 channels"), std::string::npos)
      << out.status().message();
}

// ---------------------------------------------------------------------------
// InstanceNormalization, GroupNormalization

template <typename T>
void CheckInstanceNorm() {
  const TensorShape shape{2, 3, 7};
  const auto x = RandomValues(42, 1);
  const std::vector<double> scale = {1, -2, 0.5}, bias = {0, 1, -1};
  auto out = RunNode("InstanceNormalization",
                     {{"x", Make<T>(shape, x)}, {"s", Make<T>({3}, scale)}, {"b", Make<T>({3}, bias)}},
                     {Float("epsilon", 1e-2f)}, 6);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::vector<double> expected(x.size());
  for (int64_t r = 0; r < 6; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < 7; ++i) mean += x[r * 7 + i] / 7;
    for (int64_t i = 0; i < 7; ++i) var += std::pow(x[r * 7 + i] - mean, 2) / 7;
    for (int64_t i = 0; i < 7; ++i) {
      expected[r * 7 + i] = (x[r * 7 + i] - mean) / std::sqrt(var + 1e-2) * scale[r % 3] + bias[r % 3];
    }
  }
  ExpectNear(expected, (*out)[0].tensor(), std::max(ToleranceFor<T>(), 1e-6) * 4);
}

TEST(InstanceNormalizationKernel, FloatTypes) {
  CheckInstanceNorm<float>();
  CheckInstanceNorm<double>();
  CheckInstanceNorm<core::Float16>();
}

TEST(GroupNormalizationKernel, PerGroupAndPerChannelParameters) {
  const TensorShape shape{2, 4, 3};
  const auto x = RandomValues(24, 1);
  for (int opset : {18, 21}) {
    const int64_t count = opset == 18 ? 2 : 4;
    const auto scale = RandomValues(count, 2), bias = RandomValues(count, 3);
    auto out =
        RunNode("GroupNormalization",
                {{"x", Make<float>(shape, x)}, {"s", Make<float>({count}, scale)}, {"b", Make<float>({count}, bias)}},
                {Int("num_groups", 2), Float("epsilon", 1e-3f)}, opset);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::vector<double> expected(x.size());
    for (int64_t block = 0; block < 4; ++block) {  // [n, group] blocks of 2 channels x 3
      double mean = 0, var = 0;
      for (int64_t i = 0; i < 6; ++i) mean += x[block * 6 + i] / 6;
      for (int64_t i = 0; i < 6; ++i) var += std::pow(x[block * 6 + i] - mean, 2) / 6;
      for (int64_t i = 0; i < 6; ++i) {
        const int64_t p = opset == 18 ? block % 2 : (block % 2) * 2 + i / 3;
        expected[block * 6 + i] = (x[block * 6 + i] - mean) / std::sqrt(var + 1e-3) * scale[p] + bias[p];
      }
    }
    ExpectNear(expected, (*out)[0].tensor(), 1e-5);
  }
}

// ---------------------------------------------------------------------------
// LayerNormalization

template <typename T>
void CheckLayerNorm(const TensorShape& shape, int64_t axis, const TensorShape& scale_shape, bool with_bias,
                    int64_t stash_type = 1) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t a = axis < 0 ? axis + rank : axis;
  const int64_t rows = core::ElementCount(std::span<const int64_t>(shape).first(a));
  const int64_t cols = core::ElementCount(std::span<const int64_t>(shape).subspan(a));
  const auto x = RandomValues(rows * cols, 1);
  const auto scale = RandomValues(core::ElementCount(scale_shape), 2);
  const auto bias = RandomValues(core::ElementCount(scale_shape), 3);
  std::vector<TestInput> inputs = {{"x", Make<T>(shape, x)}, {"s", Make<T>(scale_shape, scale)}};
  if (with_bias) inputs.push_back({"b", Make<T>(scale_shape, bias)});
  auto out = RunNode("LayerNormalization", inputs,
                     {Int("axis", axis), Float("epsilon", 1e-3f), Int("stash_type", stash_type)}, 17, 3);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // Parameters broadcast over the normalized dims [cols] from the right.
  const int64_t param_count = core::ElementCount(scale_shape);
  std::vector<double> expected(x.size()), means(rows), inv_stds(rows);
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < cols; ++j) mean += x[r * cols + j] / cols;
    for (int64_t j = 0; j < cols; ++j) var += std::pow(x[r * cols + j] - mean, 2) / cols;
    means[r] = mean;
    inv_stds[r] = 1 / std::sqrt(var + 1e-3);
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t p = j % param_count;  // trailing-dim broadcast of the cases below
      expected[r * cols + j] = (x[r * cols + j] - mean) * inv_stds[r] * scale[p] + (with_bias ? bias[p] : 0);
    }
  }
  const double tolerance = std::max(ToleranceFor<T>(), 1e-6) * 4;
  ExpectNear(expected, (*out)[0].tensor(), tolerance);
  TensorShape stats_shape(shape.begin(), shape.begin() + a);
  stats_shape.resize(shape.size(), 1);
  EXPECT_EQ((*out)[1].tensor().shape(), stats_shape);
  const DataType stash = stash_type == 16 ? DataType::kBFloat16 : DataType::kFloat32;
  EXPECT_EQ((*out)[1].tensor().dtype(), stash);
  EXPECT_EQ((*out)[2].tensor().dtype(), stash);
  const double stats_tolerance = stash == DataType::kBFloat16 ? 1e-2 : tolerance;
  ExpectNear(means, (*out)[1].tensor(), stats_tolerance);
  ExpectNear(inv_stds, (*out)[2].tensor(), stats_tolerance);
}

TEST(LayerNormalizationKernel, AxesTypesAndStatistics) {
  CheckLayerNorm<float>({2, 3, 4}, -1, {4}, true);
  CheckLayerNorm<float>({2, 3, 4}, 1, {3, 4}, true);
  CheckLayerNorm<float>({2, 3, 4}, 1, {3, 4}, false);
  CheckLayerNorm<float>({2, 3, 4}, 0, {2, 3, 4}, true);
  CheckLayerNorm<double>({3, 5}, 1, {5}, true);
  CheckLayerNorm<core::Float16>({2, 8}, -1, {8}, true);
  CheckLayerNorm<core::BFloat16>({2, 8}, -1, {8}, false);
  CheckLayerNorm<float>({2, 8}, -1, {8}, true, /*stash_type=*/16);
}

// Scale and B broadcast against the normalized shape, not just match it.
TEST(LayerNormalizationKernel, BroadcastsParameters) {
  CheckLayerNorm<float>({2, 3, 4}, 1, {4}, true);     // [4] over [3,4]
  CheckLayerNorm<float>({2, 3, 4}, 1, {1, 4}, true);  // [1,4] over [3,4]
  CheckLayerNorm<double>({2, 3, 4}, 0, {4}, false);
}

TEST(LayerNormalizationKernel, RejectsScaleThatDoesNotBroadcast) {
  auto out = RunNode("LayerNormalization",
                     {{"x", Make<float>({2, 3, 4}, RandomValues(24, 1))}, {"s", Make<float>({3}, {1, 2, 3})}},
                     {Int("axis", 1)}, 17);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("does not broadcast"), std::string::npos) << out.status().message();
  out = RunNode("LayerNormalization",
                {{"x", Make<float>({2, 3}, RandomValues(6, 1))}, {"s", Make<float>({3}, {1, 2, 3})}}, {Int("axis", 2)},
                17);
  ASSERT_FALSE(out.ok());
}

// ---------------------------------------------------------------------------
// LRN, MeanVarianceNormalization

template <typename T>
void CheckLrn(const TensorShape& shape, int64_t size) {
  SCOPED_TRACE("shape " + core::ShapeToString(shape) + " size " + std::to_string(size));
  const auto x = RandomValues(core::ElementCount(shape), 1);
  const double alpha = 0.2, beta = 0.6, bias = 1.5;
  auto out = RunNode("LRN", {{"x", Make<T>(shape, x)}},
                     {Float("alpha", alpha), Float("beta", beta), Float("bias", bias), Int("size", size)}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const int64_t n = shape[0], channels = shape[1];
  const int64_t inner = core::ElementCount(std::span<const int64_t>(shape).subspan(2));
  std::vector<double> expected(x.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < channels; ++c) {
      for (int64_t s = 0; s < inner; ++s) {
        double sum = 0;
        for (int64_t k = std::max<int64_t>(0, c - (size - 1) / 2); k <= std::min<int64_t>(channels - 1, c + size / 2);
             ++k) {
          sum += std::pow(x[(i * channels + k) * inner + s], 2);
        }
        const int64_t o = (i * channels + c) * inner + s;
        expected[o] = x[o] / std::pow(bias + alpha / size * sum, beta);
      }
    }
  }
  ExpectNear(expected, (*out)[0].tensor(), std::max(ToleranceFor<T>(), 1e-6) * 4);
}

TEST(LrnKernel, WindowsRanksAndTypes) {
  CheckLrn<float>({2, 5, 3, 3}, 3);
  CheckLrn<float>({2, 6, 4}, 4);  // even size: one more channel after than before
  CheckLrn<float>({1, 4, 2, 2, 2}, 2);
  CheckLrn<float>({3, 5}, 5);  // rank 2: plain path
  CheckLrn<double>({2, 5, 3}, 3);
  CheckLrn<core::Float16>({1, 4, 3}, 3);
}

TEST(MeanVarianceNormalizationKernel, CustomAxes) {
  const TensorShape shape{2, 3, 4};
  const auto x = RandomValues(24, 1);
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{2}, {0, 2}, {0, 1, 2}, {-1, 1}}) {
    auto out = RunNode("MeanVarianceNormalization", {{"x", Make<double>(shape, x)}}, {Ints("axes", axes)}, 13);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::vector<bool> reduced(3, false);
    for (int64_t a : axes) reduced[a < 0 ? a + 3 : a] = true;
    // Group key: the kept coordinates.
    auto key = [&](int64_t i, int64_t j, int64_t k) {
      return (reduced[0] ? 0 : i) * 100 + (reduced[1] ? 0 : j) * 10 + (reduced[2] ? 0 : k);
    };
    auto key_of = [&](int64_t e) { return key(e / 12, (e / 4) % 3, e % 4); };
    std::map<int64_t, double> sums, squares, counts;
    for (int64_t e = 0; e < 24; ++e) {
      sums[key_of(e)] += x[e];
      squares[key_of(e)] += x[e] * x[e];
      counts[key_of(e)] += 1;
    }
    std::vector<double> expected(24);
    for (int64_t e = 0; e < 24; ++e) {
      const double mean = sums[key_of(e)] / counts[key_of(e)];
      const double std = std::sqrt(std::max(0.0, squares[key_of(e)] / counts[key_of(e)] - mean * mean));
      expected[e] = (x[e] - mean) / (std + 1e-9);
    }
    ExpectNear(expected, (*out)[0].tensor(), 1e-9);
  }
}

// ---------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax

enum class Kind { kSoftmax, kLogSoftmax, kHardmax };

// Reference over [outer, dim, inner].
std::vector<double> SoftmaxReference(Kind kind, const std::vector<double>& x, int64_t outer, int64_t dim,
                                     int64_t inner) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * dim + k) * inner + i; };
      double max = x[at(0)];
      int64_t argmax = 0;
      for (int64_t k = 1; k < dim; ++k) {
        if (x[at(k)] > max) {
          max = x[at(k)];
          argmax = k;
        }
      }
      double sum = 0;
      for (int64_t k = 0; k < dim; ++k) sum += std::exp(x[at(k)] - max);
      for (int64_t k = 0; k < dim; ++k) {
        if (kind == Kind::kSoftmax) y[at(k)] = std::exp(x[at(k)] - max) / sum;
        if (kind == Kind::kLogSoftmax) y[at(k)] = x[at(k)] - max - std::log(sum);
        if (kind == Kind::kHardmax) y[at(k)] = k == argmax ? 1 : 0;
      }
    }
  }
  return y;
}

template <typename T>
void CheckSoftmax(Kind kind, const TensorShape& shape, int64_t axis, int opset, double offset = 0) {
  const char* op = kind == Kind::kSoftmax ? "Softmax" : kind == Kind::kLogSoftmax ? "LogSoftmax" : "Hardmax";
  auto x = RandomValues(core::ElementCount(shape), 1, 2.0);
  for (auto& v : x) v += offset;
  auto out = RunNode(op, {{"x", Make<T>(shape, x)}}, {Int("axis", axis)}, opset);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t a = axis < 0 ? axis + rank : axis;
  std::span<const int64_t> dims(shape);
  const int64_t outer = core::ElementCount(dims.first(a));
  // Before opset 13 everything from `axis` on is one normalised row.
  const int64_t dim = opset < 13 ? core::ElementCount(dims.subspan(a)) : shape[a];
  const int64_t inner = opset < 13 ? 1 : core::ElementCount(dims.subspan(a + 1));
  ExpectNear(SoftmaxReference(kind, x, outer, dim, inner), (*out)[0].tensor(), std::max(ToleranceFor<T>(), 1e-6) * 4);
}

TEST(SoftmaxKernel, OpsetsAxesAndTypes) {
  for (Kind kind : {Kind::kSoftmax, Kind::kLogSoftmax, Kind::kHardmax}) {
    CheckSoftmax<float>(kind, {2, 3, 4}, 1, 13);
    CheckSoftmax<float>(kind, {2, 3, 4}, 1, 11);  // rows of 12
    CheckSoftmax<float>(kind, {2, 3, 4}, -2, 11);
    CheckSoftmax<float>(kind, {2, 3, 4}, 0, 1);
    CheckSoftmax<float>(kind, {2, 3, 4}, -1, 13);
    CheckSoftmax<double>(kind, {3, 5, 2}, 1, 13);
    CheckSoftmax<double>(kind, {3, 5, 2}, 1, 11);
    CheckSoftmax<core::Float16>(kind, {4, 6}, 1, 13);
    CheckSoftmax<core::BFloat16>(kind, {4, 6}, 0, 13);
  }
}

TEST(SoftmaxKernel, LargeValuesStayFinite) {
  CheckSoftmax<float>(Kind::kSoftmax, {3, 7}, 1, 13, 10000);
  CheckSoftmax<double>(Kind::kLogSoftmax, {3, 7}, 1, 13, 10000);
}

TEST(SoftmaxKernel, HardmaxPicksTheFirstMaximum) {
  auto out = RunNode("Hardmax", {{"x", Make<float>({2, 4}, {1, 3, 3, 0, 2, 2, 2, 2})}}, {}, 13);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNear({0, 1, 0, 0, 1, 0, 0, 0}, (*out)[0].tensor(), 0);
}

TEST(SoftmaxKernel, RejectsAxisOutOfRange) {
  auto out = RunNode("Softmax", {{"x", Make<float>({2, 3}, RandomValues(6, 1))}}, {Int("axis", 2)}, 13);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("axis"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace berth::engine::testing

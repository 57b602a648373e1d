// The forward pass's vector steps: each fast (AVX2/FMA/F16C) version against
// its plain one.
#include "llm/model/vector_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"

namespace berth::llm {
namespace {

bool HaveV3() { return core::DetectCpuFeatures().x86_64_v3(); }

std::vector<float> Random(size_t n, float scale, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(random);
  return v;
}

TEST(VectorMath, FastF16ConversionsAreBitExact) {
  if (!HaveV3()) GTEST_SKIP() << "this CPU lacks x86-64-v3 (AVX2, FMA, F16C)";
  std::vector<float> x = Random(1027, 3.0f, 1);
  x[0] = 65504.0f, x[1] = 65520.0f, x[2] = 1e-8f, x[3] = -6.1e-5f, x[4] = 0.0f, x[5] = -0.0f, x[6] = INFINITY;
  std::vector<uint16_t> fast(x.size()), plain(x.size());
  ToF16(true, x.data(), fast.data(), static_cast<int64_t>(x.size()));
  ToF16(false, x.data(), plain.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(fast, plain);
  std::vector<float> a = x, b = x;
  RoundToF16(true, a.data(), static_cast<int64_t>(a.size()));
  RoundToF16(false, b.data(), static_cast<int64_t>(b.size()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

TEST(VectorMath, FastExpStepsStayWithinAFewUlp) {
  if (!HaveV3()) GTEST_SKIP() << "this CPU lacks x86-64-v3 (AVX2, FMA, F16C)";
  std::vector<float> gate = Random(4099, 6.0f, 2), up = Random(4099, 1.0f, 3);
  gate[0] = -100.0f, gate[1] = 100.0f, gate[2] = -87.0f, gate[3] = 0.0f;
  std::vector<float> fast = gate, plain = gate;
  SwiGlu(true, fast.data(), up.data(), static_cast<int64_t>(gate.size()));
  SwiGlu(false, plain.data(), up.data(), static_cast<int64_t>(gate.size()));
  for (size_t i = 0; i < gate.size(); ++i) {
    EXPECT_NEAR(fast[i], plain[i], 4e-7f * std::abs(plain[i]) + 1e-30f) << "gate " << gate[i];
  }
  for (int n : {1, 7, 8, 33, 1000}) {
    std::vector<float> scores = Random(static_cast<size_t>(n), 10.0f, 4 + n);
    std::vector<float> a = scores, b = scores;
    ScaledSoftmax(true, a.data(), n, 0.125f);
    ScaledSoftmax(false, b.data(), n, 0.125f);
    double total = 0;
    for (int i = 0; i < n; ++i) {
      EXPECT_NEAR(a[i], b[i], 4e-7f * b[i] + 1e-30f);
      total += a[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-5);
  }
}

TEST(VectorMath, RmsNormSumsInDouble) {
  std::vector<float> x = {3.0f, 4.0f}, w = {1.0f, 2.0f}, y(2);
  RmsNorm(x.data(), w.data(), 0.0f, 2, y.data());
  const float scale = 1.0f / std::sqrt(12.5f);
  EXPECT_FLOAT_EQ(y[0], 3.0f * scale);
  EXPECT_FLOAT_EQ(y[1], 8.0f * scale);
}

}  // namespace
}  // namespace berth::llm

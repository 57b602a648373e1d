// Attention's sums in llama.cpp's order (ordered_sums.h): the fast path
// gives the plain one's floats bit for bit in both orders and widths, the
// weighted sum gives each column's OrderedDotF16, and both stay within a
// float sum's error of the exact dot. (That the order is llama.cpp's is
// shown against llama.cpp itself: tests/llm/llama_parity_test.py.)
#include "llm/model/ordered_sums.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/cpu_features.h"
#include "core/float16.h"

namespace berth::llm {
namespace {

std::vector<uint16_t> RandomHalves(size_t n, std::mt19937& random) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> v(n);
  for (auto& h : v) h = core::Float16::FromFloat(normal(random));
  return v;
}

double ExactDot(const uint16_t* a, const uint16_t* b, int64_t n, double* magnitude) {
  double sum = 0;
  *magnitude = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double term = static_cast<double>(core::Float16::ToFloat(a[i])) * core::Float16::ToFloat(b[i]);
    sum += term;
    *magnitude += std::fabs(term);
  }
  return sum;
}

TEST(OrderedSums, OrderFollowsTokensAndLength) {
  EXPECT_EQ(AttentionSumOrder(16, 1, 64), SumOrder::kVecDot);
  EXPECT_EQ(AttentionSumOrder(16, 2, 64), SumOrder::kTiled);
  EXPECT_EQ(AttentionSumOrder(16, 7, 24), SumOrder::kVecDot);  // tinyBLAS wants a multiple of 16
  EXPECT_EQ(AttentionSumOrder(8, 7, 24), SumOrder::kTiled);
  const int64_t width = LlamaVectorWidth();
  EXPECT_TRUE(width == 8 || width == 16);
}

TEST(OrderedSums, FastDotIsThePlainOneBitForBit) {
  if (!core::DetectCpuFeatures().x86_64_v3()) GTEST_SKIP() << "this CPU lacks x86-64-v3";
  std::mt19937 random(7);
  for (int64_t width : {8, 16}) {
    for (SumOrder order : {SumOrder::kVecDot, SumOrder::kTiled}) {
      for (int64_t n : {16, 32, 48, 64, 80, 128, 144, 256, 272}) {
        if (order == SumOrder::kTiled && n % width != 0) continue;
        const auto a = RandomHalves(n, random), b = RandomHalves(n, random);
        const float plain = OrderedDotF16(false, width, order, a.data(), b.data(), n);
        const float fast = OrderedDotF16(true, width, order, a.data(), b.data(), n);
        EXPECT_EQ(plain, fast) << "width " << width << " n " << n << " tiled " << (order == SumOrder::kTiled);
        // Several rows at once (the AVX-512 path where the CPU has it).
        std::vector<uint16_t> rows(3 * n);
        for (int64_t i = 0; i < n; ++i) rows[n + i] = b[i];
        float batch[3];
        OrderedDotsF16(true, width, order, a.data(), rows.data(), n, 3, n, batch);
        EXPECT_EQ(batch[1], plain) << "width " << width << " n " << n;
        EXPECT_EQ(batch[0], 0.0f);
        double magnitude = 0;
        const double exact = ExactDot(a.data(), b.data(), n, &magnitude);
        EXPECT_NEAR(plain, exact, (n / width + 8) * 6e-8 * magnitude);
      }
    }
  }
}

TEST(OrderedSums, OrdersDifferAsLlamaCppsDo) {
  // The same terms summed four ways do not all round alike: the orders are
  // really distinct (a sum that ignored its order would give one float).
  std::mt19937 random(11);
  int distinct = 0;
  for (int trial = 0; trial < 50; ++trial) {
    const auto a = RandomHalves(256, random), b = RandomHalves(256, random);
    const float v16 = OrderedDotF16(false, 16, SumOrder::kVecDot, a.data(), b.data(), 256);
    const float t16 = OrderedDotF16(false, 16, SumOrder::kTiled, a.data(), b.data(), 256);
    const float v8 = OrderedDotF16(false, 8, SumOrder::kVecDot, a.data(), b.data(), 256);
    const float t8 = OrderedDotF16(false, 8, SumOrder::kTiled, a.data(), b.data(), 256);
    distinct += v16 != t16 || v8 != t8 || v16 != v8;
  }
  EXPECT_GT(distinct, 10);
}

TEST(OrderedSums, WeightedSumIsEachColumnsDot) {
  std::mt19937 random(3);
  const int64_t dim = 40, stride = 48;
  for (int64_t width : {8, 16}) {
    for (SumOrder order : {SumOrder::kVecDot, SumOrder::kTiled}) {
      for (int64_t n : {1, 5, 17, 64, 100, 256}) {
        // p: rounded to F16 as attention's weights are, a few of them zero.
        std::vector<uint16_t> p16 = RandomHalves(256, random);
        for (int64_t j = n; j < 256; ++j) p16[j] = 0;
        p16[0] = 0;
        std::vector<float> p(256);
        for (int64_t j = 0; j < 256; ++j) p[j] = core::Float16::ToFloat(p16[j]);
        const auto v = RandomHalves(n * stride, random);
        std::vector<float> work(OrderedSumWorkFloats(width, dim));
        for (bool fast : {false, true}) {
          if (fast && !core::DetectCpuFeatures().x86_64_v3()) continue;
          std::vector<float> out(dim, -1.0f);
          OrderedWeightedSumF16(fast, width, order, p.data(), v.data(), stride, n, dim, out.data(), work.data());
          for (int64_t d = 0; d < dim; ++d) {
            std::vector<uint16_t> column(256, 0);
            for (int64_t j = 0; j < n; ++j) column[j] = v[j * stride + d];
            const float expected = OrderedDotF16(false, width, order, p16.data(), column.data(), 256);
            ASSERT_EQ(out[d], expected) << "width " << width << " n " << n << " d " << d << " fast " << fast;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace berth::llm

// The quantized matrix products (llm/kernels): every ISA path against the
// scalar reference, the scalar reference against a double-precision dot of
// the dequantized values, the activation conversion bit for bit across ISAs
// and against ggml's rounding rules, and the choice of ISA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "llm/gguf/dequantize.h"
#include "llm/kernels/kernel_isa.h"
#include "llm/kernels/quantized_matmul.h"

namespace berth::llm {
namespace {

constexpr double kUnitRoundoff = 1.0 / (1 << 24);  // float's unit roundoff, 2^-24

constexpr GgmlType kTypes[] = {GgmlType::kF32,  GgmlType::kF16,  GgmlType::kBF16, GgmlType::kQ8_0,
                               GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0, GgmlType::kQ5_1,
                               GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K};
constexpr KernelIsa kIsas[] = {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512,
                               KernelIsa::kAvx512Vnni};

std::string TypeName(GgmlType type) { return std::string(TraitsOf(static_cast<uint32_t>(type))->name); }

bool Available(KernelIsa isa) {
  const std::vector<KernelIsa> isas = AvailableKernelIsas();
  return std::find(isas.begin(), isas.end(), isa) != isas.end();
}

void PutHalf(uint8_t* p, uint16_t bits) { std::memcpy(p, &bits, 2); }

// A block scale as fp16 bits: mostly ordinary, also negative, zero,
// subnormal and large ones.
uint16_t RandomScale(std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const float pick = unit(rng);
  if (pick < 0.08f) return 0;
  if (pick < 0.16f) return static_cast<uint16_t>(1 + rng() % 0x3ff) | (rng() % 2 ? 0x8000 : 0);  // subnormal
  if (pick < 0.20f) return core::Float16::FromFloat(100.0f + 900.0f * unit(rng));
  const float magnitude = std::ldexp(0.5f + unit(rng), -static_cast<int>(rng() % 12));
  return core::Float16::FromFloat(pick < 0.45f ? -magnitude : magnitude);
}

// Random bytes, with a chance of an extreme fill (all 0x00, 0x80, 0x7F or 0xFF).
void RandomBytes(std::mt19937& rng, uint8_t* p, int n) {
  const int mode = static_cast<int>(rng() % 10);
  static constexpr uint8_t kExtremes[] = {0x00, 0x80, 0x7F, 0xFF};
  for (int i = 0; i < n; ++i) p[i] = mode < 4 ? kExtremes[mode] : static_cast<uint8_t>(rng());
}

std::vector<uint8_t> RandomWeights(GgmlType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  const size_t row_bytes = RowBytes(type, cols);
  std::vector<uint8_t> w(rows * row_bytes);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  if (type == GgmlType::kF32 || type == GgmlType::kF16 || type == GgmlType::kBF16) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = normal(rng) * std::ldexp(1.0f, -static_cast<int>(rng() % 8));
      if (type == GgmlType::kF32) std::memcpy(w.data() + 4 * i, &v, 4);
      if (type == GgmlType::kF16) PutHalf(w.data() + 2 * i, core::Float16::FromFloat(v));
      if (type == GgmlType::kBF16) PutHalf(w.data() + 2 * i, core::BFloat16::FromFloat(v));
    }
    return w;
  }
  const size_t block_bytes = TraitsOf(static_cast<uint32_t>(type))->type_size;
  for (size_t offset = 0; offset < w.size(); offset += block_bytes) {
    uint8_t* b = w.data() + offset;
    RandomBytes(rng, b, static_cast<int>(block_bytes));
    switch (type) {
      case GgmlType::kQ8_0:
      case GgmlType::kQ4_0:
      case GgmlType::kQ5_0:
        PutHalf(b, RandomScale(rng));
        break;
      case GgmlType::kQ4_1:
      case GgmlType::kQ5_1:
        PutHalf(b, RandomScale(rng));
        PutHalf(b + 2, RandomScale(rng));
        break;
      case GgmlType::kQ4_K:
      case GgmlType::kQ5_K:
        PutHalf(b, RandomScale(rng));
        PutHalf(b + 2, RandomScale(rng));
        RandomBytes(rng, b + 4, 12);
        break;
      case GgmlType::kQ6_K:
        RandomBytes(rng, b + 192, 16);
        PutHalf(b + 208, RandomScale(rng));
        break;
      default:
        break;
    }
  }
  return w;
}

// Activations with ordinary blocks, all-zero blocks, single spikes and
// blocks of equal magnitudes (every quant at +-127).
std::vector<float> RandomActivations(int64_t n_tokens, int64_t cols, std::mt19937& rng) {
  std::vector<float> x(n_tokens * cols);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t size = n_tokens * cols;
  for (int64_t start = 0; start < size; start += 32) {
    const int mode = static_cast<int>(rng() % 12);
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 16) - 8);
    for (int64_t i = start; i < std::min(start + 32, size); ++i) {
      switch (mode) {
        case 0:
          x[i] = 0.0f;
          break;
        case 1:
          x[i] = i == start + 7 ? -3.0f * scale : 0.0f;
          break;
        case 2:
          x[i] = rng() % 2 ? scale : -scale;
          break;
        default:
          x[i] = normal(rng) * scale;
      }
    }
  }
  return x;
}

std::vector<uint8_t> Convert(KernelIsa isa, GgmlType weight, const std::vector<float>& x, int64_t n_tokens,
                             int64_t cols) {
  const size_t row = ActivationRowBytes(weight, cols);
  std::vector<uint8_t> out(n_tokens * row, 0xCD);
  for (int64_t t = 0; t < n_tokens; ++t)
    ConvertActivations(isa, weight, x.data() + t * cols, cols, out.data() + t * row);
  return out;
}

// The float values of one converted activation row.
std::vector<float> ActivationValues(GgmlType weight, const uint8_t* row, int64_t cols) {
  std::vector<float> values(cols);
  const GgmlType type = ActivationTypeFor(weight);
  if (type == GgmlType::kQ8_K) {
    for (int64_t b = 0; b < cols / 256; ++b) {
      const uint8_t* block = row + b * 292;
      float d;
      std::memcpy(&d, block, 4);
      for (int i = 0; i < 256; ++i) values[b * 256 + i] = d * static_cast<int8_t>(block[4 + i]);
    }
  } else {
    EXPECT_TRUE(Dequantize(type, row, cols, values.data()).ok());
  }
  return values;
}

// Dequantized weights, and the magnitude of the min term each value carries
// (Q4_K/Q5_K: the value with its quants zeroed, -dmin * min; 0 otherwise).
struct WeightValues {
  std::vector<float> values, mins;
};

WeightValues WeightRowValues(GgmlType type, const uint8_t* row, int64_t cols) {
  WeightValues out{std::vector<float>(cols), std::vector<float>(cols, 0.0f)};
  EXPECT_TRUE(Dequantize(type, row, cols, out.values.data()).ok());
  if (type == GgmlType::kQ4_K || type == GgmlType::kQ5_K) {
    std::vector<uint8_t> zeroed(row, row + RowBytes(type, cols));
    const size_t block_bytes = type == GgmlType::kQ4_K ? 144 : 176;
    for (size_t b = 0; b < zeroed.size(); b += block_bytes) std::memset(zeroed.data() + b + 16, 0, block_bytes - 16);
    EXPECT_TRUE(Dequantize(type, zeroed.data(), cols, out.mins.data()).ok());
  }
  if (type == GgmlType::kQ4_1 || type == GgmlType::kQ5_1) {
    // The min alone: codes zeroed, d and m kept.
    std::vector<uint8_t> zeroed(row, row + RowBytes(type, cols));
    const size_t block_bytes = type == GgmlType::kQ4_1 ? 20 : 24;
    for (size_t b = 0; b < zeroed.size(); b += block_bytes) std::memset(zeroed.data() + b + 4, 0, block_bytes - 4);
    EXPECT_TRUE(Dequantize(type, zeroed.data(), cols, out.mins.data()).ok());
  }
  return out;
}

struct Reference {
  double dot;        // in double, of the dequantized values
  double magnitude;  // sum of |terms|: |w| |a| plus |min| |a|
};

Reference ReferenceDot(const WeightValues& w, const std::vector<float>& a) {
  Reference ref{0.0, 0.0};
  for (size_t i = 0; i < a.size(); ++i) {
    ref.dot += static_cast<double>(w.values[i]) * a[i];
    ref.magnitude += (std::fabs(static_cast<double>(w.values[i])) + 2 * std::fabs(w.mins[i])) * std::fabs(a[i]);
  }
  return ref;
}

// How far an ISA path may be from the scalar one: float additions per result
// (each lane of an accumulator sums one term per 8 columns, or two per
// block) plus a margin for the final reduction, times float's unit
// roundoff, times the sum of the terms' magnitudes. At the sizes below that
// is 1e-6 to 3e-6 of the magnitude.
double SimdTolerance(GgmlType type, int64_t cols, double magnitude) {
  const int64_t block = MatMulBlockSize(type);
  const int64_t additions = block == 1 ? cols / 8 : 2 * cols / block;
  return (additions + 16) * kUnitRoundoff * magnitude + 1e-30;
}

struct Case {
  GgmlType type;
  KernelIsa isa;
};

class MatMulIsa : public ::testing::TestWithParam<Case> {};

TEST_P(MatMulIsa, MatchesScalarAndScalarMatchesDouble) {
  const Case c = GetParam();
  if (!Available(c.isa)) GTEST_SKIP() << "this CPU lacks " << KernelIsaName(c.isa);
  std::mt19937 rng(1234 + static_cast<int>(c.type) * 7 + static_cast<int>(c.isa));
  const int64_t block = MatMulBlockSize(c.type);
  const int64_t cols = block == 256 ? 768 : block == 32 ? 352 : 203;  // 203: a tail after the 8- and 16-wide loops
  const int64_t rows = 21;
  const std::vector<uint8_t> w = RandomWeights(c.type, rows, cols, rng);
  const size_t row_bytes = RowBytes(c.type, cols);
  std::vector<WeightValues> w_values;
  for (int64_t r = 0; r < rows; ++r) w_values.push_back(WeightRowValues(c.type, w.data() + r * row_bytes, cols));

  for (int64_t n_tokens : {1, 2, 3, 7, 16, 33}) {
    const std::vector<float> x = RandomActivations(n_tokens, cols, rng);
    const std::vector<uint8_t> act = Convert(KernelIsa::kScalar, c.type, x, n_tokens, cols);
    const size_t act_row = ActivationRowBytes(c.type, cols);
    for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, rows}, {3, 16}, {5, 6}, {1, 20}}) {
      SCOPED_TRACE(testing::Message() << "tokens " << n_tokens << ", rows [" << begin << ", " << end << ")");
      const int64_t stride = rows + 3;
      const float kUntouched = -12345.0f;
      std::vector<float> y(n_tokens * stride, kUntouched), y_scalar(n_tokens * stride, kUntouched);
      MatMul(c.isa, c.type, w.data(), cols, begin, end, act.data(), n_tokens, y.data(), stride);
      MatMul(KernelIsa::kScalar, c.type, w.data(), cols, begin, end, act.data(), n_tokens, y_scalar.data(), stride);
      int failures = 0;
      for (int64_t t = 0; t < n_tokens; ++t) {
        const std::vector<float> a = ActivationValues(c.type, act.data() + t * act_row, cols);
        for (int64_t r = 0; r < stride; ++r) {
          const float got = y[t * stride + r], scalar = y_scalar[t * stride + r];
          if (r < begin || r >= end) {
            EXPECT_EQ(got, kUntouched) << "row " << r << " outside the range was written";
            continue;
          }
          const Reference ref = ReferenceDot(w_values[r], a);
          // The scalar path is exact in its integers and adds in double: it
          // differs from the double dot of the dequantized values only by
          // the roundings of the dequantization and of its float result.
          // Q8_0 sums in ggml's float order instead, the K-quants in the
          // one order of quantized_matmul.h (a float chain over the blocks),
          // and every ISA must give their floats exactly, whatever the path
          // (one token, tiles, panels).
          const bool ggml_order = c.type == GgmlType::kQ8_0 || block == 256;
          const double scalar_error = std::fabs(scalar - ref.dot);
          const double simd_error = std::fabs(static_cast<double>(got) - scalar);
          const double scalar_bound =
              ggml_order ? SimdTolerance(c.type, cols, ref.magnitude) : 4 * kUnitRoundoff * ref.magnitude + 1e-30;
          const double simd_bound = ggml_order ? 0.0 : SimdTolerance(c.type, cols, ref.magnitude);
          if ((scalar_error > scalar_bound || simd_error > simd_bound) && failures++ < 5) {
            ADD_FAILURE() << "row " << r << " token " << t << ": " << KernelIsaName(c.isa) << " " << got << ", scalar "
                          << scalar << ", double " << ref.dot << ", sum of |terms| " << ref.magnitude;
          }
        }
      }
    }
  }
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (GgmlType type : kTypes)
    for (KernelIsa isa : kIsas) cases.push_back({type, isa});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(TypesAndIsas, MatMulIsa, ::testing::ValuesIn(AllCases()), [](const auto& info) {
  return TypeName(info.param.type) + "_" + std::string(KernelIsaName(info.param.isa));
});

// Rows long enough that the prompt-processing loop cuts the tokens into
// several passes over the rows (the activation rows no longer fit in L2).
TEST(MatMulLongRows, ChunkedTokensMatchScalar) {
  std::mt19937 rng(99);
  for (GgmlType type : {GgmlType::kF32, GgmlType::kQ8_0, GgmlType::kQ4_K}) {
    const int64_t cols = type == GgmlType::kF32 ? 8192 : 16384, rows = 6, n_tokens = 33;
    const std::vector<uint8_t> w = RandomWeights(type, rows, cols, rng);
    const std::vector<float> x = RandomActivations(n_tokens, cols, rng);
    const std::vector<uint8_t> act = Convert(KernelIsa::kScalar, type, x, n_tokens, cols);
    std::vector<float> expected(n_tokens * rows);
    MatMul(KernelIsa::kScalar, type, w.data(), cols, 0, rows, act.data(), n_tokens, expected.data(), rows);
    for (KernelIsa isa : AvailableKernelIsas()) {
      std::vector<float> y(n_tokens * rows);
      MatMul(isa, type, w.data(), cols, 0, rows, act.data(), n_tokens, y.data(), rows);
      for (int64_t t = 0; t < n_tokens; ++t) {
        const std::vector<float> a = ActivationValues(type, act.data() + t * ActivationRowBytes(type, cols), cols);
        for (int64_t r = 0; r < rows; ++r) {
          const Reference ref = ReferenceDot(WeightRowValues(type, w.data() + r * RowBytes(type, cols), cols), a);
          const double bound = type == GgmlType::kF32 ? SimdTolerance(type, cols, ref.magnitude) : 0.0;
          EXPECT_NEAR(y[t * rows + r], expected[t * rows + r], bound)
              << TypeName(type) << " " << KernelIsaName(isa) << " row " << r << " token " << t;
        }
      }
    }
  }
}

class ConvertIsa : public ::testing::TestWithParam<Case> {};

TEST_P(ConvertIsa, SameBytesAsScalar) {
  const Case c = GetParam();
  if (!Available(c.isa)) GTEST_SKIP() << "this CPU lacks " << KernelIsaName(c.isa);
  std::mt19937 rng(7 + static_cast<int>(c.type));
  const int64_t cols = MatMulBlockSize(c.type) == 1 ? 1000 + 13 : 1024;
  std::vector<float> x = RandomActivations(3, cols, rng);
  // Values that land on ties and on the edges of fp16/bf16.
  const float specials[] = {65504.0f, 65520.0f,        -65536.0f,      6.1e-5f, 5.9e-8f, 3.0e-8f,
                            -1e-40f,  1.0f + 0x1p-11f, 1.0f + 0x1p-8f, 0.0f,    -0.0f};
  for (size_t i = 0; i < std::size(specials); ++i) x[cols + 100 + i] = specials[i];
  const std::vector<uint8_t> scalar = Convert(KernelIsa::kScalar, c.type, x, 3, cols);
  const std::vector<uint8_t> got = Convert(c.isa, c.type, x, 3, cols);
  ASSERT_EQ(got.size(), scalar.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], scalar[i]) << TypeName(c.type) << " byte " << i << " of " << got.size();
  }
}

INSTANTIATE_TEST_SUITE_P(TypesAndIsas, ConvertIsa, ::testing::ValuesIn(AllCases()), [](const auto& info) {
  return TypeName(info.param.type) + "_" + std::string(KernelIsaName(info.param.isa));
});

// ggml's rounding rules, on every ISA: Q8_0 rounds half to even (its AVX
// path), Q8_K takes the sign of the first value of largest magnitude.
TEST(ConvertActivations, FollowsGgmlRounding) {
  for (KernelIsa isa : AvailableKernelIsas()) {
    SCOPED_TRACE(std::string(KernelIsaName(isa)));
    std::vector<float> x(32, 0.0f);
    x[0] = 127.0f;  // d = 1, 1/d = 1
    x[1] = 2.5f;
    x[2] = 3.5f;
    x[3] = -2.5f;
    x[4] = 0.49f;
    std::vector<uint8_t> q8_0(34);
    ConvertActivations(isa, GgmlType::kQ8_0, x.data(), 32, q8_0.data());
    EXPECT_EQ(core::Float16::ToFloat(static_cast<uint16_t>(q8_0[0] | q8_0[1] << 8)), 1.0f);
    EXPECT_EQ(static_cast<int8_t>(q8_0[2 + 0]), 127);
    EXPECT_EQ(static_cast<int8_t>(q8_0[2 + 1]), 2);
    EXPECT_EQ(static_cast<int8_t>(q8_0[2 + 2]), 4);
    EXPECT_EQ(static_cast<int8_t>(q8_0[2 + 3]), -2);
    EXPECT_EQ(static_cast<int8_t>(q8_0[2 + 4]), 0);

    std::vector<float> k(256, 1.0f);
    k[3] = -5.0f;
    k[10] = 5.0f;
    std::vector<uint8_t> q8_k(292);
    ConvertActivations(isa, GgmlType::kQ4_K, k.data(), 256, q8_k.data());
    float d;
    std::memcpy(&d, q8_k.data(), 4);
    EXPECT_FLOAT_EQ(d, 5.0f / 127.0f);
    EXPECT_EQ(static_cast<int8_t>(q8_k[4 + 3]), -127);
    EXPECT_EQ(static_cast<int8_t>(q8_k[4 + 10]), 127);
    EXPECT_EQ(static_cast<int8_t>(q8_k[4 + 0]), 25);  // 1 * 127 / 5 = 25.4
    int16_t bsum0;
    std::memcpy(&bsum0, q8_k.data() + 260, 2);
    EXPECT_EQ(bsum0, 14 * 25 + 127 - 127);

    std::vector<uint8_t> zeros(292, 0xAB);
    std::vector<float> z(256, 0.0f);
    ConvertActivations(isa, GgmlType::kQ6_K, z.data(), 256, zeros.data());
    EXPECT_TRUE(std::all_of(zeros.begin(), zeros.end(), [](uint8_t b) { return b == 0; }));
  }
}

TEST(QuantizedMatMul, SizesAndActivationTypes) {
  EXPECT_EQ(ActivationTypeFor(GgmlType::kF32), GgmlType::kF32);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kF16), GgmlType::kF16);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kBF16), GgmlType::kBF16);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ8_0), GgmlType::kQ8_0);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ4_0), GgmlType::kQ8_0);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ4_K), GgmlType::kQ8_K);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ5_K), GgmlType::kQ8_K);
  EXPECT_EQ(ActivationTypeFor(GgmlType::kQ6_K), GgmlType::kQ8_K);
  EXPECT_EQ(RowBytes(GgmlType::kQ4_0, 2048), 2048u / 32 * 18);
  EXPECT_EQ(RowBytes(GgmlType::kQ6_K, 2048), 2048u / 256 * 210);
  EXPECT_EQ(ActivationRowBytes(GgmlType::kQ4_0, 2048), 2048u / 32 * 34);
  EXPECT_EQ(ActivationRowBytes(GgmlType::kQ5_K, 2048), 2048u / 256 * 292);
  EXPECT_EQ(ActivationRowBytes(GgmlType::kBF16, 100), 200u);
  EXPECT_FALSE(IsMatMulWeightType(GgmlType::kQ2_K));
  EXPECT_TRUE(IsMatMulWeightType(GgmlType::kQ6_K));
  // An unsupported type writes NaN rather than reading the weights as something else.
  std::vector<float> y(4, 1.0f);
  std::vector<uint8_t> any(4096);
  MatMul(KernelIsa::kScalar, GgmlType::kQ2_K, any.data(), 256, 1, 3, any.data(), 1, y.data(), 4);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_TRUE(std::isnan(y[1]) && std::isnan(y[2]));
  EXPECT_EQ(y[3], 1.0f);
}

core::CpuFeatures FeaturesUpTo(KernelIsa best) {
  core::CpuFeatures f;
  f.architecture = "x86_64";
  f.model_name = "Test CPU";
  f.avx = f.avx2 = f.fma = f.f16c = best != KernelIsa::kScalar;
  f.avx_vnni = best == KernelIsa::kAvxVnni || best == KernelIsa::kAvx512Vnni;
  f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = best == KernelIsa::kAvx512 || best == KernelIsa::kAvx512Vnni;
  f.avx512_vnni = best == KernelIsa::kAvx512Vnni;
  return f;
}

TEST(KernelIsaChoice, NamesRoundTrip) {
  for (KernelIsa isa : kIsas) {
    auto chosen = ChooseKernelIsa(KernelIsaName(isa), FeaturesUpTo(KernelIsa::kAvx512Vnni), core::IsaCeiling::kAll);
    ASSERT_TRUE(chosen.ok()) << chosen.status().ToString();
    EXPECT_EQ(*chosen, isa);
  }
  auto upper = ChooseKernelIsa("AVX2", FeaturesUpTo(KernelIsa::kAvx2), core::IsaCeiling::kAll);
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, KernelIsa::kAvx2);
}

TEST(KernelIsaChoice, RejectsUnknownNamesAndMissingFeatures) {
  auto unknown = ChooseKernelIsa("avx1024", FeaturesUpTo(KernelIsa::kAvx512Vnni), core::IsaCeiling::kAll);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("'avx1024' is not one of scalar, avx2, avx512, avx512vnni, avxvnni"),
            std::string::npos)
      << unknown.status().message();

  auto lacking = ChooseKernelIsa("avx512vnni", FeaturesUpTo(KernelIsa::kAvx512), core::IsaCeiling::kAll);
  ASSERT_FALSE(lacking.ok());
  EXPECT_EQ(lacking.status().code(), core::StatusCode::kInvalidArgument);
  EXPECT_NE(lacking.status().message().find("cannot run the avx512vnni kernels"), std::string::npos)
      << lacking.status().message();

  auto old_cpu = ChooseKernelIsa("avx2", FeaturesUpTo(KernelIsa::kScalar), core::IsaCeiling::kAll);
  EXPECT_FALSE(old_cpu.ok());
  auto no_avx512_for_avxvnni = ChooseKernelIsa("avxvnni", FeaturesUpTo(KernelIsa::kAvx512), core::IsaCeiling::kAll);
  EXPECT_FALSE(no_avx512_for_avxvnni.ok());

  auto above_ceiling = ChooseKernelIsa("avx512", FeaturesUpTo(KernelIsa::kAvx512Vnni), core::IsaCeiling::kAvx2);
  ASSERT_FALSE(above_ceiling.ok());
  EXPECT_NE(above_ceiling.status().message().find("BERTH_MAX_CPU_ISA=avx2"), std::string::npos);
}

TEST(KernelIsaChoice, BestAllowedWhenNothingIsForced) {
  auto best = [](KernelIsa cpu, core::IsaCeiling ceiling) {
    auto chosen = ChooseKernelIsa("", FeaturesUpTo(cpu), ceiling);
    EXPECT_TRUE(chosen.ok());
    return chosen.ok() ? *chosen : KernelIsa::kScalar;
  };
  EXPECT_EQ(best(KernelIsa::kAvx512Vnni, core::IsaCeiling::kAll), KernelIsa::kAvx512Vnni);
  EXPECT_EQ(best(KernelIsa::kAvx512Vnni, core::IsaCeiling::kAvx512), KernelIsa::kAvx512Vnni);
  EXPECT_EQ(best(KernelIsa::kAvx512Vnni, core::IsaCeiling::kAvx2), KernelIsa::kAvx2);
  EXPECT_EQ(best(KernelIsa::kAvx512Vnni, core::IsaCeiling::kSse41), KernelIsa::kScalar);
  EXPECT_EQ(best(KernelIsa::kAvx512, core::IsaCeiling::kAll), KernelIsa::kAvx512);
  EXPECT_EQ(best(KernelIsa::kAvxVnni, core::IsaCeiling::kAll), KernelIsa::kAvxVnni);
  EXPECT_EQ(best(KernelIsa::kAvx2, core::IsaCeiling::kAll), KernelIsa::kAvx2);
  EXPECT_EQ(best(KernelIsa::kScalar, core::IsaCeiling::kAll), KernelIsa::kScalar);
}

TEST(KernelIsaChoice, AvailableStartsWithScalarAndSelectionIsAvailable) {
  const std::vector<KernelIsa> isas = AvailableKernelIsas();
  ASSERT_FALSE(isas.empty());
  EXPECT_EQ(isas.front(), KernelIsa::kScalar);
  auto selected = SelectKernelIsa();
  if (selected.ok()) {
    EXPECT_TRUE(Available(*selected));
  }
}

}  // namespace
}  // namespace berth::llm

namespace berth::llm {
namespace {

// llama.cpp's two orders for float products (see llm/model/ordered_sums.h),
// written out here independently of the kernels: tinyBLAS (several tokens)
// puts column c in lane c % W and halves the lanes; ggml_vec_dot_f16 (one
// token, W = 16) keeps four accumulators over steps of 64 and adds the rest
// in double.
float TiledSum(const std::vector<float>& w, const std::vector<float>& a, int64_t width) {
  std::vector<float> lanes(width, 0.0f);
  for (size_t c = 0; c < w.size(); ++c) lanes[c % width] = std::fma(w[c], a[c], lanes[c % width]);
  for (int64_t half = width / 2; half >= 1; half /= 2) {
    for (int64_t i = 0; i < half; ++i) lanes[i] += lanes[i + half];
  }
  return lanes[0];
}

float VecDotSum16(const std::vector<float>& w, const std::vector<float>& a) {
  float acc[4][16] = {};
  const size_t whole = w.size() / 64 * 64;
  for (size_t c = 0; c < whole; ++c) acc[(c / 16) % 4][c % 16] = std::fma(w[c], a[c], acc[(c / 16) % 4][c % 16]);
  std::vector<float> lanes(16);
  for (int l = 0; l < 16; ++l) lanes[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  for (int half = 8; half >= 1; half /= 2) {
    for (int i = 0; i < half; ++i) lanes[i] += lanes[i + half];
  }
  double sum = lanes[0];
  for (size_t c = whole; c < w.size(); ++c) sum += static_cast<double>(w[c] * a[c]);
  return static_cast<float>(sum);
}

// F16 and F32 weights in the SIMD kernels give llama.cpp's floats bit for
// bit where berth promises them: prompt panels (8 tokens and more) on every
// ISA, at the width of llama.cpp's build for this CPU; with the AVX-512
// kernels on an AVX-512 CPU also one token (F16) and the small tiles.
TEST(MatMulLlamaOrder, FloatWeightsSumAsLlamaCpp) {
  std::mt19937 rng(5);
  const int64_t width = LlamaVectorWidth();
  int products = 0;  // matrix products checked
  for (GgmlType type : {GgmlType::kF16, GgmlType::kF32}) {
    for (int64_t cols : {896, 2048 + 512, 200}) {
      const int64_t rows = 37;
      const std::vector<uint8_t> w = RandomWeights(type, rows, cols, rng);
      for (KernelIsa isa : AvailableKernelIsas()) {
        if (isa == KernelIsa::kScalar) continue;
        const bool wide = (isa == KernelIsa::kAvx512 || isa == KernelIsa::kAvx512Vnni) && width == 16;
        for (int64_t n_tokens : {1, 3, 8, 19}) {
          const bool panel = n_tokens >= 8;
          const bool tiled = n_tokens >= 2 && cols % width == 0;
          if (!(panel && tiled) && !(wide && type == GgmlType::kF16 && (n_tokens == 1 || tiled))) continue;
          const std::vector<float> x = RandomActivations(n_tokens, cols, rng);
          const std::vector<uint8_t> act = Convert(isa, type, x, n_tokens, cols);
          std::vector<float> y(n_tokens * rows);
          MatMul(isa, type, w.data(), cols, 0, rows, act.data(), n_tokens, y.data(), rows);
          ++products;
          for (int64_t t = 0; t < n_tokens; ++t) {
            const std::vector<float> a = ActivationValues(type, act.data() + t * ActivationRowBytes(type, cols), cols);
            for (int64_t r = 0; r < rows; ++r) {
              const std::vector<float> wr = WeightRowValues(type, w.data() + r * RowBytes(type, cols), cols).values;
              const float expected = tiled ? TiledSum(wr, a, width) : VecDotSum16(wr, a);
              ASSERT_EQ(y[t * rows + r], expected) << TypeName(type) << " " << KernelIsaName(isa) << " cols " << cols
                                                   << " tokens " << n_tokens << " row " << r << " token " << t;
            }
          }
        }
      }
    }
  }
  // At least the panels of every SIMD ISA, for both types and two widths.
  EXPECT_GE(products, 2 * 2 * 2);
  std::printf("%d products checked (llama.cpp width %d)\n", products, static_cast<int>(width));
}

// MatMulDecodeBatch: every token's results bit for bit those of MatMul with
// that token alone, on every ISA, at token counts through and past the
// kernels' token tiles, on whole row streams and on the rows left over.
TEST_P(MatMulIsa, DecodeBatchRowsEqualOneTokenCalls) {
  const Case c = GetParam();
  if (!Available(c.isa)) GTEST_SKIP() << "this CPU lacks " << KernelIsaName(c.isa);
  std::mt19937 rng(4321 + static_cast<int>(c.type) * 7 + static_cast<int>(c.isa));
  const int64_t block = MatMulBlockSize(c.type);
  // 11 blocks of 32: the 512-bit kernels' steps of 8, 4 and 2 blocks and a
  // last odd one; 203 floats: tails after the 8-, 16- and 64-wide loops.
  const int64_t cols = block == 256 ? 768 : block == 32 ? 352 : 203;
  const int64_t rows = 75;
  const std::vector<uint8_t> w = RandomWeights(c.type, rows, cols, rng);
  const size_t act_row = ActivationRowBytes(c.type, cols);
  for (int64_t n_tokens : {1, 2, 3, 4, 5, 8, 9, 16}) {
    const std::vector<float> x = RandomActivations(n_tokens, cols, rng);
    const std::vector<uint8_t> act = Convert(c.isa, c.type, x, n_tokens, cols);
    for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, rows}, {32, 75}, {5, 6}, {1, 40}}) {
      SCOPED_TRACE(testing::Message() << "tokens " << n_tokens << ", rows [" << begin << ", " << end << ")");
      const float kUntouched = -12345.0f;
      std::vector<float> batched(n_tokens * rows, kUntouched), alone(n_tokens * rows, kUntouched);
      MatMulDecodeBatch(c.isa, c.type, w.data(), cols, begin, end, act.data(), n_tokens, batched.data(), rows);
      for (int64_t t = 0; t < n_tokens; ++t) {
        MatMul(c.isa, c.type, w.data(), cols, begin, end, act.data() + t * act_row, 1, alone.data() + t * rows, rows);
      }
      ASSERT_EQ(std::memcmp(batched.data(), alone.data(), batched.size() * sizeof(float)), 0);
    }
  }
}

}  // namespace
}  // namespace berth::llm

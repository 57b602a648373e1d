#include "llm/model/vector_math.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/float16.h"
#include "llm/kernels/kernel_isa.h"

namespace berth::llm {
namespace {

#if defined(__x86_64__)
#define BERTH_V3 __attribute__((target("avx2,fma,f16c")))

BERTH_V3 float HorizontalSum(__m256 v) {
  __m128 low = _mm256_castps256_ps128(v);
  __m128 high = _mm256_extractf128_ps(v, 1);
  low = _mm_add_ps(low, high);
  low = _mm_add_ps(low, _mm_movehl_ps(low, low));
  low = _mm_add_ss(low, _mm_movehdup_ps(low));
  return _mm_cvtss_f32(low);
}

BERTH_V3 float DotF32V3(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  float sum = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

BERTH_V3 void ToF16V3(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = core::Float16::FromFloat(x[i]);
}

BERTH_V3 void RoundToF16V3(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i half = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(half));
  }
  for (; i < n; ++i) x[i] = core::Float16::ToFloat(core::Float16::FromFloat(x[i]));
}

// exp as llama.cpp's CPU backend computes it in softmax and SiLU (its
// ggml_v_expf, after ARM's optimized-routines expf): n = round(x / ln2) by
// the 1.5 * 2^23 shift, b = x - n ln2 in two parts, a degree-5 polynomial
// j(b), then 2^n (1 + j). Its AVX2 build rounds k + k j in one FMA; its
// AVX-512 build rounds 1 + j first and scales exactly (vscalefps) — the two
// differ in the last bit now and then, and a last bit is enough to flip a
// Q8_0 activation's rounding. berth follows the build llama.cpp picks for
// the CPU (AVX-512 F+DQ or not), in every kernel ISA; greedy decoding then
// gives the same tokens.
constexpr float kShift = 0x1.8p23f, kLog2e = 0x1.715476p+0f, kLn2High = 0x1.62e4p-1f, kLn2Low = 0x1.7f7d1cp-20f;
constexpr float kC5 = 0x1.0e4020p-7f, kC4 = 0x1.573e2ep-5f, kC3 = 0x1.555e66p-3f, kC2 = 0x1.fffdb6p-2f,
                kC1 = 0x1.ffffecp-1f;

uint32_t Bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
float FromBits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

float ExpLikeLlamaScalar(float x, bool avx512_style) {
  const float z = std::fma(x, kLog2e, kShift);
  const float n = z - kShift;
  const float b = std::fma(-n, kLn2Low, std::fma(-n, kLn2High, x));
  const float u = b * b;
  const float poly = std::fma(std::fma(kC5, b, kC4), u, std::fma(kC3, b, kC2));
  if (avx512_style) {
    if (std::abs(n) > 192) return n <= 0 ? 0.0f : INFINITY;
    const float j = std::fma(poly, u, std::fma(kC1, b, 1.0f));
    return std::ldexp(j, static_cast<int>(n));
  }
  const float j = std::fma(poly, u, kC1 * b);
  const uint32_t e = Bits(z) << 23;
  const float k = FromBits(e + Bits(1.0f));
  if (!(std::abs(n) > 126)) return std::fma(j, k, k);
  const uint32_t g = n <= 0 ? 0x82000000u : 0u;
  const float s1 = FromBits(g + 0x7f000000u);
  const float s2 = FromBits(e - g);
  if (std::abs(n) > 192) return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

#if defined(__x86_64__)
// Eight lanes of ExpLikeLlamaScalar; lanes outside the common range take
// the scalar function.
BERTH_V3 __m256 ExpLikeLlamaV3(__m256 x, bool avx512_style) {
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(kLog2e), _mm256_set1_ps(kShift));
  const __m256 n = _mm256_sub_ps(z, _mm256_set1_ps(kShift));
  const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Low), _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2High), x));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 poly = _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(kC5), b, _mm256_set1_ps(kC4)), u,
                                      _mm256_fmadd_ps(_mm256_set1_ps(kC3), b, _mm256_set1_ps(kC2)));
  const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  __m256 result, outside;
  if (avx512_style) {
    const __m256 j = _mm256_fmadd_ps(poly, u, _mm256_fmadd_ps(_mm256_set1_ps(kC1), b, _mm256_set1_ps(1.0f)));
    // 2^n exactly where n is a normal exponent: then j * 2^n rounds once, as vscalefps does.
    result = _mm256_mul_ps(j, _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f)))));
    outside = _mm256_or_ps(_mm256_cmp_ps(n, _mm256_set1_ps(-126.0f), _CMP_LT_OQ),
                           _mm256_cmp_ps(n, _mm256_set1_ps(127.0f), _CMP_GT_OQ));
  } else {
    const __m256 j = _mm256_fmadd_ps(poly, u, _mm256_mul_ps(_mm256_set1_ps(kC1), b));
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    result = _mm256_fmadd_ps(j, k, k);
    outside = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
  }
  if (_mm256_movemask_ps(outside)) {
    alignas(32) float in[8], out[8];
    _mm256_store_ps(in, x);
    _mm256_store_ps(out, result);
    const int mask = _mm256_movemask_ps(outside);
    for (int lane = 0; lane < 8; ++lane) {
      if (mask & (1 << lane)) out[lane] = ExpLikeLlamaScalar(in[lane], avx512_style);
    }
    result = _mm256_load_ps(out);
  }
  return result;
}

BERTH_V3 void SwiGluV3(float* gate, const float* up, int64_t chunked, bool avx512_style) {
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < chunked; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = ExpLikeLlamaV3(_mm256_sub_ps(_mm256_setzero_ps(), g), avx512_style);
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
}

BERTH_V3 void ExpShiftedV3(float* x, int64_t chunked, float max, bool avx512_style) {
  const __m256 vm = _mm256_set1_ps(max);
  for (int64_t i = 0; i < chunked; i += 8) {
    _mm256_storeu_ps(x + i, ExpLikeLlamaV3(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), avx512_style));
  }
}
#endif

// Which of llama.cpp's builds this CPU gets (kernels/kernel_isa.h), and its
// vector width.
bool Avx512Style() { return LlamaVectorWidth() == 16; }
int64_t ChunkWidth() { return LlamaVectorWidth(); }

BERTH_V3 void AxpyF32V3(float a, const float* x, float* y, int64_t n) {
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * x[i];
}
#endif

}  // namespace

void RmsNorm(const float* x, const float* weight, float eps, int64_t n, float* y) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  if (weight) {
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * weight[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
  }
}

float DotF32(bool fast, const float* a, const float* b, int64_t n) {
#if defined(__x86_64__)
  if (fast) return DotF32V3(a, b, n);
#endif
  (void)fast;
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void AxpyF32(bool fast, float a, const float* x, float* y, int64_t n) {
#if defined(__x86_64__)
  if (fast) return AxpyF32V3(a, x, y, n);
#endif
  (void)fast;
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void ScaledSoftmax(bool fast, float* x, int64_t n, float scale) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    x[i] *= scale;
    max = std::max(max, x[i]);
  }
  // Everything through the polynomial in chunks, and the sum as llama.cpp
  // takes it: each chunk's lanes added pairwise (halves, then quarters, ...)
  // in float, the chunks in double. llama.cpp's rows are its cache length
  // (a multiple of 256), the positions past n masked to zero, so a last
  // partial chunk is padded with zeros here.
  const bool avx512_style = Avx512Style();
  const int64_t width = ChunkWidth(), chunked = n / width * width;
  float tail[16];
  const int64_t rest = n - chunked;
  std::copy(x + chunked, x + n, tail);
  std::fill(tail + rest, tail + width, max);
#if defined(__x86_64__)
  if (fast) {
    ExpShiftedV3(x, chunked, max, avx512_style);
    ExpShiftedV3(tail, rest > 0 ? width : 0, max, avx512_style);
  } else
#endif
  {
    for (int64_t i = 0; i < chunked; ++i) x[i] = ExpLikeLlamaScalar(x[i] - max, avx512_style);
    for (int64_t i = 0; i < rest; ++i) tail[i] = ExpLikeLlamaScalar(tail[i] - max, avx512_style);
  }
  std::fill(tail + rest, tail + width, 0.0f);
  std::copy(tail, tail + rest, x + chunked);
  double sum = 0;
  float lanes[16];
  for (int64_t i = 0; i < n; i += width) {
    const float* chunk = i < chunked ? x + i : tail;
    std::copy(chunk, chunk + width, lanes);
    for (int64_t half = width / 2; half >= 1; half /= 2) {
      for (int64_t l = 0; l < half; ++l) lanes[l] += lanes[l + half];
    }
    sum += lanes[0];
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inverse;
}

void SwiGlu(bool fast, float* gate, const float* up, int64_t n) {
  const bool avx512_style = Avx512Style();
  const int64_t chunked = n / ChunkWidth() * ChunkWidth();
#if defined(__x86_64__)
  if (fast) {
    SwiGluV3(gate, up, chunked, avx512_style);
  } else
#endif
  {
    for (int64_t i = 0; i < chunked; ++i) {
      gate[i] = gate[i] / (1.0f + ExpLikeLlamaScalar(-gate[i], avx512_style)) * up[i];
    }
  }
  for (int64_t i = chunked; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void ToF16(bool fast, const float* x, uint16_t* y, int64_t n) {
#if defined(__x86_64__)
  if (fast) return ToF16V3(x, y, n);
#endif
  for (int64_t i = 0; i < n; ++i) y[i] = core::Float16::FromFloat(x[i]);
}

void RoundToF16(bool fast, float* x, int64_t n) {
#if defined(__x86_64__)
  if (fast) return RoundToF16V3(x, n);
#endif
  for (int64_t i = 0; i < n; ++i) x[i] = core::Float16::ToFloat(core::Float16::FromFloat(x[i]));
}

}  // namespace berth::llm

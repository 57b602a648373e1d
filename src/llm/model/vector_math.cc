#include "llm/model/vector_math.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/float16.h"

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

BERTH_V3 float DotF16V3(const uint16_t* a, const uint16_t* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 a0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    __m256 b0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    __m256 a1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i + 8)));
    __m256 b1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i + 8)));
    acc0 = _mm256_fmadd_ps(a0, b0, acc0);
    acc1 = _mm256_fmadd_ps(a1, b1, acc1);
  }
  float sum = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += core::Float16::ToFloat(a[i]) * core::Float16::ToFloat(b[i]);
  return sum;
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

BERTH_V3 void AxpyF16V3(float a, const uint16_t* x, float* y, int64_t n) {
  __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, vx, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * core::Float16::ToFloat(x[i]);
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

// exp(x) for x <= 88.7: 2^k * e^r with r = x - k ln2 in [-ln2/2, ln2/2] (ln2
// split in two for exactness) and a degree-6 polynomial for e^r; within 2
// ulp of expf. Below -87.3 the result flushes to 0, as silu and softmax want.
BERTH_V3 __m256 ExpV3(__m256 x) {
  const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
  const __m256 ln2_high = _mm256_set1_ps(0.693359375f), ln2_low = _mm256_set1_ps(-2.12194440e-4f);
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  const __m256 too_small = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3365478515625f), _CMP_LT_OQ);
  __m256 k = _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, ln2_high, x);
  r = _mm256_fnmadd_ps(k, ln2_low, r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(too_small, _mm256_mul_ps(p, _mm256_castsi256_ps(exponent)));
}

BERTH_V3 void SwiGluV3(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = ExpV3(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// x[i] = exp(x[i] * scale - max); returns the sum in double.
BERTH_V3 double ExpShiftedV3(float* x, int64_t n, float scale, float max) {
  const __m256 vs = _mm256_set1_ps(scale), vm = _mm256_set1_ps(max);
  double sum = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = ExpV3(_mm256_fmsub_ps(_mm256_loadu_ps(x + i), vs, vm));
    _mm256_storeu_ps(x + i, e);
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, e);
    for (float v : lanes) sum += v;
  }
  for (; i < n; ++i) sum += x[i] = std::exp(x[i] * scale - max);
  return sum;
}

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

float DotF16(bool fast, const uint16_t* a, const uint16_t* b, int64_t n) {
#if defined(__x86_64__)
  if (fast) return DotF16V3(a, b, n);
#endif
  (void)fast;
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += core::Float16::ToFloat(a[i]) * core::Float16::ToFloat(b[i]);
  return sum;
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

void AxpyF16(bool fast, float a, const uint16_t* x, float* y, int64_t n) {
#if defined(__x86_64__)
  if (fast) return AxpyF16V3(a, x, y, n);
#endif
  (void)fast;
  for (int64_t i = 0; i < n; ++i) y[i] += a * core::Float16::ToFloat(x[i]);
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
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i] * scale);
  double sum = 0;
#if defined(__x86_64__)
  if (fast) {
    sum = ExpShiftedV3(x, n, scale, max);
  } else
#endif
  {
    for (int64_t i = 0; i < n; ++i) sum += x[i] = std::exp(x[i] * scale - max);
  }
  const float inverse = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inverse;
}

void SwiGlu(bool fast, float* gate, const float* up, int64_t n) {
#if defined(__x86_64__)
  if (fast) return SwiGluV3(gate, up, n);
#endif
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
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

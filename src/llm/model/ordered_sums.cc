// GCC 12's AVX-512 intrinsics (_mm512_undefined_* inside its helpers) trip
// its own uninitialised-value warnings.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "llm/model/ordered_sums.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/cpu_features.h"
#include "core/float16.h"

namespace berth::llm {
namespace {

float Half(uint16_t bits) { return core::Float16::ToFloat(bits); }

// One dot's W lanes (r, modified) to a float, as llama.cpp's build reduces
// them for `order`.
float ReduceLanes(int64_t width, SumOrder order, float* r) {
  if (width == 16) {  // _mm512_reduce_add_ps: halves, four times
    for (int64_t half = 8; half >= 1; half /= 2) {
      for (int64_t i = 0; i < half; ++i) r[i] += r[i + half];
    }
    return r[0];
  }
  float t[4];
  for (int i = 0; i < 4; ++i) t[i] = r[i] + r[i + 4];
  if (order == SumOrder::kVecDot) return (t[0] + t[1]) + (t[2] + t[3]);  // two hadds
  return (t[0] + t[2]) + (t[1] + t[3]);                                  // movehl, movehdup
}

// The four accumulators of kVecDot into one set of W lanes.
void CombineAccumulators(int64_t width, const float* acc, float* r) {
  for (int64_t l = 0; l < width; ++l) r[l] = (acc[l] + acc[2 * width + l]) + (acc[width + l] + acc[3 * width + l]);
}

int64_t Slots(int64_t width, SumOrder order) { return order == SumOrder::kVecDot ? 4 * width : width; }

// The accumulator slot of term i (within the whole steps for kVecDot).
int64_t SlotOf(int64_t width, SumOrder order, int64_t i) {
  return order == SumOrder::kVecDot ? ((i / width) % 4) * width + i % width : i % width;
}

float OrderedDotF16Scalar(int64_t width, SumOrder order, const uint16_t* a, const uint16_t* b, int64_t n) {
  float acc[64] = {};
  const int64_t whole = order == SumOrder::kTiled ? n : n / (4 * width) * (4 * width);
  for (int64_t i = 0; i < whole; ++i) {
    float& slot = acc[SlotOf(width, order, i)];
    slot = std::fma(Half(a[i]), Half(b[i]), slot);
  }
  float lanes[16] = {};
  if (order == SumOrder::kVecDot) {
    CombineAccumulators(width, acc, lanes);
  } else {
    std::copy(acc, acc + width, lanes);
  }
  double sum = ReduceLanes(width, order, lanes);
  for (int64_t i = whole; i < n; ++i) sum += static_cast<double>(Half(a[i]) * Half(b[i]));
  return static_cast<float>(sum);
}

#if defined(__x86_64__)
#define BERTH_V3 __attribute__((target("avx2,fma,f16c")))

BERTH_V3 inline __m256 LoadHalf8(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Lanes [i] + [i + 4], then ([0] + [2]) + ([1] + [3]).
BERTH_V3 inline float HalvingSum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// Lanes [i] + [i + 4], then ([0] + [1]) + ([2] + [3]).
BERTH_V3 inline float HaddSum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_hadd_ps(x, x);
  x = _mm_hadd_ps(x, x);
  return _mm_cvtss_f32(x);
}

// Eight-float vectors: accumulator j's lanes 8h..8h+7 are acc[j * W / 8 + h].
BERTH_V3 float OrderedDotF16V3(int64_t width, SumOrder order, const uint16_t* a, const uint16_t* b, int64_t n) {
  const int64_t slots = Slots(width, order) / 8;
  __m256 acc[8];
  for (auto& v : acc) v = _mm256_setzero_ps();
  const int64_t whole = order == SumOrder::kTiled ? n : n / (4 * width) * (4 * width);
  int64_t k = 0;
  for (int64_t i = 0; i < whole; i += 8) {
    acc[k] = _mm256_fmadd_ps(LoadHalf8(a + i), LoadHalf8(b + i), acc[k]);
    k = k + 1 == slots ? 0 : k + 1;
  }
  float result;
  if (order == SumOrder::kVecDot && width == 16) {
    const __m256 low = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
    const __m256 high = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
    result = HalvingSum(_mm256_add_ps(low, high));
  } else if (order == SumOrder::kVecDot) {
    result = HaddSum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3])));
  } else if (width == 16) {
    result = HalvingSum(_mm256_add_ps(acc[0], acc[1]));
  } else {
    result = HalvingSum(acc[0]);
  }
  if (whole == n) return result;
  double sum = result;
  for (int64_t i = whole; i < n; ++i) sum += static_cast<double>(Half(a[i]) * Half(b[i]));
  return static_cast<float>(sum);
}

// Width 16 on an AVX-512 CPU: one zmm per accumulator, and
// _mm512_reduce_add_ps is llama.cpp's own lane reduction.
#define BERTH_V4 __attribute__((target("avx2,fma,f16c,avx512f,avx512dq,avx512bw,avx512vl")))

BERTH_V4 inline __m512 LoadHalf16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

BERTH_V4 void OrderedDots16V4(SumOrder order, const uint16_t* q, const uint16_t* k, int64_t stride, int64_t count,
                              int64_t n, float* out) {
  const int64_t whole = order == SumOrder::kTiled ? n : n / 64 * 64;
  for (int64_t j = 0; j < count; ++j) {
    const uint16_t* row = k + j * stride;
    float result;
    if (order == SumOrder::kTiled) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t i = 0; i < whole; i += 16) acc = _mm512_fmadd_ps(LoadHalf16(q + i), LoadHalf16(row + i), acc);
      result = _mm512_reduce_add_ps(acc);
    } else {
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int64_t i = 0; i < whole; i += 64) {
        a0 = _mm512_fmadd_ps(LoadHalf16(q + i), LoadHalf16(row + i), a0);
        a1 = _mm512_fmadd_ps(LoadHalf16(q + i + 16), LoadHalf16(row + i + 16), a1);
        a2 = _mm512_fmadd_ps(LoadHalf16(q + i + 32), LoadHalf16(row + i + 32), a2);
        a3 = _mm512_fmadd_ps(LoadHalf16(q + i + 48), LoadHalf16(row + i + 48), a3);
      }
      result = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
    }
    if (whole < n) {
      double sum = result;
      for (int64_t i = whole; i < n; ++i) sum += static_cast<double>(Half(q[i]) * Half(row[i]));
      result = static_cast<float>(sum);
    }
    out[j] = result;
  }
}

BERTH_V3 void AccumulateV3(float p, const uint16_t* v, int64_t dim, float* slot) {
  const __m256 vp = _mm256_set1_ps(p);
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    _mm256_storeu_ps(slot + d, _mm256_fmadd_ps(vp, LoadHalf8(v + d), _mm256_loadu_ps(slot + d)));
  }
  for (; d < dim; ++d) slot[d] = std::fma(p, Half(v[d]), slot[d]);
}
#endif

}  // namespace

SumOrder AttentionSumOrder(int64_t width, int64_t tokens, int64_t length) {
  return tokens >= 2 && length % width == 0 ? SumOrder::kTiled : SumOrder::kVecDot;
}

float OrderedDotF16(bool fast, int64_t width, SumOrder order, const uint16_t* a, const uint16_t* b, int64_t n) {
#if defined(__x86_64__)
  if (fast) return OrderedDotF16V3(width, order, a, b, n);
#endif
  (void)fast;
  return OrderedDotF16Scalar(width, order, a, b, n);
}

void OrderedDotsF16(bool fast, int64_t width, SumOrder order, const uint16_t* q, const uint16_t* k, int64_t stride,
                    int64_t count, int64_t n, float* out) {
#if defined(__x86_64__)
  static const bool v4 = core::DetectCpuFeatures().x86_64_v4();
  if (fast && width == 16 && v4) return OrderedDots16V4(order, q, k, stride, count, n, out);
#endif
  for (int64_t j = 0; j < count; ++j) out[j] = OrderedDotF16(fast, width, order, q, k + j * stride, n);
}

int64_t OrderedSumWorkFloats(int64_t width, int64_t dim) { return 4 * width * dim; }

void OrderedWeightedSumF16(bool fast, int64_t width, SumOrder order, const float* p, const uint16_t* v, int64_t stride,
                           int64_t n, int64_t dim, float* out, float* work) {
  const int64_t slots = Slots(width, order);
  std::fill(work, work + slots * dim, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    if (p[j] == 0.0f) continue;
    float* slot = work + SlotOf(width, order, j) * dim;
    const uint16_t* row = v + j * stride;
#if defined(__x86_64__)
    if (fast) {
      AccumulateV3(p[j], row, dim, slot);
      continue;
    }
#endif
    for (int64_t d = 0; d < dim; ++d) slot[d] = std::fma(p[j], Half(row[d]), slot[d]);
  }
  // The lanes of every column at once: slot l's row holds lane l of all dim
  // dots. Fold them into the first W rows, then reduce those row-wise.
  if (order == SumOrder::kVecDot) {
    for (int64_t l = 0; l < width; ++l) {
      float* r0 = work + l * dim;
      const float* r1 = work + (width + l) * dim;
      const float* r2 = work + (2 * width + l) * dim;
      const float* r3 = work + (3 * width + l) * dim;
      for (int64_t d = 0; d < dim; ++d) r0[d] = (r0[d] + r2[d]) + (r1[d] + r3[d]);
    }
  }
  auto row = [&](int64_t l) { return work + l * dim; };
  auto fold = [&](int64_t half) {
    for (int64_t l = 0; l < half; ++l) {
      float* a = row(l);
      const float* b = row(l + half);
      for (int64_t d = 0; d < dim; ++d) a[d] += b[d];
    }
  };
  if (width == 16) fold(8);
  fold(4);  // [i] + [i + 4]
  if (width == 8 && order == SumOrder::kVecDot) {
    for (int64_t d = 0; d < dim; ++d) out[d] = (row(0)[d] + row(1)[d]) + (row(2)[d] + row(3)[d]);
  } else {
    for (int64_t d = 0; d < dim; ++d) out[d] = (row(0)[d] + row(2)[d]) + (row(1)[d] + row(3)[d]);
  }
}

}  // namespace berth::llm

// Activation conversion with AVX2 + F16C: the same bytes as
// ConvertActivationsScalar (matmul_scalar.cc), tested bit for bit.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "llm/kernels/block_formats.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace berth::llm {
namespace {

float MaxAbs(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

// Four vectors of 8 int32 to 32 bytes in order, each value's low byte
// (packus on values already in 0..255).
__m256i LowBytes(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
  const __m256i low = _mm256_set1_epi32(0xFF);
  const __m256i w01 = _mm256_packus_epi32(_mm256_and_si256(v0, low), _mm256_and_si256(v1, low));
  const __m256i w23 = _mm256_packus_epi32(_mm256_and_si256(v2, low), _mm256_and_si256(v3, low));
  const __m256i bytes = _mm256_packus_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// ggml's AVX quantize_row_q8_0.
void QuantizeRowQ8_0(const float* x, int64_t cols, uint8_t* out) {
  for (int64_t b = 0; b < cols / 32; ++b, x += 32, out += kQ8_0Bytes) {
    const float amax = MaxAbs(x, 32);
    const uint16_t d = core::Float16::FromFloat(amax / 127.f);
    std::memcpy(out, &d, 2);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) {
      const __m256 scaled = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * i), id);
      q[i] = _mm256_cvtps_epi32(_mm256_round_ps(scaled, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i bytes =
        _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2), bytes);
  }
}

// ggml's quantize_row_q8_K_ref.
void QuantizeRowQ8_K(const float* x, int64_t cols, uint8_t* out) {
  for (int64_t b = 0; b < cols / 256; ++b, x += 256, out += kQ8_KBytes) {
    const float amax = MaxAbs(x, 256);
    int8_t qs[256];
    float d = 0.0f;
    if (amax == 0.0f) {
      std::memset(qs, 0, sizeof(qs));
    } else {
      // The first value of the largest magnitude (ggml keeps the first on ties).
      const __m256 sign = _mm256_set1_ps(-0.0f);
      const __m256 target = _mm256_set1_ps(amax);
      float max = 0.0f;
      for (int i = 0; i < 256; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), target, _CMP_EQ_OQ));
        if (mask != 0) {
          max = x[i + __builtin_ctz(static_cast<unsigned>(mask))];
          break;
        }
      }
      const float iscale = -127.f / max;
      const __m256 scale = _mm256_set1_ps(iscale);
      const __m256 magic = _mm256_set1_ps(12582912.f);
      for (int i = 0; i < 256; i += 32) {
        __m256i v[4];
        for (int k = 0; k < 4; ++k) {
          // ggml's nearest_int: round through the float adder, then keep the mantissa.
          const __m256 shifted = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), scale), magic);
          const __m256i bits = _mm256_and_si256(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x007fffff));
          v[k] = _mm256_min_epi32(_mm256_sub_epi32(bits, _mm256_set1_epi32(0x00400000)), _mm256_set1_epi32(127));
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + i), LowBytes(v[0], v[1], v[2], v[3]));
      }
      d = 1 / iscale;
    }
    std::memcpy(out, &d, 4);
    std::memcpy(out + kQ8_KQs, qs, 256);
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += qs[16 * j + i];
      const int16_t sum16 = static_cast<int16_t>(sum);
      std::memcpy(out + kQ8_KBsums + 2 * j, &sum16, 2);
    }
  }
}

void ConvertF16(const float* x, int64_t cols, uint8_t* out) {
  int64_t i = 0;
  for (; i + 8 <= cols; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * i), h);
  }
  for (; i < cols; ++i) {
    const uint16_t h = core::Float16::FromFloat(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

// core::BFloat16::FromFloat eight at a time.
void ConvertBF16(const float* x, int64_t cols, uint8_t* out) {
  int64_t i = 0;
  for (; i + 16 <= cols; i += 16) {
    __m256i half[2];
    for (int k = 0; k < 2; ++k) {
      const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * k));
      const __m256i rounded = _mm256_srli_epi32(
          _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff),
                                               _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1)))),
          16);
      const __m256i quiet_nan = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
      const __m256i is_nan =
          _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
      half[k] = _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
    }
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(half[0], half[1]), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2 * i), packed);
  }
  for (; i < cols; ++i) {
    const uint16_t h = core::BFloat16::FromFloat(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

}  // namespace

void ConvertActivationsAvx2(GgmlType weight, const float* x, int64_t cols, uint8_t* out) {
  switch (weight) {
    case GgmlType::kF16:
      return ConvertF16(x, cols, out);
    case GgmlType::kBF16:
      return ConvertBF16(x, cols, out);
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
      return QuantizeRowQ8_0(x, cols, out);
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return QuantizeRowQ8_K(x, cols, out);
    default:
      std::memcpy(out, x, static_cast<size_t>(cols) * sizeof(float));
      return;
  }
}

}  // namespace berth::llm

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

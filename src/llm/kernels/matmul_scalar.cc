// The scalar reference: plain C++, the same integers as ggml's generic
// kernels (ggml-cpu/quants.c), every other ISA path tested against it.
//
// Order of the sums: the integer part of each block (32 values for
// Q8_0/Q4_0, one super-block of 256 for the K-quants) is exact in int32;
// each block's term is then scale_w * scale_a * integer in double (exact:
// fp16 x fp16 or fp16 x fp32 scales), added in double block after block, and
// the row's total rounded once to float. F32/F16/BF16: products in double
// (exact), added in double in order, rounded once. Q8_0 is the exception:
// it sums in ggml's float order (DotQ8_0).
#include <cmath>
#include <cstring>

#include "llm/kernels/block_formats.h"

namespace berth::llm {
namespace {

// cvtps2dq as ggml's AVX quantize_row_q8_0 uses it: round half to even, and
// 0x80000000 for NaN or out of range.
int32_t RoundToInt32LikeCvtps(float v) {
  if (!(std::fabs(v) < 2147483648.0f)) return INT32_MIN;
  return static_cast<int32_t>(std::nearbyint(v));
}

int8_t SaturateToInt8(int32_t v) { return static_cast<int8_t>(v < -128 ? -128 : v > 127 ? 127 : v); }

// ggml's nearest_int (round half to even through the float adder).
int32_t NearestInt(float f) {
  const float shifted = f + 12582912.f;
  int32_t i;
  std::memcpy(&i, &shifted, 4);
  return (i & 0x007fffff) - 0x00400000;
}

void QuantizeRowQ8_0(const float* x, int64_t cols, uint8_t* out) {
  for (int64_t b = 0; b < cols / 32; ++b, x += 32, out += kQ8_0Bytes) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    const uint16_t half = core::Float16::FromFloat(d);
    std::memcpy(out, &half, 2);
    for (int i = 0; i < 32; ++i) out[2 + i] = static_cast<uint8_t>(SaturateToInt8(RoundToInt32LikeCvtps(x[i] * id)));
  }
}

void QuantizeRowQ8_K(const float* x, int64_t cols, uint8_t* out) {
  for (int64_t b = 0; b < cols / 256; ++b, x += 256, out += kQ8_KBytes) {
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 256; ++i) {
      const float ax = std::fabs(x[i]);
      if (ax > amax) {
        amax = ax;
        max = x[i];
      }
    }
    int8_t qs[256];
    float d = 0.0f;
    if (amax == 0.0f) {
      std::memset(qs, 0, sizeof(qs));
    } else {
      const float iscale = -127.f / max;
      for (int i = 0; i < 256; ++i) {
        const int32_t v = NearestInt(iscale * x[i]);
        qs[i] = static_cast<int8_t>(v < 127 ? v : 127);  // int to int8 wraps, as in ggml
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

double DotF32(const uint8_t* w, const uint8_t* a, int64_t cols) {
  double sum = 0;
  for (int64_t i = 0; i < cols; ++i) sum += static_cast<double>(LoadF32(w + 4 * i)) * LoadF32(a + 4 * i);
  return sum;
}

double DotF16(const uint8_t* w, const uint8_t* a, int64_t cols) {
  double sum = 0;
  for (int64_t i = 0; i < cols; ++i) sum += static_cast<double>(HalfAt(w + 2 * i)) * HalfAt(a + 2 * i);
  return sum;
}

double DotBF16(const uint8_t* w, const uint8_t* a, int64_t cols) {
  double sum = 0;
  for (int64_t i = 0; i < cols; ++i) {
    sum +=
        static_cast<double>(core::BFloat16::ToFloat(LoadU16(w + 2 * i))) * core::BFloat16::ToFloat(LoadU16(a + 2 * i));
  }
  return sum;
}

// Q8_0 keeps ggml's float order (ggml_vec_dot_q8_0_q8_0 on AVX2 and
// tinyBLAS_Q0_AVX sum alike): eight lanes, lane i the integer sum of bytes
// 4i..4i+3 of a block, times d_w * d_a in float, fused-multiply-added block
// after block; then lanes [i] + [i + 4], and ([0] + [2]) + ([1] + [3]).
// Every ISA path gives this float bit for bit: with Q8_0 weights llama.cpp's
// greedy tokens depend on it.
double DotQ8_0(const uint8_t* w, const uint8_t* a, int64_t cols) {
  float lanes[8] = {};
  for (int64_t b = 0; b < cols / 32; ++b, w += kQ8_0Bytes, a += kQ8_0Bytes) {
    const float d = HalfAt(w) * HalfAt(a);
    for (int i = 0; i < 8; ++i) {
      int32_t sumi = 0;
      for (int k = 4 * i; k < 4 * i + 4; ++k) sumi += static_cast<int8_t>(w[2 + k]) * static_cast<int8_t>(a[2 + k]);
      lanes[i] = std::fma(static_cast<float>(sumi), d, lanes[i]);
    }
  }
  float t[4];
  for (int i = 0; i < 4; ++i) t[i] = lanes[i] + lanes[i + 4];
  return (t[0] + t[2]) + (t[1] + t[3]);
}

double DotQ4_0(const uint8_t* w, const uint8_t* a, int64_t cols) {
  double sum = 0;
  for (int64_t b = 0; b < cols / 32; ++b, w += kQ4_0Bytes, a += kQ8_0Bytes) {
    int32_t sumi = 0;
    for (int i = 0; i < 16; ++i) {
      sumi += ((w[2 + i] & 0x0F) - 8) * static_cast<int8_t>(a[2 + i]);
      sumi += ((w[2 + i] >> 4) - 8) * static_cast<int8_t>(a[2 + 16 + i]);
    }
    sum += static_cast<double>(HalfAt(w)) * HalfAt(a) * sumi;
  }
  return sum;
}

// Q4_1, Q5_0, Q5_1 against Q8_0 activations: the unsigned codes q (the
// fifth bit from qh, bit i for value i) times a, exact in int32; then
// Q5_0: d * (q - 16); Q4_1/Q5_1: d * q + m. (ggml pairs Q4_1/Q5_1 with
// Q8_1 activations, whose block sum it keeps rounded to fp16; the exact sum
// here is the same value before that rounding.)
template <int kBits, bool kMin>
double DotQ32(const uint8_t* w, const uint8_t* a, int64_t cols) {
  using Layout = Block32Layout<kBits, kMin>;
  constexpr int kQh = Layout::kQh, kQs = Layout::kQs, kBytes = Layout::kBytes;
  double sum = 0;
  for (int64_t b = 0; b < cols / 32; ++b, w += kBytes, a += kQ8_0Bytes) {
    uint32_t qh = 0;
    if constexpr (kBits == 5) std::memcpy(&qh, w + kQh, 4);
    int32_t sumi = 0, suma = 0;
    for (int i = 0; i < 32; ++i) {
      const int nibble = i < 16 ? (w[kQs + i] & 0x0F) : (w[kQs + i - 16] >> 4);
      const int q = nibble | static_cast<int>(((qh >> i) & 1) << 4);
      const int32_t ai = static_cast<int8_t>(a[2 + i]);
      sumi += q * ai;
      suma += ai;
    }
    const double da = HalfAt(a);
    if constexpr (kMin) {
      sum += static_cast<double>(HalfAt(w)) * da * sumi + static_cast<double>(HalfAt(w + 2)) * da * suma;
    } else {
      sum += static_cast<double>(HalfAt(w)) * da * (sumi - 16 * suma);
    }
  }
  return sum;
}

// K-quants, in the order every ISA follows (quantized_matmul.h): per
// super-block the exact integers I = sum_j scale_j * dot(q_j, a_j) (Q6_K:
// with q = u - 32) and, for Q4_K/Q5_K, M = sum_j min_j * sum(a_j) from the
// activation's bsums; then, block after block from 0,
//   y = fma(I, d * da, y);  y = fma(-M, dmin * da, y)   (Q6_K: the first only).
//
// Q4_K and Q5_K:
template <bool kFiveBits>
double DotQ45_K(const uint8_t* w, const uint8_t* a, int64_t cols) {
  constexpr int kBytes = kFiveBits ? kQ5_KBytes : kQ4_KBytes;
  constexpr int kQs = kFiveBits ? kQ5_KQs : kQ4_KQs;
  float sum = 0;
  for (int64_t b = 0; b < cols / 256; ++b, w += kBytes, a += kQ8_KBytes) {
    uint8_t scales_mins[16];
    UnpackScalesMinsK4(w + kQ4_KScales, scales_mins);
    const uint8_t* qs = w + kQs;
    const uint8_t* qh = w + kQ5_KQh;
    const auto* q8 = reinterpret_cast<const int8_t*>(a + kQ8_KQs);
    int32_t sumi = 0, summ = 0;
    for (int j = 0; j < 8; ++j) {
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) {
        int q = j % 2 == 0 ? qs[32 * (j / 2) + l] & 0x0F : qs[32 * (j / 2) + l] >> 4;
        if (kFiveBits) q += (qh[l] >> j) & 1 ? 16 : 0;
        dot += q * q8[32 * j + l];
      }
      sumi += scales_mins[j] * dot;
      summ += scales_mins[8 + j] * (LoadI16(a + kQ8_KBsums + 4 * j) + LoadI16(a + kQ8_KBsums + 4 * j + 2));
    }
    const float da = LoadF32(a);
    sum = std::fma(static_cast<float>(sumi), HalfAt(w) * da, sum);
    sum = std::fma(-static_cast<float>(summ), HalfAt(w + 2) * da, sum);
  }
  return sum;
}

double DotQ6_K(const uint8_t* w, const uint8_t* a, int64_t cols) {
  float sum = 0;
  for (int64_t b = 0; b < cols / 256; ++b, w += kQ6_KBytes, a += kQ8_KBytes) {
    const auto* q8 = reinterpret_cast<const int8_t*>(a + kQ8_KQs);
    const auto* scales = reinterpret_cast<const int8_t*>(w + kQ6_KScales);
    int32_t sumi = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w + kQ6_KQl + 64 * half;
      const uint8_t* qh = w + kQ6_KQh + 32 * half;
      const int8_t* a8 = q8 + 128 * half;
      const int8_t* sc = scales + 8 * half;
      // Value l + 32 * k of the half (k = 0..3) has scale sc[l / 16 + 2 * k].
      int32_t dots[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int q0 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        dots[l / 16 + 0] += q0 * a8[l];
        dots[l / 16 + 2] += q1 * a8[l + 32];
        dots[l / 16 + 4] += q2 * a8[l + 64];
        dots[l / 16 + 6] += q3 * a8[l + 96];
      }
      for (int s = 0; s < 8; ++s) sumi += sc[s] * dots[s];
    }
    sum = std::fma(static_cast<float>(sumi), HalfAt(w + kQ6_KD) * LoadF32(a), sum);
  }
  return sum;
}

using RowDot = double (*)(const uint8_t* w, const uint8_t* a, int64_t cols);

RowDot RowDotFor(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return DotF32;
    case GgmlType::kF16:
      return DotF16;
    case GgmlType::kBF16:
      return DotBF16;
    case GgmlType::kQ8_0:
      return DotQ8_0;
    case GgmlType::kQ4_0:
      return DotQ4_0;
    case GgmlType::kQ4_1:
      return DotQ32<4, true>;
    case GgmlType::kQ5_0:
      return DotQ32<5, false>;
    case GgmlType::kQ5_1:
      return DotQ32<5, true>;
    case GgmlType::kQ4_K:
      return DotQ45_K<false>;
    case GgmlType::kQ5_K:
      return DotQ45_K<true>;
    case GgmlType::kQ6_K:
      return DotQ6_K;
    default:
      return nullptr;
  }
}

}  // namespace

void ConvertActivationsScalar(GgmlType weight, const float* x, int64_t cols, uint8_t* out) {
  switch (weight) {
    case GgmlType::kF16:
      for (int64_t i = 0; i < cols; ++i) {
        const uint16_t h = core::Float16::FromFloat(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < cols; ++i) {
        const uint16_t h = core::BFloat16::FromFloat(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
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

void MatMulScalar(const MatMulArgs& args) {
  const RowDot dot = RowDotFor(args.weight);
  for (int64_t t = 0; t < args.n_tokens; ++t) {
    const uint8_t* activation = args.activations + t * args.activation_row_bytes;
    for (int64_t r = args.row_begin; r < args.row_end; ++r) {
      args.y[t * args.y_stride + r] = static_cast<float>(dot(args.weights + r * args.row_bytes, activation, args.cols));
    }
  }
}

}  // namespace berth::llm

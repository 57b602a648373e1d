#include "llm/gguf/dequantize.h"

#include <cstring>

#include "core/float16.h"

namespace berth::llm {
namespace {

float Half(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return core::Float16::ToFloat(bits);
}

// Q8_0: fp16 d, 32 int8 q: x = d * q.
void DequantizeQ8_0(const uint8_t* block, float* y) {
  const float d = Half(block);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<int8_t>(block[2 + i]);
}

// Q4_0: fp16 d, 16 bytes of nibbles: low nibbles are values 0-15, high 16-31; x = d * (q - 8).
void DequantizeQ4_0(const uint8_t* block, float* y) {
  const float d = Half(block);
  const uint8_t* qs = block + 2;
  for (int i = 0; i < 16; ++i) {
    y[i] = d * (static_cast<int>(qs[i] & 0x0F) - 8);
    y[i + 16] = d * (static_cast<int>(qs[i] >> 4) - 8);
  }
}

// Q4_1: fp16 d, fp16 m, 16 bytes of nibbles as Q4_0's; x = d * q + m.
void DequantizeQ4_1(const uint8_t* block, float* y) {
  const float d = Half(block), m = Half(block + 2);
  const uint8_t* qs = block + 4;
  for (int i = 0; i < 16; ++i) {
    y[i] = d * (qs[i] & 0x0F) + m;
    y[i + 16] = d * (qs[i] >> 4) + m;
  }
}

// The fifth bits of Q5_0/Q5_1: bit j of the 32-bit qh is value j's.
uint32_t HighBits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  return bits;
}

// Q5_0: fp16 d, 4 bytes of fifth bits, 16 bytes of nibbles; x = d * (q - 16).
void DequantizeQ5_0(const uint8_t* block, float* y) {
  const float d = Half(block);
  const uint32_t qh = HighBits(block + 2);
  const uint8_t* qs = block + 6;
  for (int i = 0; i < 16; ++i) {
    const int low = static_cast<int>((qs[i] & 0x0F) | (((qh >> i) & 1u) << 4));
    const int high = static_cast<int>((qs[i] >> 4) | (((qh >> (i + 16)) & 1u) << 4));
    y[i] = d * (low - 16);
    y[i + 16] = d * (high - 16);
  }
}

// Q5_1: fp16 d, fp16 m, fifth bits and nibbles as Q5_0; x = d * q + m.
void DequantizeQ5_1(const uint8_t* block, float* y) {
  const float d = Half(block), m = Half(block + 2);
  const uint32_t qh = HighBits(block + 4);
  const uint8_t* qs = block + 8;
  for (int i = 0; i < 16; ++i) {
    y[i] = d * static_cast<int>((qs[i] & 0x0F) | (((qh >> i) & 1u) << 4)) + m;
    y[i + 16] = d * static_cast<int>((qs[i] >> 4) | (((qh >> (i + 16)) & 1u) << 4)) + m;
  }
}

// The 6-bit scale and min of sub-block j (0..7) packed in 12 bytes (Q4_K, Q5_K).
void ScaleMinK4(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = q[j] & 63;
    *min = q[j + 4] & 63;
  } else {
    *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
    *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K: fp16 d, fp16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles;
// 8 sub-blocks of 32: x = d * scale * q - dmin * min.
void DequantizeQ4_K(const uint8_t* block, float* y) {
  const float d = Half(block), dmin = Half(block + 2);
  const uint8_t* scales = block + 4;
  const uint8_t* q = block + 16;
  for (int j = 0; j < 8; j += 2, q += 32) {
    uint8_t sc, m;
    ScaleMinK4(j, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(j + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0x0F) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
  }
}

// Q5_K: as Q4_K with a fifth bit per value in 32 bytes of high bits.
void DequantizeQ5_K(const uint8_t* block, float* y) {
  const float d = Half(block), dmin = Half(block + 2);
  const uint8_t* scales = block + 4;
  const uint8_t* qh = block + 16;
  const uint8_t* ql = block + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0; j < 8; j += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, m;
    ScaleMinK4(j, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(j + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0x0F) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
  }
}

// Q6_K: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales,
// fp16 d last; x = d * scale * (q - 32) over 16 sub-blocks of 16.
void DequantizeQ6_K(const uint8_t* block, float* y) {
  const uint8_t* ql = block;
  const uint8_t* qh = block + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(block + 192);
  const float d = Half(block + 208);
  for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = static_cast<int>((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = static_cast<int>((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

}  // namespace

core::Status Dequantize(GgmlType type, const void* data, int64_t count, float* out) {
  std::optional<GgmlTypeTraits> traits = TraitsOf(static_cast<uint32_t>(type));
  if (!traits) return core::Unimplemented("tensor type {} is not supported", static_cast<uint32_t>(type));
  const int64_t block = static_cast<int64_t>(traits->block_size);
  if (count < 0 || count % block != 0) {
    return core::InvalidArgument("{} values are not whole {} blocks of {}", count, traits->name, block);
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  const int64_t blocks = count / block;
  void (*per_block)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(out, data, static_cast<size_t>(count) * sizeof(float));
      return core::Status::Ok();
    case GgmlType::kF16:
      for (int64_t i = 0; i < count; ++i) out[i] = Half(bytes + 2 * i);
      return core::Status::Ok();
    case GgmlType::kBF16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, bytes + 2 * i, 2);
        out[i] = core::BFloat16::ToFloat(bits);
      }
      return core::Status::Ok();
    case GgmlType::kQ8_0:
      per_block = DequantizeQ8_0;
      break;
    case GgmlType::kQ4_0:
      per_block = DequantizeQ4_0;
      break;
    case GgmlType::kQ4_1:
      per_block = DequantizeQ4_1;
      break;
    case GgmlType::kQ5_0:
      per_block = DequantizeQ5_0;
      break;
    case GgmlType::kQ5_1:
      per_block = DequantizeQ5_1;
      break;
    case GgmlType::kQ4_K:
      per_block = DequantizeQ4_K;
      break;
    case GgmlType::kQ5_K:
      per_block = DequantizeQ5_K;
      break;
    case GgmlType::kQ6_K:
      per_block = DequantizeQ6_K;
      break;
    default:
      return core::Unimplemented("dequantizing {} is not supported yet", traits->name);
  }
  for (int64_t b = 0; b < blocks; ++b) per_block(bytes + b * traits->type_size, out + b * block);
  return core::Status::Ok();
}

}  // namespace berth::llm

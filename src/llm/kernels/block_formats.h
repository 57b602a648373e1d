// ggml's block layouts (ggml-common.h) as the kernels read them, and the
// entry points of the per-ISA kernel files. Internal to llm/kernels.
//
// Blocks are read through byte pointers: rows of 18-, 34- or 210-byte blocks
// put fields at any alignment, so scalar fields are read with memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/float16.h"
#include "llm/gguf/gguf_file.h"
#include "llm/kernels/kernel_isa.h"

namespace berth::llm {

// Q8_0: fp16 d, int8 qs[32].           x = d * q
// Q4_0: fp16 d, uint8 qs[16].          x = d * (nibble - 8); low nibbles are values 0-15, high 16-31
// Q4_1: fp16 d, fp16 m, uint8 qs[16].  x = d * nibble + m
// Q5_0: fp16 d, uint8 qh[4], uint8 qs[16]; x = d * (q - 16), q = nibble | bit i of qh << 4
// Q5_1: fp16 d, fp16 m, uint8 qh[4], uint8 qs[16]; x = d * q + m
// Q4_K: fp16 d, fp16 dmin, uint8 scales[12], uint8 qs[128]; 8 sub-blocks of 32 with 6-bit scale and min
// Q5_K: as Q4_K with uint8 qh[32] (the fifth bits) before qs
// Q6_K: uint8 ql[128], uint8 qh[64], int8 scales[16], fp16 d
// Q8_K: float d, int8 qs[256], int16 bsums[16] (sums of 16 consecutive qs)
inline constexpr int kQ8_0Bytes = 34;
inline constexpr int kQ4_0Bytes = 18;
inline constexpr int kQ4_KBytes = 144;
inline constexpr int kQ5_KBytes = 176;
inline constexpr int kQ6_KBytes = 210;
inline constexpr int kQ8_KBytes = 292;
inline constexpr int kQ4_KScales = 4, kQ4_KQs = 16;
inline constexpr int kQ5_KScales = 4, kQ5_KQh = 16, kQ5_KQs = 48;
inline constexpr int kQ6_KQl = 0, kQ6_KQh = 128, kQ6_KScales = 192, kQ6_KD = 208;
inline constexpr int kQ8_KQs = 4, kQ8_KBsums = 260;

// Q4_1 (4 bits, min), Q5_0 (5 bits) and Q5_1 (5 bits, min): where qh and qs
// start, and the block's size.
template <int kBits, bool kMin>
struct Block32Layout {
  static constexpr int kQh = kMin ? 4 : 2, kQs = kBits == 4 ? 4 : kQh + 4, kBytes = kQs + 16;
};

inline uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float LoadF32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
inline int16_t LoadI16(const uint8_t* p) {
  int16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float HalfAt(const uint8_t* p) { return core::Float16::ToFloat(LoadU16(p)); }

// The 6-bit scales and mins of the 8 sub-blocks of a Q4_K/Q5_K block,
// unpacked from their 12 bytes as ggml's kernels do (the utmp shuffle):
// out[0..7] scales, out[8..15] mins.
inline void UnpackScalesMinsK4(const uint8_t* packed, uint8_t out[16]) {
  uint32_t utmp[4];
  std::memcpy(utmp, packed, 12);
  constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
  std::memcpy(out, utmp, 16);
}

// What one MatMul call computes (quantized_matmul.h), with the row sizes worked out.
struct MatMulArgs {
  GgmlType weight;
  const uint8_t* weights;  // row 0
  size_t row_bytes;
  int64_t cols;
  int64_t row_begin, row_end;
  const uint8_t* activations;
  size_t activation_row_bytes;
  int64_t n_tokens;
  float* y;
  int64_t y_stride;
  bool decode_batch = false;  // MatMulDecodeBatch: each token summed as if alone
};

// A buffer of at least `bytes` bytes, 64-byte aligned, owned by the calling
// thread and reused by its next call (the prompt-processing panels).
uint8_t* KernelScratch(size_t bytes);

// One file per ISA (matmul_<isa>.cc), each compiled for that ISA only.
void ConvertActivationsScalar(GgmlType weight, const float* x, int64_t cols, uint8_t* out);
void MatMulScalar(const MatMulArgs& args);
void ConvertActivationsAvx2(GgmlType weight, const float* x, int64_t cols, uint8_t* out);
void MatMulAvx2(const MatMulArgs& args);
void MatMulAvxVnni(const MatMulArgs& args);
void MatMulAvx512(const MatMulArgs& args);
void MatMulAvx512Vnni(const MatMulArgs& args);

}  // namespace berth::llm

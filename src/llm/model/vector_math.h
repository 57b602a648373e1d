// The element-wise and small-vector steps of the forward pass around the
// matrix products: RMSNorm, RoPE, SwiGLU, softmax, and the dot products and
// scaled additions of attention over F32 cache rows. Each has a plain
// version and an AVX2/FMA/F16C one, chosen by `fast` (the caller passes
// false when the kernels are forced to their scalar reference).
#pragma once

#include <cstdint>

namespace berth::llm {

// y = x / sqrt(mean(x^2) + eps) * weight (weight may be nullptr). The sum
// of squares is taken in double, as ggml does.
void RmsNorm(const float* x, const float* weight, float eps, int64_t n, float* y);

// dot(a, b) and y += a * x over n floats: attention over an F32 cache (an
// F16 cache sums in llama.cpp's order, ordered_sums.h).
float DotF32(bool fast, const float* a, const float* b, int64_t n);
void AxpyF32(bool fast, float a, const float* x, float* y, int64_t n);

// In-place softmax of x[0..n) * scale, bit for bit as llama.cpp's CPU
// backend computes it on this CPU (its exp polynomial on whole vector
// chunks, expf on the rest, the sum in double); `fast` only chooses AVX2
// instructions over plain C++ for the same arithmetic.
void ScaledSoftmax(bool fast, float* x, int64_t n, float scale);

// gate[i] = silu(gate[i]) * up[i], with the exp of ScaledSoftmax.
void SwiGlu(bool fast, float* gate, const float* up, int64_t n);

// Converts float to F16 bits with round-to-nearest-even; RoundToF16 rounds
// in place (the value an F16 store and load would give).
void ToF16(bool fast, const float* x, uint16_t* y, int64_t n);
void RoundToF16(bool fast, float* x, int64_t n);

}  // namespace berth::llm

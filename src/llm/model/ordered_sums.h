// Attention's sums in llama.cpp's order. A float sum rounds differently in
// every order, and quantized models re-round what attention gives them, so
// berth adds the terms of q.k and of the value mixture in the order
// llama.cpp's CPU backend does; then its greedy tokens are llama.cpp's.
//
// llama.cpp takes these products through ggml_mul_mat on F16 values in one
// of two ways:
// - kVecDot (one token, ggml_vec_dot_f16): four accumulators of W lanes
//   over whole steps of 4W terms, term i in accumulator (i / W) % 4, lane
//   i % W, each lane a chain of fused multiply-adds; the accumulators added
//   (0+2, 1+3, then the two), the lanes reduced, and the terms past the last
//   whole step added one by one in double;
// - kTiled (two or more tokens, llamafile's tinyBLAS, when the length is a
//   multiple of W): one accumulator of W lanes, then the lanes reduced.
// W is llama.cpp's vector width: 16 in its AVX-512 builds, 8 in its AVX2
// ones (LlamaVectorWidth). The lane reduction differs too: AVX-512 halves
// the lanes repeatedly; AVX2's vec_dot adds the 128-bit halves and then
// uses two horizontal adds, its tinyBLAS halves them.
#pragma once

#include <cstdint>

#include "llm/kernels/kernel_isa.h"  // LlamaVectorWidth

namespace berth::llm {

enum class SumOrder { kVecDot, kTiled };

// The order llama.cpp uses for a product of `tokens` rows with dots of
// `length` terms.
SumOrder AttentionSumOrder(int64_t width, int64_t tokens, int64_t length);

// sum_i a[i] * b[i], F16 bits, in `order` at `width`.
float OrderedDotF16(bool fast, int64_t width, SumOrder order, const uint16_t* a, const uint16_t* b, int64_t n);

// out[j] = OrderedDotF16(q, k + j * stride, n) for j < count: q against
// `count` cache rows.
void OrderedDotsF16(bool fast, int64_t width, SumOrder order, const uint16_t* q, const uint16_t* k, int64_t stride,
                    int64_t count, int64_t n, float* out);

// out[d] = sum_j p[j] * v[j * stride + d] for d < dim, j < n, each in the
// order OrderedDotF16 sums a dot whose length is a multiple of 4W (llama.cpp's
// cache length, a multiple of 256) and whose terms from n on are zero. p
// holds values already rounded to F16; zero terms are skipped. work holds
// OrderedSumWorkFloats(width, dim) floats.
void OrderedWeightedSumF16(bool fast, int64_t width, SumOrder order, const float* p, const uint16_t* v, int64_t stride,
                           int64_t n, int64_t dim, float* out, float* work);
int64_t OrderedSumWorkFloats(int64_t width, int64_t dim);

}  // namespace berth::llm

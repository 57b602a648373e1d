// Products of a weight matrix stored in one of ggml's block formats with rows
// of activations: the matrix-vector product of generation (one token) and the
// matrix-matrix product of prompt processing (many tokens).
//
// As in ggml, activations are first converted to the weight's "vec_dot
// type" (ConvertActivations), once per row of activations, and the product
// then works on the converted rows:
//   weight F32  -> activations F32      weight Q8_0 -> Q8_0
//   weight F16  -> F16                  weight Q4_0 -> Q8_0
//   weight BF16 -> BF16                 weight Q4_K, Q5_K, Q6_K -> Q8_K
// (Q8_K: a block of 256 values {float d; int8 qs[256]; int16 bsums[16]}).
//
// Exactness: every ISA path computes the integer parts of the quantized
// products exactly (the same integers as ggml's generic code) and differs
// from the scalar reference only in the order and fusion of the float
// operations that scale and add them: tests/llm/kernels_test.cc bounds the
// difference by (n + 16) * 2^-24 of the sum of the terms' magnitudes, n the
// float additions per result (1e-6 to 3e-6 of it at the tested sizes).
// Two families have one float order on every ISA and every path, so their
// results are the scalar reference's bit for bit:
//  - Q8_0 sums as ggml does (eight lanes, one fused multiply-add per block);
//  - the K-quants sum per row, block after block from y = 0:
//      y = fma(I, d * da, y);  y = fma(-M, dmin * da, y)   (Q6_K: the first only)
//    with I = sum_j scale_j * dot(q_j, a_j) (Q6_K: q = u - 32) and M = sum_j
//    min_j * sum(a_j), exact int32. The one-token kernels, the small tiles
//    and the prompt panels all follow it, which lets a decode step's tokens
//    share a decoded panel (MatMulDecodeBatch).
//
// Threads and memory: the functions keep no state between calls and are
// safe to call from any number of threads at once. MatMul with 8 tokens or
// more (MatMulDecodeBatch with 6 or more on K-quant weights) decodes the
// weights into a per-thread scratch buffer (grown on first use, kept for the
// thread's next call): a panel of 32 decoded rows, 1.1 KiB per 32 columns of
// Q8_0/Q4_0 (plus 8 bytes per token and block) or up to 11.3 KiB per 256
// columns of a K-quant (360 KiB for 8192 columns), or 256 KiB of floats and
// the activations as floats for F32/F16/BF16. Nothing needs alignment beyond
// that of the element type: weights and activations may start at any address
// (ggml's blocks are 18, 34, 144, 176, 210 bytes), y at any float-aligned
// address.
#pragma once

#include <cstddef>
#include <cstdint>

#include "llm/gguf/gguf_file.h"
#include "llm/kernels/kernel_isa.h"

namespace berth::llm {

// Whether MatMul computes with weights of `type`: F32, F16, BF16, Q8_0,
// Q4_0, Q4_K, Q5_K, Q6_K. The functions below require such a type (a model
// loader checks its tensors' types with this first).
bool IsMatMulWeightType(GgmlType type);

// The block size of `type` in values (32 for Q8_0/Q4_0, 256 for the
// K-quants, 1 for the float types); 0 for types MatMul does not support.
int64_t MatMulBlockSize(GgmlType type);

// Bytes of one row of `cols` values of `type` (cols a multiple of the block
// size): ggml's ggml_row_size. Also defined for Q8_K.
size_t RowBytes(GgmlType type, int64_t cols);

// ggml's "vec_dot_type": what activations are converted to before the
// product with a weight of `weight` (the table above).
GgmlType ActivationTypeFor(GgmlType weight);

// Bytes of one activation row of `cols` values converted for `weight`
// (cols a multiple of the weight's block size):
// RowBytes(ActivationTypeFor(weight), cols).
size_t ActivationRowBytes(GgmlType weight, int64_t cols);

// Converts one row of `cols` float activations to ActivationTypeFor(weight)
// into `out` (ActivationRowBytes(weight, cols) bytes), exactly as llama.cpp
// does on x86-64 so that products match its results: Q8_0 as ggml's AVX
// quantize_row_q8_0 (d = max|x| / 127, q = round-half-even(x * (127 /
// max|x|))), Q8_K as quantize_row_q8_K_ref, F16 with round-to-nearest-even
// (as F16C), BF16 as ggml_compute_fp32_to_bf16. Every ISA writes the same
// bytes. The values must be finite (a NaN or infinity gives an unspecified
// but memory-safe result).
void ConvertActivations(KernelIsa isa, GgmlType weight, const float* x, int64_t cols, void* out);

// y[t * y_stride + r] = dot(W row r, activation row t) for r in
// [row_begin, row_end) and t in [0, n_tokens).
// W: rows of `cols` values of `weight`, row r at weights + r * RowBytes(weight,
// cols). Activations: n_tokens rows of ActivationRowBytes(weight, cols) bytes
// each, one after the other, written by ConvertActivations (its Q8_0/Q8_K
// values are within [-127, 127], which the SIMD paths rely on). Other
// elements of y are left as they are. Single-threaded: callers split the
// rows across threads (each call reads all n_tokens activation rows); row
// ranges that are multiples of 32 keep every panel full.
// n_tokens == 1 is the matrix-vector product of generation: the weights are
// streamed once, as a few long sequential reads. From 8 tokens, panels of
// decoded rows are multiplied with tiles of tokens held in registers; in
// between, tiles of a few rows and tokens work on the blocks directly.
void MatMul(KernelIsa isa, GgmlType weight, const void* weights, int64_t cols, int64_t row_begin, int64_t row_end,
            const void* activations, int64_t n_tokens, float* y, int64_t y_stride);

// MatMul for the tokens of one decode step over several sequences: each
// activation row t gives exactly the floats MatMul gives for it alone
// (n_tokens == 1), bit for bit on every ISA and whatever the other rows, so
// that a sequence's results do not depend on which others share its step
// (batch invariance). The weights are still read from memory once for all
// n_tokens: each tile of a few rows is reused from L1/L2 by every token,
// several tokens at a time where the kernel sums them in the one-token
// order (the 512-bit Q4_0, Q5_0 and F16 kernels and the 256-bit Q4_0 one
// take one token at a time). K-quant weights, whose every path sums in one
// order, are decoded once into the prompt panels from 4 tokens, so the
// per-thread scratch of MatMul applies there; the other types use no panels
// and no scratch. The same arguments and contract as MatMul.
void MatMulDecodeBatch(KernelIsa isa, GgmlType weight, const void* weights, int64_t cols, int64_t row_begin,
                       int64_t row_end, const void* activations, int64_t n_tokens, float* y, int64_t y_stride);

}  // namespace berth::llm

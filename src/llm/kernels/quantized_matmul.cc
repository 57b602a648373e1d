#include "llm/kernels/quantized_matmul.h"

#include <limits>
#include <memory>

#include "llm/kernels/block_formats.h"

namespace berth::llm {

uint8_t* KernelScratch(size_t bytes) {
  thread_local std::unique_ptr<uint8_t[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < bytes + 64) {
    capacity = (bytes + 64) * 5 / 4;
    buffer = std::make_unique_for_overwrite<uint8_t[]>(capacity);
  }
  const auto address = reinterpret_cast<uintptr_t>(buffer.get());
  return buffer.get() + ((64 - address % 64) % 64);
}

bool IsMatMulWeightType(GgmlType type) { return MatMulBlockSize(type) != 0; }

int64_t MatMulBlockSize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return 1;
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
      return 32;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return 256;
    default:
      return 0;
  }
}

size_t RowBytes(GgmlType type, int64_t cols) {
  const std::optional<GgmlTypeTraits> traits = TraitsOf(static_cast<uint32_t>(type));
  if (!traits || cols < 0) return 0;
  return static_cast<size_t>(cols) / traits->block_size * traits->type_size;
}

GgmlType ActivationTypeFor(GgmlType weight) {
  switch (weight) {
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ8_0:
      return weight;
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
      return GgmlType::kQ8_0;
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
      return GgmlType::kQ8_K;
    default:
      return GgmlType::kF32;
  }
}

size_t ActivationRowBytes(GgmlType weight, int64_t cols) { return RowBytes(ActivationTypeFor(weight), cols); }

void ConvertActivations(KernelIsa isa, GgmlType weight, const float* x, int64_t cols, void* out) {
  auto* bytes = static_cast<uint8_t*>(out);
  // The conversion is linear in the activations and small next to the
  // product; the AVX-512 paths use the AVX2 one (same bytes either way).
  if (isa == KernelIsa::kScalar) {
    ConvertActivationsScalar(weight, x, cols, bytes);
  } else {
    ConvertActivationsAvx2(weight, x, cols, bytes);
  }
}

namespace {

void Dispatch(KernelIsa isa, GgmlType weight, const void* weights, int64_t cols, int64_t row_begin, int64_t row_end,
              const void* activations, int64_t n_tokens, float* y, int64_t y_stride, bool decode_batch) {
  if (row_end <= row_begin || n_tokens <= 0) return;
  if (!IsMatMulWeightType(weight) || cols <= 0 || cols % MatMulBlockSize(weight) != 0) {
    // A caller's bug, not data: fail loudly in the results rather than read out of bounds.
    for (int64_t t = 0; t < n_tokens; ++t) {
      for (int64_t r = row_begin; r < row_end; ++r) y[t * y_stride + r] = std::numeric_limits<float>::quiet_NaN();
    }
    return;
  }
  const MatMulArgs args{weight,
                        static_cast<const uint8_t*>(weights),
                        RowBytes(weight, cols),
                        cols,
                        row_begin,
                        row_end,
                        static_cast<const uint8_t*>(activations),
                        ActivationRowBytes(weight, cols),
                        n_tokens,
                        y,
                        y_stride,
                        decode_batch};
  switch (isa) {
    case KernelIsa::kScalar:
      return MatMulScalar(args);  // one token at a time: every row as if alone
    case KernelIsa::kAvx2:
      return MatMulAvx2(args);
    case KernelIsa::kAvxVnni:
      return MatMulAvxVnni(args);
    case KernelIsa::kAvx512:
      return MatMulAvx512(args);
    case KernelIsa::kAvx512Vnni:
      return MatMulAvx512Vnni(args);
  }
}

}  // namespace

void MatMul(KernelIsa isa, GgmlType weight, const void* weights, int64_t cols, int64_t row_begin, int64_t row_end,
            const void* activations, int64_t n_tokens, float* y, int64_t y_stride) {
  Dispatch(isa, weight, weights, cols, row_begin, row_end, activations, n_tokens, y, y_stride, false);
}

void MatMulDecodeBatch(KernelIsa isa, GgmlType weight, const void* weights, int64_t cols, int64_t row_begin,
                       int64_t row_end, const void* activations, int64_t n_tokens, float* y, int64_t y_stride) {
  Dispatch(isa, weight, weights, cols, row_begin, row_end, activations, n_tokens, y, y_stride, true);
}

}  // namespace berth::llm

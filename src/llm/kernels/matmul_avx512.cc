// The AVX-512 path (F, BW, VL, DQ): x86_512_kernels.inc for one token and
// small token counts, x86_gemm.inc's panels of 32 rows from 8 tokens, int8
// products through vpmaddubsw + vpmaddwd. Only entered after dispatch has
// checked the CPU (kernel_isa.h); the rest of the binary stays baseline.
//
// GCC 12's AVX-512 intrinsics (_mm512_undefined_* inside extract and
// convert helpers) trip its own uninitialised-value warnings.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "llm/kernels/block_formats.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")
#endif

#define BERTH_KERNEL_VNNI 0
#define BERTH_KERNEL_TILE_DRIVER_INSIDE_ISA_FILE 1
#define BERTH_KERNEL_512 1

namespace berth::llm {
namespace {
#include "llm/kernels/tile_driver.h"
#include "llm/kernels/x86_256_kernels.inc"
#include "llm/kernels/x86_512_kernels.inc"
#include "llm/kernels/x86_gemm.inc"
}  // namespace

void MatMulAvx512(const MatMulArgs& args) {
  if (!DrivePanels<V512>(args)) DriveByType512(args);
}

}  // namespace berth::llm

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

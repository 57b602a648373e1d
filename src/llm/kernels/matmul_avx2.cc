// The AVX2 path (x86-64-v3: AVX2, FMA, F16C): x86_256_kernels.inc for one
// token and small token counts, x86_gemm.inc's panels from 8 tokens, int8
// products through vpmaddubsw + vpmaddwd. Only entered after dispatch has
// checked the CPU (kernel_isa.h); the rest of the binary stays baseline.
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

#define BERTH_KERNEL_VNNI 0
#define BERTH_KERNEL_TILE_DRIVER_INSIDE_ISA_FILE 1
#define BERTH_KERNEL_512 0

namespace berth::llm {
namespace {
#include "llm/kernels/tile_driver.h"
#include "llm/kernels/x86_256_kernels.inc"
#include "llm/kernels/x86_gemm.inc"
}  // namespace

void MatMulAvx2(const MatMulArgs& args) {
  if (!DrivePanels<V256>(args)) DriveByType(args);
}

}  // namespace berth::llm

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

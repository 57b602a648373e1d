// The AVX-VNNI path (AVX2, FMA, F16C and AVX-VNNI): as the AVX2 path, with
// the int8 products through the VEX-encoded vpdpbusd / vpdpwssd. Only
// entered after dispatch has checked the CPU (kernel_isa.h); the rest of the
// binary stays baseline.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "llm/kernels/block_formats.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
#endif

#define BERTH_KERNEL_VNNI 1
#define BERTH_KERNEL_TILE_DRIVER_INSIDE_ISA_FILE 1
#define BERTH_KERNEL_512 0

namespace berth::llm {
namespace {
#include "llm/kernels/tile_driver.h"
#include "llm/kernels/x86_256_kernels.inc"
#include "llm/kernels/x86_gemm.inc"
}  // namespace

void MatMulAvxVnni(const MatMulArgs& args) {
  if (!DrivePanels<V256>(args)) DriveByType(args);
}

}  // namespace berth::llm

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

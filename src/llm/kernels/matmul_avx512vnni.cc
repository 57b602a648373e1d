// The AVX-512-VNNI path (AVX-512 F, BW, VL, DQ and VNNI): as the AVX-512
// path, with the int8 products through vpdpbusd / vpdpwssd. Only entered
// after dispatch has checked the CPU (kernel_isa.h); the rest of the binary
// stays baseline.
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
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#endif

#define BERTH_KERNEL_VNNI 2
#define BERTH_KERNEL_TILE_DRIVER_INSIDE_ISA_FILE 1
#define BERTH_KERNEL_512 1

namespace berth::llm {
namespace {
#include "llm/kernels/tile_driver.h"
#include "llm/kernels/x86_256_kernels.inc"
#include "llm/kernels/x86_512_kernels.inc"
#include "llm/kernels/x86_gemm.inc"
}  // namespace

void MatMulAvx512Vnni(const MatMulArgs& args) {
  if (!DrivePanels<V512>(args)) DriveByType512(args);
}

}  // namespace berth::llm

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// KernelIsa: which instruction set the quantized matrix products
// (quantized_matmul.h) run with.
//
// Each ISA has its own translation unit compiled for that ISA only, so the
// binary runs on a baseline x86-64 machine and picks its path at run time.
// The scalar path is the reference every other path is tested against.
#pragma once

#include <string_view>
#include <vector>

#include "core/cpu_features.h"
#include "core/status.h"

namespace berth::llm {

enum class KernelIsa {
  kScalar,      // plain C++: the reference
  kAvx2,        // AVX2 + FMA + F16C (x86-64-v3)
  kAvx512,      // AVX-512 F/BW/VL/DQ (x86-64-v4)
  kAvx512Vnni,  // AVX-512 + VNNI (vpdpbusd on zmm)
  kAvxVnni,     // AVX2 + AVX-VNNI (VEX vpdpbusd on ymm: Alder Lake, Zen 5)
};

// "scalar", "avx2", "avx512", "avx512vnni", "avxvnni".
std::string_view KernelIsaName(KernelIsa isa);

// Whether `features` (the CPU and what the operating system saves) can run `isa`.
bool CpuRunsKernelIsa(const core::CpuFeatures& features, KernelIsa isa);

// What this CPU can run, scalar first, then in order of preference, lowest
// first (so the last is the best). Ignores BERTH_MAX_CPU_ISA and BERTH_LLM_ISA.
std::vector<KernelIsa> AvailableKernelIsas();

// The choice SelectKernelIsa makes, without the environment or the cache:
// `forced` is BERTH_LLM_ISA's value (empty: not set), `ceiling` is
// BERTH_MAX_CPU_ISA's. With nothing forced: the best ISA `features` runs
// that the ceiling allows (avx512vnni > avx512 > avxvnni > avx2 > scalar;
// the avx512 ceiling allows all four x86 paths, avx2 only avx2, as on a
// processor of the AVX2 generation, sse41 only scalar). A forced name is InvalidArgument when it is
// not one of the five, or when the CPU or the ceiling does not allow it.
core::Result<KernelIsa> ChooseKernelIsa(std::string_view forced, const core::CpuFeatures& features,
                                        core::IsaCeiling ceiling);

// The ISA the kernels use: ChooseKernelIsa with this CPU, BERTH_LLM_ISA and
// BERTH_MAX_CPU_ISA, read once at the first call and cached (thread-safe).
// The error, when there is one, is cached too: every call returns it.
core::Result<KernelIsa> SelectKernelIsa();

// The vector width, in floats, of the llama.cpp build this CPU would run:
// 16 with AVX-512 (F and DQ), else 8. berth sums F16 and Q8_0 products and
// attention in that build's order (llm/model/ordered_sums.h), whatever ISA
// its own kernels use.
int64_t LlamaVectorWidth();

}  // namespace berth::llm

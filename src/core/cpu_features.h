// CpuFeatures: what the processor berth runs on can do, read with cpuid.
//
// A feature counts only when both the processor has it and the operating
// system saves its registers on a context switch (XCR0 via xgetbv): a kernel
// or hypervisor that hides AVX-512 or AMX state makes those instructions fault
// even though cpuid lists them. Linux additionally requires a process to ask
// for AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM) before using it; oneDNN
// does that itself, so `amx_*` here reports what the hardware and XCR0 allow.
//
// DetectCpuFeatures is cheap (a few cpuid instructions), pure and
// thread-safe. On processors other than x86-64 every flag is false and only
// `architecture` and `logical_cpus` are filled in.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace berth::core {

struct CpuFeatures {
  std::string architecture;  // "x86_64", "aarch64", ...
  std::string vendor;        // cpuid vendor string, e.g. "GenuineIntel", "AuthenticAMD"
  // What the kernel shows (/proc/cpuinfo "model name", as lscpu prints it);
  // the CPUID brand string where the kernel's is unavailable.
  std::string model_name;
  // The CPUID brand string, e.g. "Intel(R) Xeon(R) Platinum 8480+". A
  // hypervisor may present a different one to the guest's processes than the
  // kernel read at boot, so the two can differ.
  std::string cpuid_brand;
  int family = 0;            // display family / model / stepping, as /proc/cpuinfo shows them
  int model = 0;
  int stepping = 0;
  int logical_cpus = 0;  // hardware threads visible to this process

  // x86-64 baseline and v2/v3 levels.
  bool sse4_1 = false;
  bool sse4_2 = false;
  bool popcnt = false;
  bool avx = false;
  bool f16c = false;
  bool fma = false;
  bool bmi1 = false;
  bool bmi2 = false;
  bool avx2 = false;
  bool avx_vnni = false;  // VEX-encoded VNNI (Alder Lake, Sapphire Rapids, Zen 5)

  // AVX-512 (x86-64-v4 = F + BW + CD + DQ + VL).
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512cd = false;
  bool avx512dq = false;
  bool avx512vl = false;
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx512_fp16 = false;

  // Advanced Matrix Extensions (Sapphire Rapids and later).
  bool amx_tile = false;
  bool amx_int8 = false;
  bool amx_bf16 = false;
  bool amx_fp16 = false;

  // What XCR0 says the operating system saves. When false, the matching
  // flags above are false too even if cpuid lists the instructions.
  bool os_saves_avx = false;
  bool os_saves_avx512 = false;
  bool os_saves_amx = false;

  // x86-64-v3: AVX2, FMA, BMI1/2, F16C, ... — the level berth's own
  // hand-vectorised loops are compiled for (target_clones), with a baseline
  // fallback.
  bool x86_64_v3() const { return avx2 && fma && bmi1 && bmi2 && f16c && avx; }
  // x86-64-v4: the AVX-512 subset every AVX-512 processor since Skylake-SP has.
  bool x86_64_v4() const { return x86_64_v3() && avx512f && avx512bw && avx512cd && avx512dq && avx512vl; }

  // The names of the features present, in the spelling of /proc/cpuinfo
  // ("avx2", "avx512f", "avx512_vnni", "amx_tile", ...).
  std::vector<std::string> Names() const;
};

CpuFeatures DetectCpuFeatures();

// The instruction-set ceiling berth dispatches to, lowest first. Set with the
// environment variable BERTH_MAX_CPU_ISA (sse41, avx2, avx512, all), so that
// the lower paths an older CPU takes can be run and tested on a newer one:
//   - berth's own vectorised loops use x86-64-v3 only from kAvx2 up;
//   - oneDNN is capped to SSE4.1, AVX2 or AVX-512 without AMX (unless
//     ONEDNN_MAX_CPU_ISA is set, which then rules oneDNN);
//   - everything that follows oneDNN's choice (blocked layouts) follows.
// A ceiling above what the CPU has changes nothing.
enum class IsaCeiling { kSse41, kAvx2, kAvx512, kAll };

// "sse41", "avx2", "avx512", "all".
std::string_view IsaCeilingName(IsaCeiling ceiling);
// Parses a BERTH_MAX_CPU_ISA value (case-insensitive); an unknown name is an
// InvalidArgument listing the known ones.
Result<IsaCeiling> ParseIsaCeiling(std::string_view text);
// BERTH_MAX_CPU_ISA as read at the first call (kAll when unset or empty). An
// invalid value also reads as kAll; CheckIsaCeilingEnvironment reports it.
IsaCeiling IsaCeilingFromEnvironment();
Status CheckIsaCeilingEnvironment();

// Whether berth's own loops run their x86-64-v3 (AVX2, FMA) versions: the CPU
// has x86-64-v3 and the ceiling allows it. Cached; thread-safe.
bool OwnKernelsUseX86_64V3();

}  // namespace berth::core

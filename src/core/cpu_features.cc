#include "core/cpu_features.h"

#include <sched.h>
#include <sys/utsname.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BERTH_X86 1
#endif

namespace berth::core {
namespace {

int CountLogicalCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return static_cast<int>(std::thread::hardware_concurrency());
}

std::string Architecture() {
  utsname name{};
  if (uname(&name) == 0) return name.machine;
  return "unknown";
}

// The first processor's "model name" in /proc/cpuinfo; empty where the file
// or the field is missing (not Linux, or an architecture that names it otherwise).
std::string KernelModelName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line) && !line.empty()) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != "model name") continue;
    const size_t begin = line.find_first_not_of(" \t", colon + 1);
    if (begin == std::string::npos) return "";
    std::string value = line.substr(begin);
    value.erase(value.find_last_not_of(" \t") + 1);
    return value;
  }
  return "";
}

#if BERTH_X86
struct Registers {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Registers Cpuid(uint32_t leaf, uint32_t subleaf = 0) {
  Registers r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool Bit(uint32_t value, int bit) { return (value >> bit) & 1u; }

uint64_t ReadXcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
}

std::string Trim(std::string text) {
  size_t begin = text.find_first_not_of(' ');
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(' ');
  return text.substr(begin, end - begin + 1);
}

void DetectX86(CpuFeatures& f) {
  const Registers leaf0 = Cpuid(0);
  const uint32_t max_leaf = leaf0.eax;
  char vendor[13] = {};
  std::memcpy(vendor + 0, &leaf0.ebx, 4);
  std::memcpy(vendor + 4, &leaf0.edx, 4);
  std::memcpy(vendor + 8, &leaf0.ecx, 4);
  f.vendor = vendor;

  const uint32_t max_extended = Cpuid(0x80000000).eax;
  if (max_extended >= 0x80000004) {
    char brand[49] = {};
    for (uint32_t i = 0; i < 3; ++i) {
      Registers r = Cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i + 0, &r.eax, 4);
      std::memcpy(brand + 16 * i + 4, &r.ebx, 4);
      std::memcpy(brand + 16 * i + 8, &r.ecx, 4);
      std::memcpy(brand + 16 * i + 12, &r.edx, 4);
    }
    f.cpuid_brand = Trim(brand);
  }
  if (max_leaf < 1) return;

  const Registers leaf1 = Cpuid(1);
  const uint32_t base_family = (leaf1.eax >> 8) & 0xF;
  const uint32_t base_model = (leaf1.eax >> 4) & 0xF;
  f.family = static_cast<int>(base_family == 0xF ? base_family + ((leaf1.eax >> 20) & 0xFF) : base_family);
  f.model = static_cast<int>(base_family == 0x6 || base_family == 0xF ? base_model + (((leaf1.eax >> 16) & 0xF) << 4)
                                                                      : base_model);
  f.stepping = static_cast<int>(leaf1.eax & 0xF);

  f.sse4_1 = Bit(leaf1.ecx, 19);
  f.sse4_2 = Bit(leaf1.ecx, 20);
  f.popcnt = Bit(leaf1.ecx, 23);
  const bool osxsave = Bit(leaf1.ecx, 27);
  const uint64_t xcr0 = osxsave ? ReadXcr0() : 0;
  f.os_saves_avx = (xcr0 & 0x6) == 0x6;                         // SSE and AVX state
  f.os_saves_avx512 = f.os_saves_avx && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  f.os_saves_amx = (xcr0 & 0x60000) == 0x60000;                 // XTILECFG, XTILEDATA

  f.avx = f.os_saves_avx && Bit(leaf1.ecx, 28);
  f.fma = f.avx && Bit(leaf1.ecx, 12);
  f.f16c = f.avx && Bit(leaf1.ecx, 29);
  if (max_leaf < 7) return;

  const Registers leaf7 = Cpuid(7, 0);
  f.bmi1 = Bit(leaf7.ebx, 3);
  f.bmi2 = Bit(leaf7.ebx, 8);
  f.avx2 = f.avx && Bit(leaf7.ebx, 5);
  if (f.os_saves_avx512) {
    f.avx512f = Bit(leaf7.ebx, 16);
    f.avx512dq = f.avx512f && Bit(leaf7.ebx, 17);
    f.avx512cd = f.avx512f && Bit(leaf7.ebx, 28);
    f.avx512bw = f.avx512f && Bit(leaf7.ebx, 30);
    f.avx512vl = f.avx512f && Bit(leaf7.ebx, 31);
    f.avx512_vnni = f.avx512f && Bit(leaf7.ecx, 11);
    f.avx512_fp16 = f.avx512f && Bit(leaf7.edx, 23);
  }
  if (f.os_saves_amx) {
    f.amx_bf16 = Bit(leaf7.edx, 22);
    f.amx_tile = Bit(leaf7.edx, 24);
    f.amx_int8 = Bit(leaf7.edx, 25);
  }
  if (leaf7.eax >= 1) {
    const Registers leaf7_1 = Cpuid(7, 1);
    f.avx_vnni = f.avx && Bit(leaf7_1.eax, 4);
    f.avx512_bf16 = f.avx512f && Bit(leaf7_1.eax, 5);
    f.amx_fp16 = f.os_saves_amx && Bit(leaf7_1.eax, 21);
  }
}
#endif

}  // namespace

std::vector<std::string> CpuFeatures::Names() const {
  std::vector<std::string> names;
  auto add = [&](bool present, const char* name) {
    if (present) names.emplace_back(name);
  };
  add(sse4_1, "sse4_1");
  add(sse4_2, "sse4_2");
  add(popcnt, "popcnt");
  add(avx, "avx");
  add(f16c, "f16c");
  add(fma, "fma");
  add(bmi1, "bmi1");
  add(bmi2, "bmi2");
  add(avx2, "avx2");
  add(avx_vnni, "avx_vnni");
  add(avx512f, "avx512f");
  add(avx512dq, "avx512dq");
  add(avx512cd, "avx512cd");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512_vnni, "avx512_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(avx512_fp16, "avx512_fp16");
  add(amx_tile, "amx_tile");
  add(amx_int8, "amx_int8");
  add(amx_bf16, "amx_bf16");
  add(amx_fp16, "amx_fp16");
  return names;
}

CpuFeatures DetectCpuFeatures() {
  CpuFeatures features;
  features.architecture = Architecture();
  features.logical_cpus = CountLogicalCpus();
#if BERTH_X86
  DetectX86(features);
#endif
  features.model_name = KernelModelName();
  if (features.model_name.empty()) features.model_name = features.cpuid_brand;
  return features;
}

std::string_view IsaCeilingName(IsaCeiling ceiling) {
  switch (ceiling) {
    case IsaCeiling::kSse41:
      return "sse41";
    case IsaCeiling::kAvx2:
      return "avx2";
    case IsaCeiling::kAvx512:
      return "avx512";
    case IsaCeiling::kAll:
      break;
  }
  return "all";
}

Result<IsaCeiling> ParseIsaCeiling(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  for (IsaCeiling ceiling : {IsaCeiling::kSse41, IsaCeiling::kAvx2, IsaCeiling::kAvx512, IsaCeiling::kAll}) {
    if (lower == IsaCeilingName(ceiling)) return ceiling;
  }
  return InvalidArgument("BERTH_MAX_CPU_ISA='{}' is not one of sse41, avx2, avx512, all", text);
}

namespace {

Result<IsaCeiling> ReadIsaCeiling() {
  const char* value = std::getenv("BERTH_MAX_CPU_ISA");
  if (value == nullptr || *value == '\0') return IsaCeiling::kAll;
  return ParseIsaCeiling(value);
}

}  // namespace

IsaCeiling IsaCeilingFromEnvironment() {
  static const IsaCeiling ceiling = [] {
    Result<IsaCeiling> read = ReadIsaCeiling();
    return read.ok() ? *read : IsaCeiling::kAll;
  }();
  return ceiling;
}

Status CheckIsaCeilingEnvironment() {
  Result<IsaCeiling> ceiling = ReadIsaCeiling();
  return ceiling.ok() ? Status::Ok() : ceiling.status();
}

bool OwnKernelsUseX86_64V3() {
  static const bool use = IsaCeilingFromEnvironment() >= IsaCeiling::kAvx2 && DetectCpuFeatures().x86_64_v3();
  return use;
}

}  // namespace berth::core

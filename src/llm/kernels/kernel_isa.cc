#include "llm/kernels/kernel_isa.h"

#include <cstdlib>
#include <string>

namespace berth::llm {
namespace {

constexpr KernelIsa kAllIsas[] = {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvxVnni, KernelIsa::kAvx512,
                                  KernelIsa::kAvx512Vnni};

bool CeilingAllows(core::IsaCeiling ceiling, KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return true;
    case KernelIsa::kAvx2:
      return ceiling >= core::IsaCeiling::kAvx2;
    case KernelIsa::kAvxVnni:
    case KernelIsa::kAvx512:
    case KernelIsa::kAvx512Vnni:
      return ceiling >= core::IsaCeiling::kAvx512;
  }
  return false;
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return lower;
}

}  // namespace

std::string_view KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return "scalar";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512";
    case KernelIsa::kAvx512Vnni:
      return "avx512vnni";
    case KernelIsa::kAvxVnni:
      return "avxvnni";
  }
  return "unknown";
}

bool CpuRunsKernelIsa(const core::CpuFeatures& f, KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return true;
    case KernelIsa::kAvx2:
      return f.avx2 && f.fma && f.f16c;
    case KernelIsa::kAvxVnni:
      return f.avx2 && f.fma && f.f16c && f.avx_vnni;
    case KernelIsa::kAvx512:
      return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case KernelIsa::kAvx512Vnni:
      return CpuRunsKernelIsa(f, KernelIsa::kAvx512) && f.avx512_vnni;
  }
  return false;
}

std::vector<KernelIsa> AvailableKernelIsas() {
  const core::CpuFeatures features = core::DetectCpuFeatures();
  std::vector<KernelIsa> isas;
  for (KernelIsa isa : kAllIsas) {
    if (CpuRunsKernelIsa(features, isa)) isas.push_back(isa);
  }
  return isas;
}

core::Result<KernelIsa> ChooseKernelIsa(std::string_view forced, const core::CpuFeatures& features,
                                        core::IsaCeiling ceiling) {
  if (forced.empty()) {
    KernelIsa best = KernelIsa::kScalar;
    for (KernelIsa isa : kAllIsas) {
      if (CpuRunsKernelIsa(features, isa) && CeilingAllows(ceiling, isa)) best = isa;
    }
    return best;
  }
  const std::string name = Lowercase(forced);
  for (KernelIsa isa : kAllIsas) {
    if (name != KernelIsaName(isa)) continue;
    if (!CpuRunsKernelIsa(features, isa)) {
      return core::InvalidArgument("BERTH_LLM_ISA={}: this CPU ({}) cannot run the {} kernels", forced,
                                   features.model_name.empty() ? features.architecture : features.model_name,
                                   KernelIsaName(isa));
    }
    if (!CeilingAllows(ceiling, isa)) {
      return core::InvalidArgument("BERTH_LLM_ISA={} is above BERTH_MAX_CPU_ISA={}", forced,
                                   core::IsaCeilingName(ceiling));
    }
    return isa;
  }
  return core::InvalidArgument("BERTH_LLM_ISA='{}' is not one of scalar, avx2, avx512, avx512vnni, avxvnni", forced);
}

int64_t LlamaVectorWidth() {
  static const int64_t width = [] {
    const core::CpuFeatures cpu = core::DetectCpuFeatures();
    return cpu.avx512f && cpu.avx512dq ? 16 : 8;
  }();
  return width;
}

core::Result<KernelIsa> SelectKernelIsa() {
  static const core::Result<KernelIsa> selected = [] {
    const char* forced = std::getenv("BERTH_LLM_ISA");
    return ChooseKernelIsa(forced == nullptr ? "" : forced, core::DetectCpuFeatures(),
                           core::IsaCeilingFromEnvironment());
  }();
  return selected;
}

}  // namespace berth::llm

// berth doctor [--json] [--cuda-version X.Y] [--driver-version-file PATH]
//
// Says whether this machine (or container) can run berth and how: the CPU's
// model and features and the kernel paths they select, the NVIDIA driver and
// the newest CUDA it supports, the CUDA runtime berth needs, the visible
// devices, and a verdict on NVIDIA's rule that an application's CUDA must not
// be newer than the driver's. Exit status 0 when the setup can work (a
// machine without a GPU running a CPU build can), 1 when it cannot.
#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "cli/command.h"
#include "core/cpu_features.h"
#include "core/logging.h"
#include "engine/kernels/common/dnnl_util.h"

namespace berth::cli {
namespace {

// NVIDIA CUDA Toolkit Release Notes, Table 3 "CUDA Toolkit and Corresponding
// Driver Versions" (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/,
// Linux x86_64 column, GA releases): the minimum driver for each toolkit. A
// driver supports every CUDA version whose minimum it meets ("the CUDA driver
// is backward compatible"; CUDA Compatibility guide,
// https://docs.nvidia.com/deploy/cuda-compatibility/). Newest first.
struct CudaDriverRequirement {
  int major;
  int minor;
  const char* minimum_driver;
};
constexpr CudaDriverRequirement kCudaDriverTable[] = {
    {13, 2, "595.45.04"}, {13, 1, "590.44.01"}, {13, 0, "580.65.06"}, {12, 9, "575.51.03"}, {12, 8, "570.26"},
    {12, 6, "560.28.03"}, {12, 5, "555.42.02"}, {12, 4, "550.54.14"}, {12, 3, "545.23.06"}, {12, 2, "535.54.03"},
    {12, 1, "530.30.02"}, {12, 0, "525.60.13"}, {11, 8, "520.61.05"}, {11, 7, "515.43.04"}, {11, 6, "510.39.01"},
    {11, 5, "495.29.05"}, {11, 4, "470.42.01"}, {11, 3, "465.19.01"}, {11, 2, "460.27.03"}, {11, 1, "455.23"},
    {11, 0, "450.51.05"}, {10, 2, "440.33"},    {10, 1, "418.39"},    {10, 0, "410.48"},    {9, 2, "396.26"},
    {9, 1, "390.46"},     {9, 0, "384.81"},     {8, 0, "367.48"},     {7, 5, "352.31"},     {7, 0, "346.46"},
};
// CUDA Compatibility guide, "Minor Version Compatibility", Table 1
// (https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html):
// the oldest driver that runs applications of a whole major version, with a
// limited feature set (no PTX JIT of newer code). 11.x: 450.80.02 per its note.
struct MinorCompatibility {
  int major;
  const char* minimum_driver;
};
constexpr MinorCompatibility kMinorCompatibility[] = {{13, "580"}, {12, "525.60.13"}, {11, "450.80.02"}};

// The CUDA runtime this binary was built against; a CUDA build defines
// BERTH_CUDA_VERSION ("12.4"). The CPU build needs no driver.
#ifdef BERTH_CUDA_VERSION
constexpr const char* kBuiltCudaVersion = BERTH_CUDA_VERSION;
#else
constexpr const char* kBuiltCudaVersion = "";
#endif

std::vector<int> ParseVersion(std::string_view text) {
  std::vector<int> parts;
  int value = 0;
  bool in_number = false;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      value = std::min(value * 10 + (c - '0'), 1000000);
      in_number = true;
    } else if (c == '.' && in_number) {
      parts.push_back(value);
      value = 0;
      in_number = false;
    } else {
      break;
    }
  }
  if (in_number) parts.push_back(value);
  return parts;
}

// Negative, zero or positive as a < b, a == b, a > b (missing parts are 0).
int CompareVersions(std::string_view a, std::string_view b) {
  std::vector<int> x = ParseVersion(a), y = ParseVersion(b);
  for (size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
    int u = i < x.size() ? x[i] : 0, v = i < y.size() ? y[i] : 0;
    if (u != v) return u < v ? -1 : 1;
  }
  return 0;
}

const CudaDriverRequirement* NewestCudaFor(std::string_view driver) {
  for (const auto& row : kCudaDriverTable) {
    if (CompareVersions(driver, row.minimum_driver) >= 0) return &row;
  }
  return nullptr;
}

const CudaDriverRequirement* RequirementFor(int major, int minor) {
  for (const auto& row : kCudaDriverTable) {
    if (row.major == major && row.minor == minor) return &row;
  }
  // A version between table rows (e.g. 12.7): the next newer row's minimum.
  const CudaDriverRequirement* newer = nullptr;
  for (const auto& row : kCudaDriverTable) {
    if (row.major > major || (row.major == major && row.minor > minor)) newer = &row;
  }
  return newer;
}

std::string ReadFile(const std::filesystem::path& path, size_t limit = 64 * 1024) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 ..."
// (or "... Open Kernel Module for x86_64  550.54.15  Release Build ...").
std::string DriverVersionFromProc(std::string_view text) {
  size_t module = text.find("Kernel Module");
  if (module == std::string_view::npos) return "";
  std::istringstream words{std::string(text.substr(module, text.find('\n', module) - module))};
  std::string word;
  while (words >> word) {
    const bool version_like = word.find('.') != std::string::npos && word.front() != '.' &&
                              word.find_first_not_of("0123456789.") == std::string::npos;
    if (version_like) return word;
  }
  return "";
}

struct GpuInfo {
  std::string driver_version;         // empty: no driver
  std::string driver_source;          // where it was read
  std::string driver_source_default;  // the version file looked for
  std::string nvml_cuda;              // newest CUDA per NVML ("12.2"), when NVML answered
  std::vector<std::string> devices;
};

// NVML, when the container runtime injected libnvidia-ml: the driver and its
// CUDA version straight from the driver, and the device names.
void QueryNvml(GpuInfo& info) {
  void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!library) return;
  using InitFn = int (*)();
  using DriverVersionFn = int (*)(char*, unsigned);
  using CudaVersionFn = int (*)(int*);
  using CountFn = int (*)(unsigned*);
  using HandleFn = int (*)(unsigned, void**);
  using NameFn = int (*)(void*, char*, unsigned);
  auto init = reinterpret_cast<InitFn>(dlsym(library, "nvmlInit_v2"));
  auto shutdown = reinterpret_cast<InitFn>(dlsym(library, "nvmlShutdown"));
  auto driver_version = reinterpret_cast<DriverVersionFn>(dlsym(library, "nvmlSystemGetDriverVersion"));
  auto cuda_version = reinterpret_cast<CudaVersionFn>(dlsym(library, "nvmlSystemGetCudaDriverVersion_v2"));
  auto count = reinterpret_cast<CountFn>(dlsym(library, "nvmlDeviceGetCount_v2"));
  auto handle = reinterpret_cast<HandleFn>(dlsym(library, "nvmlDeviceGetHandleByIndex_v2"));
  auto name = reinterpret_cast<NameFn>(dlsym(library, "nvmlDeviceGetName"));
  if (init && init() == 0) {
    char text[96] = {};
    if (driver_version && driver_version(text, sizeof(text)) == 0) {
      info.driver_version = text;
      info.driver_source = "NVML";
    }
    int cuda = 0;
    if (cuda_version && cuda_version(&cuda) == 0 && cuda > 0) {
      info.nvml_cuda = std::to_string(cuda / 1000) + "." + std::to_string((cuda % 1000) / 10);
    }
    unsigned devices = 0;
    if (count && handle && name && count(&devices) == 0) {
      for (unsigned i = 0; i < devices && i < 64; ++i) {
        void* device = nullptr;
        char device_name[96] = {};
        if (handle(i, &device) == 0 && name(device, device_name, sizeof(device_name)) == 0) {
          info.devices.push_back(std::to_string(i) + ": " + device_name);
        }
      }
    }
    if (shutdown) shutdown();
  }
  dlclose(library);
}

GpuInfo DetectGpu(const std::string& driver_version_file, bool use_nvml) {
  GpuInfo info;
  if (use_nvml) QueryNvml(info);
  if (info.driver_version.empty()) {
    std::string text = ReadFile(driver_version_file);
    info.driver_version = DriverVersionFromProc(text);
    if (!info.driver_version.empty()) info.driver_source = driver_version_file;
  }
  if (info.devices.empty()) {
    // /proc/driver/nvidia/gpus/<bus id>/information: "Model: \t NVIDIA H200".
    const auto gpus = std::filesystem::path(driver_version_file).parent_path() / "gpus";
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(gpus, error)) {
      std::istringstream lines(ReadFile(entry.path() / "information"));
      std::string line;
      while (std::getline(lines, line)) {
        if (line.rfind("Model:", 0) == 0) {
          size_t start = line.find_first_not_of(" \t", 6);
          info.devices.push_back(entry.path().filename().string() + ": " +
                                 (start == std::string::npos ? "" : line.substr(start)));
        }
      }
    }
  }
  return info;
}

std::string OneDnnIsaName(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "reference (no JIT)";
  }
}

std::string EnvironmentOr(const char* name, const char* unset) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string(unset);
}

struct DoctorArguments {
  bool json = false;
  std::string cuda_version;  // the CUDA an image/build needs; default: this build's
  std::string driver_version_file = "/proc/driver/nvidia/version";
  bool use_nvml = true;  // false when --driver-version-file names the source explicitly
};

std::string JsonString(std::string_view text) { return "\"" + core::JsonEscape(text) + "\""; }
std::string JsonStringOrNull(std::string_view text) { return text.empty() ? "null" : JsonString(text); }
std::string JsonList(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + JsonString(items[i]);
  return out + "]";
}
std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? std::string(separator) : "") + items[i];
  return out;
}

// What doctor found: the CPU and the kernels berth runs on it, the GPU side,
// and the verdict.
struct DoctorReport {
  core::CpuFeatures cpu;
  std::string onednn_isa;
  std::string ceiling;      // BERTH_MAX_CPU_ISA in force
  std::string own_kernels;  // what berth's own vectorised loops run as
  std::string int8_path;
  std::vector<std::string> missing;  // features berth could use that the CPU lacks
  GpuInfo gpu;
  std::string cuda_visible, nvidia_visible;
  bool cuda_visible_set = false, nvidia_visible_set = false;
  std::string required_cuda;  // what the build/image needs; empty for a CPU build
  std::string newest_cuda;    // what the driver supports
  std::string minimum_driver;
  std::vector<std::string> problems, notes;
  bool ok() const { return problems.empty(); }
};

void DescribeCpu(DoctorReport& r) {
  const core::CpuFeatures& cpu = r.cpu;
  engine::dnnl_util::ApplyIsaCeiling();
  r.onednn_isa = OneDnnIsaName(dnnl_get_effective_cpu_isa());
  r.ceiling = core::IsaCeilingName(core::IsaCeilingFromEnvironment());
  r.own_kernels = core::OwnKernelsUseX86_64V3() ? "x86-64-v3 (AVX2, FMA)"
                  : cpu.x86_64_v3()             ? "baseline x86-64 (SSE2): BERTH_MAX_CPU_ISA=" + r.ceiling
                                                : "baseline x86-64 (SSE2): the CPU lacks x86-64-v3";
  for (auto [present, name] : {std::pair{cpu.avx2, "avx2"}, std::pair{cpu.avx512f, "avx512f"},
                               std::pair{cpu.avx512bw, "avx512bw"}, std::pair{cpu.avx512vl, "avx512vl"},
                               std::pair{cpu.avx512_vnni || cpu.avx_vnni, "vnni"}, std::pair{cpu.amx_tile, "amx"}}) {
    if (!present) r.missing.emplace_back(name);
  }
  r.int8_path = cpu.amx_int8      ? "AMX tiles (oneDNN)"
                : cpu.avx512_vnni ? "AVX-512 VNNI (oneDNN)"
                : cpu.avx_vnni    ? "AVX-VNNI (oneDNN)"
                : cpu.avx2        ? "AVX2 without VNNI (oneDNN; slower int8)"
                                  : "reference";
  if (!cpu.sse4_1 && cpu.architecture == "x86_64") {
    r.problems.push_back("the CPU lacks SSE4.1, the least oneDNN's kernels need");
  }
}

// A CPU build: notes on a driver or GPU requests that will go unused.
void JudgeCpuBuild(DoctorReport& r) {
  if (!r.gpu.driver_version.empty()) {
    r.notes.push_back("an NVIDIA driver is present, but this berth build uses the CPU only");
    return;
  }
  r.notes.push_back("no NVIDIA GPU driver here: berth runs on the CPU (oneDNN " + r.onednn_isa + ")");
  if ((r.nvidia_visible_set && r.nvidia_visible != "void" && r.nvidia_visible != "none") || r.cuda_visible_set) {
    r.notes.push_back(
        "GPU devices are requested (NVIDIA_VISIBLE_DEVICES / CUDA_VISIBLE_DEVICES) but no driver is "
        "visible: start the container with --gpus / the nvidia runtime to use them");
  }
}

// A CUDA build: the driver must be new enough and a GPU visible.
void JudgeCudaBuild(DoctorReport& r) {
  std::vector<int> parts = ParseVersion(r.required_cuda);
  const CudaDriverRequirement* requirement = parts.size() >= 2 ? RequirementFor(parts[0], parts[1]) : nullptr;
  if (!requirement) {
    r.problems.push_back("unknown CUDA version '" + r.required_cuda + "'");
    return;
  }
  r.minimum_driver = requirement->minimum_driver;
  const std::string& driver = r.gpu.driver_version;
  if (driver.empty()) {
    r.problems.push_back("CUDA " + r.required_cuda + " needs an NVIDIA driver >= " + r.minimum_driver +
                         ", and none is visible (no " + r.gpu.driver_source_default +
                         "): install the driver, or start the container with --gpus / the nvidia runtime");
  } else if (!r.newest_cuda.empty() && CompareVersions(r.required_cuda, r.newest_cuda) > 0) {
    r.problems.push_back("CUDA " + r.required_cuda + " is newer than driver " + driver + " supports (up to CUDA " +
                         r.newest_cuda + "): the container's CUDA must not be newer than the driver's; upgrade " +
                         "the driver to >= " + r.minimum_driver + " or use a build for CUDA <= " + r.newest_cuda);
    for (const auto& compat : kMinorCompatibility) {
      if (compat.major == parts[0] && CompareVersions(driver, compat.minimum_driver) >= 0) {
        r.notes.push_back("CUDA minor version compatibility (driver >= " + std::string(compat.minimum_driver) +
                          ") may run some CUDA " + std::to_string(compat.major) +
                          ".x code on this driver, but not PTX JIT or features newer than the driver");
      }
    }
  } else if (r.newest_cuda.empty()) {
    r.problems.push_back("driver " + driver + " predates every CUDA version berth knows");
  }
  if ((r.cuda_visible_set && (r.cuda_visible.empty() || r.cuda_visible == "-1")) ||
      (r.nvidia_visible_set &&
       (r.nvidia_visible == "void" || r.nvidia_visible == "none" || r.nvidia_visible.empty()))) {
    r.problems.push_back("no GPU is visible to this process (CUDA_VISIBLE_DEVICES='" + r.cuda_visible +
                         "', NVIDIA_VISIBLE_DEVICES='" + r.nvidia_visible + "')");
  }
}

DoctorReport Examine(const DoctorArguments& args) {
  DoctorReport r;
  r.cpu = core::DetectCpuFeatures();
  DescribeCpu(r);
  r.gpu = DetectGpu(args.driver_version_file, args.use_nvml);
  r.gpu.driver_source_default = args.driver_version_file;
  r.cuda_visible = EnvironmentOr("CUDA_VISIBLE_DEVICES", "");
  r.nvidia_visible = EnvironmentOr("NVIDIA_VISIBLE_DEVICES", "");
  r.cuda_visible_set = std::getenv("CUDA_VISIBLE_DEVICES") != nullptr;
  r.nvidia_visible_set = std::getenv("NVIDIA_VISIBLE_DEVICES") != nullptr;
  r.required_cuda = args.cuda_version.empty() ? std::string(kBuiltCudaVersion) : args.cuda_version;
  if (!r.gpu.nvml_cuda.empty()) {
    r.newest_cuda = r.gpu.nvml_cuda;
  } else if (!r.gpu.driver_version.empty()) {
    if (const auto* row = NewestCudaFor(r.gpu.driver_version)) {
      r.newest_cuda = std::to_string(row->major) + "." + std::to_string(row->minor);
    }
  }
  if (r.required_cuda.empty()) {
    JudgeCpuBuild(r);
  } else {
    JudgeCudaBuild(r);
  }
  return r;
}

void PrintJson(const DoctorReport& r) {
  const core::CpuFeatures& cpu = r.cpu;
  std::cout << "{\"cpu\":{\"architecture\":" << JsonString(cpu.architecture) << ",\"vendor\":" << JsonString(cpu.vendor)
            << ",\"model_name\":" << JsonString(cpu.model_name)
            << ",\"cpuid_brand\":" << JsonStringOrNull(cpu.cpuid_brand) << ",\"family\":" << cpu.family
            << ",\"model\":" << cpu.model << ",\"stepping\":" << cpu.stepping
            << ",\"logical_cpus\":" << cpu.logical_cpus << ",\"features\":" << JsonList(cpu.Names())
            << ",\"missing\":" << JsonList(r.missing) << ",\"onednn_isa\":" << JsonString(r.onednn_isa)
            << ",\"own_kernels\":" << JsonString(r.own_kernels) << ",\"isa_ceiling\":" << JsonString(r.ceiling)
            << ",\"int8\":" << JsonString(r.int8_path) << "}"
            << ",\"gpu\":{\"driver_version\":" << JsonStringOrNull(r.gpu.driver_version)
            << ",\"driver_source\":" << JsonStringOrNull(r.gpu.driver_source)
            << ",\"newest_cuda\":" << JsonStringOrNull(r.newest_cuda) << ",\"devices\":" << JsonList(r.gpu.devices)
            << ",\"cuda_visible_devices\":" << (r.cuda_visible_set ? JsonString(r.cuda_visible) : "null")
            << ",\"nvidia_visible_devices\":" << (r.nvidia_visible_set ? JsonString(r.nvidia_visible) : "null")
            << "},\"cuda_runtime\":" << JsonStringOrNull(r.required_cuda)
            << ",\"minimum_driver\":" << JsonStringOrNull(r.minimum_driver) << ",\"ok\":" << (r.ok() ? "true" : "false")
            << ",\"problems\":" << JsonList(r.problems) << ",\"notes\":" << JsonList(r.notes) << "}\n";
}

void PrintText(const DoctorReport& r, const DoctorArguments& args) {
  const core::CpuFeatures& cpu = r.cpu;
  std::cout << "berth " << BERTH_VERSION << " (" << BERTH_GIT_REVISION << ")\n\nCPU\n";
  std::cout << "  model       " << (cpu.model_name.empty() ? cpu.architecture : cpu.model_name);
  if (!cpu.vendor.empty()) {
    std::cout << " (" << cpu.vendor << ", family " << cpu.family << " model " << cpu.model << " stepping "
              << cpu.stepping << ")";
  }
  if (!cpu.cpuid_brand.empty() && cpu.cpuid_brand != cpu.model_name) {
    std::cout << "\n  CPUID brand " << cpu.cpuid_brand << " (what cpuid answers here; the kernel names it otherwise)";
  }
  std::cout << "\n  threads     " << cpu.logical_cpus << " visible to this process\n";
  std::cout << "  features    " << (cpu.Names().empty() ? "none detected" : Join(cpu.Names(), " ")) << "\n";
  std::cout << "  missing     " << (r.missing.empty() ? "nothing berth can use" : Join(r.missing, " ")) << "\n";
  std::cout << "  kernels     oneDNN (Conv, MatMul, Gemm, pooling, normalisation, softmax): " << r.onednn_isa << "\n";
  std::cout << "              berth's own vectorised loops: " << r.own_kernels << "\n";
  std::cout << "              int8 (QLinear*, *Integer): " << r.int8_path << "\n";
  std::cout << "  ceiling     BERTH_MAX_CPU_ISA=" << r.ceiling
            << (r.ceiling == "all" ? " (no limit below what the CPU has)" : " (lower paths forced)") << "\n\nGPU\n";
  if (r.gpu.driver_version.empty()) {
    std::cout << "  driver      none (" << args.driver_version_file << " is absent and NVML is not loadable)\n";
  } else {
    std::cout << "  driver      NVIDIA " << r.gpu.driver_version << " (from " << r.gpu.driver_source << ")\n";
    std::cout << "  newest CUDA " << (r.newest_cuda.empty() ? "unknown" : r.newest_cuda)
              << " supported by this driver\n";
  }
  std::cout << "  devices     " << (r.gpu.devices.empty() ? "none found" : Join(r.gpu.devices, ", ")) << "\n";
  std::cout << "  visible     CUDA_VISIBLE_DEVICES=" << (r.cuda_visible_set ? r.cuda_visible : "(unset)")
            << "  NVIDIA_VISIBLE_DEVICES=" << (r.nvidia_visible_set ? r.nvidia_visible : "(unset)") << "\n";
  std::cout << "  CUDA        " << (r.required_cuda.empty() ? "none: this is a CPU build" : r.required_cuda)
            << (args.cuda_version.empty() ? "" : " (--cuda-version)");
  if (!r.minimum_driver.empty()) std::cout << ", needs driver >= " << r.minimum_driver;
  std::cout << "\n\nVerdict\n";
  for (const auto& note : r.notes) std::cout << "  note: " << note << "\n";
  for (const auto& problem : r.problems) std::cout << "  PROBLEM: " << problem << "\n";
  std::cout << (r.ok() ? "  ok: this setup can run berth\n" : "  not ok: this setup cannot work as it is\n");
}

int Doctor(const DoctorArguments& args) {
  const DoctorReport report = Examine(args);
  if (args.json) {
    PrintJson(report);
  } else {
    PrintText(report, args);
  }
  return report.ok() ? 0 : 1;
}

}  // namespace

void AddDoctorCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<DoctorArguments>();
  CLI::App* cmd = app.add_subcommand("doctor", "Check CPU features, NVIDIA driver and CUDA compatibility");
  cmd->add_flag("--json", args->json, "print one JSON object instead of text");
  cmd->add_option("--cuda-version", args->cuda_version,
                  "check for an image/build needing this CUDA version (default: this build's; none for CPU builds)");
  CLI::Option* driver_file =
      cmd->add_option("--driver-version-file", args->driver_version_file,
                      "read the NVIDIA driver version from this file instead of NVML / the default")
          ->capture_default_str();
  cmd->footer("Exit status: 0 when the setup can work, 1 when it cannot.");
  cmd->callback([args, exit_code, driver_file] {
    args->use_nvml = driver_file->count() == 0;
    *exit_code = Doctor(*args);
  });
}

}  // namespace berth::cli

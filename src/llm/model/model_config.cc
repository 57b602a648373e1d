#include "llm/model/model_config.h"

#include <fmt/format.h>

#include <array>
#include <cmath>

namespace berth::llm {
namespace {

using core::InvalidArgument;

constexpr std::array<ArchitectureTraits, 3> kArchitectures = {{
    {"llama", RopeOrder::kNormal, false, false},
    {"qwen2", RopeOrder::kNeox, true, false},
    {"qwen3", RopeOrder::kNeox, false, true},
}};

// Bounds far above any real model, low enough that products of them cannot
// overflow int64 and that a hostile file cannot make berth allocate
// absurd buffers before the tensor checks would catch it.
constexpr int64_t kMaxDimension = int64_t{1} << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxContext = int64_t{1} << 24;

class Keys {
 public:
  Keys(const GgufFile& file, std::string_view arch) : file_(file), arch_(arch) {}

  core::Result<int64_t> Int(std::string_view suffix, int64_t low, int64_t high) const {
    std::string key = fmt::format("{}.{}", arch_, suffix);
    ASSIGN_OR_RETURN(int64_t value, file_.GetInt(key));
    if (value < low || value > high) {
      return InvalidArgument("{}: metadata '{}' is {}, outside [{}, {}]", file_.name(), key, value, low, high);
    }
    return value;
  }
  core::Result<int64_t> IntOr(std::string_view suffix, int64_t fallback, int64_t low, int64_t high) const {
    if (!file_.Find(fmt::format("{}.{}", arch_, suffix))) return fallback;
    return Int(suffix, low, high);
  }
  core::Result<double> FloatOr(std::string_view suffix, double fallback, double low, double high) const {
    std::string key = fmt::format("{}.{}", arch_, suffix);
    if (!file_.Find(key)) return fallback;
    ASSIGN_OR_RETURN(double value, file_.GetFloat(key));
    if (!(value >= low && value <= high)) {
      return InvalidArgument("{}: metadata '{}' is {}, outside [{}, {}]", file_.name(), key, value, low, high);
    }
    return value;
  }

 private:
  const GgufFile& file_;
  std::string_view arch_;
};

}  // namespace

const ArchitectureTraits* FindArchitecture(std::string_view name) {
  for (const ArchitectureTraits& traits : kArchitectures) {
    if (traits.name == name) return &traits;
  }
  return nullptr;
}

std::string SupportedArchitectures() {
  std::string names;
  for (const ArchitectureTraits& traits : kArchitectures) {
    if (!names.empty()) names += ", ";
    names += traits.name;
  }
  return names;
}

core::Result<ModelConfig> ReadModelConfig(const GgufFile& file, int64_t n_vocab) {
  ASSIGN_OR_RETURN(std::string_view arch_name, file.GetString("general.architecture"));
  ModelConfig config;
  config.arch = FindArchitecture(arch_name);
  if (!config.arch) {
    return InvalidArgument("{}: architecture '{}' is not supported (berth runs: {})", file.name(), arch_name,
                           SupportedArchitectures());
  }
  Keys keys(file, arch_name);
  config.n_vocab = n_vocab;
  ASSIGN_OR_RETURN(config.n_embd, keys.Int("embedding_length", 1, kMaxDimension));
  ASSIGN_OR_RETURN(config.n_layer, keys.Int("block_count", 1, kMaxLayers));
  ASSIGN_OR_RETURN(config.n_head, keys.Int("attention.head_count", 1, kMaxDimension));
  ASSIGN_OR_RETURN(config.n_head_kv, keys.IntOr("attention.head_count_kv", config.n_head, 1, kMaxDimension));
  ASSIGN_OR_RETURN(config.n_ff, keys.Int("feed_forward_length", 1, kMaxDimension));
  ASSIGN_OR_RETURN(config.context_length, keys.Int("context_length", 1, kMaxContext));
  if (config.n_embd % config.n_head != 0 && !file.Find(fmt::format("{}.attention.key_length", arch_name))) {
    return InvalidArgument("{}: embedding_length {} is not a multiple of head_count {}", file.name(), config.n_embd,
                           config.n_head);
  }
  ASSIGN_OR_RETURN(config.head_dim,
                   keys.IntOr("attention.key_length", config.n_embd / config.n_head, 1, kMaxDimension));
  ASSIGN_OR_RETURN(int64_t value_length, keys.IntOr("attention.value_length", config.head_dim, 1, kMaxDimension));
  if (value_length != config.head_dim) {
    return InvalidArgument("{}: attention.value_length {} differs from key_length {} (not supported)", file.name(),
                           value_length, config.head_dim);
  }
  if (config.n_head % config.n_head_kv != 0) {
    return InvalidArgument("{}: attention.head_count {} is not a multiple of head_count_kv {}", file.name(),
                           config.n_head, config.n_head_kv);
  }
  if (config.head_dim % 2 != 0) {
    return InvalidArgument("{}: head size {} is odd; RoPE needs pairs", file.name(), config.head_dim);
  }
  ASSIGN_OR_RETURN(config.n_rot, keys.IntOr("rope.dimension_count", config.head_dim, 2, config.head_dim));
  if (config.n_rot % 2 != 0) {
    return InvalidArgument("{}: rope.dimension_count {} is odd", file.name(), config.n_rot);
  }
  ASSIGN_OR_RETURN(double eps, keys.FloatOr("attention.layer_norm_rms_epsilon", 1e-5, 0.0, 1.0));
  config.rms_eps = static_cast<float>(eps);
  ASSIGN_OR_RETURN(double base, keys.FloatOr("rope.freq_base", 10000.0, 1e-3, 1e12));
  config.rope_freq_base = static_cast<float>(base);

  // RoPE scaling: "linear" divides positions by the factor; "llama3" is
  // carried by the rope_freqs.weight tensor; "none" and absent do nothing.
  std::string scaling_key = fmt::format("{}.rope.scaling.type", arch_name);
  std::string_view scaling = "none";
  if (file.Find(scaling_key)) {
    ASSIGN_OR_RETURN(scaling, file.GetString(scaling_key));
  }
  ASSIGN_OR_RETURN(double factor, keys.FloatOr("rope.scaling.factor", 0.0, 0.0, 1e6));
  if (scaling == "linear") {
    if (factor > 0) config.rope_freq_scale = static_cast<float>(1.0 / factor);
  } else if (scaling != "none" && scaling != "llama3") {
    return InvalidArgument("{}: rope scaling '{}' is not supported (none, linear, llama3)", file.name(), scaling);
  }
  return config;
}

}  // namespace berth::llm

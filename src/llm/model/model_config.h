// ModelConfig: the hyperparameters of a GGUF language model, read from its
// metadata ("{arch}.block_count", "{arch}.attention.head_count", ...) and
// checked against each other before any tensor is looked at.
//
// Architectures: `llama` (Llama 2 and 3.x, TinyLlama, SmolLM2, Mistral
// without sliding window), `qwen2` (q/k/v biases, NEOX RoPE) and `qwen3`
// (per-head q/k RMSNorm, NEOX RoPE). What differs between them is data in
// ArchitectureTraits, not branches in the forward pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/gguf/gguf_file.h"

namespace berth::llm {

// Which pairs of a head's dimensions RoPE rotates together: kNormal rotates
// (2i, 2i+1) (llama), kNeox rotates (i, i + n_rot/2) (qwen2, qwen3).
enum class RopeOrder { kNormal, kNeox };

struct ArchitectureTraits {
  std::string_view name;
  RopeOrder rope_order = RopeOrder::kNormal;
  bool qkv_bias = false;  // attn_q/k/v.bias tensors
  bool qk_norm = false;   // attn_q_norm/attn_k_norm.weight (per head)
};
// nullptr for architectures berth does not run.
const ArchitectureTraits* FindArchitecture(std::string_view name);
// "llama, qwen2, qwen3": for error messages.
std::string SupportedArchitectures();

struct ModelConfig {
  const ArchitectureTraits* arch = nullptr;
  int64_t n_vocab = 0;
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // key/value length per head
  int64_t n_ff = 0;
  int64_t context_length = 0;  // what the model was trained for
  float rms_eps = 1e-5f;

  // RoPE: theta_i = pos * freq_scale * freq_base^(-2i/n_rot), divided by
  // the rope_freqs.weight factors where the file has them (Llama 3.x's
  // scaling is written that way by its converter).
  int64_t n_rot = 0;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / linear scaling factor

  int64_t n_head_per_kv() const { return n_head / n_head_kv; }
  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
};

// Reads and checks the configuration; `n_vocab` is the vocabulary's size (the
// token list's length). Errors name the file and the key.
core::Result<ModelConfig> ReadModelConfig(const GgufFile& file, int64_t n_vocab);

}  // namespace berth::llm

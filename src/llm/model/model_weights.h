// ModelWeights: the tensors of a GGUF language model bound to their roles,
// each checked for presence, shape and type against the ModelConfig before
// the first token runs. Weights stay in the file's mapping: the matrices
// here are views, never copies.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "llm/gguf/gguf_file.h"
#include "llm/model/model_config.h"

namespace berth::llm {

// A weight matrix of `rows` rows of `cols` values in ggml type `type`
// (GGUF dims [cols, rows]); row r starts at data + r * row_bytes.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const char* data = nullptr;
  int64_t cols = 0;
  int64_t rows = 0;
  uint64_t row_bytes = 0;
  const char* row(int64_t r) const { return data + static_cast<uint64_t>(r) * row_bytes; }
};

struct LayerWeights {
  const float* attn_norm = nullptr;
  WeightMatrix wq, wk, wv, wo;
  const float* bq = nullptr;  // qwen2: biases of q/k/v
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // qwen3: per-head RMSNorm of q and k
  const float* k_norm = nullptr;
  const float* ffn_norm = nullptr;
  WeightMatrix gate, up, down;
};

struct ModelWeights {
  WeightMatrix token_embd;
  const float* output_norm = nullptr;
  WeightMatrix output;  // token_embd when the file ties them
  bool tied_output = false;
  const float* rope_freqs = nullptr;  // n_rot / 2 divisors of RoPE's angles, or nullptr
  std::vector<LayerWeights> layers;
  uint64_t bytes = 0;       // what the tensors take in the file
  uint64_t parameters = 0;  // their element count
};

// Types the engine multiplies with.
bool IsComputeType(GgmlType type);

// Binds every tensor the architecture needs; InvalidArgument naming the
// tensor and what is wrong (missing, wrong shape, unsupported type, unknown
// extra tensor).
core::Result<ModelWeights> BindModelWeights(const GgufFile& file, const ModelConfig& config);

}  // namespace berth::llm

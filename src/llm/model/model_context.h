// ModelContext: one sequence being run through a LanguageModel — its KV
// cache (F16 by default, F32 on request), sized from the context length,
// and the scratch buffers of the forward pass. Tokens are appended with
// Evaluate; the cache can be cut back to a prefix with Truncate (a new
// prompt that shares a prefix with the last one reuses it).
//
// Not thread-safe: one caller at a time. The work inside Evaluate is split
// over `threads` OpenMP threads (weight rows for the matrix products, heads
// for attention); several contexts may run the same model at once. A
// BatchDecoder (batch_decoder.h) runs the next token of several contexts in
// one step, with the same results as Evaluate gives each alone.
//
// Numerics follow llama.cpp's CPU backend so that greedy decoding gives the
// same tokens: RMSNorm sums squares in double; RoPE angles are built by
// repeated multiplication in float; activations are converted to the
// weights' "dot type" (Q8_0, Q8_K, F16, ...) before each product; with the
// F16 cache, q is rounded to F16 for q·k and the attention weights to F16
// for their product with v.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "llm/kernels/kernel_isa.h"
#include "llm/model/kv_cache.h"
#include "llm/model/language_model.h"

namespace berth::llm {

class BatchDecoder;
class ForwardStep;

struct ContextOptions {
  int64_t context_size = 0;  // 0: the model's context length (capped at 4096, see CreateContext)
  KvCacheType kv_type = KvCacheType::kF16;
  int threads = 0;           // 0: all hardware threads
  int64_t batch_size = 512;  // tokens per forward step while reading a prompt
};

// Which logits Evaluate returns.
// kHidden: instead of logits, every token's final hidden state (after the
// output norm, n_embd floats per token): what embeddings pool.
enum class LogitsWanted { kNone, kLast, kAll, kHidden };

class ModelContext {
 public:
  static core::Result<std::unique_ptr<ModelContext>> Create(std::shared_ptr<const LanguageModel> model,
                                                            const ContextOptions& options = {});
  ~ModelContext();

  // Runs `tokens` at positions [position(), position() + n), filling the KV
  // cache. `logits` gets n_vocab floats (kLast), n * n_vocab (kAll, one
  // row per token) or n * n_embd (kHidden). InvalidArgument for a token id outside the vocabulary;
  // ResourceExhausted when the context would overflow (nothing is run then).
  core::Status Evaluate(std::span<const int32_t> tokens, LogitsWanted wanted, std::vector<float>* logits);

  int64_t position() const { return position_; }
  int64_t context_size() const { return cache_->context_size(); }
  // Forgets everything from position n on (n <= position()).
  void Truncate(int64_t n);

  const LanguageModel& model() const { return *model_; }
  int threads() const;
  KernelIsa isa() const;
  uint64_t kv_cache_bytes() const { return cache_->bytes(); }

 private:
  friend class BatchDecoder;  // runs the cache and advances the position
  ModelContext() = default;

  std::shared_ptr<const LanguageModel> model_;
  int64_t batch_size_ = 0;
  int64_t position_ = 0;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<ForwardStep> step_;  // scratch for batch_size tokens
};

}  // namespace berth::llm

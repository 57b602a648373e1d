// ModelContext: one sequence being run through a LanguageModel — its KV
// cache (F16 by default, F32 on request), sized from the context length,
// and the scratch buffers of the forward pass. Tokens are appended with
// Evaluate; the cache can be cut back to a prefix with Truncate (a new
// prompt that shares a prefix with the last one reuses it).
//
// Not thread-safe: one caller at a time. The work inside Evaluate is split
// over `threads` OpenMP threads (weight rows for the matrix products, heads
// for attention); several contexts may run the same model at once.
//
// Numerics follow llama.cpp's CPU backend so that greedy decoding gives the
// same tokens: RMSNorm sums squares in double; RoPE angles are built by
// repeated multiplication in float; activations are converted to the
// weights' "dot type" (Q8_0, Q8_K, F16, ...) before each product; with the
// F16 cache, q is rounded to F16 for q·k and the attention weights to F16
// for their product with v.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/status.h"
#include "llm/kernels/kernel_isa.h"
#include "llm/model/language_model.h"

namespace berth::llm {

enum class KvCacheType { kF16, kF32 };

struct ContextOptions {
  int64_t context_size = 0;  // 0: the model's context length (capped at 4096, see CreateContext)
  KvCacheType kv_type = KvCacheType::kF16;
  int threads = 0;           // 0: all hardware threads
  int64_t batch_size = 512;  // tokens per forward step while reading a prompt
};

// Which logits Evaluate returns.
enum class LogitsWanted { kNone, kLast, kAll };

class ModelContext {
 public:
  static core::Result<std::unique_ptr<ModelContext>> Create(std::shared_ptr<const LanguageModel> model,
                                                            const ContextOptions& options = {});
  ~ModelContext();

  // Runs `tokens` at positions [position(), position() + n), filling the KV
  // cache. `logits` gets n_vocab floats (kLast) or n * n_vocab (kAll, one
  // row per token). InvalidArgument for a token id outside the vocabulary;
  // ResourceExhausted when the context would overflow (nothing is run then).
  core::Status Evaluate(std::span<const int32_t> tokens, LogitsWanted wanted, std::vector<float>* logits);

  int64_t position() const { return position_; }
  int64_t context_size() const { return context_size_; }
  // Forgets everything from position n on (n <= position()).
  void Truncate(int64_t n);

  const LanguageModel& model() const { return *model_; }
  int threads() const { return threads_; }
  KernelIsa isa() const { return isa_; }
  uint64_t kv_cache_bytes() const;

 private:
  struct Scratch;
  ModelContext() = default;
  // One step of n <= batch_size tokens; logits for the last row, or all.
  void Forward(const int32_t* tokens, int64_t n, bool all_logits, float* logits);
  // Its parts: embeddings and RoPE angles; per layer, q/k/v into the cache,
  // attention over the cache, the feed-forward block.
  void Embed(const int32_t* tokens, int64_t n);
  void Rope(float* head, int64_t t) const;
  void QueryKeyValue(int64_t layer, int64_t n);
  void Attention(int64_t layer, int64_t n);
  void FeedForward(int64_t layer, int64_t n);
  // n rows of `cols` floats at x into the dot type of `type` (scratch), then
  // their products with m: y is n rows of m.rows.
  void Convert(GgmlType type, const float* x, int64_t cols, int64_t n);
  void Multiply(const WeightMatrix& m, int64_t n, float* y);
  // RMSNorm of the residual rows with `norm`, then each (matrix, output).
  void NormAndMultiply(const float* norm, std::initializer_list<std::pair<const WeightMatrix*, float*>> products,
                       int64_t n);
  uint64_t CacheOffset(int64_t layer, int64_t kv_head, int64_t position) const;

  std::shared_ptr<const LanguageModel> model_;
  int64_t context_size_ = 0;
  int64_t batch_size_ = 0;
  int64_t position_ = 0;
  int threads_ = 1;
  KernelIsa isa_ = KernelIsa::kScalar;
  KvCacheType kv_type_ = KvCacheType::kF16;
  // Per layer, per KV head: context_size rows of head_dim values (K and V).
  std::unique_ptr<uint16_t[]> k16_, v16_;
  std::unique_ptr<float[]> k32_, v32_;
  uint64_t cache_values_ = 0;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace berth::llm

// ForwardStep: the forward pass of one step over rows of tokens, each row
// belonging to a sequence (its KV cache and position), with the scratch for
// up to `max_rows` rows. Internal to llm/model: ModelContext runs a prompt's
// chunks through it (one sequence, consecutive positions, the multi-token
// kernels), BatchDecoder a decode step (one row per sequence, each row
// computed exactly as it would be alone).
//
// Per layer: RMSNorm and the q/k/v products over all rows at once (each
// weight matrix read once per step), RoPE at each row's position, each row's
// K/V into its sequence's cache, attention per (row, head) over that row's
// cache, the output product and the feed-forward block over all rows.
//
// Not thread-safe: one step at a time. The work inside a step is split over
// `threads` OpenMP threads; no row's arithmetic depends on that split.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "llm/kernels/kernel_isa.h"
#include "llm/model/kv_cache.h"
#include "llm/model/language_model.h"

namespace berth::llm {

// Consecutive rows of one step that belong to one sequence.
struct SequenceRows {
  KvCache* cache;
  int64_t position;  // of the first row; the others follow it
  int64_t rows;
};

// How a step treats its rows.
enum class StepKind {
  // One sequence's chunk of a prompt (or its one next token): llama.cpp's
  // orders for that many tokens (multi-token kernels from 2 tokens on).
  kChunk,
  // A decode step: every row as if it were alone in its step (one token of
  // its sequence): MatMulDecodeBatch, SwiGLU row by row, attention in the
  // one-token order. Batch invariance rests on this.
  kEachRowAlone,
};

class ForwardStep {
 public:
  // threads >= 1, max_rows >= 1; the caller checked the model's sizes.
  ForwardStep(std::shared_ptr<const LanguageModel> model, int threads, KernelIsa isa, int64_t max_rows);
  ~ForwardStep();

  // Makes room for attention over caches of up to `context_size` positions
  // (allocates only when it grows).
  void ReserveContext(int64_t context_size);

  // Runs `tokens`, one per row, the rows of `sequences` one after the other
  // (at most max_rows in all; ids inside the vocabulary; each sequence's
  // positions inside its cache, which ReserveContext covered), writing each
  // row's K/V at its position. Logits of rows [first_logits_row, rows) go to
  // `logits` (n_vocab floats per row), none when it is null. With `hidden`,
  // those rows' final hidden states (after the output norm, n_embd floats
  // per row) go there instead: what embeddings pool.
  void Run(std::span<const SequenceRows> sequences, const int32_t* tokens, StepKind kind, int64_t first_logits_row,
           float* logits, bool hidden = false);

  int threads() const { return threads_; }
  KernelIsa isa() const { return isa_; }
  int64_t max_rows() const { return max_rows_; }

 private:
  struct Scratch;
  // Where row t of the step belongs: its sequence and its position there.
  struct RowPlace {
    const SequenceRows* sequence;
    int64_t position;
  };
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

  std::shared_ptr<const LanguageModel> model_;
  int threads_ = 1;
  KernelIsa isa_ = KernelIsa::kScalar;
  int64_t max_rows_ = 0;
  int64_t context_capacity_ = 0;
  StepKind kind_ = StepKind::kChunk;
  std::vector<RowPlace> rows_;  // of the current step
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace berth::llm

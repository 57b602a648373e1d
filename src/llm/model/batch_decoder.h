// BatchDecoder: one decode step for several sequences at once — the next
// token of each of up to `max_batch` ModelContexts in one forward pass, every
// weight matrix read from memory once for all of them (generation is bound
// by that read, so a step of n sequences costs far less than n steps of one).
// The engine half of continuous batching: a scheduler calls Decode once per
// step with the sequences that are decoding now.
//
// Batch invariance: the logits Decode gives a sequence are bit for bit those
// ModelContext::Evaluate gives for the same token on that sequence alone
// (one token, LogitsWanted::kLast), and its KV cache ends the same, whatever
// else shares the step: how many sequences, in which order, at which
// positions, with which caches (F16 or F32), on every kernel ISA and at any
// thread count. So at temperature 0 a sequence's tokens do not depend on the
// batch. Each row is computed as the one-token path computes it (the
// products through MatMulDecodeBatch, SwiGLU per row, attention over the
// row's own cache in the one-token order); only the weights' reads are
// shared. (A prompt's chunk in Evaluate sums in llama.cpp's multi-token
// orders instead: the tokens that follow a prompt are the same batched or
// not, but a prompt evaluated in one chunk and the same tokens evaluated
// one by one may differ, as in llama.cpp.)
//
// Sequences come and go between steps: Decode takes whichever contexts it is
// given. A sequence's prompt runs through its own context's Evaluate between
// steps (Evaluate and Decode never run at once on one context); Truncate
// rewinds a context as before. Every context must run the decoder's
// LanguageModel; the contexts' own thread counts and batch sizes do not
// matter here.
//
// Not thread-safe: one Decode at a time per decoder (its scratch is shared
// by the rows). The work inside is split over `threads` OpenMP threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/status.h"
#include "llm/model/language_model.h"
#include "llm/model/model_context.h"

namespace berth::llm {

struct BatchOptions {
  int64_t max_batch = 16;  // sequences per step, 1 to 1024
  int threads = 0;         // 0: all hardware threads
};

class ForwardStep;

class BatchDecoder {
 public:
  static core::Result<std::unique_ptr<BatchDecoder>> Create(std::shared_ptr<const LanguageModel> model,
                                                            const BatchOptions& options = {});
  ~BatchDecoder();

  // Runs tokens[i] on sequences[i] at its position() for every i, in one
  // step, and advances each position by one. `logits` gets n_vocab floats
  // per sequence, in their order (n * n_vocab; may be null). InvalidArgument
  // when the spans' sizes differ, n exceeds max_batch, a context is null,
  // appears twice or runs another model, or a token id is outside the
  // vocabulary; ResourceExhausted when a context is full. Nothing is run
  // then. n == 0 is an empty step.
  core::Status Decode(std::span<ModelContext* const> sequences, std::span<const int32_t> tokens, float* logits);

  const LanguageModel& model() const { return *model_; }
  int64_t max_batch() const;
  int threads() const;

 private:
  BatchDecoder() = default;
  std::shared_ptr<const LanguageModel> model_;
  std::unique_ptr<ForwardStep> step_;
};

}  // namespace berth::llm

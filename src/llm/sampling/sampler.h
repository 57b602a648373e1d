// Sampler: picks the next token from a row of logits.
//
// The steps run in llama.cpp's default order, so that the same settings
// mean the same thing in both: logit bias; repetition, frequency and
// presence penalties over the last `penalty_last_n` tokens; then greedy
// (temperature <= 0) or top-k, top-p, min-p, temperature, and a draw from
// the resulting distribution with a seeded generator (the same seed and
// inputs give the same tokens on every run and machine).
//
// Log-probabilities are those of the model (log-softmax of the raw logits,
// before any of the steps above), as OpenAI's API reports them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "core/status.h"

namespace berth::llm {

struct SamplingParams {
  float temperature = 0.8f;     // <= 0: greedy
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; logits > 0 are divided by it, < 0 multiplied
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t penalty_last_n = 64;          // tokens the penalties look back over; -1: all
  std::map<int32_t, float> logit_bias;  // added to the logits; -inf bans a token
  std::optional<uint64_t> seed;         // none: a random seed
  int32_t top_logprobs = 0;             // how many alternatives to report per token
  bool logprobs = true;                 // false: SampledToken::logprob is left 0 and top_logprobs
                                        // ignored (saves a pass of exp over the vocabulary per token)

  // InvalidArgument naming the field for values outside their range.
  core::Status Validate(int64_t n_vocab) const;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
};

struct SampledToken {
  int32_t token = 0;
  float logprob = 0;              // of `token` under the model
  std::vector<TokenLogprob> top;  // the top_logprobs most likely, best first
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params);
  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }

  // `history`: the tokens so far (prompt and generated), for the penalties.
  // `allowed`: when not empty, a bitmask over the vocabulary (bit i of word
  // i / 64, as GrammarMatcher::FillMask makes it); only tokens whose bit is
  // set can be drawn. The reported log-probabilities stay the model's.
  SampledToken Sample(std::span<const float> logits, std::span<const int32_t> history,
                      std::span<const uint64_t> allowed = {});

 private:
  int32_t Draw();  // top-k, top-p, min-p, temperature and a draw over work_

  SamplingParams params_;
  uint64_t seed_ = 0;
  std::vector<double> probability_;
  std::mt19937_64 random_;
  std::vector<float> work_;
  std::vector<int32_t> candidates_;
};

}  // namespace berth::llm

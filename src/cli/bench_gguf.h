// berth bench MODEL.gguf: times a language model — load, reading a prompt,
// generating — and prints one JSON line (cli/bench_command.cc picks it by
// extension).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace berth::cli {

struct LlmBenchOptions {
  int64_t prompt_tokens = 512;
  int64_t gen_tokens = 128;
  int64_t context_size = 0;  // 0: prompt + generated
  std::string kv_type = "f16";
  int threads = 0;
  bool bandwidth = false;  // also measure the read bandwidth and the roofline it sets
  int64_t parallel = 0;    // > 0: that many sequences, generating together in batched steps
};

bool IsGgufPath(const std::string& path);

// {"model","threads","isa","load_ms","pp_tok_s","tg_tok_s","peak_rss_mb","weights_mb",
//  "read_per_token_mb","kv_cache_mb"[,"read_gb_s","roofline_tok_s"]}
// With `parallel` N: N sequences, each its own prompt of prompt_tokens
// (read one after the other), then gen_tokens BatchDecoder steps of all N;
// tg_tok_s is then the aggregate over the N sequences, and "parallel",
// "tg_step_ms" are added.
core::Status BenchGguf(const std::string& path, const LlmBenchOptions& options);

}  // namespace berth::cli

#include "cli/bench_gguf.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/memory_bandwidth.h"
#include "cli/process_stats.h"
#include "core/logging.h"
#include "core/parallel.h"
#include "llm/model/batch_decoder.h"
#include "llm/model/language_model.h"
#include "llm/model/model_context.h"

namespace berth::cli {
namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// A fixed pseudo-random prompt of ordinary tokens, one per sequence: speed
// does not depend on which tokens they are.
std::vector<int32_t> BenchPrompt(int64_t length, int64_t vocab, uint64_t sequence) {
  std::vector<int32_t> prompt(static_cast<size_t>(length));
  uint64_t state = 0x9e3779b97f4a7c15ull + sequence;
  for (int32_t& token : prompt) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    token = static_cast<int32_t>((state >> 33) % static_cast<uint64_t>(vocab));
  }
  return prompt;
}

int32_t Greedy(const float* logits, int64_t vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

// gen_tokens steps of all the contexts through one BatchDecoder, each
// sequence taking its greedy token; `logits` holds each one's last.
core::Status GenerateBatched(const std::shared_ptr<const llm::LanguageModel>& model,
                             const std::vector<std::unique_ptr<llm::ModelContext>>& contexts, int threads,
                             int64_t steps, std::vector<float>* logits) {
  const int64_t vocab = model->config().n_vocab;
  const auto n = static_cast<int64_t>(contexts.size());
  ASSIGN_OR_RETURN(std::unique_ptr<llm::BatchDecoder> decoder,
                   llm::BatchDecoder::Create(model, {.max_batch = n, .threads = threads}));
  std::vector<llm::ModelContext*> sequences;
  for (const auto& context : contexts) sequences.push_back(context.get());
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  for (int64_t i = 0; i < steps; ++i) {
    for (int64_t s = 0; s < n; ++s) tokens[static_cast<size_t>(s)] = Greedy(logits->data() + s * vocab, vocab);
    RETURN_IF_ERROR(decoder->Decode(sequences, tokens, logits->data()));
  }
  return core::Status::Ok();
}

}  // namespace

bool IsGgufPath(const std::string& path) { return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0; }

core::Status BenchGguf(const std::string& path, const LlmBenchOptions& options) {
  if (options.prompt_tokens < 1 || options.gen_tokens < 0) {
    return core::InvalidArgument("--prompt-tokens must be at least 1 and --gen-tokens at least 0");
  }
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::shared_ptr<const llm::LanguageModel> model, llm::LanguageModel::Open(path));
  llm::ContextOptions context_options;
  context_options.context_size =
      options.context_size > 0 ? options.context_size : options.prompt_tokens + options.gen_tokens;
  context_options.threads = options.threads;
  context_options.kv_type = options.kv_type == "f32" ? llm::KvCacheType::kF32 : llm::KvCacheType::kF16;
  const int64_t sequences = std::max<int64_t>(1, options.parallel);
  std::vector<std::unique_ptr<llm::ModelContext>> contexts;
  for (int64_t s = 0; s < sequences; ++s) {
    ASSIGN_OR_RETURN(std::unique_ptr<llm::ModelContext> context, llm::ModelContext::Create(model, context_options));
    contexts.push_back(std::move(context));
  }
  const llm::ModelContext* context = contexts.front().get();
  const double load_ms = MillisecondsSince(start);

  const int64_t vocab = model->config().n_vocab;
  std::vector<float> logits(static_cast<size_t>(sequences * vocab)), last;
  start = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < sequences; ++s) {
    const std::vector<int32_t> prompt = BenchPrompt(options.prompt_tokens, vocab, static_cast<uint64_t>(s));
    RETURN_IF_ERROR(contexts[static_cast<size_t>(s)]->Evaluate(prompt, llm::LogitsWanted::kLast, &last));
    std::copy(last.begin(), last.end(), logits.begin() + s * vocab);
  }
  const double prompt_ms = MillisecondsSince(start);

  start = std::chrono::steady_clock::now();
  if (options.parallel > 0) {
    RETURN_IF_ERROR(GenerateBatched(model, contexts, context->threads(), options.gen_tokens, &logits));
  } else {
    for (int64_t i = 0; i < options.gen_tokens; ++i) {
      const int32_t next = Greedy(logits.data(), vocab);
      RETURN_IF_ERROR(
          contexts.front()->Evaluate(std::span<const int32_t>(&next, 1), llm::LogitsWanted::kLast, &logits));
    }
  }
  const double gen_ms = MillisecondsSince(start);

  // What generation reads per token: every matrix once, but only one row of
  // the token embedding (unless the output reuses it).
  const llm::ModelWeights& weights = model->weights();
  uint64_t read_per_token = weights.bytes;
  if (!weights.tied_output) read_per_token -= weights.token_embd.row_bytes * weights.token_embd.rows;
  const double peak_rss_mb = PeakRssMegabytes();  // before the bandwidth buffer
  std::string bandwidth;
  if (options.bandwidth) {
    const double gb_s = MeasureReadBandwidth(context->threads());
    bandwidth = fmt::format(",\"read_gb_s\":{:.2f},\"roofline_tok_s\":{:.3f}", gb_s,
                            gb_s * 1e9 / static_cast<double>(read_per_token));
  }
  std::string parallel;
  if (options.parallel > 0) {
    parallel = fmt::format(",\"parallel\":{},\"tg_step_ms\":{:.3f}", options.parallel,
                           options.gen_tokens > 0 ? gen_ms / static_cast<double>(options.gen_tokens) : 0.0);
  }
  const double generated = static_cast<double>(options.gen_tokens * sequences);
  std::printf(
      "{\"model\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"load_ms\":%.3f,\"pp_tok_s\":%.3f,\"tg_tok_s\":%.3f,"
      "\"peak_rss_mb\":%.1f,\"weights_mb\":%.1f,\"read_per_token_mb\":%.1f,\"kv_cache_mb\":%.1f%s%s}\n",
      core::JsonEscape(path).c_str(), context->threads(), std::string(llm::KernelIsaName(context->isa())).c_str(),
      load_ms, static_cast<double>(options.prompt_tokens * sequences) * 1000.0 / prompt_ms,
      options.gen_tokens > 0 ? generated * 1000.0 / gen_ms : 0.0, peak_rss_mb,
      static_cast<double>(weights.bytes) / (1024.0 * 1024.0), static_cast<double>(read_per_token) / (1024.0 * 1024.0),
      static_cast<double>(context->kv_cache_bytes() * static_cast<uint64_t>(sequences)) / (1024.0 * 1024.0),
      bandwidth.c_str(), parallel.c_str());
  return core::Status::Ok();
}

}  // namespace berth::cli
